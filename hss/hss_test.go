package hss

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
	"github.com/imslab/imslab/testbed/labtest"
)

// TS 35.208 test set 1.
const (
	set1K    = "465b5ce8b199b49faa5f0a2ee238a6bc"
	set1OPc  = "cd63cb71954a9f4e48a5994e37a02baf"
	set1RAND = "23553cbe9637a89d218ae64dae47bf35"
	set1SQN  = 0xff9bb4d0b607
	set1AMF  = 0xb9b9
	set1MAC  = "4a9ffac354dfafb3"
	set1RES  = "a54211d5e3ba50bf"
	set1CK   = "b40ba9a3c58b2a05bbf0d987b21bf8cb"
	set1IK   = "f769bcd751044604127672711c6d3441"
	set1AK   = "aa689c648370"

	domain = "ims.mnc001.mcc001.3gppnetwork.org"
	alice  = "001010000000001"
	bob    = "001010000000002"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type lab struct {
	h    *HSS
	logs *labtest.Buffer
	cx   *peer.Conn // as the S-CSCF
	s6a  *peer.Conn // as the MME
	cxN  *peer.Node
	s6N  *peer.Node
}

// startHSS runs an HSS on loopback port 0 with Alice (AKA, TS 35.208 set 1
// keys, with a softphone identity using SIP Digest) and Bob.
func startHSS(t *testing.T, rnd func(string, uint64) []byte, opts ...func(*Config)) *lab {
	t.Helper()
	logs := &labtest.Buffer{}
	cfg := Config{DB: filepath.Join(t.TempDir(), "hss.db"), Listen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		AllowPeers: []string{"scscf.test", "mme.test"}, Logger: slog.New(slog.NewTextHandler(logs, nil)), Rand: rnd}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("HSS log:\n%s", logs.String())
		}
	})
	for _, s := range []*store.Subscriber{
		{IMSI: alice, MSISDN: "+15550001", K: unhex(t, set1K), OPc: unhex(t, set1OPc), AMF: 0x8000, Domain: domain,
			Private: []store.PrivateID{
				{IMPI: alice + "@" + domain, Scheme: store.SchemeAKA, IMPUs: []string{"sip:" + alice + "@" + domain, "sip:+15550001@" + domain, "tel:+15550001"}},
				{IMPI: "alice@" + domain, Scheme: store.SchemeDigest, Password: "secret", IMPUs: []string{"sip:alice@" + domain}},
			},
			Public: []store.PublicID{
				{IMPU: "sip:" + alice + "@" + domain, IRS: 1, Default: true}, {IMPU: "sip:+15550001@" + domain, IRS: 1}, {IMPU: "tel:+15550001", IRS: 1},
				{IMPU: "sip:alice@" + domain, IRS: 2},
			}},
		{IMSI: bob, MSISDN: "+15550002", K: unhex(t, set1K), OPc: unhex(t, set1OPc), AMF: 0x8000, Domain: domain,
			Private: []store.PrivateID{{IMPI: bob + "@" + domain, Scheme: store.SchemeAKA, IMPUs: []string{"sip:" + bob + "@" + domain}}},
			Public:  []store.PublicID{{IMPU: "sip:" + bob + "@" + domain, IRS: 1, Default: true}}},
	} {
		if err := h.Store().Add(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	l := &lab{h: h, logs: logs}
	l.cxN, l.cx = dial(t, h, "scscf.test", diameter.AppCx)
	l.s6N, l.s6a = dial(t, h, "mme.test", diameter.AppS6a)
	return l
}

func dial(t *testing.T, h *HSS, host string, app uint32) (*peer.Node, *peer.Conn) {
	t.Helper()
	n, err := peer.New(peer.Config{OriginHost: host, OriginRealm: "test", Dict: diameter.Dictionary(),
		Apps: []peer.App{{ID: app, Vendor: diameter.Vendor3GPP}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.Dial(context.Background(), "tcp", h.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return n, c
}

// sessions numbers the test clients' Session-Ids.
var sessions atomic.Uint64

// req builds a Cx or S6a request as the S-CSCF or MME would.
func req(n *peer.Node, app, code uint32, avps ...*diam.AVP) *diam.Message {
	m := diam.NewRequest(code, app, n.Dict())
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(fmt.Sprintf("%s;%d;%d", n.OriginHost(), time.Now().Unix(), sessions.Add(1))))
	if app == diameter.AppCx {
		m.AddAVP(vsai(app))
	}
	m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(n.OriginHost()))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(n.OriginRealm()))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(DefaultOriginRealm))
	for _, a := range avps {
		m.AddAVP(a)
	}
	return m
}

func cxA(name string, v datatype.Type) *diam.AVP {
	return diameter.AVP(diameter.AppCx, name, v)
}

func s6A(name string, v datatype.Type) *diam.AVP {
	return diameter.AVP(diameter.AppS6a, name, v)
}

func (l *lab) do(t *testing.T, c *peer.Conn, m *diam.Message) *diam.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := c.Request(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantResult(t *testing.T, a *diam.Message, code uint32, experimental bool) {
	t.Helper()
	got, exp := peer.ResultCode(a)
	if got != code || exp != experimental {
		t.Fatalf("result %s, want %s\n%v", diameter.ResultName(got, exp), diameter.ResultName(code, experimental), a)
	}
}

func (l *lab) mar(t *testing.T, impi, impu, scheme string, n int, authz []byte) *diam.Message {
	t.Helper()
	item := []*diam.AVP{cxA("SIP-Authentication-Scheme", datatype.UTF8String(scheme))}
	if authz != nil {
		item = append(item, cxA("SIP-Authorization", datatype.OctetString(authz)))
	}
	return l.do(t, l.cx, req(l.cxN, diameter.AppCx, diameter.CmdMA,
		cxA("User-Name", datatype.UTF8String(impi)),
		cxA("Public-Identity", datatype.UTF8String(impu)),
		cxA("SIP-Number-Auth-Items", datatype.Unsigned32(n)),
		cxA("SIP-Auth-Data-Item", diameter.Group(item...)),
		cxA("Server-Name", datatype.UTF8String("sip:scscf.test:6060"))))
}

// TS 35.208 test set 1, reproduced through MAR: the HSS's next SQN is set 1's,
// RAND is set 1's, and the vector must carry set 1's AUTN, XRES, CK and IK.
func TestMAR_TS35208Set1(t *testing.T) {
	l := startHSS(t, func(string, uint64) []byte { return unhex(t, set1RAND) })
	ctx := context.Background()
	// NextSQN gives SEQ+1 with IND+1: start one step before set 1's SQN.
	prev := aka.MakeSQN(aka.SEQ(set1SQN)-1, aka.IND(set1SQN)-1)
	if err := l.h.Store().SetSQN(ctx, alice, prev); err != nil {
		t.Fatal(err)
	}
	sub, _ := l.h.Store().Get(ctx, alice)
	sub.AMF = set1AMF
	if err := l.h.Store().Update(ctx, sub); err != nil {
		t.Fatal(err)
	}
	a := l.mar(t, alice+"@"+domain, "sip:"+alice+"@"+domain, schemeAKA, 1, nil)
	wantResult(t, a, diameter.ResultSuccess, false)
	sqnAK := make([]byte, 6)
	for i, b := range unhex(t, set1AK) {
		sqnAK[i] = b ^ byte(uint64(set1SQN)>>(8*(5-i)))
	}
	wantAUTN := append(append(sqnAK, 0xb9, 0xb9), unhex(t, set1MAC)...)
	for _, c := range []struct {
		avp  string
		want []byte
	}{
		{"SIP-Authenticate", append(unhex(t, set1RAND), wantAUTN...)},
		{"SIP-Authorization", unhex(t, set1RES)},
		{"Confidentiality-Key", unhex(t, set1CK)},
		{"Integrity-Key", unhex(t, set1IK)},
	} {
		if got := diameter.Bytes(diameter.Find(a, "SIP-Auth-Data-Item", c.avp)); !bytes.Equal(got, c.want) {
			t.Errorf("%s = %x, want %x", c.avp, got, c.want)
		}
	}
	if s := diameter.String(diameter.Find(a, "SIP-Auth-Data-Item", "SIP-Authentication-Scheme")); s != schemeAKA {
		t.Errorf("scheme %q", s)
	}
	if got, _ := l.h.Store().Get(ctx, alice); got.SQN != set1SQN {
		t.Errorf("stored SQN %s, want set 1's", aka.FormatSQN(got.SQN))
	}
	if !strings.Contains(l.logs.String(), "SEQ "+strconv.FormatUint(aka.SEQ(set1SQN), 10)) {
		t.Errorf("the log does not say which SQN was used:\n%s", l.logs.String())
	}
}
