package scscf

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/hss"
	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/sipdigest"
	"github.com/imslab/imslab/testbed/labtest"
)

// The test lab: an HSS and an S-CSCF in process on loopback port 0, and a
// sipgo user agent that plays the P-CSCF (and the UEs behind it).

const (
	domain   = "ims.mnc001.mcc001.3gppnetwork.org"
	aliceIMS = "001010000000001"
	bobIMS   = "001010000000002"
	testK    = "465b5ce8b199b49faa5f0a2ee238a6bc" // TS 35.208 test set 1
	testOPc  = "cd63cb71954a9f4e48a5994e37a02baf"
)

var (
	aliceIMPI = aliceIMS + "@" + domain
	aliceIMPU = "sip:" + aliceIMS + "@" + domain
	aliceTel  = "tel:+15550001"
	aliceSIPn = "sip:+15550001@" + domain
	softIMPI  = "alice@" + domain
	softIMPU  = "sip:alice@" + domain
	bobIMPI   = bobIMS + "@" + domain
	bobIMPU   = "sip:" + bobIMS + "@" + domain
)

type lab struct {
	t       testing.TB
	log     *slog.Logger
	hss     *hss.HSS
	hssDB   string
	stopHSS func()
	logs    *labtest.Buffer
	cfg     Config
	sc      *SCSCF
	stopSC  func()
	p       *fakePCSCF
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newLab starts the HSS (with Alice and Bob), the S-CSCF and the P-CSCF.
func newLab(t testing.TB, opts ...func(*Config)) *lab {
	t.Helper()
	l := &lab{t: t, logs: &labtest.Buffer{}, hssDB: filepath.Join(t.TempDir(), "hss.db")}
	l.log = slog.New(slog.NewTextHandler(l.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", l.logs.String())
		}
	})
	l.startHSS("127.0.0.1:0")
	l.provision()
	l.cfg = Config{Listen: "127.0.0.1:0", HSS: l.hss.Addr().String(), StateFile: filepath.Join(t.TempDir(), "scscf.json"),
		Logger: l.log.With("service", "scscf")}
	for _, o := range opts {
		o(&l.cfg)
	}
	l.startSCSCF()
	l.p = startPCSCF(t, "127.0.0.1", l.sc.Addr().String())
	return l
}

// startHSS runs an HSS on the lab's database until stopHSS or the test's end.
func (l *lab) startHSS(listen string) {
	t := l.t
	t.Helper()
	h, err := hss.New(hss.Config{DB: l.hssDB, Listen: listen, APIListen: "-",
		AllowPeers: []string{DefaultOriginHost}, Logger: l.log.With("service", "hss")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var stopped atomic.Bool
	l.hss = h
	l.stopHSS = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("HSS: %v", err)
		}
	}
	t.Cleanup(l.stopHSS)
	h.Addr()
}

// provision adds Alice (a SIM with three identities, and a softphone
// identity with SIP Digest) and Bob, both with TS 35.208 set 1 keys.
func (l *lab) provision() {
	t := l.t
	k, opc := unhex(t, testK), unhex(t, testOPc)
	for _, s := range []*store.Subscriber{
		{IMSI: aliceIMS, MSISDN: "+15550001", K: k, OPc: opc, AMF: 0x8000, Domain: domain,
			Private: []store.PrivateID{
				{IMPI: aliceIMPI, Scheme: store.SchemeAKA, IMPUs: []string{aliceIMPU, aliceSIPn, aliceTel}},
				{IMPI: softIMPI, Scheme: store.SchemeDigest, Password: "secret", IMPUs: []string{softIMPU}},
			},
			Public: []store.PublicID{{IMPU: aliceIMPU, IRS: 1, Default: true}, {IMPU: aliceSIPn, IRS: 1}, {IMPU: aliceTel, IRS: 1},
				{IMPU: softIMPU, IRS: 2}}},
		{IMSI: bobIMS, MSISDN: "+15550002", K: k, OPc: opc, AMF: 0x8000, Domain: domain,
			Private: []store.PrivateID{{IMPI: bobIMPI, Scheme: store.SchemeAKA, IMPUs: []string{bobIMPU}}},
			Public:  []store.PublicID{{IMPU: bobIMPU, IRS: 1, Default: true}}},
	} {
		if err := l.hss.Store().Add(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// startSCSCF runs an S-CSCF with l.cfg until stopSC or the test's end.
func (l *lab) startSCSCF() {
	t := l.t
	t.Helper()
	sc, err := New(l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.runSCSCF(sc)
	// The first REGISTER waits for the Diameter connection anyway; this
	// keeps the logs in order.
	if _, err := sc.hss.client(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// runSCSCF runs an S-CSCF until stopSC or the test's end.
func (l *lab) runSCSCF(sc *SCSCF) {
	t := l.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	if sc.Addr() == nil {
		t.Fatalf("S-CSCF did not start: %v", <-done)
	}
	var stopped atomic.Bool
	l.sc = sc
	l.stopSC = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("S-CSCF Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("S-CSCF did not stop within 10s")
		}
	}
	t.Cleanup(l.stopSC)
}

// fakePCSCF is a sipgo user agent on loopback that forwards the test UEs'
// requests to the S-CSCF and collects the NOTIFYs routed back to it.
type fakePCSCF struct {
	t        testing.TB
	addr     string // UDP and TCP
	scscf    string
	client   *sipgo.Client
	notifies chan *sip.Request
	phones   phoneBook // the devices behind it, for calls (call_test.go)
}

func startPCSCF(t testing.TB, host, scscf string) *fakePCSCF {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	udp, tcp, err := listenBoth(ctx, net.JoinHostPort(host, "0"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("test-pcscf"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	addr := udp.LocalAddr().String()
	// Requests leave from an ephemeral port of the host; Via names the listener.
	cl, err := sipgo.NewClient(ua, sipgo.WithClientAddr(addr), sipgo.WithClientConnectionAddr(net.JoinHostPort(host, "0")),
		sipgo.WithClientLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePCSCF{t: t, addr: addr, scscf: scscf, client: cl, notifies: make(chan *sip.Request, 100)}
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		p.notifies <- req
	})
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.BYE, sip.PRACK, sip.UPDATE, sip.INFO} {
		srv.OnRequest(m, p.toPhone)
	}
	done := make(chan struct{}, 2)
	go func() { srv.ServeUDP(udp); done <- struct{}{} }()
	go func() { srv.ServeTCP(tcp); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		udp.Close()
		tcp.Close()
		ua.Close()
		<-done
		<-done
	})
	return p
}

// do sends a request to the S-CSCF and returns its final response.
func (p *fakePCSCF) do(req *sip.Request) *sip.Response {
	p.t.Helper()
	req.SetDestination(p.scscf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

// notify waits for the next NOTIFY.
func (p *fakePCSCF) notify() *sip.Request {
	p.t.Helper()
	select {
	case n := <-p.notifies:
		return n
	case <-time.After(10 * time.Second):
		p.t.Fatal("no NOTIFY within 10s")
		return nil
	}
}

// ue is a test phone behind the P-CSCF.
type ue struct {
	impi, impu string
	contact    string // Contact header value
	callID     string
	cseq       uint32
	mil        *aka.Milenage // nil: SIP Digest with password
	password   string
	expires    int
	auts       bool   // send a synchronisation failure instead of RES
	sqnMS      uint64 // the card's SQN, for auts
	badRES     bool
	tcp        bool   // REGISTER over TCP
	path       string // Path the P-CSCF adds; default its own
}

var ueSeq atomic.Uint32

func newUE(t testing.TB, impi, impu string, withSIM bool) *ue {
	n := ueSeq.Add(1)
	u := &ue{impi: impi, impu: impu, callID: fmt.Sprintf("reg-%d-%d@test", n, time.Now().UnixNano()), expires: 600000,
		contact: fmt.Sprintf(`<sip:ue%d@127.0.0.1:%d>;+sip.instance="<urn:gsma:imei:35209900-17614%d-0>";+g.3gpp.icsi-ref="urn%%3Aurn-7%%3A3gpp-service.ims.icsi.mmtel"`, n, 5000+n, n)}
	if withSIM {
		m, err := aka.New(unhex(t, testK), unhex(t, testOPc))
		if err != nil {
			t.Fatal(err)
		}
		u.mil = m
	} else {
		u.password = "secret"
	}
	return u
}

// request builds a REGISTER as the P-CSCF forwards it: with Path (RFC 3327).
func (p *fakePCSCF) request(u *ue, authz string) *sip.Request {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: domain})
	u.cseq++
	var addr sip.Uri
	if err := sip.ParseUri(u.impu, &addr); err != nil {
		p.t.Fatal(err)
	}
	from := &sip.FromHeader{Address: addr, Params: sip.NewParams()}
	from.Params.Add("tag", fmt.Sprintf("t%d", u.cseq))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: addr, Params: sip.NewParams()})
	cid := sip.CallIDHeader(u.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: u.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(sip.NewHeader("Contact", u.contact))
	req.AppendHeader(sip.NewHeader("Expires", fmt.Sprint(u.expires)))
	if authz != "" {
		req.AppendHeader(sip.NewHeader("Authorization", authz))
	}
	path := u.path
	if path == "" {
		path = "<sip:term@" + p.addr + ";lr>"
	}
	req.AppendHeader(sip.NewHeader("Path", path))
	req.AppendHeader(sip.NewHeader("Supported", "path"))
	req.SetBody(nil)
	if u.tcp {
		req.SetTransport("TCP")
	}
	return req
}

// initialAuthz is the first REGISTER's Authorization (TS 24.229 §5.1.1.2.1).
func (u *ue) initialAuthz() string {
	if u.mil == nil {
		return ""
	}
	c := sipdigest.Credentials{Username: u.impi, Realm: domain, URI: "sip:" + domain}
	return c.String()
}

// answer computes the Authorization for a 401's challenge.
func (u *ue) answer(t testing.TB, res *sip.Response) string {
	t.Helper()
	ch, err := sipdigest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	c := sipdigest.Credentials{Username: u.impi, Realm: ch.Realm, Nonce: ch.Nonce, URI: "sip:" + domain,
		Algorithm: ch.Algorithm, QOP: "auth", NC: "00000001", CNonce: fmt.Sprintf("cn%d", u.cseq)}
	password := []byte(u.password)
	if u.mil != nil {
		rnd, autn, err := sipdigest.ParseAKANonce(ch.Nonce)
		if err != nil {
			t.Fatal(err)
		}
		if u.auts {
			auts, err := u.mil.AUTS(rnd, u.sqnMS)
			if err != nil {
				t.Fatal(err)
			}
			c.AUTS, c.QOP, c.CNonce = sipdigest.EncodeAUTS(auts), "", ""
			return c.String()
		}
		v, err := u.mil.VerifyAUTN(rnd, autn)
		if err != nil {
			t.Fatalf("the card refuses the challenge: %v", err)
		}
		password = v.RES
		if u.badRES {
			password = append([]byte(nil), v.RES...)
			password[0] ^= 0xff
		}
	}
	c.Response = sipdigest.Response(sipdigest.HA1(u.impi, ch.Realm, password), "REGISTER", c.URI, ch.Nonce, c.QOP, c.NC, c.CNonce)
	return c.String()
}

// register runs the two REGISTER transactions; it returns the 401 and the
// final response.
func (l *lab) register(u *ue) (*sip.Response, *sip.Response) {
	l.t.Helper()
	r1 := l.p.do(l.p.request(u, u.initialAuthz()))
	if r1.StatusCode != 401 {
		l.t.Fatalf("first REGISTER: %d %s, want 401\n%s", r1.StatusCode, r1.Reason, r1)
	}
	r2 := l.p.do(l.p.request(u, u.answer(l.t, r1)))
	return r1, r2
}

// mustRegister registers and wants 200.
func (l *lab) mustRegister(u *ue) *sip.Response {
	l.t.Helper()
	_, r := l.register(u)
	if r.StatusCode != 200 {
		l.t.Fatalf("REGISTER: %d %s, want 200\n%s", r.StatusCode, r.Reason, r)
	}
	return r
}

// waitLog waits until the logs contain s (there is no event to wait on
// for a log line: it polls, bounded).
func (l *lab) waitLog(s string) { l.t.Helper(); l.waitLogN(s, 1) }

// waitLogN waits until the logs contain s n times.
func (l *lab) waitLogN(s string, n int) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(l.logs.String(), s) < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("the logs never said %q", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
