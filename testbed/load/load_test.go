package load

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imslab/imslab/ue"
)

// A tiny run: the mechanics (registration, set-up, media on both legs,
// hang-up, figures, verdict), not the speed.
func TestRunTwoCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a lab and makes calls")
	}
	var progress bytes.Buffer
	goroutines := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Levels: []int{1, 2}, Max: 2, Hold: time.Second, SetupRate: 20, Dir: t.TempDir(),
		Deadline: 50 * time.Second, MaxFailures: 2, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("\n%s", progress.String())
	if rep.Registration.UEs != 4 || rep.Registration.PerSecond <= 0 {
		t.Errorf("registration: %+v, want 4 UEs and a rate", rep.Registration)
	}
	if len(rep.Levels) != 2 {
		t.Fatalf("%d levels, want 2: %+v", len(rep.Levels), rep.Levels)
	}
	for _, lv := range rep.Levels {
		if lv.Up != lv.Calls || lv.SetupFailed != 0 || lv.SetupP50Ms <= 0 || lv.SetupP95Ms < lv.SetupP50Ms {
			t.Errorf("level %d: up %d, failed %d (%s), setup %.1f/%.1f ms", lv.Calls, lv.Up, lv.SetupFailed, lv.SetupError,
				lv.SetupP50Ms, lv.SetupP95Ms)
		}
		if lv.Legs != 2*lv.Calls || lv.NoMedia != 0 || len(lv.Suites) == 0 {
			t.Errorf("level %d: %d legs, %d without media, suites %v", lv.Calls, lv.Legs, lv.NoMedia, lv.Suites)
		}
		if lv.Verdict == "" || lv.CPUCores <= 0 {
			t.Errorf("level %d: verdict %q, CPU %.2f cores", lv.Calls, lv.Verdict, lv.CPUCores)
		}
	}
	if rep.Tried != 2 || rep.Stopped == "" || !strings.Contains(rep.Conclusion(), "concurrent SRTP calls") {
		t.Errorf("tried %d, stopped %q, conclusion %q", rep.Tried, rep.Stopped, rep.Conclusion())
	}
	// Every goroutine of the lab, the UEs and their calls has ended.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines+2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%d goroutines left running (%d before):\n%s", runtime.NumGoroutine(), goroutines, b.String())
		}
	}
}

func TestJudge(t *testing.T) {
	crit := Criteria{MaxLossPercent: 0.1, MaxJitter: 10 * time.Millisecond}
	ok := Level{Calls: 100, Up: 100, Legs: 200, LossMean: 0.01, LossMax: 0.5, JitterMeanMs: 2, JitterMaxMs: 30}
	for _, tc := range []struct {
		name string
		mod  func(*Level)
		want string // "" passes; else in the verdict
	}{
		{"within", func(*Level) {}, ""},
		{"a leg's max above does not fail", func(l *Level) { l.LossMax, l.JitterMaxMs = 5, 80 }, ""},
		{"loss at the limit", func(l *Level) { l.LossMean = 0.1 }, "mean loss 0.100%"},
		{"jitter above", func(l *Level) { l.JitterMeanMs = 12.5 }, "mean jitter 12.50 ms"},
		{"a call not set up", func(l *Level) { l.Up, l.SetupFailed, l.SetupError = 99, 1, "call failed: 503" }, "1 of 100 calls did not set up (call failed: 503)"},
		{"a leg without media", func(l *Level) { l.NoMedia = 1 }, "1 of 200 legs received no media"},
		{"cut short", func(l *Level) { l.Interrupted = true }, "deadline"},
		{"nothing up", func(l *Level) { *l = Level{Calls: 5, SetupFailed: 5, SetupError: "x"} }, "5 of 5 calls"},
		{"disturbed", func(l *Level) { l.JitterMeanMs, l.CPUCores, l.MachineCores = 11, 1.2, 1.9 }, "(disturbed: other processes used 0.70 cores)"},
		{"two reasons", func(l *Level) { l.LossMean, l.JitterMeanMs = 1, 11 }, "mean loss 1.000% ≥ 0.1%; mean jitter 11.00 ms ≥ 10 ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lv := ok
			tc.mod(&lv)
			judge(&lv, crit)
			if lv.Pass != (tc.want == "") || !strings.Contains(lv.Verdict, tc.want) {
				t.Errorf("pass %v, verdict %q; want %q", lv.Pass, lv.Verdict, tc.want)
			}
		})
	}
}

func TestSummarise(t *testing.T) {
	leg := func(lossPct float64, jitter time.Duration, rx uint64) *ue.MediaResult {
		m := &ue.MediaResult{PacketsReceived: rx, LossPercent: lossPct, Jitter: jitter}
		m.Suite = "AEAD_AES_128_GCM"
		return m
	}
	outs := []outcome{
		{setup: 10 * time.Millisecond, caller: leg(0, time.Millisecond, 500), callee: leg(0.2, 3*time.Millisecond, 499), sampled: true},
		{setup: 30 * time.Millisecond, caller: leg(0, 5*time.Millisecond, 500), callee: leg(0, 7*time.Millisecond, 500)},
		{setup: 20 * time.Millisecond, caller: leg(0, 0, 0), callee: nil, sampled: true}, // up, but no media either way
		{err: errors.New("call failed: 408 Request Timeout")},
	}
	lv := summarise(outs)
	want := Level{Calls: 4, Up: 3, SetupFailed: 1, SetupError: "call failed: 408 Request Timeout",
		SetupP50Ms: 20, SetupP95Ms: 30, Legs: 6, NoMedia: 2, LossMean: 0.05, LossMax: 0.2,
		JitterMeanMs: 2, JitterMaxMs: 3, JitterLegs: 2, JitterAllMeanMs: 4, Suites: map[string]int{"AEAD_AES_128_GCM": 4}}
	if lv.Calls != want.Calls || lv.Up != want.Up || lv.SetupFailed != want.SetupFailed || lv.SetupError != want.SetupError ||
		lv.SetupP50Ms != want.SetupP50Ms || lv.SetupP95Ms != want.SetupP95Ms || lv.Legs != want.Legs || lv.NoMedia != want.NoMedia ||
		lv.LossMean != want.LossMean || lv.LossMax != want.LossMax || lv.JitterMeanMs != want.JitterMeanMs ||
		lv.JitterMaxMs != want.JitterMaxMs || lv.JitterLegs != want.JitterLegs || lv.JitterAllMeanMs != want.JitterAllMeanMs ||
		lv.Suites["AEAD_AES_128_GCM"] != 4 {
		t.Errorf("summarise:\n got %+v\nwant %+v", lv, want)
	}
}

func TestRamp(t *testing.T) {
	for _, tc := range []struct {
		levels []int
		max    int
		want   []int
	}{
		{nil, 1000, []int{50, 100, 250, 500, 750, 1000}},
		{nil, 600, []int{50, 100, 250, 500, 600}},
		{nil, 20, []int{20}},
		{[]int{10, 20}, 1000, []int{10, 20}},
		{[]int{30, 10, 20, 20}, 25, []int{10, 20, 25}},
	} {
		got, err := Ramp(tc.levels, tc.max)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Ramp(%v, %d) = %v, %v; want %v", tc.levels, tc.max, got, err, tc.want)
		}
	}
	if _, err := Ramp([]int{0, 5}, 10); err == nil {
		t.Error("Ramp took a level of 0 calls")
	}
}

func TestJitterSample(t *testing.T) {
	outs := make([]outcome, 1000)
	sample, rest := jitterSample(outs)
	if len(sample) != 100 || len(rest) != 900 || !outs[0].sampled || outs[1].sampled || !outs[990].sampled {
		t.Errorf("1000 calls: %d sampled, %d not", len(sample), len(rest))
	}
	if sample, rest := jitterSample(make([]outcome, 50)); len(sample) != 50 || len(rest) != 0 {
		t.Errorf("50 calls: %d sampled, %d not; want all", len(sample), len(rest))
	}
}

func TestLoopSource(t *testing.T) {
	l := &loop{pcm: []int16{1, 2, 3, 4, 5}}
	buf := make([]int16, 3)
	var got []int16
	for range 4 {
		l.Fill(buf)
		got = append(got, buf...)
	}
	if want := []int16{1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("loop played %v, want %v", got, want)
	}
}

func TestLogCount(t *testing.T) {
	var out bytes.Buffer
	h := newLogCount(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError}))
	log := slog.New(h).With("service", "pcscf")
	log.Info("registered flow")
	log.Warn("hang-up failed")
	log.Warn("hang-up failed")
	log.Error("send '100 Trying' response failed")
	if w, e := h.snapshot(); w != 2 || e != 1 {
		t.Errorf("counted %d warnings, %d errors; want 2, 1", w, e)
	}
	if top := h.top(5); len(top) != 2 || top[0] != (LogMessage{"hang-up failed", 2}) {
		t.Errorf("top: %+v", top)
	}
	if s := out.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, "100 Trying") {
		t.Errorf("passed on:\n%s\nwant the error only", s)
	}
}

func TestConclusion(t *testing.T) {
	m := Machine{GOMAXPROCS: 2, CPUModel: "Some CPU"}
	c := CriteriaJSON{MaxLossPercent: 0.1, MaxJitterMs: 10}
	for _, tc := range []struct {
		rep  Report
		want string
	}{
		{Report{Carried: 750, Levels: []Level{{Calls: 50, Up: 50}}}, "carries 750 concurrent SRTP calls (G.711, 20 ms) with < 0.1% loss and < 10 ms mean jitter on this machine (GOMAXPROCS=2, Some CPU)"},
		{Report{Levels: []Level{{Calls: 50, Up: 50}}}, "carries fewer than 50 concurrent"},
		{Report{Levels: []Level{{Calls: 50, SetupError: "call failed: 487"}}}, "no figure: not one call of the first level (50) set up"},
		{Report{Stopped: "RLIMIT_NOFILE limits the run"}, "no level was run: RLIMIT_NOFILE"},
	} {
		tc.rep.Machine, tc.rep.Criteria = m, c
		if got := tc.rep.Conclusion(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("Conclusion() = %q, want %q...", got, tc.want)
		}
	}
}
