package ue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// eventLog records a UE's events for a test to wait on.
type eventLog struct {
	t       *testing.T
	mu      sync.Mutex
	events  []Event
	changed chan struct{}
}

func newEventLog(t *testing.T) *eventLog {
	return &eventLog{t: t, changed: make(chan struct{}, 1)}
}

func (l *eventLog) on(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// wait returns the n-th event (1-based) of that kind.
func (l *eventLog) wait(kind EventKind, n int) Event {
	l.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		k := 0
		for _, ev := range l.events {
			if ev.Kind == kind {
				if k++; k == n {
					l.mu.Unlock()
					return ev
				}
			}
		}
		l.mu.Unlock()
		select {
		case <-l.changed:
		case <-deadline.C:
			l.t.Fatalf("no %s event #%d", kind, n)
		}
	}
}

// runUE starts Run and returns a stop function that cancels it and
// returns its error.
func runUE(t *testing.T, u *UE) (stop func() error, done <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- u.Run(ctx) }()
	t.Cleanup(cancel)
	return func() error {
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
			return nil
		}
	}, errc
}

func isMethod(m sip.RequestMethod) func(*sip.Request) bool {
	return func(r *sip.Request) bool { return r.Method == m }
}

func TestRunRefreshSubscribeDeregister(t *testing.T) {
	c := newTestCard(t, "001010000000011", true, 0)
	f := newFakeNet(t, fakeConfig{K: c.k, OPc: c.opc, Grant: 2 * time.Second, SubGrant: 2 * time.Second})
	evs := newEventLog(t)
	u, ladder := newTestUE(t, c, f, func(cfg *Config) { cfg.OnEvent = evs.on })
	stop, _ := runUE(t, u)

	if reg := evs.wait(Registered, 1).Registration; reg.Expires != 2*time.Second {
		t.Errorf("granted %s, want 2s", reg.Expires)
	}
	// TS 24.229 §5.1.1.3: SUBSCRIBE to the IMPU, routed P-CSCF then Service-Route.
	sub := f.waitFor("SUBSCRIBE", 1, isMethod(sip.SUBSCRIBE))
	routes := sub.GetHeaders("Route")
	if len(routes) != 2 || routes[0].Value() != "<sip:"+f.addr+";lr>" || routes[1].Value() != fakeServiceRoute {
		t.Errorf("SUBSCRIBE routes %v, want the P-CSCF then %s", routes, fakeServiceRoute)
	}
	if sub.Recipient.String() != c.p.ISIM.IMPUs[0] || header(sub, "Event") != "reg" ||
		header(sub, "Accept") != "application/reginfo+xml" || header(sub, "Expires") != "600000" {
		t.Errorf("SUBSCRIBE:\n%s", sub)
	}
	// The fake's first NOTIFY is parsed: this UE's contact is active.
	ri := evs.wait(RegState, 1).Reginfo
	if len(ri.Registrations) != 1 || ri.Registrations[0].State != "active" ||
		len(ri.Registrations[0].Contacts) != 1 || ri.Registrations[0].Contacts[0].URI != u.Contact() {
		t.Errorf("reginfo %+v", ri)
	}
	// Refreshes at half the 2 s granted (TS 24.229 §5.1.1.4.1, §5.1.1.3).
	evs.wait(Refreshed, 1)
	if refresh := f.waitFor("refresh REGISTER", 3, isMethod(sip.REGISTER)); header(refresh, "Expires") != "600" {
		t.Errorf("refresh REGISTER:\n%s", refresh)
	}
	evs.wait(Subscribed, 2)
	resub := f.waitFor("SUBSCRIBE refresh", 2, isMethod(sip.SUBSCRIBE))
	if tag, _ := resub.To().Params.Get("tag"); tag == "" || resub.CallID().Value() != sub.CallID().Value() {
		t.Errorf("SUBSCRIBE refresh not in the dialog:\n%s", resub)
	}
	if rr := resub.GetHeaders("Route"); len(rr) != 1 || rr[0].Value() != "<sip:"+f.addr+";lr>" || resub.Recipient.User != "scscf" {
		t.Errorf("SUBSCRIBE refresh: route set from Record-Route, target from Contact:\n%s", resub)
	}

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	unsub := f.requests(sip.SUBSCRIBE)
	if last := unsub[len(unsub)-1]; header(last, "Expires") != "0" {
		t.Errorf("no un-SUBSCRIBE:\n%s", last)
	}
	regs := f.requests(sip.REGISTER)
	if last := regs[len(regs)-1]; header(last, "Expires") != "0" {
		t.Errorf("no de-REGISTER:\n%s", last)
	}
	evs.wait(Deregistered, 1)
	t.Logf("ladder:\n%s", ladder)
}

func TestRegEventRejected(t *testing.T) {
	c := newTestCard(t, "001010000000012", true, 0)
	f := newFakeNet(t, fakeConfig{K: c.k, OPc: c.opc})
	evs := newEventLog(t)
	u, _ := newTestUE(t, c, f, func(cfg *Config) { cfg.OnEvent = evs.on })
	_, done := runUE(t, u)
	evs.wait(RegState, 1)
	d := f.dialog(u.Contact())
	// Network-initiated de-registration (the HSS's RTR): contact rejected.
	code, err := f.notify(testCtx(t), d, "terminated;reason=rejected", "full",
		fakeContact{uri: u.Contact(), state: "terminated", event: "rejected"})
	if err != nil || code != 200 {
		t.Fatalf("NOTIFY answered %d, %v", code, err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrNetworkDeregistered) || !strings.Contains(err.Error(), "rejected") {
			t.Fatalf("Run returned %v, want ErrNetworkDeregistered saying rejected", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after the network de-registered the UE")
	}
	if ev := evs.wait(NetworkDeregistered, 1); ev.Err == nil {
		t.Error("event without an error")
	}
	if n := len(f.requests(sip.REGISTER)); n != 2 {
		t.Errorf("%d REGISTERs, want 2: no de-REGISTER and no new registration after rejected", n)
	}
}

func TestRegEventDeactivatedReregisters(t *testing.T) {
	c := newTestCard(t, "001010000000013", true, 0)
	f := newFakeNet(t, fakeConfig{K: c.k, OPc: c.opc})
	evs := newEventLog(t)
	u, _ := newTestUE(t, c, f, func(cfg *Config) { cfg.OnEvent = evs.on })
	stop, _ := runUE(t, u)
	evs.wait(RegState, 1)
	first := f.waitFor("SUBSCRIBE", 1, isMethod(sip.SUBSCRIBE))
	code, err := f.notify(testCtx(t), f.dialog(u.Contact()), "active;expires=600000", "full",
		fakeContact{uri: u.Contact(), state: "terminated", event: "deactivated", instance: u.instance})
	if err != nil || code != 200 {
		t.Fatalf("NOTIFY answered %d, %v", code, err)
	}
	evs.wait(NetworkDeregistered, 1)
	// TS 24.229 §5.1.1.7: "deactivated": a new initial registration, and a
	// new subscription.
	if reg := f.waitFor("new initial REGISTER", 3, isMethod(sip.REGISTER)); !strings.Contains(header(reg, "Authorization"), `nonce=""`) {
		t.Errorf("REGISTER after deactivation:\n%s", reg)
	}
	evs.wait(Registered, 2)
	if sub := f.waitFor("new SUBSCRIBE", 2, isMethod(sip.SUBSCRIBE)); sub.CallID().Value() == first.CallID().Value() {
		t.Error("the new subscription reuses the old dialog")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestTwoUEsOneUser(t *testing.T) {
	// Two devices of one user: two cards, one IMPU, two contacts.
	c1 := newTestCardMSISDN(t, "001010000000021", "+15550000021", true, 0)
	c2 := newTestCardMSISDN(t, "001010000000022", "+15550000021", true, 0)
	f := newFakeNet(t, fakeConfig{K: c1.k, OPc: c1.opc})
	ev1, ev2 := newEventLog(t), newEventLog(t)
	u1, _ := newTestUE(t, c1, f, func(cfg *Config) { cfg.OnEvent = ev1.on })
	u2, _ := newTestUE(t, c2, f, func(cfg *Config) { cfg.OnEvent = ev2.on })
	stop1, _ := runUE(t, u1)
	stop2, _ := runUE(t, u2)
	ev1.wait(Subscribed, 1)
	ev2.wait(Subscribed, 1)
	if u1.Contact() == u2.Contact() || u1.instance == u2.instance {
		t.Fatalf("the UEs share contact %s or instance %s", u1.Contact(), u1.instance)
	}
	ctx := testCtx(t)
	reg, err := u2.Register(ctx) // a refresh now lists both devices
	if err != nil {
		t.Fatal(err)
	}
	var ours, other int
	for _, c := range reg.Contacts {
		switch {
		case c.Ours && c.URI == u2.Contact():
			ours++
		case c.URI == u1.Contact() && c.Instance == u1.instance:
			other++
		}
	}
	if ours != 1 || other != 1 {
		t.Errorf("contacts %+v, want u2's (ours) and u1's", reg.Contacts)
	}
	if err := errors.Join(stop1(), stop2()); err != nil {
		t.Fatal(err)
	}
	dereg := map[string]bool{}
	for _, r := range f.requests(sip.REGISTER) {
		if header(r, "Expires") == "0" {
			dereg[r.Contact().Address.String()] = true
		}
	}
	if !dereg[u1.Contact()] || !dereg[u2.Contact()] {
		t.Errorf("de-registered %v, want both UEs", dereg)
	}
}

func TestBigNotifyOverTCP(t *testing.T) {
	// A UE registered over UDP gets a NOTIFY too big for UDP (RFC 3261
	// §18.1.1: over 1300 bytes, TCP) on the same port.
	c := newTestCard(t, "001010000000014", true, 0)
	f := newFakeNet(t, fakeConfig{K: c.k, OPc: c.opc})
	evs := newEventLog(t)
	u, _ := newTestUE(t, c, f, func(cfg *Config) { cfg.OnEvent = evs.on })
	stop, _ := runUE(t, u)
	evs.wait(RegState, 1)
	contacts := []fakeContact{{uri: u.Contact(), state: "active", event: "refreshed", expires: 600, instance: u.instance}}
	for i := range 20 {
		contacts = append(contacts, fakeContact{uri: fmt.Sprintf("sip:other%02d@192.0.2.%d:5060", i, i+1), state: "active", event: "registered", expires: 600})
	}
	code, err := f.notifyOver(testCtx(t), "tcp", f.dialog(u.Contact()), "active;expires=600000", "full", contacts...)
	if err != nil || code != 200 {
		t.Fatalf("NOTIFY over TCP answered %d, %v", code, err)
	}
	if ri := evs.wait(RegState, 2).Reginfo; len(ri.Registrations) != 1 || len(ri.Registrations[0].Contacts) != 21 {
		t.Errorf("reginfo %+v", ri)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
