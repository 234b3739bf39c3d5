package ue

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/sipdigest"
)

// fakeConfig shapes the fake network: a P-CSCF and S-CSCF in one, with the
// HSS's view of one or more subscribers.
type fakeConfig struct {
	K, OPc    []byte        // the network's K and OPc (another K: the card finds the MAC wrong)
	SEQ       uint64        // first SEQ of the vectors (default 1)
	Grant     time.Duration // registration expiry granted (default: what the UE asked)
	SubGrant  time.Duration // subscription expiry granted (default: what the UE asked)
	Forbid    bool          // refuse every REGISTER with 403 before any challenge
	WrongXRES bool          // expect another RES: the answer gets 403
	Network   string        // "udp" (default) or "tcp"
}

const fakeServiceRoute = "<sip:orig@scscf.fake.test:6060;lr>"

// fakeNet is the test's P-CSCF + S-CSCF: it challenges with AKA vectors
// computed from K/OPc, checks RES, resynchronises from AUTS, keeps
// bindings, and serves reg-event subscriptions with NOTIFYs.
type fakeNet struct {
	t      *testing.T
	cfg    fakeConfig
	addr   string
	mil    *aka.Milenage
	ua     *sipgo.UserAgent
	client *sipgo.Client
	ln     interface{ Close() error }
	ctx    context.Context // ends with the test

	mu       sync.Mutex
	seq      uint64
	vectors  map[string]*aka.Vector // by nonce, single use
	log      []*sip.Request         // every request received
	changed  chan struct{}
	bindings map[string]map[string]*sip.ContactHeader // by AOR, then contact URI
	dialogs  map[string]*fakeDialog                   // by Call-ID
	resyncs  int
	emptyPwd bool // the REGISTER carrying auts had a response computed with an empty password
	notifyRC []int
	closed   bool // the test is over: report nothing more
}

// errorf reports a fake-side failure while the test runs.
func (f *fakeNet) errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.t.Errorf(format, args...)
	}
}

type fakeDialog struct {
	callID, ueTag, myTag, aor string
	ueContact                 sip.Uri
	cseq                      uint32
	version                   int
}

// newFakeNet starts the fake on loopback, port 0.
func newFakeNet(t *testing.T, cfg fakeConfig) *fakeNet {
	t.Helper()
	if cfg.SEQ == 0 {
		cfg.SEQ = 1
	}
	if cfg.Network == "" {
		cfg.Network = "udp"
	}
	mil, err := aka.New(cfg.K, cfg.OPc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeNet{t: t, cfg: cfg, mil: mil, seq: cfg.SEQ, vectors: map[string]*aka.Vector{}, ctx: ctx,
		changed: make(chan struct{}, 1), bindings: map[string]map[string]*sip.ContactHeader{}, dialogs: map[string]*fakeDialog{}}
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("fake-cscf"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})))
	if err != nil {
		t.Fatal(err)
	}
	f.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(f.onRegister)
	srv.OnSubscribe(f.onSubscribe)
	done := make(chan struct{})
	var serve func()
	opts := []sipgo.ClientOption{}
	switch cfg.Network {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f.ln, f.addr = pc, pc.LocalAddr().String()
		serve = func() { defer close(done); _ = ua.TransportLayer().ServeUDP(pc) }
		opts = append(opts, sipgo.WithClientConnectionAddr(f.addr))
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f.ln, f.addr = ln, ln.Addr().String()
		serve = func() { defer close(done); _ = ua.TransportLayer().ServeTCP(ln) }
	}
	if f.client, err = sipgo.NewClient(ua, append(opts, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(quiet))...); err != nil {
		t.Fatal(err)
	}
	// Serve once f is complete: the handlers run in sipgo's goroutines.
	go serve()
	if cfg.Network == "udp" {
		if err := waitListening(ua.TransportLayer(), f.addr); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		f.mu.Lock()
		f.closed = true
		f.mu.Unlock()
		cancel()
		_ = f.ln.Close()
		_ = ua.Close()
		<-done
	})
	return f
}

// record keeps a request and wakes waiters.
func (f *fakeNet) record(req *sip.Request) {
	f.mu.Lock()
	f.log = append(f.log, req.Clone())
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// requests returns the requests received with that method.
func (f *fakeNet) requests(method sip.RequestMethod) []*sip.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*sip.Request
	for _, r := range f.log {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until the n-th request (1-based) matching pred has arrived
// and returns it.
func (f *fakeNet) waitFor(desc string, n int, pred func(*sip.Request) bool) *sip.Request {
	f.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		k := 0
		for _, r := range f.log {
			if pred(r) {
				if k++; k == n {
					f.mu.Unlock()
					return r
				}
			}
		}
		f.mu.Unlock()
		select {
		case <-f.changed:
		case <-deadline.C:
			f.t.Fatalf("the fake network never saw %s (#%d)", desc, n)
		}
	}
}

func (f *fakeNet) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	f.record(req)
	cr, err := sipdigest.ParseCredentials(header(req, "Authorization"))
	if err != nil {
		f.reply(req, tx, 400, "Bad Request")
		return
	}
	if f.cfg.Forbid {
		f.reply(req, tx, 403, "Forbidden", sip.NewHeader("Warning", `399 fake "subscriber unknown"`))
		return
	}
	f.mu.Lock()
	v := f.vectors[cr.Nonce]
	delete(f.vectors, cr.Nonce)
	f.mu.Unlock()
	switch {
	case cr.AUTS != "" && v != nil:
		auts, err := sipdigest.DecodeAUTS(cr.AUTS)
		if err != nil {
			f.reply(req, tx, 403, "Forbidden")
			return
		}
		sqnMS, err := f.mil.VerifyAUTS(v.RAND, auts)
		if err != nil {
			f.reply(req, tx, 403, "Forbidden", sip.NewHeader("Warning", `399 fake "AUTS did not verify"`))
			return
		}
		want := sipdigest.Response(sipdigest.HA1(cr.Username, cr.Realm, nil), "REGISTER", cr.URI, cr.Nonce, cr.QOP, cr.NC, cr.CNonce)
		f.mu.Lock()
		f.seq, f.emptyPwd = aka.SEQ(sqnMS)+1, want == cr.Response
		f.resyncs++
		f.mu.Unlock()
		f.challenge(req, tx, cr.Realm)
	case cr.Response == "" || v == nil:
		f.challenge(req, tx, cr.Realm)
	default:
		xres := v.XRES
		if f.cfg.WrongXRES {
			xres = append([]byte{0xFF}, xres[1:]...)
		}
		want := sipdigest.Response(sipdigest.HA1(cr.Username, cr.Realm, xres), "REGISTER", cr.URI, cr.Nonce, cr.QOP, cr.NC, cr.CNonce)
		if want != cr.Response {
			f.reply(req, tx, 403, "Forbidden", sip.NewHeader("Warning", `399 fake "RES mismatch"`))
			return
		}
		f.accept(req, tx)
	}
}

// challenge answers 401 with a fresh AKAv1-MD5 vector (TS 24.229 §5.4.1.2.1;
// as the P-CSCF forwards it: without ck and ik).
func (f *fakeNet) challenge(req *sip.Request, tx sip.ServerTransaction, realm string) {
	rnd := make([]byte, aka.RandLen)
	_, _ = rand.Read(rnd)
	f.mu.Lock()
	sqn := aka.MakeSQN(f.seq, 0)
	f.seq++
	v, err := f.mil.Vector(rnd, sqn, 0x8000)
	if err != nil {
		f.mu.Unlock()
		f.errorf("fake: vector: %v", err)
		return
	}
	nonce := sipdigest.AKANonce(v.RAND, v.AUTN, nil)
	f.vectors[nonce] = v
	f.mu.Unlock()
	ch := &sipdigest.Challenge{Realm: realm, Nonce: nonce, Algorithm: sipdigest.AKAv1MD5, QOP: []string{"auth"}}
	f.reply(req, tx, 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", ch.String()))
}

// accept stores or removes the binding and answers 200 with every contact
// of the AOR, Service-Route and P-Associated-URI (TS 24.229 §5.4.1.2.2).
func (f *fakeNet) accept(req *sip.Request, tx sip.ServerTransaction) {
	asked, _ := strconv.Atoi(header(req, "Expires"))
	if e, ok := req.Contact().Params.Get("expires"); ok {
		asked, _ = strconv.Atoi(e)
	}
	granted := asked
	if f.cfg.Grant > 0 && asked > 0 {
		granted = int(f.cfg.Grant / time.Second)
	}
	c := req.Contact().Clone()
	c.Params.Add("expires", strconv.Itoa(granted))
	aor := req.To().Address.String()
	f.mu.Lock()
	if f.bindings[aor] == nil {
		f.bindings[aor] = map[string]*sip.ContactHeader{}
	}
	if granted == 0 {
		delete(f.bindings[aor], c.Address.String())
	} else {
		f.bindings[aor][c.Address.String()] = c
	}
	var hdrs []sip.Header
	hdrs = append(hdrs, c)
	for k, b := range f.bindings[aor] {
		if k != c.Address.String() {
			hdrs = append(hdrs, b.Clone())
		}
	}
	f.mu.Unlock()
	hdrs = append(hdrs, sip.NewHeader("Service-Route", fakeServiceRoute),
		sip.NewHeader("P-Associated-URI", "<"+aor+">, <tel:+15550000001>"))
	f.reply(req, tx, 200, "OK", hdrs...)
}

func (f *fakeNet) reply(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		f.errorf("fake: answering %s: %v", req.Method, err)
	}
	return res
}

// onSubscribe serves the reg event (RFC 3680): 200 with Record-Route, then
// a full NOTIFY; an in-dialog SUBSCRIBE refreshes, Expires: 0 ends it.
func (f *fakeNet) onSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	f.record(req)
	if header(req, "Event") != "reg" {
		f.reply(req, tx, 489, "Bad Event")
		return
	}
	asked, _ := strconv.Atoi(header(req, "Expires"))
	granted := asked
	if f.cfg.SubGrant > 0 && asked > 0 {
		granted = int(f.cfg.SubGrant / time.Second)
	}
	f.mu.Lock()
	d := f.dialogs[req.CallID().Value()]
	if d == nil {
		ueTag, _ := req.From().Params.Get("tag")
		d = &fakeDialog{callID: req.CallID().Value(), ueTag: ueTag, myTag: newTag(),
			aor: req.To().Address.String(), ueContact: req.Contact().Address}
		f.dialogs[d.callID] = d
	}
	f.mu.Unlock()
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.To().Params.Add("tag", d.myTag)
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "scscf", Host: hostOf(f.addr), Port: portOf(f.addr)}})
	res.AppendHeader(&sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", Host: hostOf(f.addr), Port: portOf(f.addr), UriParams: sip.HeaderParams{{K: "lr"}}}})
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(granted)))
	if err := tx.Respond(res); err != nil {
		f.errorf("fake: answering SUBSCRIBE: %v", err)
		return
	}
	contact := fakeContact{uri: d.ueContact.String(), state: "active", event: "registered", expires: 600}
	state := "active;expires=" + strconv.Itoa(granted)
	if granted == 0 {
		contact.state, contact.event, state = "terminated", "unregistered", "terminated;reason=timeout"
	}
	if _, err := f.notify(f.ctx, d, state, "full", contact); err != nil {
		f.errorf("fake: NOTIFY: %v", err)
	}
}

// fakeContact is a contact in a reginfo document the fake writes.
type fakeContact struct {
	uri, state, event, instance string
	expires                     int
}

// notify sends a NOTIFY in the dialog with a reginfo body for the AOR
// (RFC 3680 §5.1) and returns the UE's answer code.
func (f *fakeNet) notify(ctx context.Context, d *fakeDialog, subState, docState string, contacts ...fakeContact) (int, error) {
	return f.notifyOver(ctx, f.cfg.Network, d, subState, docState, contacts...)
}

// notifyOver is notify over the given transport.
func (f *fakeNet) notifyOver(ctx context.Context, network string, d *fakeDialog, subState, docState string, contacts ...fakeContact) (int, error) {
	f.mu.Lock()
	d.cseq++
	d.version++
	version, cseq := d.version-1, d.cseq
	f.mu.Unlock()
	regState := "terminated"
	var sb strings.Builder
	for i, c := range contacts {
		if c.state == "active" {
			regState = "active"
		}
		fmt.Fprintf(&sb, `<contact id="c%d" state="%s" event="%s" expires="%d"><uri>%s</uri>`, i, c.state, c.event, c.expires, c.uri)
		if c.instance != "" {
			fmt.Fprintf(&sb, `<unknown-param name="+sip.instance">"&lt;%s&gt;"</unknown-param>`, c.instance)
		}
		sb.WriteString(`</contact>`)
	}
	body := fmt.Sprintf(`<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="%d" state="%s"><registration aor="%s" id="r1" state="%s">%s</registration></reginfo>`,
		version, docState, d.aor, regState, sb.String())
	var aor sip.Uri
	_ = sip.ParseUri(d.aor, &aor)
	req := sip.NewRequest(sip.NOTIFY, d.ueContact)
	from := &sip.FromHeader{Address: aor}
	from.Params.Add("tag", d.myTag)
	to := &sip.ToHeader{Address: aor}
	to.Params.Add("tag", d.ueTag)
	callID := sip.CallIDHeader(d.callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.NOTIFY})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "scscf", Host: hostOf(f.addr), Port: portOf(f.addr)}})
	// As the P-CSCF on the path would add (RFC 3261 §16.6 step 4).
	req.AppendHeader(&sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", Host: hostOf(f.addr), Port: portOf(f.addr), UriParams: sip.HeaderParams{{K: "lr"}}}})
	req.AppendHeader(sip.NewHeader("Event", "reg"))
	req.AppendHeader(sip.NewHeader("Subscription-State", subState))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/reginfo+xml"))
	req.SetBody([]byte(body))
	req.SetTransport(strings.ToUpper(network))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := f.client.Do(ctx, req)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	f.notifyRC = append(f.notifyRC, res.StatusCode)
	f.mu.Unlock()
	return res.StatusCode, nil
}

// dialog returns the reg-event dialog of a UE contact.
func (f *fakeNet) dialog(contact string) *fakeDialog {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.dialogs {
		if d.ueContact.String() == contact {
			return d
		}
	}
	return nil
}
