package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imslab/imslab/internal/media"
	"github.com/imslab/imslab/testbed/lab"
	"github.com/imslab/imslab/ue"
)

const (
	// ueExpires is the registration expiry the UEs ask for: long enough
	// that no refresh (a REGISTER and an AKA round each) falls in a run.
	ueExpires = 2 * time.Hour
	// registerTimeout bounds one UE's registration.
	registerTimeout = 30 * time.Second
	// stopConcurrency bounds the de-registrations in flight at the end.
	stopConcurrency = 64
)

// phone is a registered UE of the fleet.
type phone struct {
	u          *ue.UE
	msisdn     string
	cancel     context.CancelFunc
	done       chan error // Run's result
	registered chan struct{}
	regOnce    sync.Once
	failed     chan error
}

// fleet is the lab's UEs: callers[i] calls callees[i]. It is registered
// for the highest level before the ramp; every level reuses it.
type fleet struct {
	lab     *lab.Lab
	cfg     Config
	log     *slog.Logger
	logs    *logCount // counts what log says
	callers []*phone
	callees []*phone
	all     []*phone // every UE registered, paired or not
	next    int      // the next subscriber number

	regTime  time.Duration // spent registering
	fdsPerUE float64       // measured at the first growth

	mu       sync.Mutex
	incoming map[string]*ue.Call // answered incoming calls, by Call-ID
}

func newFleet(l *lab.Lab, cfg Config, logs *logCount) *fleet {
	return &fleet{lab: l, cfg: cfg, log: cfg.Logger, logs: logs, incoming: map[string]*ue.Call{}}
}

// registration reports the registrations so far.
func (f *fleet) registration() Registration {
	r := Registration{UEs: len(f.all), Seconds: f.regTime.Seconds()}
	if r.Seconds > 0 {
		r.PerSecond = float64(r.UEs) / r.Seconds
	}
	return r
}

// grow registers UEs until there are pairs caller/callee, RegisterConcurrency
// at a time.
func (f *fleet) grow(ctx context.Context, pairs int) error {
	have := len(f.callers)
	if pairs <= have {
		return nil
	}
	fds0 := openFDs()
	start := time.Now()
	n := 2 * (pairs - have)
	phones := make([]*phone, n)
	errs := make([]error, n)
	sem := make(chan struct{}, f.cfg.RegisterConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		k := f.next + i
		wg.Go(func() {
			defer func() { <-sem }()
			phones[i], errs[i] = f.register(ctx, k)
		})
	}
	wg.Wait()
	f.next += n
	f.regTime += time.Since(start)
	var failed []error
	for i := 0; i < n; i += 2 {
		a, b := phones[i], phones[i+1]
		for j, p := range []*phone{a, b} {
			if p == nil {
				failed = append(failed, errs[i+j])
				continue
			}
			f.all = append(f.all, p)
		}
		if a != nil && b != nil {
			f.callers = append(f.callers, a)
			f.callees = append(f.callees, b)
		}
	}
	if fds1 := openFDs(); fds0 >= 0 && fds1 > fds0 && f.fdsPerUE == 0 {
		f.fdsPerUE = float64(fds1-fds0) / float64(n)
	}
	if len(failed) > 0 {
		return fmt.Errorf("load: %d of %d UEs did not register (first: %w)", len(failed), n, failed[0])
	}
	return nil
}

// subscriber k's identities: IMSI 00101 + 10 digits (PLMN 001/01, TS 23.003
// §2.2), MSISDN +1555 + 7 digits.
func subscriber(k int) (imsi, msisdn string) {
	return fmt.Sprintf("00101%010d", k+1), fmt.Sprintf("+1555%07d", k+1)
}

// register provisions subscriber k, starts its UE and waits until it is
// registered (TS 24.229 §5.1.1.2 with IMS-AKA).
func (f *fleet) register(ctx context.Context, k int) (*phone, error) {
	imsi, msisdn := subscriber(k)
	card, err := f.lab.AddSIM(ctx, imsi, msisdn, true)
	if err != nil {
		return nil, err
	}
	p := &phone{msisdn: msisdn, done: make(chan error, 1), registered: make(chan struct{}), failed: make(chan error, 1)}
	u, err := ue.New(ue.Config{Card: card, PCSCF: f.lab.PCSCFAddr(), Expires: ueExpires, Logger: f.log,
		Answer:  ue.AnswerPolicy{Media: f.media()},
		OnEvent: func(ev ue.Event) { f.onEvent(p, ev) }})
	if err != nil {
		return nil, err
	}
	p.u = u
	// Its own context: close stops the UEs a few at a time.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	go func() { p.done <- u.Run(runCtx) }()
	t := time.NewTimer(registerTimeout)
	defer t.Stop()
	select {
	case <-p.registered:
		return p, nil
	case err = <-p.failed:
	case err = <-p.done:
		p.done <- err // stop reads it again
		if err == nil {
			err = errors.New("the UE stopped")
		}
	case <-t.C:
		err = fmt.Errorf("not registered within %s", registerTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.stop()
	return nil, fmt.Errorf("%s: %w", imsi, err)
}

// onEvent follows one UE: its registration, and the calls it answers.
func (f *fleet) onEvent(p *phone, ev ue.Event) {
	switch ev.Kind {
	case ue.Registered:
		p.regOnce.Do(func() { close(p.registered) })
	case ue.RegistrationFailed:
		select {
		case p.failed <- ev.Err:
		default:
		}
	case ue.CallAnswered:
		if ev.Call != nil && ev.Call.Direction() == ue.Incoming {
			f.mu.Lock()
			f.incoming[ev.Call.ID()] = ev.Call
			f.mu.Unlock()
		}
	}
}

// takeIncoming returns the answered incoming call of Call-ID id (the
// S-CSCF proxies: both ends share it) and forgets it.
func (f *fleet) takeIncoming(id string) *ue.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.incoming[id]
	delete(f.incoming, id)
	return c
}

// forgetIncoming drops the calls nobody took (their callers gave up).
func (f *fleet) forgetIncoming() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.incoming)
}

// stop ends the UE's Run (it de-registers) and waits for it.
func (p *phone) stop() {
	p.cancel()
	<-p.done
}

// close stops every UE, stopConcurrency at a time.
func (f *fleet) close() {
	sem := make(chan struct{}, stopConcurrency)
	var wg sync.WaitGroup
	for _, p := range f.all {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.stop()
		})
	}
	wg.Wait()
}

// media is what a UE sends and accepts in a call: a tone, the SRTP suites
// of the run.
func (f *fleet) media() ue.MediaOptions {
	return ue.MediaOptions{Source: &loop{pcm: tone}, Suites: f.cfg.Suites}
}

// tone is one second of 440 Hz (a whole number of periods: it loops
// seamlessly), made once: a Tone per call would spend the CPU measured on
// sines.
var tone = media.NewTone(440, 0.3).Samples(media.ClockRate)

// loop is a Source playing pcm over and over. It is safe for concurrent
// use (a callee's policy serves all its calls).
type loop struct {
	pcm []int16
	pos atomic.Int64
}

// Fill copies the next samples into buf.
func (l *loop) Fill(buf []int16) bool {
	at := (l.pos.Add(int64(len(buf))) - int64(len(buf))) % int64(len(l.pcm))
	for len(buf) > 0 {
		c := copy(buf, l.pcm[at:])
		buf, at = buf[c:], 0
	}
	return true
}
