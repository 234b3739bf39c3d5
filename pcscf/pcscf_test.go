package pcscf

import (
	"github.com/imslab/imslab/testbed/labtest"

	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

const (
	domain  = "ims.mnc001.mcc001.3gppnetwork.org"
	wait    = 5 * time.Second // bound on any single exchange on loopback
	testCK  = "00112233445566778899aabbccddeeff"
	testIK  = "ffeeddccbbaa99887766554433221100"
	granted = 600
)

// logBuffer collects the P-CSCF's log lines.
type logBuffer struct{ labtest.Buffer }

// has tells whether one log line contains every part.
func (l *logBuffer) has(parts ...string) bool {
	for _, line := range strings.Split(l.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

type lab struct {
	p     *PCSCF
	addr  string // host:port of the P-CSCF (UDP and TCP)
	logs  *logBuffer
	scscf *fakeSCSCF
}

// startLab runs a fake S-CSCF and a P-CSCF on loopback, port 0.
func startLab(t *testing.T, opts ...Option) *lab {
	t.Helper()
	s := newFakeSCSCF(t)
	logs := &logBuffer{}
	p, err := New(Config{Listen: "127.0.0.1:0", SCSCF: s.addr,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	addr := p.Addr()
	if addr == nil {
		cancel()
		t.Fatalf("P-CSCF did not start: %v", <-done)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
		if t.Failed() {
			t.Logf("P-CSCF log:\n%s", logs.String())
		}
	})
	return &lab{p: p, addr: addr.String(), logs: logs, scscf: s}
}

// registered registers a fresh UE and checks it worked.
func (l *lab) registered(t *testing.T, transport, user string) *fakeUE {
	t.Helper()
	u := newUE(t, transport, l.addr, user)
	r1, r2 := u.register(granted)
	if r1.StatusCode != 401 || r2.StatusCode != 200 {
		t.Fatalf("register %s: got %d then %d, want 401 then 200", user, r1.StatusCode, r2.StatusCode)
	}
	l.scscf.nextFrom(user)
	l.scscf.nextFrom(user)
	return u
}

func TestNewChecksConfig(t *testing.T) {
	for _, c := range []Config{{Listen: "nohost"}, {SCSCF: "1.2.3.4:x"}, {SCSCFTransport: "sctp"}, {Advertise: "a:99999"}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.Listen != DefaultListen || p.cfg.SCSCF != DefaultSCSCF || p.cfg.SCSCFTransport != "udp" ||
		p.cfg.VisitedNetworkID != DefaultVisitedNetworkID {
		t.Errorf("defaults: %+v", p.cfg)
	}
}

func TestRunFailsOnUnspecifiedWithoutAdvertise(t *testing.T) {
	p, _ := New(Config{Listen: "0.0.0.0:0"})
	err := p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--advertise") {
		t.Fatalf("Run = %v, want an error telling to set --advertise", err)
	}
	if p.Addr() != nil {
		t.Fatal("Addr after a failed start should be nil")
	}
}

func TestAdvertiseAndTrace(t *testing.T) {
	events := make(chan TraceEvent, 100)
	l := startLab(t, func(p *PCSCF) {
		p.cfg.Advertise = "localhost:0" // port 0: the bound port
		p.cfg.Trace = func(e TraceEvent) {
			select {
			case events <- e:
			default:
			}
		}
	})
	u := newUE(t, "UDP", l.addr, "alice")
	u.register(granted)
	fwd := l.scscf.next()
	_, port, _ := net.SplitHostPort(l.addr)
	if got := headerValues(fwd, hPath); len(got) != 1 || got[0] != "<sip:term@localhost:"+port+";lr>" {
		t.Errorf("Path = %q", got)
	}
	if v := fwd.Via(); v.Host != "localhost" || fmt.Sprint(v.Port) != port {
		t.Errorf("top Via = %s", v.Value())
	}
	// 2 REGISTERs from the UE, 2 responses from the S-CSCF, and each on.
	var in, out int
	for in < 4 || out < 4 {
		select {
		case e := <-events:
			if e.Network != "udp" || !e.Local.IsValid() || !e.Remote.IsValid() || len(e.Raw) == 0 {
				t.Errorf("trace event %+v", e)
			}
			if e.Sent {
				out++
			} else {
				in++
			}
		case <-time.After(wait):
			t.Fatalf("trace saw %d received and %d sent messages", in, out)
		}
	}
}
