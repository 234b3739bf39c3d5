package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/testbed/load"
	"github.com/imslab/imslab/ue"
)

// newLoadCmd is `imslab load`: how much the lab carries on this machine.
func newLoadCmd(logger func() *slog.Logger) *cobra.Command {
	c := &cobra.Command{
		Use:   "load",
		Short: "Measure how much the lab carries on this machine",
	}
	c.AddCommand(newLoadCallsCmd(logger))
	return c
}

// loadCallsFlags are the flags of `imslab load calls`.
type loadCallsFlags struct {
	max, failures, registerConc int
	hold, deadline              time.Duration
	step, suites, dir, profile  string
	rate                        float64
	json, noCost                bool
}

func newLoadCallsCmd(logger func() *slog.Logger) *cobra.Command {
	var fl loadCallsFlags
	c := &cobra.Command{
		Use:   "calls [--max 1000] [--hold 10s] [--step 50,100,250,...] [--json]",
		Short: "Ramp up simultaneous SRTP calls (G.711, 20 ms) in an in-process lab until loss or jitter give way",
		Long: `Start the lab in this process (HSS, S-CSCF, P-CSCF on loopback), register two UEs per
call with their SIMs (IMS-AKA), then for each level of the ramp set up that many calls at
--rate per second, hold them all for --hold, hang up, and judge the level on what both ends
of every call measured (RFC 3550 §6.4.1): it passes when every call set up, every leg
received media, the mean loss is under 0.1 % and the mean interarrival jitter under 10 ms.
The ramp stops at the first failing level (--failures), at --max, or at --deadline.

Before the ramp it measures the SRTP cost per packet (pion/srtp against the raw
AES-CM + HMAC-SHA1 floor, RFC 3711), unless --no-srtp-cost.

Levels: --step 250 is 250, 500, 750 ... up to --max; --step 50,100,200 is that list.
--cpuprofile FILE writes a CPU profile of the run: go tool pprof -top bin/imslab FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLoadCalls(cmd, logger(), fl)
		},
	}
	f := c.Flags()
	f.IntVar(&fl.max, "max", load.DefaultMax, "highest number of simultaneous calls tried")
	f.DurationVar(&fl.hold, "hold", load.DefaultHold, "how long each level's calls stay up once all are set up")
	f.StringVar(&fl.step, "step", "", "the levels: a step (250: 250, 500, ...) or a list (50,100,200); default "+ints(load.DefaultLevels))
	f.Float64Var(&fl.rate, "rate", load.DefaultSetupRate, "call set-ups per second")
	f.IntVar(&fl.registerConc, "register-concurrency", load.DefaultRegisterConcurrency, "registrations in flight")
	f.IntVar(&fl.failures, "failures", load.DefaultMaxFailures, "failing levels before the ramp stops")
	f.DurationVar(&fl.deadline, "deadline", load.DefaultDeadline, "bound on the whole run")
	f.StringVar(&fl.suites, "srtp", strings.Join(ue.DefaultSuites, ","), "SRTP suites the UEs offer and accept, in preference order")
	f.StringVar(&fl.dir, "dir", "", "the lab's directory (default: a temporary one, removed)")
	f.BoolVar(&fl.json, "json", false, "print the report as JSON on standard output (the table goes to standard error)")
	f.BoolVar(&fl.noCost, "no-srtp-cost", false, "skip the SRTP per-packet cost measurement")
	f.StringVar(&fl.profile, "cpuprofile", "", "write a CPU profile of the run to this file")
	return c
}

func runLoadCalls(cmd *cobra.Command, log *slog.Logger, fl loadCallsFlags) error {
	levels, err := parseLevels(fl.step, fl.max)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	progress := out
	if fl.json {
		progress = cmd.ErrOrStderr()
	}
	// Two UEs per call: their logs and the lab's only with -v; the report
	// counts the warnings and errors either way.
	if !log.Enabled(cmd.Context(), slog.LevelDebug) {
		log = slog.New(slog.DiscardHandler)
	}
	if fl.profile != "" {
		stop, err := startProfile(fl.profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	rep, err := load.Run(cmd.Context(), load.Config{Levels: levels, Max: fl.max, Hold: fl.hold, SetupRate: fl.rate,
		RegisterConcurrency: fl.registerConc, MaxFailures: fl.failures, Deadline: fl.deadline,
		Suites: splitComma(fl.suites), Dir: fl.dir, SRTPCost: !fl.noCost, Logger: log, Progress: progress})
	if rep != nil {
		if fl.json {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(rep); jerr != nil {
				return jerr
			}
		}
		rep.WriteSummary(progress)
	}
	if err != nil {
		return fmt.Errorf("load calls: %w", err)
	}
	return nil
}

// parseLevels reads --step: "" (the default ramp), one step (levels
// step, 2·step ... up to max) or a list of levels.
func parseLevels(step string, max int) ([]int, error) {
	if strings.TrimSpace(step) == "" {
		return nil, nil
	}
	var levels []int
	for _, p := range splitComma(step) {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--step %q: %q is not a positive number of calls (want 250, or 50,100,200)", step, p)
		}
		levels = append(levels, n)
	}
	if len(levels) == 1 {
		s := levels[0]
		levels = levels[:0]
		for n := s; n <= max && len(levels) < 1000; n += s {
			levels = append(levels, n)
		}
		if len(levels) == 0 {
			return nil, fmt.Errorf("--step %d is above --max %d", s, max)
		}
	}
	return levels, nil
}

// startProfile starts a CPU profile (runtime/pprof) into file.
func startProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "imslab: --cpuprofile:", err)
		}
	}, nil
}

// ints writes a list of numbers as 1,2,3.
func ints(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
