package pcscf

import (
	"context"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// subscribe sends the UE's reg-event SUBSCRIBE (TS 24.229 §5.1.1.3) with
// the route a UE uses: the P-CSCF, then the Service-Route.
func (u *fakeUE) subscribe(l *lab) *sip.Response {
	u.t.Helper()
	r := u.request(sip.SUBSCRIBE, u.impu(), func(r *sip.Request) {
		r.AppendHeader(sip.NewHeader("Route", "<sip:"+l.addr+";lr>, <sip:orig@"+l.scscf.addr+";lr>"))
		r.AppendHeader(sip.NewHeader("Event", "reg"))
		r.AppendHeader(sip.NewHeader(hExpires, "600"))
		r.AppendHeader(sip.NewHeader("Accept", "application/reginfo+xml"))
	})
	return u.do(r)
}

func TestSubscribeNotify(t *testing.T) {
	for _, tp := range []string{"UDP", "TCP"} {
		t.Run(tp, func(t *testing.T) {
			l := startLab(t)
			u := l.registered(t, tp, "alice")
			if res := u.subscribe(l); res.StatusCode != 200 {
				t.Fatalf("SUBSCRIBE: %d", res.StatusCode)
			}

			// UE → core: routed via the Service-Route, identity asserted,
			// the P-CSCF record-routed (TS 24.229 §5.2.6.3.3).
			got := l.scscf.next()
			t.Logf("SUBSCRIBE forwarded by the P-CSCF:\n%s", got)
			if rs := got.GetHeaders("Route"); len(rs) != 1 || rs[0].Value() != "<sip:orig@"+l.scscf.addr+";lr>" {
				t.Errorf("Route = %v, want the Service-Route only", rs)
			}
			if rr := got.GetHeaders("Record-Route"); len(rr) != 1 || rr[0].Value() != "<sip:"+l.addr+";lr>" {
				t.Errorf("Record-Route = %v", rr)
			}
			if pai := headerValues(got, hPAI); len(pai) != 1 || pai[0] != "<sip:alice@"+domain+">" {
				t.Errorf("P-Asserted-Identity = %q", pai)
			}
			if len(headerValues(got, hPCV)) != 1 {
				t.Error("no P-Charging-Vector")
			}

			// core → UE in the dialog, via the Record-Route (reg-event NOTIFY).
			sub := <-l.scscf.subs
			res := l.scscf.notify(sub)
			if res.StatusCode != 200 {
				t.Fatalf("NOTIFY: %d", res.StatusCode)
			}
			n := u.next()
			if n.Method != sip.NOTIFY || n.Recipient.Host != u.contact.Host || n.Recipient.Port != u.contact.Port {
				t.Errorf("UE received %s", n.StartLine())
			}
			if n.Route() != nil {
				t.Errorf("NOTIFY still routed: %v", n.GetHeaders("Route"))
			}
			if v := n.Via(); v.SentBy() != l.addr {
				t.Errorf("top Via of the NOTIFY %s, want the P-CSCF", v.Value())
			}
			if pai := headerValues(res, hPAI); len(pai) != 1 || pai[0] != "<sip:alice@"+domain+">" {
				t.Errorf("P-Asserted-Identity of the UE's 200 = %q, want its own (it wrote mallory's)", pai)
			}
			if !l.logs.has("→ NOTIFY forwarded core → UE", "target=") || !l.logs.has("← 200 OK relayed UE → core") {
				t.Error("NOTIFY not logged")
			}

			// core → UE, initial, via the Path (TS 24.229 §5.2.7).
			res = l.scscf.sendToUE(sip.MESSAGE, u.contact, "<sip:term@"+l.addr+";lr>")
			if res.StatusCode != 200 {
				t.Fatalf("MESSAGE via Path: %d", res.StatusCode)
			}
			m := u.next()
			if m.Method != sip.MESSAGE || m.Route() != nil || string(m.Body()) != "hello" {
				t.Errorf("UE received %s", m)
			}
			if rr := m.GetHeaders("Record-Route"); len(rr) != 1 || rr[0].Value() != "<sip:"+l.addr+";lr>" {
				t.Errorf("Record-Route of an initial request to the UE = %v", rr)
			}
			if pai := headerValues(m, hPAI); len(pai) != 1 || !strings.Contains(pai[0], "carol") {
				t.Errorf("P-Asserted-Identity from the core = %q, want it kept", pai)
			}

			// A contact nobody registered: 480.
			other := u.contact
			other.Port++
			if res := l.scscf.sendToUE(sip.MESSAGE, other, "<sip:term@"+l.addr+";lr>"); res.StatusCode != 480 {
				t.Errorf("MESSAGE to an unregistered contact: %d, want 480", res.StatusCode)
			}

			// After de-registration the final NOTIFY still reaches the UE.
			if _, r := u.register(0); r.StatusCode != 200 {
				t.Fatalf("de-register: %d", r.StatusCode)
			}
			if res := l.scscf.notify(sub); res.StatusCode != 200 {
				t.Errorf("final NOTIFY after de-registration: %d", res.StatusCode)
			}
			u.next()
			// ...but no new request does.
			if res := l.scscf.sendToUE(sip.MESSAGE, u.contact, "<sip:term@"+l.addr+";lr>"); res.StatusCode != 480 {
				t.Errorf("MESSAGE after de-registration: %d, want 480", res.StatusCode)
			}
		})
	}
}

func TestCoreOnlyFromCoreAddresses(t *testing.T) {
	l := startLab(t, func(p *PCSCF) { p.cfg.Core = []string{"192.0.2.0/24"} })
	u := l.registered(t, "UDP", "alice")
	res := l.scscf.sendToUE(sip.MESSAGE, u.contact, "<sip:term@"+l.addr+";lr>")
	if res.StatusCode != 403 {
		t.Fatalf("request towards a UE from outside the core: %d, want 403", res.StatusCode)
	}
	if !l.logs.has("refused MESSAGE: 403", "not a registered flow") {
		t.Error("refusal not logged")
	}
}

func TestInDialogFromUE(t *testing.T) {
	l := startLab(t)
	u := l.registered(t, "UDP", "alice")
	// A re-SUBSCRIBE in the dialog: loose-routed along its route set.
	r := u.request(sip.SUBSCRIBE, sip.Uri{Scheme: "sip", User: "scscf", Host: "127.0.0.1", Port: l.scscf.laddr.Port}, func(r *sip.Request) {
		r.To().Params.Add("tag", "dialog-tag")
		r.AppendHeader(sip.NewHeader("Route", "<sip:"+l.addr+";lr>"))
		r.AppendHeader(sip.NewHeader("Event", "reg"))
	})
	if res := u.do(r); res.StatusCode != 200 {
		t.Fatalf("in-dialog SUBSCRIBE: %d", res.StatusCode)
	}
	got := l.scscf.next()
	if got.Route() != nil || len(got.GetHeaders("Record-Route")) != 0 {
		t.Errorf("in-dialog request: Route %v, Record-Route %v", got.GetHeaders("Route"), got.GetHeaders("Record-Route"))
	}
	if pai := headerValues(got, hPAI); len(pai) != 1 || pai[0] != "<sip:alice@"+domain+">" {
		t.Errorf("P-Asserted-Identity = %q", pai)
	}
}

func TestMaxForwardsAndProxyRequire(t *testing.T) {
	l := startLab(t)
	u := l.registered(t, "UDP", "alice")
	r := u.request(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "bob", Host: domain}, func(r *sip.Request) {
		mf := sip.MaxForwardsHeader(0)
		r.AppendHeader(&mf)
	})
	if res := u.do(r); res.StatusCode != 483 {
		t.Errorf("Max-Forwards 0: %d, want 483", res.StatusCode)
	}
	r = u.request(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "bob", Host: domain}, func(r *sip.Request) {
		r.AppendHeader(sip.NewHeader(hProxyReq, "foo, sec-agree"))
	})
	res := u.do(r)
	if res.StatusCode != 420 || len(headerValues(res, hUnsupport)) != 1 || headerValues(res, hUnsupport)[0] != "foo" {
		t.Errorf("Proxy-Require foo: %d %q, want 420 with Unsupported: foo", res.StatusCode, headerValues(res, hUnsupport))
	}
}

// TestInviteDialog runs a call's signalling through the P-CSCF: INVITE
// via the Service-Route, ACK and BYE along the Record-Route, and CANCEL.
func TestInviteDialog(t *testing.T) {
	l := startLab(t)
	u := l.registered(t, "UDP", "alice")
	bob := sip.Uri{Scheme: "sip", User: "bob", Host: domain}
	inv := u.request(sip.INVITE, bob, func(r *sip.Request) {
		r.AppendHeader(sip.NewHeader("Route", "<sip:"+l.addr+";lr>"))
		r.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		r.SetBody([]byte("v=0\r\n"))
	})
	res := u.do(inv)
	if res.StatusCode != 200 {
		t.Fatalf("INVITE: %d", res.StatusCode)
	}
	if got := l.scscf.next(); got.Method != sip.INVITE || len(got.GetHeaders("Record-Route")) != 1 {
		t.Fatalf("S-CSCF got %s with Record-Route %v", got.StartLine(), got.GetHeaders("Record-Route"))
	}
	rr := res.GetHeaders("Record-Route")
	if len(rr) != 1 || res.Contact() == nil {
		t.Fatalf("200 without the route set: Record-Route %v, Contact %v", rr, res.Contact())
	}
	// In the dialog: Request-URI the remote target, Route the route set
	// (RFC 3261 §12.2.1.1).
	inDialog := func(m sip.RequestMethod, seq uint32) *sip.Request {
		r := sip.NewRequest(m, res.Contact().Address)
		r.AppendHeader(&sip.RouteHeader{Address: rr[0].(*sip.RecordRouteHeader).Address})
		r.AppendHeader(sip.HeaderClone(inv.From()))
		r.AppendHeader(sip.HeaderClone(res.To()))
		r.AppendHeader(sip.HeaderClone(inv.CallID()))
		r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: m})
		r.SetTransport("UDP")
		r.SetDestination(l.addr)
		r.Laddr = u.laddr
		return r
	}
	if err := u.cli.WriteRequest(inDialog(sip.ACK, inv.CSeq().SeqNo)); err != nil {
		t.Fatal(err)
	}
	ack := l.scscf.next()
	if ack.Method != sip.ACK || ack.Route() != nil || ack.Via().SentBy() != l.addr {
		t.Errorf("S-CSCF got %s, Route %v, top Via %s", ack.StartLine(), ack.GetHeaders("Route"), ack.Via().Value())
	}
	if res := u.do(inDialog(sip.BYE, inv.CSeq().SeqNo+1)); res.StatusCode != 200 {
		t.Errorf("BYE: %d", res.StatusCode)
	}
	if bye := l.scscf.next(); bye.Method != sip.BYE || len(headerValues(bye, hPAI)) != 1 {
		t.Errorf("S-CSCF got %s with P-Asserted-Identity %q", bye.StartLine(), headerValues(bye, hPAI))
	}
	if !l.logs.has("→ ACK forwarded UE → core") {
		t.Error("ACK not logged")
	}

	// CANCEL of a ringing call reaches the S-CSCF too (RFC 3261 §16.10).
	ring := u.request(sip.INVITE, sip.Uri{Scheme: "sip", User: "ringing", Host: domain}, nil)
	ring.SetTransport("UDP")
	ring.SetDestination(l.addr)
	ring.Laddr = u.laddr
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	tx, err := u.cli.TransactionRequest(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	for res := range tx.Responses() {
		if res.StatusCode == 180 {
			break
		}
	}
	c := sip.NewRequest(sip.CANCEL, ring.Recipient)
	c.AppendHeader(ring.Via().Clone())
	for _, n := range []string{"From", "To", "Call-ID"} {
		c.AppendHeader(sip.HeaderClone(ring.GetHeader(n)))
	}
	c.AppendHeader(&sip.CSeqHeader{SeqNo: ring.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.SetTransport("UDP")
	c.SetDestination(l.addr)
	c.Laddr = u.laddr
	if res := u.do(c); res.StatusCode != 200 {
		t.Errorf("CANCEL: %d", res.StatusCode)
	}
	select {
	case res := <-tx.Responses():
		if res.StatusCode != 487 {
			t.Errorf("canceled INVITE: %d, want 487", res.StatusCode)
		}
	case <-ctx.Done():
		t.Fatal("no final response to the canceled INVITE")
	}
	select {
	case <-l.scscf.canceled:
	case <-ctx.Done():
		t.Fatal("CANCEL not forwarded to the S-CSCF")
	}
}

// TestSCSCFOverTCP runs registration and reg-event with TCP between the
// P-CSCF and the S-CSCF, and UDP to the UE.
func TestSCSCFOverTCP(t *testing.T) {
	l := startLab(t, func(p *PCSCF) { p.cfg.SCSCFTransport = "tcp" })
	l.scscf.transport = "TCP"
	u := newUE(t, "UDP", l.addr, "alice")
	if r1, r2 := u.register(granted); r1.StatusCode != 401 || r2.StatusCode != 200 {
		t.Fatalf("register: %d, %d", r1.StatusCode, r2.StatusCode)
	}
	if v := l.scscf.next().Via(); v.Transport != "TCP" {
		t.Errorf("REGISTER reached the S-CSCF with Via %s", v.Value())
	}
	l.scscf.next()
	if res := u.subscribe(l); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %d", res.StatusCode)
	}
	l.scscf.next()
	if res := l.scscf.notify(<-l.scscf.subs); res.StatusCode != 200 {
		t.Fatalf("NOTIFY over TCP from the S-CSCF: %d", res.StatusCode)
	}
	if n := u.next(); n.Method != sip.NOTIFY {
		t.Errorf("UE received %s", n.StartLine())
	}
}

// TestLargeRequestToUDPUE: a request over 1300 bytes for a UE registered
// over UDP goes over TCP to the same address (RFC 3261 §18.1.1, TS 24.229
// §4.2A), as a reg-event NOTIFY with a full reginfo does.
func TestLargeRequestToUDPUE(t *testing.T) {
	l := startLab(t)
	u := l.registered(t, "UDP", "alice")
	l.scscf.body = strings.Repeat("x", 2000)
	if res := l.scscf.sendToUE(sip.MESSAGE, u.contact, "<sip:term@"+l.addr+";lr>"); res.StatusCode != 200 {
		t.Fatalf("large MESSAGE: %d", res.StatusCode)
	}
	m := u.next()
	if len(m.Body()) != 2000 || m.Transport() != "TCP" || m.Via().Transport != "TCP" {
		t.Errorf("UE received %d bytes over %s (Via %s)", len(m.Body()), m.Transport(), m.Via().Value())
	}
}

// TestLargeResponseToUDPUE: a response over 1300 bytes still reaches a UE
// registered over UDP (sipgo alone refuses to send it).
func TestLargeResponseToUDPUE(t *testing.T) {
	l := startLab(t, func(p *PCSCF) { p.cfg.SCSCFTransport = "tcp" })
	u := l.registered(t, "UDP", "alice")
	res := u.do(u.request(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "big", Host: domain}, nil))
	if res.StatusCode != 200 || len(headerValues(res, "X-Big")) != 1 {
		t.Fatalf("got %d with %d bytes of X-Big", res.StatusCode, len(strings.Join(headerValues(res, "X-Big"), "")))
	}
}
