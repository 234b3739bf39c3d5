package epc

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/freeport"
	"github.com/imslab/imslab/internal/media"
	"github.com/imslab/imslab/pcscf"
	"github.com/imslab/imslab/scscf"
	"github.com/imslab/imslab/sim"
	"github.com/imslab/imslab/testbed/lab"
	"github.com/imslab/imslab/testbed/labtest"
	"github.com/imslab/imslab/ue"
)

// A phone that attaches first: the P-CSCF comes from the PCO, and its
// registration and a call (SIP and SRTP) travel in GTP-U, leaving the PGW
// from the address it gave the phone.
func TestRegisterAndCallThroughGTPU(t *testing.T) {
	logs := &labtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	// The P-CSCF on port 5060 (the PCO gives an address, TS 24.229 §9.2.1)
	// of a loopback address of its own.
	pIP, err := freeport.LoopbackIP(5060)
	if err != nil {
		t.Fatal(err)
	}
	core, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Logger: log,
		PCSCF: func(c *pcscf.Config) { c.Listen = netip.AddrPortFrom(pIP, 5060).String() },
		SCSCF: func(c *scscf.Config) { c.TrustedPCSCF = []string{"127.0.0.0/8"} }})
	if err != nil {
		t.Fatalf("a lab with a P-CSCF on %s:5060: %v", pIP, err)
	}
	t.Cleanup(func() {
		if err := core.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	e, err := New(Config{Listen: "127.0.0.1:0", HSS: core.HSS.Addr().String(), GTPC: "127.0.0.1:0", GTPU: "127.0.0.1:0",
		PCSCF: []netip.Addr{pIP}, Logger: log.With("svc", "epc")})
	if err != nil {
		t.Fatal(err)
	}
	edone := make(chan error, 1)
	go func() { edone <- e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-edone })
	if e.Addr() == nil {
		t.Fatalf("EPC: %v", <-edone)
	}

	phone := func(name, imsi, msisdn string, attach bool, pol ue.AnswerPolicy) (*ue.UE, chan ue.Event) {
		c, err := core.AddSIM(ctx, imsi, msisdn, true)
		if err != nil {
			t.Fatal(err)
		}
		events := make(chan ue.Event, 64)
		cfg := ue.Config{Card: sim.Transport(c), Answer: pol, Logger: log.With("ue", name),
			OnEvent: func(ev ue.Event) {
				select {
				case events <- ev:
				default:
				}
			}}
		if attach {
			cfg.Attach = e.Addr().String()
		} else {
			cfg.PCSCF = core.PCSCFAddr()
		}
		u, err := ue.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- u.Run(rctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
		for {
			select {
			case ev := <-events:
				if ev.Kind == ue.Registered {
					return u, events
				}
				if ev.Kind == ue.RegistrationFailed {
					t.Fatalf("%s: %s", name, ev.Text)
				}
			case err := <-done:
				t.Fatalf("%s stopped: %v", name, err)
			case <-time.After(15 * time.Second):
				t.Fatalf("%s did not register", name)
			}
		}
	}
	aliceMedia := ue.MediaOptions{Source: media.NewTone(1000, 0.3), ExpectTone: 440}
	alice, _ := phone("alice", "001010000000001", "+15550001", true, ue.AnswerPolicy{Media: aliceMedia})
	a := alice.Attachment()
	if a == nil || a.Addr.String() == "" || len(a.PCSCF) == 0 || a.PCSCF[0] != pIP {
		t.Fatalf("attachment %+v", a)
	}
	if alice.PCSCF() != netip.AddrPortFrom(pIP, 5060).String() {
		t.Errorf("Alice uses the P-CSCF %s, want the PCO's %s:5060", alice.PCSCF(), pIP)
	}
	// The P-CSCF saw Alice's registration come from the PGW-assigned address.
	flows := core.PCSCF.Flows()
	var seen bool
	for _, f := range flows {
		if f.Key.Addr.Addr() == a.Addr {
			seen = true
		}
	}
	if !seen {
		t.Errorf("the P-CSCF's flows %v do not come from Alice's address %s", flows, a.Addr)
	}
	bob, _ := phone("bob", "001010000000002", "+15550002", false, ue.AnswerPolicy{})
	before := a.Plane.Counters()
	callCtx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	call, err := bob.Dial(callCtx, ue.CallOptions{To: "tel:+15550001", Media: ue.MediaOptions{Source: media.NewTone(440, 0.3), ExpectTone: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := call.Hangup(callCtx); err != nil {
		t.Fatal(err)
	}
	r := call.Result()
	after := a.Plane.Counters()
	t.Logf("Bob: %s; Alice's tunnel: %v → %v", r.Media.Summary(), before, after)
	if !r.Media.ToneHeard || r.Media.PacketsReceived < 30 {
		t.Errorf("Bob did not hear Alice through the tunnel: %s", r.Media.Summary())
	}
	if r.Media.Remote.Addr() != a.Addr {
		t.Errorf("Bob's RTP peer is %s, want Alice's PGW address %s", r.Media.Remote, a.Addr)
	}
	if after.UpPackets-before.UpPackets < 40 || after.DownPackets-before.DownPackets < 40 {
		t.Errorf("GTP-U counters moved only %v → %v", before, after)
	}
}
