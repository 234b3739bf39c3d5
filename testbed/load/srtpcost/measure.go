package srtpcost

import (
	"fmt"
	"testing"

	"github.com/imslab/imslab/internal/media"
)

// Implementations measured.
const (
	Pion = "pion/srtp"
	Raw  = "raw floor" // crypto/aes, crypto/cipher, crypto/hmac, crypto/sha1
)

// Case is one measurement: a benchmark body and what it measures.
type Case struct {
	Suite    string // RFC 4568 §6.2 / RFC 7714 §12 suite name
	Op       string // "protect" or "unprotect"
	Impl     string // Pion or Raw
	Sessions int    // sessions taken in turn (1: all in the CPU caches)
	Bench    func(*testing.B)
}

// Cases lists the measurements: pion/srtp protect and unprotect for each
// suite the UEs offer, on one session and on ManySessions, and the raw
// floors.
func Cases() []Case {
	var cs []Case
	for _, s := range media.SupportedSuites() {
		for _, n := range []int{1, ManySessions} {
			cs = append(cs,
				Case{Suite: s, Op: "protect", Impl: Pion, Sessions: n, Bench: func(b *testing.B) { ProtectSessions(b, s, n) }},
				Case{Suite: s, Op: "unprotect", Impl: Pion, Sessions: n, Bench: func(b *testing.B) { UnprotectSessions(b, s, n) }})
		}
	}
	return append(cs,
		// The HMAC-SHA1 of _32 is the same computation as _80's (only the
		// truncation differs, RFC 3711 §4.2): one floor for both.
		Case{Suite: media.SuiteAES128CMSHA1_80, Op: "protect", Impl: Raw, Sessions: 1, Bench: RawAESCMHMAC},
		Case{Suite: media.SuiteAES128CMSHA1_80, Op: "unprotect", Impl: Raw, Sessions: 1, Bench: RawAESCMHMACVerify},
		Case{Suite: media.SuiteAEADAES128GCM, Op: "protect", Impl: Raw, Sessions: 1, Bench: RawAESGCM},
		Case{Suite: media.SuiteAEADAES128GCM, Op: "unprotect", Impl: Raw, Sessions: 1, Bench: RawAESGCMOpen})
}

// Result is one measured cost.
type Result struct {
	Suite       string  `json:"suite"`
	Op          string  `json:"op"`
	Impl        string  `json:"impl"`
	Sessions    int     `json:"sessions"`
	NsPerPacket float64 `json:"ns_per_packet"`
	AllocsPer   int64   `json:"allocs_per_packet"`
	BytesPer    int64   `json:"bytes_per_packet"`
	Packets     int     `json:"packets_measured"`
}

// Measure runs every case with testing.Benchmark (one to three seconds each).
func Measure() ([]Result, error) {
	var out []Result
	for _, c := range Cases() {
		r := testing.Benchmark(c.Bench)
		if r.N == 0 {
			return out, fmt.Errorf("srtpcost: %s %s %s failed", c.Impl, c.Op, c.Suite)
		}
		out = append(out, Result{Suite: c.Suite, Op: c.Op, Impl: c.Impl, Sessions: c.Sessions,
			NsPerPacket: float64(r.T.Nanoseconds()) / float64(r.N),
			AllocsPer:   r.AllocsPerOp(), BytesPer: r.AllocedBytesPerOp(), Packets: r.N})
	}
	return out, nil
}

// Floor returns the raw floor for suite and op: _32 shares _80's.
func Floor(rs []Result, suite, op string) (Result, bool) {
	if suite == media.SuiteAES128CMSHA1_32 {
		suite = media.SuiteAES128CMSHA1_80
	}
	for _, r := range rs {
		if r.Impl == Raw && r.Suite == suite && r.Op == op {
			return r, true
		}
	}
	return Result{}, false
}
