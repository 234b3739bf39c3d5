package load

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine is where the run ran.
type Machine struct {
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	CPUModel   string `json:"cpu_model"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
	// NoFileSoft and NoFileHard are RLIMIT_NOFILE (Go raises the soft
	// limit to the hard one at start); 0 when unknown.
	NoFileSoft uint64 `json:"nofile_soft"`
	NoFileHard uint64 `json:"nofile_hard"`
}

func machine() Machine {
	m := Machine{GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), CPUModel: cpuModel(),
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	m.NoFileSoft, m.NoFileHard = nofile()
	return m
}

func (m Machine) String() string {
	s := fmt.Sprintf("imslab load: GOMAXPROCS=%d, %d CPUs (%s), %s %s", m.GOMAXPROCS, m.NumCPU, m.CPUModel, m.Go, m.Platform)
	if m.NoFileSoft > 0 {
		s += fmt.Sprintf("; RLIMIT_NOFILE %d (hard %d)", m.NoFileSoft, m.NoFileHard)
	}
	return s
}

// cpuModel is the first "model name" of /proc/cpuinfo, else the architecture.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// machineBusy is the CPU time all the machine's CPUs spent busy so far
// (Linux /proc/stat: user, nice, system, irq, softirq, steal, in USER_HZ
// = 100 ticks a second); false when unknown.
func machineBusy() (time.Duration, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, false
	}
	fs := strings.Fields(sc.Text())
	if len(fs) < 9 || fs[0] != "cpu" {
		return 0, false
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(fs[i], 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100), true
}

// othersDuring runs f and returns the CPU, in cores, that other processes
// used meanwhile (-1 when unknown).
func othersDuring(f func() error) (float64, error) {
	t0, cpu0 := time.Now(), cpuTime()
	busy0, ok0 := machineBusy()
	err := f()
	busy1, ok1 := machineBusy()
	secs := time.Since(t0).Seconds()
	if !ok0 || !ok1 || secs <= 0 {
		return -1, err
	}
	return ((busy1 - busy0) - (cpuTime() - cpu0)).Seconds() / secs, err
}

// File descriptors a level needs besides its UEs': one RTP socket per leg,
// and a margin for the lab (listeners, connections, the database).
const (
	fdsPerCall  = 2
	fdMargin    = 200
	fdsPerUEMin = 4 // before it is measured: UDP, TCP listener, and sipgo's
)

// fdShortage says why level n would run out of file descriptors, or "".
func fdShortage(f *fleet, n int) string {
	soft, _ := nofile()
	open := openFDs()
	if soft == 0 || open < 0 {
		return ""
	}
	perUE := max(f.fdsPerUE, fdsPerUEMin)
	newUEs := 2 * max(0, n-len(f.callers))
	need := uint64(float64(open) + perUE*float64(newUEs) + float64(fdsPerCall*n) + fdMargin)
	if need <= soft {
		return ""
	}
	return fmt.Sprintf("RLIMIT_NOFILE limits the run: level %d needs about %d file descriptors "+
		"(%d open, %.1f per UE, %d per call), the limit is %d: raise the hard limit (ulimit -Hn, LimitNOFILE=)",
		n, need, open, perUE, fdsPerCall, soft)
}
