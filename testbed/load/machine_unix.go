//go:build unix

package load

import (
	"os"
	"syscall"
	"time"
)

// cpuTime is the CPU time the process used so far, user and system
// (getrusage(2), RUSAGE_SELF).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// nofile is RLIMIT_NOFILE, soft and hard.
func nofile() (soft, hard uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0
	}
	return uint64(rl.Cur), uint64(rl.Max)
}

// openFDs counts the process's open file descriptors (Linux /proc; -1
// elsewhere).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}
