// Package load measures how many simultaneous SRTP calls the lab carries.
// It starts a lab in process (testbed/lab), registers pairs of UEs with
// SIMs (IMS-AKA), and for a ramp of levels sets up N calls at a bounded
// rate, holds them, hangs up and judges the level on the loss and the
// interarrival jitter (RFC 3550 §6.4.1) each end measured. Package
// srtpcost, beside it, measures what SRTP costs per packet.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/imslab/imslab/testbed/lab"
	"github.com/imslab/imslab/testbed/load/srtpcost"
)

// Defaults of Config.
const (
	DefaultMax                 = 1000
	DefaultHold                = 10 * time.Second
	DefaultSetupRate           = 50 // call set-ups per second
	DefaultRegisterConcurrency = 32
	DefaultMaxFailures         = 1
	DefaultDeadline            = 20 * time.Minute
	DefaultSetupTimeout        = 20 * time.Second
	DefaultMaxLossPercent      = 0.1
	DefaultMaxJitter           = 10 * time.Millisecond
	// settle is the pause between levels: sockets close, goroutines end.
	settle = 2 * time.Second
)

// DefaultLevels is the ramp, cut at Config.Max.
var DefaultLevels = []int{50, 100, 250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000}

// Criteria say when a level passes.
type Criteria struct {
	MaxLossPercent float64       // mean loss below this (default 0.1 %)
	MaxJitter      time.Duration // mean interarrival jitter below this (default 10 ms)
}

// Config configures a load run. The zero Config is the default run.
type Config struct {
	// Levels are the numbers of simultaneous calls tried, ascending
	// (default DefaultLevels up to Max, and Max).
	Levels []int
	// Max is the highest level (default DefaultMax).
	Max int
	// Hold is how long a level's calls stay up once all are set up.
	Hold time.Duration
	// SetupRate bounds call set-ups per second (default 50).
	SetupRate float64
	// SetupTimeout bounds one call's set-up (default 20 s).
	SetupTimeout time.Duration
	// RegisterConcurrency bounds the registrations in flight (default 32).
	RegisterConcurrency int
	// MaxFailures is how many levels may fail before the ramp stops
	// (default 1: it stops at the first).
	MaxFailures int
	// Deadline bounds the whole run (default 20 min).
	Deadline time.Duration
	// Suites are the SRTP suites the UEs offer and accept, in preference
	// order (default ue.DefaultSuites).
	Suites []string
	// Criteria (default 0.1 % loss, 10 ms jitter).
	Criteria Criteria
	// Dir holds the lab's database and state (default: a temporary
	// directory, removed at the end).
	Dir string
	// SRTPCost also measures SRTP's per-packet cost, before the ramp.
	SRTPCost bool
	// Logger gets the lab's and the UEs' logs (default: discard).
	Logger *slog.Logger
	// Progress, when set, gets the table as it grows: one line per level.
	Progress io.Writer
}

// Report is what a run measured.
type Report struct {
	Machine      Machine           `json:"machine"`
	Criteria     CriteriaJSON      `json:"criteria"`
	Hold         float64           `json:"hold_s"`
	SetupRate    float64           `json:"setup_rate_per_s"`
	Registration Registration      `json:"registration"`
	Levels       []Level           `json:"levels"`
	Carried      int               `json:"carried"` // highest level passed, 0 if none
	Tried        int               `json:"tried"`   // highest level tried
	Stopped      string            `json:"stopped"` // why the ramp ended
	SRTP         []srtpcost.Result `json:"srtp_cost,omitempty"`
	// SRTPOtherCores is the CPU other processes used while SRTP was
	// measured (-1 unknown): above disturbedCores, the figures are inflated.
	SRTPOtherCores float64 `json:"srtp_other_cores,omitempty"`
	// LabLog are the warnings and errors the lab and the UEs logged most.
	LabLog []LogMessage `json:"lab_log,omitempty"`
}

// CriteriaJSON are the criteria, for the report.
type CriteriaJSON struct {
	MaxLossPercent float64 `json:"max_mean_loss_percent"`
	MaxJitterMs    float64 `json:"max_mean_jitter_ms"`
}

// Registration is how the UEs registered.
type Registration struct {
	UEs       int     `json:"ues"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
}

func (c *Config) defaults() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	def(&c.Hold, DefaultHold)
	def(&c.SetupTimeout, DefaultSetupTimeout)
	def(&c.Deadline, DefaultDeadline)
	def(&c.Criteria.MaxJitter, DefaultMaxJitter)
	if c.SetupRate <= 0 {
		c.SetupRate = DefaultSetupRate
	}
	if c.RegisterConcurrency <= 0 {
		c.RegisterConcurrency = DefaultRegisterConcurrency
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.Criteria.MaxLossPercent <= 0 {
		c.Criteria.MaxLossPercent = DefaultMaxLossPercent
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	levels, err := Ramp(c.Levels, c.Max)
	c.Levels = levels
	return err
}

// Ramp is the list of levels tried: levels (DefaultLevels when empty) cut
// at max, with max itself last when levels has none higher.
func Ramp(levels []int, max int) ([]int, error) {
	if len(levels) == 0 {
		levels = DefaultLevels
	}
	var out []int
	for _, n := range levels {
		if n <= 0 {
			return nil, fmt.Errorf("load: level %d: want a positive number of calls", n)
		}
		if n <= max {
			out = append(out, n)
		}
	}
	if max > 0 && !slices.Contains(out, max) && slices.Max(levels) >= max {
		out = append(out, max)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("load: no level at or below the maximum %d", max)
	}
	return out, nil
}

// Run measures: the SRTP cost if asked, then the ramp, level by level,
// until a level fails (Config.MaxFailures), the levels are done, the file
// descriptors would run out, or the deadline passes. It returns the report
// so far along with an error that stopped it early.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	defer cancel()
	logs := newLogCount(cfg.Logger.Handler())
	cfg.Logger = slog.New(logs)
	rep := &Report{Machine: machine(), Hold: cfg.Hold.Seconds(), SetupRate: cfg.SetupRate,
		Criteria: CriteriaJSON{MaxLossPercent: cfg.Criteria.MaxLossPercent, MaxJitterMs: ms(cfg.Criteria.MaxJitter)}}
	w := cfg.Progress
	fmt.Fprintln(w, rep.Machine.String())
	if cfg.SRTPCost {
		fmt.Fprintln(w, "measuring SRTP per-packet cost (testing.Benchmark, about 30 s)...")
		var res []srtpcost.Result
		others, err := othersDuring(func() (err error) { res, err = srtpcost.Measure(); return err })
		if err != nil {
			return rep, err
		}
		rep.SRTP, rep.SRTPOtherCores = res, others
		rep.WriteSRTP(w)
	}

	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "imslab-load-")
		if err != nil {
			return rep, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	l, err := lab.Start(ctx, lab.Options{Dir: dir, Logger: cfg.Logger})
	if err != nil {
		return rep, fmt.Errorf("load: starting the lab: %w", err)
	}
	f := newFleet(l, cfg, logs)
	err = ramp(ctx, cfg, f, rep)
	f.close()
	rep.LabLog = logs.top(5)
	if cerr := l.Close(); cerr != nil {
		cfg.Logger.Warn("lab stopped with errors", "err", cerr)
	}
	return rep, err
}

// ramp registers the UEs of the highest level, then runs the levels in
// turn.
func ramp(ctx context.Context, cfg Config, f *fleet, rep *Report) error {
	w := cfg.Progress
	top := 0
	for _, n := range cfg.Levels {
		if fdShortage(f, n) == "" {
			top = n
		}
	}
	if top > 0 {
		fmt.Fprintf(w, "registering %d UEs (IMS-AKA, %d at a time)...\n", 2*top, cfg.RegisterConcurrency)
		err := f.grow(ctx, top)
		rep.Registration = f.registration()
		if err != nil {
			if ctx.Err() != nil {
				rep.Stopped = fmt.Sprintf("the deadline (%s) passed while registering", cfg.Deadline)
				return nil
			}
			return err
		}
		r := rep.Registration
		fmt.Fprintf(w, "registered %d UEs in %.1f s: %.0f registrations/s (each: SIM provisioned in the HSS, REGISTER, 401 AKAv1-MD5, REGISTER, 200)\n",
			r.UEs, r.Seconds, r.PerSecond)
	}
	writeHeader(w)
	failures := 0
	for _, n := range cfg.Levels {
		lv, stop := level(ctx, cfg, f, rep, n)
		if stop {
			return nil
		}
		if lv.Pass {
			rep.Carried = n
		} else if failures++; failures >= cfg.MaxFailures {
			rep.Stopped = fmt.Sprintf("level %d failed: %s", n, lv.Verdict)
			return nil
		}
	}
	if rep.Stopped == "" {
		rep.Stopped = fmt.Sprintf("all levels done (the highest, %d, is the maximum asked)", rep.Tried)
	}
	return nil
}

// level runs level n, twice when it failed while other processes took
// the CPU (Level.Disturbed). stop is true when the ramp cannot go on.
func level(ctx context.Context, cfg Config, f *fleet, rep *Report, n int) (lv Level, stop bool) {
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			rep.Stopped = fmt.Sprintf("the deadline (%s) passed", cfg.Deadline)
			return lv, true
		}
		if why := fdShortage(f, n); why != "" {
			rep.Stopped = why
			return lv, true
		}
		lv = runLevel(ctx, f, n)
		judge(&lv, cfg.Criteria)
		rep.Levels = append(rep.Levels, lv)
		rep.Tried = n
		writeRow(cfg.Progress, lv)
		if sleep(ctx, settle) {
			runtime.GC() // this level's recorded audio, before the next measures
		}
		if lv.Pass || !lv.Disturbed || attempt == 2 {
			return lv, false
		}
		fmt.Fprintf(cfg.Progress, "%6d calls again: other processes used %.2f cores during the hold\n", n, lv.MachineCores-lv.CPUCores)
	}
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// errStopped is a call not placed: the run was stopped (deadline or signal).
var errStopped = errors.New("the run stopped before this call was placed")
