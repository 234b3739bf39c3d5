package pcscf

// Fakes of the P-CSCF's peers, built with sipgo: the S-CSCF and UEs.

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipproxy"

	"github.com/imslab/imslab/internal/sipdigest"
)

// readyConn tells when sipgo starts reading a UDP socket: from then on
// sipgo sends from it.
type readyConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

func (c *readyConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(p)
}

// serveUDP serves a UDP socket with srv and returns once sipgo uses it.
func serveUDP(t *testing.T, srv *sipgo.Server, conn net.PacketConn) {
	rc := &readyConn{PacketConn: conn, ready: make(chan struct{})}
	go func() { _ = srv.ServeUDP(rc) }()
	select {
	case <-rc.ready:
	case <-time.After(wait):
		t.Fatal("sipgo does not read its UDP socket")
	}
}

// fakeSCSCF is a registrar and reg-event notifier in the shape the real
// S-CSCF will have: 401 with ck/ik first, then 200 with Service-Route and
// P-Associated-URI; SUBSCRIBE answered and NOTIFY sent back via the
// Record-Route; anything else answered 200.
type fakeSCSCF struct {
	t     *testing.T
	addr  string
	laddr sip.Addr
	cli   *sipgo.Client
	got   chan *sip.Request
	subs  chan subscription
	// challenge is the WWW-Authenticate value of the 401.
	challenge string
	// tel maps a user to a tel URI in its implicit registration set.
	tel map[string]string
	// canceled receives an INVITE to "ringing" once it was canceled.
	canceled chan *sip.Request
	// transport of the requests it sends: UDP (default) or TCP.
	transport string
	// body of the requests sendToUE sends.
	body string
}

func newFakeSCSCF(t *testing.T) *fakeSCSCF {
	t.Helper()
	conn, ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("fake-scscf"))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	cli, _ := sipgo.NewClient(ua)
	a := conn.LocalAddr().(*net.UDPAddr)
	s := &fakeSCSCF{t: t, addr: a.String(), laddr: sip.Addr{IP: a.IP, Port: a.Port}, cli: cli,
		got: make(chan *sip.Request, 100), subs: make(chan subscription, 10),
		challenge: `Digest realm="` + domain + `", nonce="` + strings.Repeat("A", 44) +
			`", algorithm=AKAv1-MD5, qop="auth", ck="` + testCK + `", ik="` + testIK + `"`,
		tel:      map[string]string{"alice": "tel:+15550001", "bob": "tel:+15550002"},
		canceled: make(chan *sip.Request, 1), body: "hello"}
	srv.OnRegister(s.onRegister)
	srv.OnSubscribe(s.onSubscribe)
	srv.OnInvite(s.onInvite)
	srv.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		s.got <- req
		if !req.IsAck() {
			res := sip.NewResponseFromRequest(req, 200, "OK", nil)
			if req.Recipient.User == "big" { // over UDP's 1300 bytes
				res.AppendHeader(sip.NewHeader("X-Big", strings.Repeat("b", 2000)))
			}
			_ = tx.Respond(res)
		}
	})
	serveUDP(t, srv, conn)
	go func() { _ = srv.ServeTCP(ln) }()
	t.Cleanup(func() { conn.Close(); ln.Close(); ua.Close() })
	return s
}

func (s *fakeSCSCF) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	s.got <- req
	auth := headerValues(req, hAuthz)
	var creds *sipdigest.Credentials
	if len(auth) > 0 {
		creds, _ = sipdigest.ParseCredentials(auth[0])
	}
	if creds == nil || creds.Response == "" {
		res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
		res.AppendHeader(sip.NewHeader(hWWWAuth, s.challenge))
		_ = tx.Respond(res)
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	to := req.To().Address
	res.AppendHeader(sip.NewHeader(hServRoute, "<sip:orig@"+s.addr+";lr>"))
	pau := "<" + to.String() + ">"
	if tel, ok := s.tel[to.User]; ok {
		pau += ", <" + tel + ">"
	}
	res.AppendHeader(sip.NewHeader(hPAU, pau))
	for _, v := range headerValues(req, hPath) {
		res.AppendHeader(sip.NewHeader(hPath, v))
	}
	exp := expiresHeader(req, 3600)
	for _, h := range req.GetHeaders("Contact") {
		c := h.(*sip.ContactHeader).Clone()
		e := min(expiresParam(c, exp), granted)
		if e == 0 {
			continue
		}
		c.Params.Add("expires", fmt.Sprint(e))
		res.AppendHeader(c)
	}
	_ = tx.Respond(res)
}

// onInvite answers 200 at once, or for sip:ringing@... 180 and then
// waits for the CANCEL (sipgo answers it and the INVITE with 487).
func (s *fakeSCSCF) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	s.got <- req
	if req.Recipient.User == "ringing" {
		canceled := make(chan struct{})
		tx.OnCancel(func(*sip.Request) { close(canceled) })
		_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
		select {
		case <-canceled:
			s.canceled <- req
		case <-time.After(wait):
		}
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "callee", Host: s.laddr.IP.String(), Port: s.laddr.Port}})
	_ = tx.Respond(res)
}

func (s *fakeSCSCF) onSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	s.got <- req
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader(hExpires, "600"))
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "scscf", Host: s.laddr.IP.String(), Port: s.laddr.Port}})
	_ = tx.Respond(res)
	tag, _ := res.To().Params.Get("tag")
	s.subs <- subscription{req: req, tag: tag}
}

// subscription is a SUBSCRIBE the fake S-CSCF accepted, with its To tag.
type subscription struct {
	req *sip.Request
	tag string
}

// notify sends a reg-event NOTIFY in the dialog of sub (RFC 6665, RFC
// 3680) along its route set (the Record-Route of the SUBSCRIBE).
func (s *fakeSCSCF) notify(sb subscription) *sip.Response {
	s.t.Helper()
	sub := sb.req
	n := sip.NewRequest(sip.NOTIFY, sub.Contact().Address)
	for _, rr := range sub.GetHeaders("Record-Route") {
		n.AppendHeader(&sip.RouteHeader{Address: rr.(*sip.RecordRouteHeader).Address})
	}
	to := sub.From().AsTo()
	from := sub.To().AsFrom()
	from.Params.Add("tag", sb.tag)
	n.AppendHeader(&from)
	n.AppendHeader(&to)
	n.AppendHeader(sip.HeaderClone(sub.CallID()))
	n.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.NOTIFY})
	n.AppendHeader(sip.NewHeader("Event", "reg"))
	n.AppendHeader(sip.NewHeader("Subscription-State", "active;expires=600"))
	n.AppendHeader(sip.NewHeader("Content-Type", "application/reginfo+xml"))
	n.SetBody([]byte(`<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full"/>`))
	return s.send(n)
}

// sendToUE sends an initial request to a UE's contact through its Path
// (TS 24.229 §5.4.3.3: terminating routing).
func (s *fakeSCSCF) sendToUE(method sip.RequestMethod, contact sip.Uri, path string) *sip.Response {
	s.t.Helper()
	r := sip.NewRequest(method, contact)
	var u sip.Uri
	if _, err := sip.ParseAddressValue(path, &u, nil); err != nil {
		s.t.Fatal(err)
	}
	r.AppendHeader(&sip.RouteHeader{Address: u})
	from := sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "carol", Host: domain}, Params: sip.NewParams()}
	from.Params.Add("tag", "c4r0l")
	r.AppendHeader(&from)
	r.AppendHeader(&sip.ToHeader{Address: contact})
	r.AppendHeader(sip.NewHeader(hPAI, "<sip:carol@"+domain+">"))
	r.SetBody([]byte(s.body))
	return s.send(r)
}

func (s *fakeSCSCF) send(r *sip.Request) *sip.Response {
	s.t.Helper()
	if s.transport == "TCP" || len(r.String()) > sipproxy.UDPMax-100 {
		r.SetTransport("TCP")
	} else {
		r.SetTransport("UDP")
		r.Laddr = s.laddr
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := s.cli.Do(ctx, r)
	if err != nil {
		s.t.Fatalf("fake S-CSCF sending %s: %v", r.Method, err)
	}
	return res
}

// next returns the next request the fake S-CSCF received.
func (s *fakeSCSCF) next() *sip.Request {
	s.t.Helper()
	select {
	case r := <-s.got:
		return r
	case <-time.After(wait):
		s.t.Fatal("the S-CSCF received nothing")
		return nil
	}
}

// nextFrom returns the next request the fake S-CSCF received from user,
// skipping others.
func (s *fakeSCSCF) nextFrom(user string) *sip.Request {
	s.t.Helper()
	for {
		if r := s.next(); r.From() != nil && r.From().Address.User == user {
			return r
		}
	}
}

// fakeUE is a UE reduced to what the P-CSCF sees: it sends over UDP from
// its listening socket, or over one TCP connection, and answers 200 to
// what it receives.
type fakeUE struct {
	t         *testing.T
	user      string
	transport string
	pcscf     string
	cli       *sipgo.Client
	laddr     sip.Addr
	contact   sip.Uri
	recv      chan *sip.Request
	cseq      uint32
}

func newUE(t *testing.T, transport, pcscf, user string) *fakeUE {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("fake-ue-" + user))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	cli, _ := sipgo.NewClient(ua)
	u := &fakeUE{t: t, user: user, transport: transport, pcscf: pcscf, cli: cli, recv: make(chan *sip.Request, 10)}
	answer := func(req *sip.Request, tx sip.ServerTransaction) {
		u.recv <- req
		if !req.IsAck() {
			res := sip.NewResponseFromRequest(req, 200, "OK", nil)
			res.AppendHeader(sip.NewHeader(hPAI, "<sip:mallory@"+domain+">")) // must never pass
			_ = tx.Respond(res)
		}
	}
	srv.OnNoRoute(answer)
	port := 5999
	if transport == "UDP" {
		// TCP on the same port too: large requests come that way (TS
		// 24.229 §4.2A).
		conn, ln, err := listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := conn.LocalAddr().(*net.UDPAddr)
		u.laddr = sip.Addr{IP: a.IP, Port: a.Port}
		port = a.Port
		serveUDP(t, srv, conn)
		go func() { _ = srv.ServeTCP(ln) }()
		t.Cleanup(func() { conn.Close(); ln.Close() })
	}
	t.Cleanup(func() { ua.Close() })
	u.contact = sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: port,
		UriParams: sip.HeaderParams{{K: "transport", V: strings.ToLower(transport)}}}
	return u
}

func (u *fakeUE) impu() sip.Uri { return sip.Uri{Scheme: "sip", User: u.user, Host: domain} }
func (u *fakeUE) impi() string  { return u.user + "@" + domain }

// request builds a request from the UE's own identity; edit adjusts it.
func (u *fakeUE) request(method sip.RequestMethod, ruri sip.Uri, edit func(*sip.Request)) *sip.Request {
	r := sip.NewRequest(method, ruri)
	from := sip.FromHeader{Address: u.impu(), Params: sip.NewParams()}
	from.Params.Add("tag", fmt.Sprintf("%s-%d", u.user, time.Now().UnixNano()))
	r.AppendHeader(&from)
	r.AppendHeader(&sip.ToHeader{Address: ruri})
	u.cseq++
	r.AppendHeader(&sip.CSeqHeader{SeqNo: u.cseq, MethodName: method})
	r.AppendHeader(&sip.ContactHeader{Address: u.contact})
	if edit != nil {
		edit(r)
	}
	return r
}

// do sends a request to the P-CSCF and returns the final response.
func (u *fakeUE) do(r *sip.Request) *sip.Response {
	u.t.Helper()
	r.SetTransport(u.transport)
	r.SetDestination(u.pcscf)
	if u.transport == "UDP" {
		r.Laddr = u.laddr
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := u.cli.Do(ctx, r)
	if err != nil {
		u.t.Fatalf("UE %s: %s: %v", u.user, r.Method, err)
	}
	return res
}

// register performs the two REGISTERs of IMS-AKA (TS 24.229 §5.1.1.2,
// §5.1.1.5.1) and returns the 401 and the 200.
func (u *fakeUE) register(expires int) (*sip.Response, *sip.Response) {
	u.t.Helper()
	reg := func(response string) *sip.Request {
		return u.request(sip.REGISTER, sip.Uri{Scheme: "sip", Host: domain}, func(r *sip.Request) {
			to := r.To()
			to.Address = u.impu()
			r.AppendHeader(sip.NewHeader(hAuthz, fmt.Sprintf(
				`Digest username="%s", realm="%s", uri="sip:%s", nonce="%s", response="%s"`,
				u.impi(), domain, domain, strings.Repeat("A", 44)[:len(response)], response)))
			r.AppendHeader(sip.NewHeader(hExpires, fmt.Sprint(expires)))
			r.AppendHeader(sip.NewHeader(hSupported, "path"))
		})
	}
	r1 := u.do(reg(""))
	if expires == 0 && r1.StatusCode == 200 {
		return nil, r1
	}
	r2 := u.do(reg(strings.Repeat("b", 32)))
	return r1, r2
}

// next returns the next request the UE received.
func (u *fakeUE) next() *sip.Request {
	u.t.Helper()
	select {
	case r := <-u.recv:
		return r
	case <-time.After(wait):
		u.t.Fatalf("UE %s received nothing", u.user)
		return nil
	}
}
