package load

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/imslab/imslab/ue"
)

// Level is what one level of the ramp measured.
type Level struct {
	Calls       int     `json:"calls"`        // calls attempted, at once
	Up          int     `json:"up"`           // calls set up
	SetupFailed int     `json:"setup_failed"` // calls that did not set up
	SetupError  string  `json:"setup_error,omitempty"`
	SetupP50Ms  float64 `json:"setup_p50_ms"` // INVITE sent → 200 received, at the caller
	SetupP95Ms  float64 `json:"setup_p95_ms"`
	// Legs are the media directions measured, two per call up; NoMedia
	// those that received nothing.
	Legs    int `json:"legs"`
	NoMedia int `json:"legs_without_media"`
	// Loss is RFC 3550 §6.4.1's cumulative number lost over expected, per
	// leg, in percent; the mean is over the legs that received media.
	LossMean float64 `json:"loss_mean_percent"`
	LossMax  float64 `json:"loss_max_percent"`
	// Jitter is each leg's RFC 3550 §6.4.1 interarrival jitter estimate
	// at the call's end (a running average over the last ~16 packets),
	// over the legs of the jitter sample: one call in ten, hung up one at a
	// time across the hold while the others run (below 100 calls, every
	// call, at the end).
	JitterMeanMs float64 `json:"jitter_mean_ms"`
	JitterMaxMs  float64 `json:"jitter_max_ms"`
	JitterLegs   int     `json:"jitter_legs"`
	// JitterAllMeanMs is the mean over every leg, the teardown included.
	JitterAllMeanMs float64        `json:"jitter_all_mean_ms"`
	AuthFailed      uint64         `json:"srtp_auth_failed"` // RFC 3711 §3.3 tag check failures
	Suites          map[string]int `json:"suites"`           // legs per SRTP suite negotiated
	CPUCores        float64        `json:"cpu_cores"`        // the process's CPU during the hold (getrusage), in cores
	// MachineCores is all the machine's CPU during the hold (/proc/stat;
	// -1 unknown): above CPUCores, other processes competed (or the kernel
	// worked on the process's behalf outside its accounting).
	MachineCores float64 `json:"machine_cores"`
	Seconds      float64 `json:"seconds"`
	// LogWarnings and LogErrors are what the lab and the UEs logged
	// during the level.
	LogWarnings int  `json:"log_warnings"`
	LogErrors   int  `json:"log_errors"`
	Interrupted bool `json:"interrupted,omitempty"`
	// Disturbed: other processes used more than disturbedCores during the
	// hold; a failing level is then run once more.
	Disturbed bool   `json:"disturbed,omitempty"`
	Pass      bool   `json:"pass"`
	Verdict   string `json:"verdict"`
}

// summarise turns a level's outcomes into its figures (not its verdict).
func summarise(outs []outcome) Level {
	lv := Level{Calls: len(outs), Suites: map[string]int{}}
	var setups []time.Duration
	var loss, jitter, jitterAll []float64
	for _, o := range outs {
		if o.err != nil {
			lv.SetupFailed++
			if lv.SetupError == "" {
				lv.SetupError = o.err.Error()
			}
			continue
		}
		lv.Up++
		setups = append(setups, o.setup)
		for _, m := range []*ue.MediaResult{o.caller, o.callee} {
			lv.Legs++
			if m == nil || m.PacketsReceived == 0 {
				lv.NoMedia++
				continue
			}
			loss = append(loss, m.LossPercent)
			jitterAll = append(jitterAll, ms(m.Jitter))
			if o.sampled {
				jitter = append(jitter, ms(m.Jitter))
			}
			lv.AuthFailed += m.AuthFailed
			lv.Suites[m.Suite]++
		}
	}
	lv.SetupP50Ms, lv.SetupP95Ms = ms(percentile(setups, 50)), ms(percentile(setups, 95))
	lv.LossMean, lv.LossMax = meanMax(loss)
	lv.JitterMeanMs, lv.JitterMaxMs = meanMax(jitter)
	lv.JitterLegs = len(jitter)
	lv.JitterAllMeanMs, _ = meanMax(jitterAll)
	return lv
}

// disturbedCores is how much CPU other processes may take during a hold
// before the level counts as disturbed.
const disturbedCores = 0.25

// judge decides whether the level passed: every call set up, every leg
// received media, mean loss and mean jitter under the criteria.
func judge(lv *Level, c Criteria) {
	var why []string
	if lv.Interrupted {
		why = append(why, "cut short by the run's deadline")
	}
	if lv.SetupFailed > 0 {
		why = append(why, fmt.Sprintf("%d of %d calls did not set up (%s)", lv.SetupFailed, lv.Calls, lv.SetupError))
	}
	if lv.NoMedia > 0 {
		why = append(why, fmt.Sprintf("%d of %d legs received no media", lv.NoMedia, lv.Legs))
	}
	if lv.Up > 0 && lv.LossMean >= c.MaxLossPercent {
		why = append(why, fmt.Sprintf("mean loss %.3f%% ≥ %g%%", lv.LossMean, c.MaxLossPercent))
	}
	if lv.Up > 0 && lv.JitterMeanMs >= ms(c.MaxJitter) {
		why = append(why, fmt.Sprintf("mean jitter %.2f ms ≥ %g ms", lv.JitterMeanMs, ms(c.MaxJitter)))
	}
	if lv.Up == 0 && len(why) == 0 {
		why = append(why, "no call set up")
	}
	lv.Pass = len(why) == 0
	lv.Verdict = "pass"
	if !lv.Pass {
		lv.Verdict = "FAIL: " + strings.Join(why, "; ")
	}
	if lv.MachineCores >= 0 && lv.MachineCores-lv.CPUCores > disturbedCores {
		lv.Disturbed = true
		lv.Verdict += fmt.Sprintf(" (disturbed: other processes used %.2f cores)", lv.MachineCores-lv.CPUCores)
	}
}

// percentile is the nearest-rank p-th percentile of ds (0 when empty).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// meanMax is the mean and the maximum of xs (0, 0 when empty).
func meanMax(xs []float64) (mean, mx float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs)), slices.Max(xs)
}
