package ue

import (
	"github.com/imslab/imslab/testbed/labtest"

	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/cardfile"
	"github.com/imslab/imslab/internal/sipdigest"
	"github.com/imslab/imslab/sim"
)

// K and OPc of TS 35.208 test set 1.
const (
	testK   = "465b5ce8b199b49faa5f0a2ee238a6bc"
	testOPc = "cd63cb71954a9f4e48a5994e37a02baf"
	otherK  = "0396eb317b6d1c36f19c1c84cd6ffd16"
)

// testCard is a soft card with an ISIM and known keys; seq, if not zero,
// puts the card's SQN memory ahead of the network.
type testCard struct {
	p    *cardfile.Card
	card *sim.SoftCard
	k    []byte
	opc  []byte
}

func newTestCard(t *testing.T, imsi string, isim bool, seq uint64) *testCard {
	t.Helper()
	return newTestCardMSISDN(t, imsi, "+1555"+imsi[len(imsi)-7:], isim, seq)
}

// newTestCardMSISDN is newTestCard with a given MSISDN (the IMPU's user).
func newTestCardMSISDN(t *testing.T, imsi, msisdn string, isim bool, seq uint64) *testCard {
	t.Helper()
	p, err := cardfile.New(cardfile.Options{IMSI: imsi, K: testK, OPc: testOPc, ISIM: isim, MSISDN: msisdn})
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.State.SEQ {
		p.State.SEQ[i] = seq
	}
	c, err := sim.NewSoftCard(p)
	if err != nil {
		t.Fatal(err)
	}
	k, opc, _, err := p.Keys()
	if err != nil {
		t.Fatal(err)
	}
	return &testCard{p: p, card: c, k: k, opc: opc}
}

func newTestUE(t *testing.T, c *testCard, f *fakeNet, mod func(*Config)) (*UE, *labtest.Buffer) {
	t.Helper()
	ladder := &labtest.Buffer{}
	cfg := Config{Card: c.card, PCSCF: f.addr, Transport: f.cfg.Network, Ladder: ladder,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if mod != nil {
		mod(&cfg)
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u, ladder
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func credentials(t *testing.T, req *sip.Request) *sipdigest.Credentials {
	t.Helper()
	c, err := sipdigest.ParseCredentials(header(req, "Authorization"))
	if err != nil {
		t.Fatalf("Authorization of %s: %v", req.Short(), err)
	}
	return c
}

func TestRegisterAKA(t *testing.T) {
	c := newTestCard(t, "001010000000001", true, 0)
	f := newFakeNet(t, fakeConfig{K: c.k, OPc: c.opc})
	u, ladder := newTestUE(t, c, f, nil)
	ctx := testCtx(t)
	reg, err := u.Register(ctx)
	if err != nil {
		t.Fatal(err)
	}
	isim := c.p.ISIM
	regs := f.requests(sip.REGISTER)
	if len(regs) != 2 {
		t.Fatalf("%d REGISTERs, want 2 (initial, answer)", len(regs))
	}
	first, second := regs[0], regs[1]
	// TS 24.229 §5.1.1.2.1: the initial REGISTER.
	if got := first.Recipient.String(); got != "sip:"+isim.Domain {
		t.Errorf("Request-URI %s, want sip:%s", got, isim.Domain)
	}
	if first.From().Address.String() != isim.IMPUs[0] || first.To().Address.String() != isim.IMPUs[0] {
		t.Errorf("From %s To %s, want the first IMPU %s", first.From().Address.String(), first.To().Address.String(), isim.IMPUs[0])
	}
	raw := header(first, "Authorization")
	for _, want := range []string{`username="` + isim.IMPI + `"`, `realm="` + isim.Domain + `"`, `uri="sip:` + isim.Domain + `"`, `nonce=""`, `response=""`} {
		if !strings.Contains(raw, want) {
			t.Errorf("initial Authorization %q lacks %s", raw, want)
		}
	}
	contact := first.Contact().String()
	for _, want := range []string{`+sip.instance="<urn:uuid:`, `+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"`, "expires=600", "transport=udp"} {
		if !strings.Contains(contact, want) {
			t.Errorf("Contact %q lacks %s", contact, want)
		}
	}
	if header(first, "Supported") != "path" || header(first, "Expires") != "600" {
		t.Errorf("Supported %q Expires %q", header(first, "Supported"), header(first, "Expires"))
	}
	// The answer: same Call-ID, next CSeq, the digest of RES.
	cr := credentials(t, second)
	if cr.Response == "" || cr.Algorithm != sipdigest.AKAv1MD5 || cr.QOP != "auth" || cr.NC != "00000001" || cr.CNonce == "" {
		t.Errorf("answer Authorization %+v", cr)
	}
	if second.CallID().Value() != first.CallID().Value() || second.CSeq().SeqNo != first.CSeq().SeqNo+1 {
		t.Errorf("answer Call-ID/CSeq %s %d after %s %d", second.CallID().Value(), second.CSeq().SeqNo, first.CallID().Value(), first.CSeq().SeqNo)
	}
	// What the UE learned.
	if reg.Expires != 600*time.Second || len(reg.ServiceRoute) != 1 || reg.ServiceRoute[0] != fakeServiceRoute {
		t.Errorf("registration %+v", reg)
	}
	if len(reg.AssociatedURIs) != 2 || reg.AssociatedURIs[0] != isim.IMPUs[0] || reg.AssociatedURIs[1] != "tel:+15550000001" {
		t.Errorf("associated URIs %v", reg.AssociatedURIs)
	}
	if len(reg.Contacts) != 1 || !reg.Contacts[0].Ours || reg.Contacts[0].Instance != u.instance {
		t.Errorf("contacts %+v", reg.Contacts)
	}
	for _, want := range []string{`REGISTER expires=600 nonce=""`, "401 Unauthorized AKAv1-MD5", "AUTHENTICATE ISIM", "RES CK IK", "REGISTER expires=600 digest(RES)", "200 OK expires=600"} {
		if !strings.Contains(ladder.String(), want) {
			t.Errorf("ladder lacks %q:\n%s", want, ladder)
		}
	}
	t.Logf("ladder:\n%s", ladder)

	if err := u.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	last := f.requests(sip.REGISTER)
	if d := last[len(last)-1]; header(d, "Expires") != "0" || !strings.Contains(d.Contact().String(), "expires=0") {
		t.Errorf("de-REGISTER %s", d)
	}
	if u.Registration() != nil {
		t.Error("still registered after Deregister")
	}
}

func TestRegisterResync(t *testing.T) {
	// The card has accepted SEQ 50 already; the network starts at 1.
	c := newTestCard(t, "001010000000002", true, 50)
	f := newFakeNet(t, fakeConfig{K: c.k, OPc: c.opc})
	u, ladder := newTestUE(t, c, f, nil)
	reg, err := u.Register(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	regs := f.requests(sip.REGISTER)
	if len(regs) != 3 {
		t.Fatalf("%d REGISTERs, want 3 (initial, auts, answer)", len(regs))
	}
	if cr := credentials(t, regs[1]); cr.AUTS == "" {
		t.Errorf("second REGISTER without auts: %+v", cr)
	}
	if cr := credentials(t, regs[2]); cr.AUTS != "" || cr.Response == "" {
		t.Errorf("third REGISTER: %+v", cr)
	}
	f.mu.Lock()
	resyncs, emptyPwd := f.resyncs, f.emptyPwd
	f.mu.Unlock()
	if resyncs != 1 || !emptyPwd {
		t.Errorf("resyncs %d, response with the empty password %v (RFC 3310 §3.4)", resyncs, emptyPwd)
	}
	if !reg.Resynchronised {
		t.Error("registration does not say it was resynchronised")
	}
	if !strings.Contains(ladder.String(), "AUTS (SQN not fresh)") || !strings.Contains(ladder.String(), "auts (resync)") {
		t.Errorf("ladder:\n%s", ladder)
	}
}

func TestRegisterMACFailure(t *testing.T) {
	c := newTestCard(t, "001010000000003", true, 0)
	k, _ := hex.DecodeString(otherK)
	f := newFakeNet(t, fakeConfig{K: k, OPc: c.opc})
	u, ladder := newTestUE(t, c, f, nil)
	_, err := u.Register(testCtx(t))
	if !errors.Is(err, ErrNetworkNotGenuine) {
		t.Fatalf("err %v, want ErrNetworkNotGenuine", err)
	}
	if !strings.Contains(err.Error(), "MAC") || !strings.Contains(err.Error(), "not our operator's network") {
		t.Errorf("error does not say why: %v", err)
	}
	// Register has returned: any REGISTER it sent has been answered.
	if n := len(f.requests(sip.REGISTER)); n != 1 {
		t.Errorf("%d REGISTERs, want 1: a forged challenge is not answered", n)
	}
	if !strings.Contains(ladder.String(), "MAC failure") {
		t.Errorf("ladder:\n%s", ladder)
	}
}

func TestRegisterRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  fakeConfig
		want []string
	}{
		{"wrong RES", fakeConfig{WrongXRES: true}, []string{"registration refused: 403 Forbidden", "did not accept RES", "wrong K or OPc", `RES mismatch`}},
		{"unknown subscriber", fakeConfig{Forbid: true}, []string{"registration refused: 403 Forbidden", "HSS", `subscriber unknown`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCard(t, "001010000000004", true, 0)
			tc.cfg.K, tc.cfg.OPc = c.k, c.opc
			f := newFakeNet(t, tc.cfg)
			u, _ := newTestUE(t, c, f, nil)
			_, err := u.Register(testCtx(t))
			var ref *RefusedError
			if !errors.As(err, &ref) || ref.Code != 403 {
				t.Fatalf("err %v, want a 403 RefusedError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRegisterTCPAndUSIM(t *testing.T) {
	// No ISIM: identities from the IMSI, AKA in the USIM; over TCP.
	c := newTestCard(t, "001010000000005", false, 0)
	f := newFakeNet(t, fakeConfig{K: c.k, OPc: c.opc, Network: "tcp"})
	u, ladder := newTestUE(t, c, f, nil)
	reg, err := u.Register(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if reg.IMPI != "001010000000005@ims.mnc001.mcc001.3gppnetwork.org" || reg.IMPU != "sip:001010000000005@ims.mnc001.mcc001.3gppnetwork.org" {
		t.Errorf("identities %s %s", reg.IMPI, reg.IMPU)
	}
	if !strings.Contains(ladder.String(), "AUTHENTICATE USIM") || !strings.Contains(reg.Contact, "transport=tcp") {
		t.Errorf("contact %s, ladder:\n%s", reg.Contact, ladder)
	}
}
