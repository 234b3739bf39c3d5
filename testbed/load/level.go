package load

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/imslab/imslab/internal/media"
	"github.com/imslab/imslab/ue"
)

// hangupTimeout bounds one BYE and its callee's end.
const hangupTimeout = 10 * time.Second

// outcome is one call of a level: its set-up and what each end received.
type outcome struct {
	setup   time.Duration
	err     error           // the call did not set up
	sampled bool            // in the jitter sample
	caller  *ue.MediaResult // what the caller received; nil: unknown
	callee  *ue.MediaResult // what the callee received; nil: its side was not found
}

// runLevel sets up n calls (callers[i] → callees[i]) at the configured
// rate, holds them all for Hold, hangs up, and summarises.
func runLevel(ctx context.Context, f *fleet, n int) Level {
	start := time.Now()
	warn0, err0 := f.logs.snapshot()
	calls := make([]*ue.Call, n)
	outs := make([]outcome, n)
	dial(ctx, f, calls, outs)
	sample, rest := jitterSample(outs)
	cpu0, t0 := cpuTime(), time.Now()
	busy0, okBusy := machineBusy()
	if n >= sampleMin {
		// The sample ends one call at a time across the hold.
		spread(ctx, f, calls, outs, sample, f.cfg.Hold)
	} else {
		sleep(ctx, f.cfg.Hold)
		rest = append(sample, rest...)
	}
	held := time.Since(t0).Seconds()
	cpu := (cpuTime() - cpu0).Seconds() / held
	machineCores := -1.0
	if busy1, ok := machineBusy(); ok && okBusy {
		machineCores = (busy1 - busy0).Seconds() / held
	}
	interrupted := ctx.Err() != nil
	hangUp(f, calls, outs, rest, hangupConcurrency)
	sweep(f, n)
	lv := summarise(outs)
	lv.CPUCores, lv.MachineCores, lv.Interrupted = cpu, machineCores, interrupted
	lv.Seconds = time.Since(start).Seconds()
	warn1, err1 := f.logs.snapshot()
	lv.LogWarnings, lv.LogErrors = warn1-warn0, err1-err0
	return lv
}

// dial places the calls, one every 1/SetupRate s, each at a random point
// of the 20 ms packet interval: a session's packet clock starts with its
// call, and clocks in step would send every packet of the level in one
// burst (RFC 3550 §6.2 spreads RTCP the same way, for the same reason).
func dial(ctx context.Context, f *fleet, calls []*ue.Call, outs []outcome) {
	interval := time.Duration(float64(time.Second) / f.cfg.SetupRate)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range calls {
		at := t0.Add(time.Duration(i)*interval + rand.N(media.PacketInterval))
		if !sleep(ctx, time.Until(at)) {
			for j := i; j < len(calls); j++ {
				outs[j].err = errStopped
			}
			break
		}
		caller, callee := f.callers[i], f.callees[i]
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, f.cfg.SetupTimeout)
			defer cancel()
			c, err := caller.u.Dial(dctx, ue.CallOptions{To: "tel:" + callee.msisdn, Media: f.media()})
			calls[i], outs[i].err = c, err
			if c != nil {
				outs[i].setup = c.Setup()
			}
		})
	}
	wg.Wait()
}

// The jitter sample. RFC 3550's jitter estimate follows the last ~16
// packets: a leg's figure is that of the moment its media stops. Taken at
// the end of the hold, all at once, it would be one instant's (a garbage
// collection, say) and the teardown's (BYEs through the core, every leg's
// recording decoded). So every sampleEvery-th call is hung up during the
// hold, one at a time at even intervals, while the others run: the
// level's jitter is the mean over the hold. Below sampleMin calls, the
// sample is every call, hung up at the end.
const (
	sampleEvery       = 10
	sampleMin         = 100
	hangupConcurrency = 64
)

// jitterSample marks the calls of the jitter sample and returns them, and
// the others.
func jitterSample(outs []outcome) (sample, rest []int) {
	for i := range outs {
		outs[i].sampled = len(outs) < sampleMin || i%sampleEvery == 0
		if outs[i].sampled {
			sample = append(sample, i)
		} else {
			rest = append(rest, i)
		}
	}
	return sample, rest
}

// spread hangs up the calls idx one by one, evenly across hold, and
// returns when hold has passed (or ctx ended).
func spread(ctx context.Context, f *fleet, calls []*ue.Call, outs []outcome, idx []int, hold time.Duration) {
	t0 := time.Now()
	for k, i := range idx {
		if !sleep(ctx, time.Until(t0.Add(hold*time.Duration(k+1)/time.Duration(len(idx)+1)))) {
			return
		}
		hangUp(f, calls, outs, []int{i}, 1)
	}
	sleep(ctx, time.Until(t0.Add(hold)))
}

// hangUp ends calls idx with BYE from the caller (RFC 3261 §15.1.1),
// conc at a time, and collects what both ends received.
func hangUp(f *fleet, calls []*ue.Call, outs []outcome, idx []int, conc int) {
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for _, i := range idx {
		c := calls[i]
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
			defer cancel()
			if err := c.Hangup(ctx); err != nil {
				f.log.Warn("hang-up failed", "call_id", c.ID(), "err", err)
			}
			outs[i].caller = mediaOf(ctx, c)
			if in := f.takeIncoming(c.ID()); in != nil {
				outs[i].callee = mediaOf(ctx, in)
			}
		})
	}
	wg.Wait()
}

// mediaOf waits for c to end and returns what its media received.
func mediaOf(ctx context.Context, c *ue.Call) *ue.MediaResult {
	select {
	case <-c.Done():
	case <-ctx.Done():
		return nil
	}
	if r := c.Result(); r != nil {
		return &r.Media
	}
	return nil
}

// sweep hangs up whatever calls remain on the first n pairs (a callee that
// answered a caller who had given up), so that the next level starts
// clean.
func sweep(f *fleet, n int) {
	sem := make(chan struct{}, hangupConcurrency)
	var wg sync.WaitGroup
	for _, ps := range [][]*phone{f.callers[:n], f.callees[:n]} {
		for _, p := range ps {
			for _, c := range p.u.Calls() {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
					defer cancel()
					_ = c.Hangup(ctx)
				})
			}
		}
	}
	wg.Wait()
	f.forgetIncoming()
}
