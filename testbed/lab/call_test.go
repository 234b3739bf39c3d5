package lab

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/media"
	"github.com/imslab/imslab/scscf"
	"github.com/imslab/imslab/sim"
	"github.com/imslab/imslab/testbed/labtest"
	"github.com/imslab/imslab/ue"
)

// The whole core in process: calls between UEs with SIMs, through the
// P-CSCF and the S-CSCF, with SRTP voice.

type testLab struct {
	*Lab
	t    *testing.T
	logs *labtest.Buffer
	log  *slog.Logger
}

func startLab(t *testing.T, opts ...func(*Options)) *testLab {
	t.Helper()
	logs := &labtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o := Options{Dir: t.TempDir(), Logger: log}
	for _, f := range opts {
		f(&o)
	}
	l, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLab{Lab: l, t: t, logs: logs, log: log}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab: %v", err)
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	return tl
}

// phone is a registered UE and its events.
type phone struct {
	*ue.UE
	name   string
	events chan ue.Event
	stop   func()
}

// phone makes a SIM for imsi/msisdn and registers a UE with it.
func (l *testLab) phone(name, imsi, msisdn string, answer ue.AnswerPolicy) *phone {
	l.t.Helper()
	card, err := l.AddSIM(context.Background(), imsi, msisdn, true)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.device(name, card, answer)
}

func (l *testLab) device(name string, card sim.Transport, answer ue.AnswerPolicy, mods ...func(*ue.Config)) *phone {
	l.t.Helper()
	p := &phone{name: name, events: make(chan ue.Event, 256)}
	cfg := ue.Config{Card: card, PCSCF: l.PCSCFAddr(), Answer: answer,
		Logger: l.log.With("ue", name), OnEvent: func(ev ue.Event) {
			select {
			case p.events <- ev:
			default:
			}
		}}
	for _, m := range mods {
		m(&cfg)
	}
	u, err := ue.New(cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	p.UE = u
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	p.stop = func() {
		cancel()
		if err := <-done; err != nil {
			l.t.Errorf("%s: %v", name, err)
		}
	}
	l.t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			p.stop()
		}
	})
	p.wait(l.t, ue.Registered, 10*time.Second)
	return p
}

// wait returns the next event of that kind.
func (p *phone) wait(t *testing.T, kind ue.EventKind, d time.Duration) ue.Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-p.events:
			if ev.Kind == kind {
				return ev
			}
			if ev.Kind == ue.RegistrationFailed {
				t.Fatalf("%s: %s", p.name, ev.Text)
			}
		case <-timeout:
			t.Fatalf("%s: no %s event within %s", p.name, kind, d)
		}
	}
}

func tone(hz float64) ue.MediaOptions {
	return ue.MediaOptions{Source: media.NewTone(hz, 0.3)}
}

func TestCallSRTPBothWays(t *testing.T) {
	l := startLab(t)
	aliceMedia := tone(1000)
	aliceMedia.ExpectTone = 440
	alice := l.phone("alice", "001010000000001", "+15550001", ue.AnswerPolicy{After: 200 * time.Millisecond, Media: aliceMedia})
	bob := l.phone("bob", "001010000000002", "+15550002", ue.AnswerPolicy{})

	bobMedia := tone(440)
	bobMedia.ExpectTone = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := bob.Dial(ctx, ue.CallOptions{To: "tel:+15550001", Media: bobMedia})
	if err != nil {
		t.Fatal(err)
	}
	in, err := alice.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alice.wait(t, ue.CallEstablished, 5*time.Second)
	time.Sleep(time.Second)
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	<-call.Done()
	select {
	case <-in.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Alice's side did not end after Bob's BYE")
	}
	for _, r := range []*ue.CallResult{call.Result(), in.Result()} {
		t.Logf("%s: %s", r.Direction, r.Media.Summary())
		m := r.Media
		if !m.SRTP || m.Suite != "AEAD_AES_128_GCM" || m.Codec != "PCMU" {
			t.Errorf("%s: negotiated %s, want PCMU with SRTP AEAD_AES_128_GCM", r.Direction, m.Negotiated.Summary())
		}
		if m.PacketsReceived < 30 || m.Lost > 0 || m.AuthFailed > 0 || !m.ToneHeard {
			t.Errorf("%s: media %s", r.Direction, m.Summary())
		}
	}
	if r := in.Result(); r.EndedBy != "remote" || call.Result().EndedBy != "local" {
		t.Errorf("ended by: caller %s, callee %s", call.Result().EndedBy, r.EndedBy)
	}
	if in.Peer() != "sip:001010000000002@"+Domain && !strings.Contains(in.Peer(), "15550002") {
		t.Errorf("callee sees the caller as %q, want Bob's asserted identity", in.Peer())
	}
}

func TestCallFailures(t *testing.T) {
	l := startLab(t, func(o *Options) {
		o.SCSCF = func(c *scscf.Config) { c.NoAnswerTimeout = 1500 * time.Millisecond }
	})
	bob := l.phone("bob", "001010000000002", "+15550002", ue.AnswerPolicy{})
	l.phone("busy", "001010000000003", "+15550003", ue.AnswerPolicy{Mode: ue.AnswerBusy})
	l.phone("never", "001010000000004", "+15550004", ue.AnswerPolicy{Mode: ue.AnswerNever})
	l.phone("decline", "001010000000006", "+15550006", ue.AnswerPolicy{Mode: ue.AnswerDecline})
	l.phone("picky", "001010000000007", "+15550007", ue.AnswerPolicy{Media: ue.MediaOptions{Suites: []string{"AES_CM_128_HMAC_SHA1_32"}}})
	if _, err := l.AddSIM(context.Background(), "001010000000005", "+15550005", true); err != nil {
		t.Fatal(err)
	}
	gcmOnly := ue.MediaOptions{Source: media.NewTone(440, 0.3), Suites: []string{"AEAD_AES_128_GCM"}}
	for _, tc := range []struct {
		to    string
		code  int
		media *ue.MediaOptions
	}{
		{to: "tel:+15550006", code: 603},                  // declined
		{to: "tel:+15550007", code: 488, media: &gcmOnly}, // no SRTP suite in common
		{to: "tel:+15550003", code: 486},                  // busy
		{to: "tel:+15550004", code: 408},                  // nobody answers within the S-CSCF's no-answer time
		{to: "tel:+15550005", code: 480},                  // a subscriber, not registered
		{to: "tel:+15559999", code: 404},                  // nobody
		{to: "sip:nobody@" + Domain, code: 404},           // nobody, SIP form
		{to: "sip:+15550003@" + Domain, code: 486},        // the SIP form of an MSISDN reaches the same user
		{to: "sip:carol@example.com", code: 404},          // outside the home domain
		{to: "sip:+15550003@" + Domain + ";user=phone", code: 486},
	} {
		t.Run(tc.to, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			m := tone(440)
			if tc.media != nil {
				m = *tc.media
			}
			_, err := bob.Dial(ctx, ue.CallOptions{To: tc.to, Media: m})
			var ce *ue.CallError
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Fatalf("call to %s: %v, want %d", tc.to, err, tc.code)
			}
			t.Logf("%s: %v", tc.to, err)
		})
	}
}

// Forking (TS 24.229 §5.4.3.3): both of Alice's devices ring, the first to
// answer gets the call, the other is CANCELled; the callee hangs up.
func TestCallForksToBothDevices(t *testing.T) {
	l := startLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := l.AddCard(ctx, "001010000000001", "+15550001", true)
	if err != nil {
		t.Fatal(err)
	}
	cards := make([]*sim.SoftCard, 2)
	for i := range cards {
		if cards[i], err = sim.NewSoftCard(c); err != nil {
			t.Fatal(err)
		}
	}
	// One subscription, two devices: each its own instance (RFC 5626 §4.1).
	phone := l.device("alice phone", cards[0], ue.AnswerPolicy{After: 700 * time.Millisecond, HangupAfter: 700 * time.Millisecond, Media: tone(1000)})
	tablet := l.device("alice tablet", cards[1], ue.AnswerPolicy{Mode: ue.AnswerNever}, func(c *ue.Config) {
		c.InstanceID = "urn:uuid:00000000-0000-4000-8000-00000000ab1e"
	})
	bob := l.phone("bob", "001010000000002", "+15550002", ue.AnswerPolicy{})
	call, err := bob.Dial(ctx, ue.CallOptions{To: "sip:+15550001@" + Domain + ";user=phone", Media: tone(440)})
	if err != nil {
		t.Fatal(err)
	}
	tablet.wait(t, ue.CallRinging, 5*time.Second)
	ended := tablet.wait(t, ue.CallEnded, 5*time.Second)
	if r := ended.Call.Result(); !strings.Contains(r.Reason, "cancelled") {
		t.Errorf("the tablet's call ended with %q, want cancelled", r.Reason)
	}
	phone.wait(t, ue.CallEstablished, 5*time.Second)
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatal("the callee's BYE did not end Bob's call")
	}
	r := call.Result()
	if r.EndedBy != "remote" || r.Media.PacketsReceived < 20 {
		t.Errorf("Bob's call: %+v", r)
	}
}

// The caller gives up while it rings: CANCEL, 487, the callee stops ringing.
func TestCallCallerCancels(t *testing.T) {
	l := startLab(t)
	alice := l.phone("alice", "001010000000001", "+15550001", ue.AnswerPolicy{Mode: ue.AnswerNever})
	bob := l.phone("bob", "001010000000002", "+15550002", ue.AnswerPolicy{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := bob.Dial(ctx, ue.CallOptions{To: "tel:+15550001", RingTimeout: 800 * time.Millisecond, Media: tone(440)})
	var ce *ue.CallError
	if !errors.As(err, &ce) || ce.Code != 487 {
		t.Fatalf("cancelled call: %v, want 487", err)
	}
	ended := alice.wait(t, ue.CallEnded, 5*time.Second)
	if r := ended.Call.Result(); r.EndedBy != "remote" || !strings.Contains(r.Reason, "cancelled") {
		t.Errorf("Alice's side: %+v", r)
	}
}
