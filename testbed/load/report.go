package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/imslab/imslab/internal/media"
	"github.com/imslab/imslab/testbed/load/srtpcost"
)

func writeHeader(w io.Writer) {
	fmt.Fprintf(w, "%6s %6s  %-15s  %-15s  %-17s  %-10s  %s\n",
		"calls", "up", "setup p50/p95", "loss mean/max", "jitter mean/max", "CPU us/all", "verdict")
}

func writeRow(w io.Writer, lv Level) {
	fmt.Fprintf(w, "%6d %6d  %-15s  %-15s  %-17s  %-10s  %s\n", lv.Calls, lv.Up,
		fmt.Sprintf("%.0f/%.0f ms", lv.SetupP50Ms, lv.SetupP95Ms),
		fmt.Sprintf("%.3f/%.3f %%", lv.LossMean, lv.LossMax),
		fmt.Sprintf("%.2f/%.2f ms", lv.JitterMeanMs, lv.JitterMaxMs),
		cpuCell(lv), lv.Verdict+logNote(lv))
}

// logNote mentions what the lab logged during the level.
func logNote(lv Level) string {
	if lv.LogErrors+lv.LogWarnings == 0 {
		return ""
	}
	return fmt.Sprintf(" [logged: %d errors, %d warnings]", lv.LogErrors, lv.LogWarnings)
}

// cpuCell is the process's and the machine's CPU during the hold, in cores.
func cpuCell(lv Level) string {
	if lv.MachineCores < 0 {
		return fmt.Sprintf("%.2f/?", lv.CPUCores)
	}
	return fmt.Sprintf("%.2f/%.2f", lv.CPUCores, lv.MachineCores)
}

// WriteSummary writes why the ramp stopped and the conclusion.
func (r *Report) WriteSummary(w io.Writer) {
	if len(r.Levels) > 0 {
		fmt.Fprintf(w, "(setup: INVITE → 200 at the caller; loss and jitter: RFC 3550 §6.4.1, both legs of every call, jitter over one call in ten\n"+
			" hung up across the %g s hold; CPU us/all: cores this process / the whole machine used during the hold)\n", r.Hold)
	}
	if r.Stopped != "" {
		fmt.Fprintln(w, "ramp stopped:", r.Stopped)
	}
	if n := len(r.Levels); n > 0 {
		lv := r.Levels[n-1]
		fmt.Fprintf(w, "last level: %d calls, %d SRTP packets/s sent and as many received (%s)\n",
			lv.Calls, 2*lv.Calls*int(time.Second/media.PacketInterval), suites(lv.Suites))
	}
	for i, m := range r.LabLog {
		if i == 0 {
			fmt.Fprintln(w, "the lab's warnings and errors, most frequent first:")
		}
		fmt.Fprintf(w, "  %6d× %s\n", m.Count, m.Message)
	}
	r.writeSRTPShare(w)
	fmt.Fprintln(w, r.Conclusion())
}

// Conclusion is the run's one-line answer.
func (r *Report) Conclusion() string {
	c := r.Criteria
	n := fmt.Sprint(r.Carried)
	switch {
	case len(r.Levels) == 0:
		return "no level was run: " + r.Stopped
	case r.Carried == 0 && r.Levels[0].Up == 0:
		return fmt.Sprintf("no figure: not one call of the first level (%d) set up, a fault of the lab rather than a limit (%s)",
			r.Levels[0].Calls, r.Levels[0].SetupError)
	case r.Carried == 0:
		n = fmt.Sprintf("fewer than %d", r.Levels[0].Calls)
	}
	return fmt.Sprintf("carries %s concurrent SRTP calls (G.711, 20 ms) with < %g%% loss and < %g ms mean jitter on this machine (GOMAXPROCS=%d, %s)",
		n, c.MaxLossPercent, c.MaxJitterMs, r.Machine.GOMAXPROCS, r.Machine.CPUModel)
}

// suites names the suites legs negotiated, with how many when several.
func suites(m map[string]int) string {
	if len(m) == 0 {
		return "no SRTP suite"
	}
	keys := slices.Sorted(maps.Keys(m))
	if len(keys) == 1 {
		return keys[0]
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// WriteSRTP writes the SRTP cost table: pion/srtp against the raw floor.
func (r *Report) WriteSRTP(w io.Writer) {
	if len(r.SRTP) == 0 {
		return
	}
	fmt.Fprintf(w, "SRTP cost per packet (%d-byte RTP header + %d-byte G.711 payload). Raw floor: crypto/aes counter mode + crypto/hmac SHA-1,\n"+
		"or crypto/cipher GCM, session keys already derived. sessions=%d: that many contexts in turn, out of the CPU caches as in a loaded lab.\n",
		srtpcost.HeaderLen, srtpcost.PayloadLen, srtpcost.ManySessions)
	fmt.Fprintf(w, "  %-24s %-10s %8s %12s %12s %7s  %s\n", "suite", "op", "sessions", "pion/srtp", "raw floor", "ratio", "allocs/pkt")
	for _, p := range r.SRTP {
		if p.Impl != srtpcost.Pion {
			continue
		}
		floor, ratio := "-", "-"
		if f, ok := srtpcost.Floor(r.SRTP, p.Suite, p.Op); ok {
			floor = fmt.Sprintf("%.0f ns", f.NsPerPacket)
			ratio = fmt.Sprintf("%.2fx", p.NsPerPacket/f.NsPerPacket)
		}
		fmt.Fprintf(w, "  %-24s %-10s %8d %9.0f ns %12s %7s  %d\n", p.Suite, p.Op, p.Sessions, p.NsPerPacket, floor, ratio, p.AllocsPer)
	}
	if r.SRTPOtherCores > disturbedCores {
		fmt.Fprintf(w, "  (disturbed: other processes used %.2f cores meanwhile; these figures are inflated)\n", r.SRTPOtherCores)
	}
}

// writeSRTPShare says what share of the CPU SRTP takes at the level carried,
// at the cost measured with ManySessions.
func (r *Report) writeSRTPShare(w io.Writer) {
	n := r.Carried
	if n == 0 || len(r.SRTP) == 0 {
		return
	}
	perSec := 2 * n * int(time.Second/media.PacketInterval) // two legs per call
	for _, s := range r.suitesUsed() {
		var ns float64
		for _, p := range r.SRTP {
			if p.Impl == srtpcost.Pion && p.Suite == s && p.Sessions == srtpcost.ManySessions {
				ns += p.NsPerPacket // protect + unprotect
			}
		}
		fmt.Fprintf(w, "SRTP at %d calls (%s): %d packets/s protected and as many unprotected = %.3f cores (at the sessions=%d cost)\n",
			n, s, perSec, float64(perSec)*ns/1e9, srtpcost.ManySessions)
	}
}

// suitesUsed lists the suites negotiated at the highest level passed.
func (r *Report) suitesUsed() []string {
	for _, lv := range slices.Backward(r.Levels) {
		if lv.Calls == r.Carried {
			return slices.Sorted(maps.Keys(lv.Suites))
		}
	}
	return nil
}
