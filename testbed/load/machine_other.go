//go:build !unix

package load

import "time"

func cpuTime() time.Duration      { return 0 }
func nofile() (soft, hard uint64) { return 0, 0 }
func openFDs() int                { return -1 }
