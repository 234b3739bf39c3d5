package pcscf

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestUnregisteredSourceRefused(t *testing.T) {
	l := startLab(t)
	for _, tp := range []string{"UDP", "TCP"} {
		u := newUE(t, tp, l.addr, "eve")
		r := u.request(sip.SUBSCRIBE, u.impu(), func(r *sip.Request) {
			r.AppendHeader(sip.NewHeader("Event", "reg"))
		})
		if res := u.do(r); res.StatusCode != 403 {
			t.Errorf("%s: SUBSCRIBE from an unregistered source: %d, want 403", tp, res.StatusCode)
		}
		if !l.logs.has("refused SUBSCRIBE: 403 Forbidden", "not a registered flow", "from=sip:eve@"+domain, "src="+strings.ToLower(tp)+":127.0.0.1") {
			t.Errorf("%s: refusal not logged with who tried", tp)
		}
	}
	// Registered on one flow is not registered on another: a second
	// socket of the same host is refused, whatever its From says.
	alice := l.registered(t, "UDP", "alice")
	other := newUE(t, "UDP", l.addr, "alice")
	r := other.request(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "bob", Host: domain}, nil)
	if res := other.do(r); res.StatusCode != 403 {
		t.Errorf("MESSAGE from another port of alice's host: %d, want 403", res.StatusCode)
	}
	r = alice.request(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "bob", Host: domain}, nil)
	if res := alice.do(r); res.StatusCode != 200 {
		t.Errorf("MESSAGE from alice's registered flow: %d, want 200", res.StatusCode)
	}
	if len(l.scscf.got) != 1 {
		t.Errorf("the S-CSCF received %d requests, want only alice's MESSAGE", len(l.scscf.got))
	}
}

func TestIdentityAssertion(t *testing.T) {
	l := startLab(t)
	alice := l.registered(t, "UDP", "alice")
	l.registered(t, "TCP", "bob")
	bob := "<sip:bob@" + domain + ">"
	own := "<sip:alice@" + domain + ">"
	for _, c := range []struct {
		name    string
		edit    func(*sip.Request)
		code    int
		pai     string // the one P-Asserted-Identity forwarded
		logWhy  string
		headers []string // must not be forwarded
	}{
		{"own From", nil, 200, own, "", nil},
		{"own From, host in capitals", func(r *sip.Request) { r.From().Address.Host = strings.ToUpper(domain) }, 200, own, "", nil},
		{"anonymous From", func(r *sip.Request) {
			r.From().Address = sip.Uri{Scheme: "sip", User: "anonymous", Host: "anonymous.invalid"}
			r.AppendHeader(sip.NewHeader(hPrivacy, "id"))
		}, 200, own, "", nil},
		{"preferred tel alias", func(r *sip.Request) { r.AppendHeader(sip.NewHeader(hPPI, "<tel:+1-555-0001>")) }, 200, "<tel:+15550001>", "", []string{hPPI}},
		{"own P-Asserted-Identity", func(r *sip.Request) { r.AppendHeader(sip.NewHeader(hPAI, `"Alice" `+own)) }, 200, own, "", nil},
		{"From of another user", func(r *sip.Request) {
			r.From().Address = sip.Uri{Scheme: "sip", User: "bob", Host: domain}
		}, 403, "", "From sip:bob@" + domain + " is not registered on this flow", nil},
		{"P-Preferred-Identity of another user", func(r *sip.Request) { r.AppendHeader(sip.NewHeader(hPPI, bob)) }, 403, "",
			"P-Preferred-Identity sip:bob@" + domain + " is not registered", nil},
		{"second P-Preferred-Identity of another user", func(r *sip.Request) {
			r.AppendHeader(sip.NewHeader(hPPI, own+", <tel:+15550002>"))
		}, 403, "", "P-Preferred-Identity tel:+15550002 is not registered", nil},
		{"P-Asserted-Identity of another user, lower-case header", func(r *sip.Request) {
			r.AppendHeader(sip.NewHeader("p-asserted-identity", bob))
		}, 403, "", "P-Asserted-Identity sip:bob@" + domain + " is not registered", nil},
		{"escaped user of another user", func(r *sip.Request) {
			r.From().Address = sip.Uri{Scheme: "sip", User: "%62ob", Host: domain}
		}, 403, "", "is not registered on this flow", nil},
		{"malformed P-Preferred-Identity", func(r *sip.Request) { r.AppendHeader(sip.NewHeader(hPPI, "<sip:alice@"+domain)) }, 400, "",
			"P-Preferred-Identity", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := alice.request(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "carol", Host: domain}, c.edit)
			res := alice.do(r)
			if res.StatusCode != c.code {
				t.Fatalf("got %d, want %d", res.StatusCode, c.code)
			}
			if c.code != 200 {
				if !l.logs.has(fmt.Sprintf("refused MESSAGE: %d", res.StatusCode), c.logWhy, "flow=udp:") {
					t.Errorf("refusal not logged with %q", c.logWhy)
				}
				if w := headerValues(res, hWarning); len(w) != 1 || !strings.Contains(w[0], c.logWhy) {
					t.Errorf("Warning = %q, want the reason", w)
				}
				return
			}
			fwd := l.scscf.next()
			if pai := headerValues(fwd, hPAI); len(pai) != 1 || pai[0] != c.pai {
				t.Errorf("P-Asserted-Identity = %q, want %s", pai, c.pai)
			}
			for _, h := range c.headers {
				if v := headerValues(fwd, h); len(v) != 0 {
					t.Errorf("%s forwarded: %q", h, v)
				}
			}
		})
	}
	if n := len(l.scscf.got); n != 0 {
		t.Errorf("%d refused requests reached the S-CSCF", n)
	}
}

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRegistrationExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	l := startLab(t, WithClock(clock.now))
	u := l.registered(t, "UDP", "alice")
	clock.add((granted - 1) * time.Second)
	l.p.expire()
	if len(l.p.Flows()) != 1 {
		t.Fatal("flow removed before its expiry")
	}
	clock.add(2 * time.Second)
	// Expired is unregistered even before the sweep runs.
	r := u.request(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "bob", Host: domain}, nil)
	if res := u.do(r); res.StatusCode != 403 {
		t.Errorf("MESSAGE after expiry: %d, want 403", res.StatusCode)
	}
	l.p.expire()
	if f := l.p.Flows(); len(f) != 0 {
		t.Errorf("flows after expiry: %+v", f)
	}
	if !l.logs.has("registration expired: flow removed", "impi="+u.impi()) {
		t.Error("expiry not logged")
	}
}

func TestNoShortcutToAnotherUE(t *testing.T) {
	l := startLab(t)
	alice := l.registered(t, "UDP", "alice")
	bob := l.registered(t, "UDP", "bob")
	r := alice.request(sip.MESSAGE, bob.contact, func(r *sip.Request) {
		r.To().Params.Add("tag", "made-up")
		r.AppendHeader(sip.NewHeader("Route", "<sip:"+l.addr+";lr>"))
	})
	if res := alice.do(r); res.StatusCode != 403 {
		t.Errorf("in-dialog request straight to bob's contact: %d, want 403", res.StatusCode)
	}
	select {
	case m := <-bob.recv:
		t.Errorf("bob received %s", m.StartLine())
	default:
	}
	if !l.logs.has("refused MESSAGE: 403", "past the S-CSCF", "impi=alice@") {
		t.Error("refusal not logged")
	}
}
