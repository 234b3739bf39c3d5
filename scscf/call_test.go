package scscf

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/sipproxy"
)

// Calls through the S-CSCF: the fake P-CSCF of lab_test.go plays the
// caller's P-CSCF (dial) and, behind the Path its devices registered, the
// callee's P-CSCF and devices (phone).

// phoneBook maps contact users (ue7) to the test devices behind the P-CSCF.
type phoneBook struct {
	mu sync.Mutex
	m  map[string]*device
}

func (pb *phoneBook) add(ph *device) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.m == nil {
		pb.m = map[string]*device{}
	}
	pb.m[ph.uri.User] = ph
}

func (pb *phoneBook) get(user string) *device {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.m[user]
}

// script is how a device answers an INVITE.
type script func(ph *device, req *sip.Request, tx sip.ServerTransaction)

// device is one registered device: it gets what the S-CSCF routes to its
// contact and answers INVITEs as its script says.
type device struct {
	p       *fakePCSCF
	uri     sip.Uri // its contact
	script  script
	invites chan *sip.Request
	dialog  chan *sip.Request // ACK, BYE, PRACK, ... routed to it
	cancels chan struct{}     // one per INVITE the S-CSCF cancelled
	answer  chan struct{}     // ring: answer 200 now
}

// addPhone registers a device and puts it behind the fake P-CSCF.
func (l *lab) addPhone(impi, impu string, sc script, mod ...func(*ue)) *device {
	l.t.Helper()
	u := newUE(l.t, impi, impu, impi != softIMPI)
	for _, m := range mod {
		m(u)
	}
	l.mustRegister(u)
	c, err := parseNameAddr(u.contact)
	if err != nil {
		l.t.Fatal(err)
	}
	ph := &device{p: l.p, uri: c, script: sc, invites: make(chan *sip.Request, 8), dialog: make(chan *sip.Request, 8),
		cancels: make(chan struct{}, 8), answer: make(chan struct{}, 1)}
	l.p.phones.add(ph)
	return ph
}

// twoDevices registers the caller (the softphone) and alice's phone and
// tablet, one implicit set.
func (l *lab) twoDevices(phone, tablet script) (*device, *device) {
	l.t.Helper()
	l.addPhone(softIMPI, softIMPU, busy)
	return l.addPhone(aliceIMPI, aliceIMPU, phone), l.addPhone(aliceIMPI, aliceTel, tablet)
}

// toPhone delivers what the S-CSCF routed to a contact, as the terminating
// P-CSCF does (TS 24.229 §5.2.7).
func (p *fakePCSCF) toPhone(req *sip.Request, tx sip.ServerTransaction) {
	ph := p.phones.get(req.Recipient.User)
	switch {
	case ph == nil:
		if !req.IsAck() {
			tx.Respond(sip.NewResponseFromRequest(req, 404, "Not Found", nil))
		}
	case req.IsInvite():
		ph.invites <- req
		ph.script(ph, req, tx)
	default:
		ph.dialog <- req
		if !req.IsAck() {
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		}
	}
}

// reply answers as the device behind the terminating P-CSCF: that
// P-CSCF's Record-Route first (TS 24.229 §5.2.6.4.3), the device's Contact.
func (ph *device) reply(req *sip.Request, code int, reason, tag string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if tag != "" {
		res.To().Params.Add("tag", tag)
	}
	if code < 300 {
		self, _ := parseNameAddr("sip:" + ph.p.addr + ";lr")
		rr := []sip.Header{&sip.RecordRouteHeader{Address: self}}
		for _, h := range res.GetHeaders("Record-Route") {
			rr = append(rr, sip.HeaderClone(h))
		}
		removeAll(res, "Record-Route")
		for _, h := range rr {
			res.AppendHeader(h)
		}
		res.AppendHeader(&sip.ContactHeader{Address: ph.uri})
	}
	return res
}

// ring answers 180, then 200 when told to, unless cancelled.
func ring(ph *device, req *sip.Request, tx sip.ServerTransaction) {
	ringWith(ph, req, tx, ph.reply(req, 180, "Ringing", ""))
}

// reliable answers a reliable 183 (RFC 3262), then as ring.
func reliable(ph *device, req *sip.Request, tx sip.ServerTransaction) {
	r := ph.reply(req, 183, "Session Progress", "")
	r.AppendHeader(sip.NewHeader("Require", "100rel"))
	r.AppendHeader(sip.NewHeader("RSeq", "1"))
	ringWith(ph, req, tx, r)
}

func ringWith(ph *device, req *sip.Request, tx sip.ServerTransaction, first *sip.Response) {
	cancelled := make(chan struct{})
	tx.OnCancel(func(*sip.Request) { close(cancelled) })
	tx.Respond(first)
	tag, _ := first.To().Params.Get("tag")
	select {
	case <-ph.answer:
		tx.Respond(ph.reply(req, 200, "OK", tag))
	case <-cancelled:
		ph.cancels <- struct{}{}
	case <-time.After(20 * time.Second):
	}
}

func busy(ph *device, req *sip.Request, tx sip.ServerTransaction) {
	tx.Respond(ph.reply(req, 486, "Busy Here", ""))
}

func answerNow(ph *device, req *sip.Request, tx sip.ServerTransaction) {
	tx.Respond(ph.reply(req, 200, "OK", ""))
}

func (ph *device) nextInvite(t testing.TB) *sip.Request {
	t.Helper()
	return waitFor(t, ph.invites, "INVITE at "+ph.uri.String())
}

func (ph *device) nextInDialog(t testing.TB) *sip.Request {
	t.Helper()
	return waitFor(t, ph.dialog, "in-dialog request at "+ph.uri.String())
}

func (ph *device) waitCancel(t testing.TB) {
	t.Helper()
	waitFor(t, ph.cancels, "CANCEL at "+ph.uri.String())
}

func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		var zero T
		return zero
	}
}

// dialing is an INVITE from the caller's P-CSCF.
type dialing struct {
	l   *lab
	req *sip.Request
	tx  sip.ClientTransaction
	res chan *sip.Response // every response, a further 2xx included
}

var callSeq atomic.Uint32

// dial sends an INVITE as the P-CSCF forwards a UE's (TS 24.229
// §5.2.6.3.3): its Record-Route, Route the Service-Route, and the asserted
// identity pai ("": none).
func (l *lab) dial(pai, to string, mod ...func(*sip.Request)) *dialing {
	t := l.t
	t.Helper()
	n := callSeq.Add(1)
	var ruri, from sip.Uri
	if err := sip.ParseUri(to, &ruri); err != nil {
		t.Fatal(err)
	}
	if err := sip.ParseUri(cmp.Or(pai, "sip:someone@"+domain), &from); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.INVITE, ruri)
	fh := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fh.Params.Add("tag", fmt.Sprintf("caller%d", n))
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: ruri, Params: sip.NewParams()})
	cid := sip.CallIDHeader(fmt.Sprintf("call-%d-%d@test", n, time.Now().UnixNano()))
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.AppendHeader(sip.NewHeader("Contact", "<sip:caller@127.0.0.1:4999>"))
	req.AppendHeader(sip.NewHeader("Record-Route", "<sip:"+l.p.addr+";lr>"))
	req.AppendHeader(sip.NewHeader("Route", l.sc.serviceRoute()))
	if pai != "" {
		req.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<"+pai+">"))
	}
	ct := sip.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n"))
	for _, m := range mod {
		m(req)
	}
	req.SetDestination(l.p.scscf)
	tx, err := l.p.client.TransactionRequest(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tx.Terminate)
	d := &dialing{l: l, req: req, tx: tx, res: make(chan *sip.Response, 32)}
	tx.OnRetransmission(func(r *sip.Response) { d.res <- r })
	go func() {
		for {
			select {
			case r := <-tx.Responses():
				d.res <- r // buffered: a final response is read even as the transaction ends
			case <-tx.Done():
				return
			}
		}
	}()
	return d
}

// next returns the next response but 100.
func (d *dialing) next() *sip.Response {
	d.l.t.Helper()
	for {
		r := waitFor(d.l.t, d.res, "response to the INVITE")
		if r.StatusCode != 100 {
			return r
		}
	}
}

// final returns the final response, skipping provisional ones.
func (d *dialing) final() *sip.Response {
	d.l.t.Helper()
	for {
		if r := d.next(); r.StatusCode >= 200 {
			return r
		}
	}
}

// noMore checks that no other response but 100 comes for a while.
func (d *dialing) noMore(wait time.Duration) {
	d.l.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case r := <-d.res:
			if r.StatusCode != 100 {
				d.l.t.Fatalf("unexpected response to the INVITE: %s", r.StartLine())
			}
		case <-deadline:
			return
		}
	}
}

// inDialog builds a request of the dialog res established, as the caller's
// P-CSCF forwards it: Request-URI the callee's Contact, Route the
// Record-Route reversed (RFC 3261 §12.1.2) without the P-CSCF's own entry.
func (d *dialing) inDialog(res *sip.Response, method sip.RequestMethod, cseq uint32) *sip.Request {
	t := d.l.t
	t.Helper()
	ct := res.Contact()
	if ct == nil {
		t.Fatalf("%s without Contact", res.StartLine())
		return nil
	}
	req := sip.NewRequest(method, ct.Address)
	rrs := res.GetHeaders("Record-Route")
	if len(rrs) < 2 || !strings.Contains(rrs[len(rrs)-1].Value(), d.l.p.addr) {
		t.Fatalf("Record-Route of %s: %v, want the S-CSCF's between the P-CSCF's", res.StartLine(), rrs)
	}
	for i := len(rrs) - 2; i >= 0; i-- {
		u, err := parseNameAddr(rrs[i].Value())
		if err != nil {
			t.Fatal(err)
		}
		req.AppendHeader(&sip.RouteHeader{Address: u})
	}
	req.AppendHeader(sip.HeaderClone(d.req.From()))
	req.AppendHeader(sip.HeaderClone(res.To()))
	req.AppendHeader(sip.HeaderClone(d.req.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.SetBody(nil)
	req.SetDestination(d.l.p.scscf)
	return req
}

// ack sends the ACK for a 2xx.
func (d *dialing) ack(ok *sip.Response) {
	d.l.t.Helper()
	if err := d.l.p.client.WriteRequest(d.inDialog(ok, sip.ACK, 1)); err != nil {
		d.l.t.Fatal(err)
	}
}

// cancel sends the caller's CANCEL (RFC 3261 §9.1) and wants 200.
func (d *dialing) cancel() {
	t := d.l.t
	t.Helper()
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	tx, err := d.l.p.client.TransactionRequest(ctx, sipproxy.Cancel(d.req), sipproxy.NoBuild)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	select {
	case r := <-tx.Responses():
		if r.StatusCode != 200 {
			t.Fatalf("CANCEL: %s", r.StartLine())
		}
	case <-tx.Done():
		t.Fatalf("CANCEL: %v", tx.Err())
	case <-ctx.Done():
		t.Fatal("CANCEL: no response")
	}
}

// wantWarning checks that a response says why, in a Warning 399.
func wantWarning(t testing.TB, res *sip.Response, text string) {
	t.Helper()
	w := res.GetHeader("Warning")
	if w == nil || !strings.HasPrefix(w.Value(), "399 ") || !strings.Contains(w.Value(), text) {
		t.Errorf("%s: Warning %v, want 399 with %q", res.StartLine(), w, text)
	}
}

// The basic call, RFC 3261 §16.6-16.7 and TS 24.229 §5.4.3.3: both devices
// of the callee ring with their contact as Request-URI and their Path as
// Route; the first 200 goes to the caller, the other device gets CANCEL;
// ACK and BYE follow the Record-Route through the S-CSCF.
func TestCallForking(t *testing.T) {
	var mu sync.Mutex
	var out []string
	l := newLab(t, func(c *Config) {
		c.Trace = func(e Event) {
			if e.Protocol == "SIP" && e.Out {
				mu.Lock()
				out = append(out, e.Summary)
				mu.Unlock()
			}
		}
	})
	phone, tablet := l.twoDevices(ring, ring)

	d := l.dial(softIMPU, aliceIMPU)
	rr := l.sc.recordRoute().Address.String()
	for _, ph := range []*device{phone, tablet} {
		inv := ph.nextInvite(t)
		if got := inv.Recipient.String(); got != ph.uri.String() {
			t.Errorf("branch Request-URI %s, want the contact %s", got, ph.uri.String())
		}
		if r := inv.GetHeaders("Route"); len(r) != 1 || r[0].Value() != "<sip:term@"+l.p.addr+";lr>" {
			t.Errorf("branch Route %v, want the Path <sip:term@%s;lr>", r, l.p.addr)
		}
		if r := inv.RecordRoute(); r == nil || r.Address.String() != rr {
			t.Errorf("branch Record-Route %v, want %s first", r, rr)
		}
		if v := inv.Via(); v == nil || v.Host != l.sc.contact.Host || v.Port != l.sc.contact.Port {
			t.Errorf("branch top Via %v, want the S-CSCF's", v)
		}
		if mf := inv.MaxForwards(); mf == nil || *mf != 69 {
			t.Errorf("branch Max-Forwards %v, want 69", mf)
		}
		if h := inv.GetHeader("P-Called-Party-ID"); h == nil || h.Value() != "<"+aliceIMPU+">" {
			t.Errorf("P-Called-Party-ID %v, want <%s>", h, aliceIMPU)
		}
		if h := inv.GetHeader("P-Asserted-Identity"); h == nil || h.Value() != "<"+softIMPU+">" {
			t.Errorf("P-Asserted-Identity %v, want the caller's", h)
		}
	}
	tags := map[string]bool{}
	for range 2 {
		r := d.next()
		if r.StatusCode != 180 {
			t.Fatalf("got %s, want 180 from each device", r.StartLine())
		}
		tag, _ := r.To().Params.Get("tag")
		tags[tag] = true
	}
	if len(tags) != 2 {
		t.Errorf("the two 180s share a To tag: %v", tags)
	}
	phone.answer <- struct{}{}
	ok := d.final()
	if ok.StatusCode != 200 || ok.Contact() == nil || ok.Contact().Address.String() != phone.uri.String() {
		t.Fatalf("final %s from %v, want 200 from the phone", ok.StartLine(), ok.Contact())
	}
	tablet.waitCancel(t)
	l.waitLog("answered 200 by " + phone.uri.String() + "; cancelling 1 other branch(es)")
	d.noMore(300 * time.Millisecond)

	d.ack(ok)
	ack := phone.nextInDialog(t)
	if ack.Method != sip.ACK || ack.Recipient.String() != phone.uri.String() {
		t.Errorf("phone got %s, want the ACK", ack.StartLine())
	}
	if v := ack.Via(); v == nil || v.Host != l.sc.contact.Host || v.Port != l.sc.contact.Port {
		t.Errorf("ACK top Via %v: it did not pass the S-CSCF", v)
	}
	if res := l.p.do(d.inDialog(ok, sip.BYE, 2)); res.StatusCode != 200 {
		t.Errorf("BYE: %s", res.StartLine())
	}
	if bye := phone.nextInDialog(t); bye.Method != sip.BYE {
		t.Errorf("phone got %s, want BYE", bye.StartLine())
	}
	l.waitLog("BYE in dialog forwarded to " + phone.uri.String())

	mu.Lock()
	defer mu.Unlock()
	count := func(prefix string) (n int) {
		for _, s := range out {
			if strings.HasPrefix(s, prefix) {
				n++
			}
		}
		return n
	}
	// Traced: two INVITE branches, a CANCEL, the ACK and the BYE forwarded.
	for prefix, want := range map[string]int{"INVITE ": 2, "CANCEL ": 1, "ACK ": 1, "BYE ": 1, "SIP/2.0 200 OK": 2} {
		if n := count(prefix); n < want {
			t.Errorf("trace has %d outgoing %q, want at least %d: %v", n, prefix, want, out)
		}
	}
}

// The forms of one MSISDN reach the same user: tel:, sip: with and
// without user=phone (RFC 3261 §19.1.6), with visual separators (RFC 3966).
func TestCallNumberForms(t *testing.T) {
	l := newLab(t)
	l.addPhone(softIMPI, softIMPU, busy)
	phone := l.addPhone(aliceIMPI, aliceIMPU, busy)
	for _, to := range []string{"tel:+15550001", "sip:+15550001@" + domain + ";user=phone", "sip:+15550001@" + domain,
		"tel:+1-555-0001", "sip:+1-555-0001@" + domain + ";user=phone", aliceIMPU} {
		t.Run(to, func(t *testing.T) {
			d := l.dial(softIMPU, to)
			if inv := phone.nextInvite(t); inv.Recipient.String() != phone.uri.String() {
				t.Errorf("Request-URI %s, want the contact", inv.Recipient.String())
			}
			if res := d.final(); res.StatusCode != 486 {
				t.Errorf("%s, want the device's 486", res.StartLine())
			}
		})
	}
}

// What a caller gets when the call cannot be routed, each with a Warning
// saying why: TS 24.229 §5.4.3.2 (caller), §5.4.3.3 and LIR (callee).
func TestCallRefused(t *testing.T) {
	l := newLab(t)
	l.addPhone(softIMPI, softIMPU, busy)
	l.addPhone(aliceIMPI, aliceIMPU, busy)
	r := l.sc.reg
	r.mu.Lock()
	r.sets[normIMPU(aliceSIPn)].Barred = []string{aliceSIPn} // as a profile may say
	r.mu.Unlock()
	for _, tc := range []struct {
		name, pai, to string
		mod           func(*sip.Request)
		code          int
		warning       string
	}{
		{name: "callee unknown (LIR 5001)", pai: softIMPU, to: "sip:nobody@" + domain, code: 404, warning: "not a subscriber"},
		{name: "number unknown", pai: softIMPU, to: "tel:+19995550000", code: 404, warning: "not a subscriber"},
		{name: "callee not registered (LIR 5003)", pai: softIMPU, to: bobIMPU, code: 480, warning: "not registered"},
		{name: "callee barred", pai: softIMPU, to: aliceSIPn, code: 404, warning: "barred"},
		{name: "foreign domain", pai: softIMPU, to: "sip:carol@example.com", code: 404, warning: "only to its home domain"},
		{name: "caller not registered", pai: bobIMPU, to: aliceIMPU, code: 403, warning: "originating user not registered"},
		{name: "caller barred", pai: aliceSIPn, to: softIMPU, code: 403, warning: "barred"},
		{name: "no P-Asserted-Identity", to: aliceIMPU, code: 403, warning: "no P-Asserted-Identity"},
		{name: "Max-Forwards 0", pai: softIMPU, to: aliceIMPU, code: 483, warning: "Max-Forwards",
			mod: func(r *sip.Request) { mf := sip.MaxForwardsHeader(0); r.AppendHeader(&mf) }},
		{name: "Route past the S-CSCF", pai: softIMPU, to: aliceIMPU, code: 403, warning: "not this S-CSCF",
			mod: func(r *sip.Request) {
				removeAll(r, "Route")
				r.AppendHeader(sip.NewHeader("Route", "<sip:192.0.2.1;lr>"))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mods []func(*sip.Request)
			if tc.mod != nil {
				mods = append(mods, tc.mod)
			}
			res := l.dial(tc.pai, tc.to, mods...).final()
			if res.StatusCode != tc.code {
				t.Fatalf("%s, want %d", res.StartLine(), tc.code)
			}
			wantWarning(t, res, tc.warning)
		})
	}
	t.Run("MESSAGE outside a dialog", func(t *testing.T) {
		res := l.p.do(stray(t, sip.MESSAGE, aliceIMPU, l.sc.serviceRoute(), ""))
		if res.StatusCode != 501 || res.GetHeader("Allow") == nil || !strings.Contains(res.GetHeader("Allow").Value(), "INVITE") {
			t.Errorf("%s (Allow %v), want 501 with Allow", res.StartLine(), res.GetHeader("Allow"))
		}
	})
}

// stray builds a request outside any call the test made.
func stray(t testing.TB, method sip.RequestMethod, ruri, route, toTag string) *sip.Request {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(ruri, &u); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(method, u)
	if route != "" {
		req.AppendHeader(sip.NewHeader("Route", route))
	}
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "a", Host: domain}, Params: sip.NewParams()}
	from.Params.Add("tag", "f1")
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "b", Host: domain}, Params: sip.NewParams()}
	if toTag != "" {
		to.Params.Add("tag", toTag)
	}
	req.AppendHeader(from)
	req.AppendHeader(to)
	cid := sip.CallIDHeader(fmt.Sprintf("stray-%d@test", callSeq.Add(1)))
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 5, MethodName: method})
	req.SetBody(nil)
	return req
}

// Every device busy: 486 (RFC 3261 §16.7 step 6), the Warning saying who.
func TestCallAllBusy(t *testing.T) {
	l := newLab(t)
	phone, tablet := l.twoDevices(busy, busy)
	res := l.dial(softIMPU, aliceTel).final()
	if res.StatusCode != 486 {
		t.Fatalf("%s, want 486", res.StartLine())
	}
	wantWarning(t, res, phone.uri.String()+": 486 Busy Here")
	wantWarning(t, res, tablet.uri.String()+": 486 Busy Here")
}

// Two devices answer at once: the second 200 goes to the caller too (RFC
// 3261 §16.7 step 5), whose UA acknowledges and ends it (§13.2.2.4). The
// devices send no provisional response, so no CANCEL can overtake the
// second 200 (§9.1).
func TestCallTwoAnswers(t *testing.T) {
	l := newLab(t)
	l.twoDevices(answerNow, answerNow)
	d := l.dial(softIMPU, aliceIMPU)
	a, b := d.final(), d.final()
	ta, _ := a.To().Params.Get("tag")
	tb, _ := b.To().Params.Get("tag")
	if a.StatusCode != 200 || b.StatusCode != 200 || ta == tb {
		t.Fatalf("got %s (tag %s) and %s (tag %s), want two 200s of two dialogs", a.StartLine(), ta, b.StartLine(), tb)
	}
	l.waitLog("another 200 OK")
}

// The caller's CANCEL cancels every branch; the caller gets 487 (RFC 3261
// §16.10).
func TestCallCallerCancels(t *testing.T) {
	l := newLab(t)
	phone, tablet := l.twoDevices(ring, ring)
	d := l.dial(softIMPU, aliceIMPU)
	phone.nextInvite(t)
	tablet.nextInvite(t)
	d.next()
	d.next() // both ring
	d.cancel()
	if res := d.final(); res.StatusCode != 487 {
		t.Fatalf("%s, want 487", res.StartLine())
	}
	phone.waitCancel(t)
	tablet.waitCancel(t)
	l.waitLog("cancelled by the caller (487); cancelling 2 branch(es)")
}

// Nobody answers within NoAnswerTimeout: every branch is cancelled, the
// caller gets 408 (RFC 3261 §16.8).
func TestCallNoAnswer(t *testing.T) {
	l := newLab(t, func(c *Config) { c.NoAnswerTimeout = 300 * time.Millisecond })
	phone, tablet := l.twoDevices(ring, ring)
	res := l.dial(softIMPU, aliceIMPU).final()
	if res.StatusCode != 408 {
		t.Fatalf("%s, want 408", res.StartLine())
	}
	wantWarning(t, res, "no answer from "+aliceIMPU+" within 300ms")
	phone.waitCancel(t)
	tablet.waitCancel(t)
}

// A device that cannot be reached counts as 503 and the others carry on;
// with none reachable the caller gets 500 (RFC 3261 §16.7 step 6).
func TestCallUnreachableDevice(t *testing.T) {
	l := newLab(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPath := "<sip:term@" + dead.Addr().String() + ";lr;transport=tcp>"
	dead.Close()
	viaDead := func(u *ue) { u.path = deadPath }
	l.addPhone(softIMPI, softIMPU, busy)
	l.addPhone(aliceIMPI, aliceIMPU, answerNow)
	l.addPhone(aliceIMPI, aliceTel, ring, viaDead)
	l.addPhone(bobIMPI, bobIMPU, ring, viaDead)

	if res := l.dial(softIMPU, aliceIMPU).final(); res.StatusCode != 200 {
		t.Errorf("alice: %s, want 200 from the reachable device", res.StartLine())
	}
	l.waitLog("failed, counted as 503")
	res := l.dial(softIMPU, bobIMPU).final()
	if res.StatusCode != 500 {
		t.Fatalf("bob: %s, want 500", res.StartLine())
	}
	wantWarning(t, res, "cannot reach")
}

// Reliable provisional responses pass unchanged, and their PRACK follows
// the early dialog's route through the S-CSCF (RFC 3262).
func TestCallReliableProvisional(t *testing.T) {
	l := newLab(t)
	l.addPhone(softIMPI, softIMPU, busy)
	phone := l.addPhone(aliceIMPI, aliceIMPU, reliable)
	d := l.dial(softIMPU, aliceIMPU, func(r *sip.Request) { r.AppendHeader(sip.NewHeader("Supported", "100rel")) })
	p := d.next()
	if p.StatusCode != 183 || p.GetHeader("RSeq") == nil || p.GetHeader("RSeq").Value() != "1" ||
		p.GetHeader("Require") == nil || p.GetHeader("Require").Value() != "100rel" {
		t.Fatalf("got %s, want the reliable 183 unchanged:\n%s", p.StartLine(), p)
	}
	prack := d.inDialog(p, sip.PRACK, 2)
	prack.AppendHeader(sip.NewHeader("RAck", "1 1 INVITE"))
	if res := l.p.do(prack); res.StatusCode != 200 {
		t.Fatalf("PRACK: %s", res.StartLine())
	}
	if got := phone.nextInDialog(t); got.Method != sip.PRACK || got.GetHeader("RAck") == nil {
		t.Fatalf("phone got %s, want the PRACK", got.StartLine())
	}
	phone.answer <- struct{}{}
	ok := d.final()
	if ok.StatusCode != 200 {
		t.Fatalf("%s, want 200", ok.StartLine())
	}
	d.ack(ok)
	phone.nextInDialog(t)
}

// An INVITE too large for UDP goes on over TCP (RFC 3261 §18.1.1).
func TestCallLargeInviteOverTCP(t *testing.T) {
	l := newLab(t)
	l.addPhone(softIMPI, softIMPU, busy)
	phone := l.addPhone(aliceIMPI, aliceIMPU, busy)
	d := l.dial(softIMPU, aliceIMPU, func(r *sip.Request) {
		r.SetBody([]byte(strings.Repeat("a=x-padding:0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 25)))
		r.SetTransport("TCP")
	})
	if inv := phone.nextInvite(t); !strings.EqualFold(inv.Transport(), "TCP") {
		t.Errorf("INVITE of %d bytes reached the device over %s, want TCP", len(inv.String()), inv.Transport())
	}
	if res := d.final(); res.StatusCode != 486 {
		t.Errorf("%s, want 486", res.StartLine())
	}
}

// A callee registered at another S-CSCF: the LIR names it, the request goes
// there with the Request-URI unchanged (TS 24.229 §5.3.2.1).
func TestCallLIRForwardsToAnotherSCSCF(t *testing.T) {
	l := newLab(t)
	l.addPhone(aliceIMPI, aliceIMPU, busy)  // the caller, with a tel URI
	other := startPCSCF(t, "127.0.0.1", "") // plays the other S-CSCF
	name := "sip:" + other.addr
	if err := l.hss.Store().SetRegistration(context.Background(), store.Registration{IMPU: bobIMPU, IMPI: bobIMPI, SCSCF: name, State: store.Registered}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *sip.Request, 1)
	other.phones.add(&device{p: other, uri: sip.Uri{User: "001010000000002"}, invites: got, dialog: make(chan *sip.Request, 8),
		script: func(ph *device, req *sip.Request, tx sip.ServerTransaction) {
			res := sip.NewResponseFromRequest(req, 486, "Busy Here", nil)
			tx.Respond(res)
		}})
	d := l.dial(aliceIMPU, bobIMPU)
	inv := waitFor(t, got, "INVITE at the other S-CSCF")
	if inv.Recipient.String() != bobIMPU {
		t.Errorf("Request-URI %s, want %s unchanged", inv.Recipient.String(), bobIMPU)
	}
	if r := inv.Route(); r == nil || r.Address.String() != name+";lr" {
		t.Errorf("Route %v, want <%s;lr>", r, name)
	}
	if r := inv.RecordRoute(); r == nil || r.Address.String() != l.sc.recordRoute().Address.String() {
		t.Errorf("Record-Route %v, want the S-CSCF's", r)
	}
	if pai := headerValues(inv, "P-Asserted-Identity"); len(pai) != 2 || pai[1] != "<"+aliceTel+">" {
		t.Errorf("P-Asserted-Identity %v, want the caller's SIP and tel URIs", pai)
	}
	if res := d.final(); res.StatusCode != 486 {
		t.Errorf("%s, want 486 from the other side", res.StartLine())
	}
	l.waitLog("forwarded to S-CSCF " + name)
}

// A request sent to the S-CSCF as terminating (another S-CSCF or I-CSCF
// routed it here by its name, TS 24.229 §5.4.3.3) goes to the contacts
// without originating checks.
func TestCallTerminatingOnly(t *testing.T) {
	l := newLab(t)
	phone := l.addPhone(aliceIMPI, aliceIMPU, busy)
	d := l.dial("", aliceIMPU, func(r *sip.Request) {
		removeAll(r, "Route")
		r.AppendHeader(sip.NewHeader("Route", "<"+DefaultName+";lr>"))
	})
	phone.nextInvite(t)
	if res := d.final(); res.StatusCode != 486 {
		t.Errorf("%s, want 486", res.StartLine())
	}
}

// In-dialog requests pass only along the route set the S-CSCF recorded.
func TestInDialogNotRecordRouted(t *testing.T) {
	l := newLab(t)
	for _, tc := range []struct {
		name  string
		ruri  string
		route string
		code  int
	}{
		{"no Route", "sip:ue@127.0.0.1:5999", "", 403},
		{"Route elsewhere", "sip:ue@127.0.0.1:5999", "<sip:192.0.2.1;lr>", 403},
		{"Service-Route", "sip:ue@127.0.0.1:5999", l.sc.serviceRoute(), 403},
		{"to the S-CSCF itself", "sip:" + l.sc.cfg.Advertise, "", 481},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := l.p.do(stray(t, sip.BYE, tc.ruri, tc.route, "t1")); res.StatusCode != tc.code {
				t.Errorf("%s, want %d", res.StartLine(), tc.code)
			}
		})
	}
}

// The HSS down: a callee not registered here cannot be located, 504.
func TestCallHSSDown(t *testing.T) {
	l := newLab(t)
	l.addPhone(softIMPI, softIMPU, busy)
	l.stopHSS()
	res := l.dial(softIMPU, bobIMPU).final()
	if res.StatusCode != 504 {
		t.Fatalf("%s, want 504", res.StartLine())
	}
	wantWarning(t, res, "HSS")
}
