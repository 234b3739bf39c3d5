package hss

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
)

const scscfName = "sip:scscf.test:6060"

func (l *lab) uar(t *testing.T, impi, impu string, uat uint32) *diam.Message {
	t.Helper()
	return l.do(t, l.cx, req(l.cxN, diameter.AppCx, diameter.CmdUA,
		cxA("User-Name", datatype.UTF8String(impi)),
		cxA("Public-Identity", datatype.UTF8String(impu)),
		cxA("Visited-Network-Identifier", datatype.OctetString(domain)),
		cxA("User-Authorization-Type", datatype.Enumerated(uat))))
}

func (l *lab) sar(t *testing.T, impi, impu string, sat uint32) *diam.Message {
	t.Helper()
	avps := []*diam.AVP{cxA("Public-Identity", datatype.UTF8String(impu)),
		cxA("Server-Name", datatype.UTF8String(scscfName)),
		cxA("Server-Assignment-Type", datatype.Enumerated(sat)),
		cxA("User-Data-Already-Available", datatype.Enumerated(0))}
	if impi != "" {
		avps = append([]*diam.AVP{cxA("User-Name", datatype.UTF8String(impi))}, avps...)
	}
	return l.do(t, l.cx, req(l.cxN, diameter.AppCx, diameter.CmdSA, avps...))
}

func (l *lab) lir(t *testing.T, impu string) *diam.Message {
	t.Helper()
	return l.do(t, l.cx, req(l.cxN, diameter.AppCx, diameter.CmdLI, cxA("Public-Identity", datatype.UTF8String(impu))))
}

// A registration's Cx exchange, TS 29.228 §6.1: UAR, MAR, SAR, then LIR and
// de-registration, with the result codes of each state.
func TestCxRegistrationFlow(t *testing.T) {
	l := startHSS(t, nil)
	impi, impu := alice+"@"+domain, "sip:"+alice+"@"+domain

	a := l.uar(t, impi, impu, userAuthRegistration)
	wantResult(t, a, diameter.ExpFirstRegistration, true)
	if diameter.Find(a, "Server-Capabilities") == nil {
		t.Fatal("first registration without Server-Capabilities")
	}
	wantResult(t, l.uar(t, impi, impu, userAuthDeregistration), diameter.ExpIdentityNotRegistered, true)
	wantResult(t, l.lir(t, impu), diameter.ExpIdentityNotRegistered, true)

	wantResult(t, l.mar(t, impi, impu, schemeAKA, 2, nil), diameter.ResultSuccess, false)
	a = l.sar(t, impi, impu, satRegistration)
	wantResult(t, a, diameter.ResultSuccess, false)
	ud := diameter.String(diameter.Find(a, "User-Data"))
	for _, s := range []string{"<IMSSubscription>", "<PrivateID>" + impi + "</PrivateID>",
		"<Identity>" + impu + "</Identity>", "<Identity>tel:+15550001</Identity>", "<Identity>sip:+15550001@" + domain + "</Identity>"} {
		if !strings.Contains(ud, s) {
			t.Errorf("User-Data lacks %s:\n%s", s, ud)
		}
	}
	if strings.Contains(ud, "sip:alice@") {
		t.Errorf("User-Data holds an identity of another implicit set:\n%s", ud)
	}

	// The whole implicit registration set is registered.
	for _, id := range []string{impu, "tel:+15550001", "sip:+15550001@" + domain} {
		a = l.lir(t, id)
		wantResult(t, a, diameter.ResultSuccess, false)
		if diameter.String(diameter.Find(a, "Server-Name")) != scscfName {
			t.Fatalf("LIR %s: Server-Name %q", id, diameter.String(diameter.Find(a, "Server-Name")))
		}
	}
	a = l.uar(t, impi, impu, userAuthRegistration)
	wantResult(t, a, diameter.ExpSubsequentRegistration, true)
	if diameter.String(diameter.Find(a, "Server-Name")) != scscfName {
		t.Fatal("subsequent registration without the S-CSCF's name")
	}
	a = l.uar(t, impi, impu, userAuthRegAndCapabilit)
	wantResult(t, a, diameter.ExpFirstRegistration, true)
	wantResult(t, l.uar(t, impi, impu, userAuthDeregistration), diameter.ResultSuccess, false)

	// Re-registration with the profile already at the S-CSCF: no User-Data.
	a = l.do(t, l.cx, req(l.cxN, diameter.AppCx, diameter.CmdSA,
		cxA("User-Name", datatype.UTF8String(impi)), cxA("Public-Identity", datatype.UTF8String(impu)),
		cxA("Server-Name", datatype.UTF8String(scscfName)), cxA("Server-Assignment-Type", datatype.Enumerated(satReRegistration)),
		cxA("User-Data-Already-Available", datatype.Enumerated(1))))
	wantResult(t, a, diameter.ResultSuccess, false)
	if diameter.Find(a, "User-Data") != nil {
		t.Fatal("User-Data sent although already available")
	}

	wantResult(t, l.sar(t, impi, impu, satUserDereg), diameter.ResultSuccess, false)
	wantResult(t, l.lir(t, "tel:+15550001"), diameter.ExpIdentityNotRegistered, true)

	// A terminating call to a not-registered user: UNREGISTERED_USER.
	a = l.sar(t, "", "sip:"+bob+"@"+domain, satUnregisteredUser)
	wantResult(t, a, diameter.ResultSuccess, false)
	if diameter.String(diameter.Find(a, "User-Name")) != bob+"@"+domain || diameter.Find(a, "User-Data") == nil {
		t.Fatalf("UNREGISTERED_USER answer: %v", a)
	}
	wantResult(t, l.lir(t, "sip:"+bob+"@"+domain), diameter.ResultSuccess, false)
	wantResult(t, l.sar(t, "", "sip:"+bob+"@"+domain, 99), diameter.ExpInAssignmentType, true)
}

func TestCxErrors(t *testing.T) {
	l := startHSS(t, nil)
	impi := alice + "@" + domain
	wantResult(t, l.uar(t, "nobody@"+domain, "sip:nobody@"+domain, 0), diameter.ExpUserUnknown, true)
	wantResult(t, l.uar(t, impi, "sip:nobody@"+domain, 0), diameter.ExpUserUnknown, true)
	// Bob's identity with Alice's private identity.
	wantResult(t, l.uar(t, impi, "sip:"+bob+"@"+domain, 0), diameter.ExpIdentitiesDontMatch, true)
	wantResult(t, l.mar(t, impi, "sip:"+bob+"@"+domain, schemeAKA, 1, nil), diameter.ExpIdentitiesDontMatch, true)
	// Alice's SIM identity does not do SIP Digest, her softphone not AKA.
	wantResult(t, l.mar(t, impi, "sip:"+alice+"@"+domain, schemeDigest, 1, nil), diameter.ExpAuthSchemeNotSupported, true)
	wantResult(t, l.mar(t, "alice@"+domain, "sip:alice@"+domain, schemeAKA, 1, nil), diameter.ExpAuthSchemeNotSupported, true)
	wantResult(t, l.sar(t, impi, "sip:"+bob+"@"+domain, satRegistration), diameter.ExpIdentitiesDontMatch, true)
	wantResult(t, l.lir(t, "sip:nobody@"+domain), diameter.ExpUserUnknown, true)
	// Resync with a malformed SIP-Authorization.
	wantResult(t, l.mar(t, impi, "sip:"+alice+"@"+domain, schemeAKA, 1, []byte("short")), diameter.ResultUnableToComply, false)

	// A barred identity may not register.
	ctx := context.Background()
	sub, _ := l.h.Store().Get(ctx, bob)
	sub.Barred = true
	if err := l.h.Store().Update(ctx, sub); err != nil {
		t.Fatal(err)
	}
	wantResult(t, l.uar(t, bob+"@"+domain, "sip:"+bob+"@"+domain, 0), diameter.ResultAuthorizationRejected, false)
}

// A visited network not in the roaming list: DIAMETER_ERROR_ROAMING_NOT_ALLOWED.
func TestRoamingNotAllowed(t *testing.T) {
	l := startHSS(t, nil, func(c *Config) { c.RoamingAllowed = []string{"ims.mnc002.mcc001.3gppnetwork.org"} })
	impi, impu := alice+"@"+domain, "sip:"+alice+"@"+domain
	uar := func(visited string) *diam.Message {
		return l.do(t, l.cx, req(l.cxN, diameter.AppCx, diameter.CmdUA,
			diameter.AVP(diameter.AppCx, "User-Name", datatype.UTF8String(impi)),
			diameter.AVP(diameter.AppCx, "Public-Identity", datatype.UTF8String(impu)),
			diameter.AVP(diameter.AppCx, "Visited-Network-Identifier", datatype.OctetString(visited))))
	}
	wantResult(t, uar("ims.mnc099.mcc001.3gppnetwork.org"), diameter.ExpRoamingNotAllowed, true)
	wantResult(t, uar("ims.mnc002.mcc001.3gppnetwork.org"), diameter.ExpFirstRegistration, true)
	wantResult(t, uar(domain), diameter.ExpFirstRegistration, true)
}

// SIP Digest for a softphone identity: HA1 = MD5(IMPI:realm:password).
func TestMARDigest(t *testing.T) {
	l := startHSS(t, nil)
	a := l.mar(t, "alice@"+domain, "sip:alice@"+domain, schemeUnknown, 1, nil)
	wantResult(t, a, diameter.ResultSuccess, false)
	sum := md5.Sum([]byte("alice@" + domain + ":" + domain + ":secret"))
	if got := diameter.String(diameter.Find(a, "SIP-Auth-Data-Item", "SIP-Digest-Authenticate", "Digest-HA1")); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("Digest-HA1 %q", got)
	}
	if got := diameter.String(diameter.Find(a, "SIP-Auth-Data-Item", "SIP-Digest-Authenticate", "Digest-Realm")); got != domain {
		t.Fatalf("Digest-Realm %q", got)
	}
	if got := diameter.String(diameter.Find(a, "SIP-Auth-Data-Item", "SIP-Authentication-Scheme")); got != schemeDigest {
		t.Fatalf("scheme %q", got)
	}
}

// The card is ahead of the HSS (SQN_MS far above SQN_HE): the S-CSCF sends
// RAND‖AUTS, the HSS verifies MAC-S, adopts SEQ_MS, and its next vector is
// fresh for the card. A forged AUTS changes nothing.
func TestMARResync(t *testing.T) {
	l := startHSS(t, nil)
	ctx := context.Background()
	impi, impu := alice+"@"+domain, "sip:"+alice+"@"+domain
	card, _ := aka.New(unhex(t, set1K), unhex(t, set1OPc))
	a := l.mar(t, impi, impu, schemeAKA, 1, nil)
	rnd := diameter.Bytes(diameter.Find(a, "SIP-Auth-Data-Item", "SIP-Authenticate"))[:16]

	sqnMS := aka.MakeSQN(1000, 9) // the card has seen SEQ 1000
	auts, _ := card.AUTS(rnd, sqnMS)
	forged := append([]byte(nil), auts...)
	forged[13] ^= 1
	wantResult(t, l.mar(t, impi, impu, schemeAKA, 1, append(append([]byte(nil), rnd...), forged...)), diameter.ResultUnableToComply, false)
	if sub, _ := l.h.Store().Get(ctx, alice); aka.SEQ(sub.SQN) >= 1000 {
		t.Fatal("a forged AUTS moved the SQN")
	}
	a = l.mar(t, impi, impu, schemeAKA, 1, append(append([]byte(nil), rnd...), auts...))
	wantResult(t, a, diameter.ResultSuccess, false)
	v := diameter.Bytes(diameter.Find(a, "SIP-Auth-Data-Item", "SIP-Authenticate"))
	ch, err := card.VerifyAUTN(v[:16], v[16:])
	if err != nil {
		t.Fatal(err)
	}
	if aka.SEQ(ch.SQN) != 1001 {
		t.Fatalf("after resync the vector has %s, want SEQ 1001", aka.FormatSQN(ch.SQN))
	}
	if !strings.Contains(l.logs.String(), "MAC-S verified") || !strings.Contains(l.logs.String(), "does not verify") {
		t.Errorf("resync not explained in the log:\n%s", l.logs.String())
	}
	// The card behind the HSS (a replay was refused): the HSS keeps its SEQ.
	old, _ := card.AUTS(rnd, aka.MakeSQN(5, 0))
	a = l.mar(t, impi, impu, schemeAKA, 1, append(append([]byte(nil), rnd...), old...))
	wantResult(t, a, diameter.ResultSuccess, false)
	v = diameter.Bytes(diameter.Find(a, "SIP-Auth-Data-Item", "SIP-Authenticate"))
	if ch, _ := card.VerifyAUTN(v[:16], v[16:]); aka.SEQ(ch.SQN) != 1002 {
		t.Fatalf("SEQ went back to %d", aka.SEQ(ch.SQN))
	}
}

// RTR: administrative deregistration from the HSS (the API's deregister),
// answered by the S-CSCF; PPR pushes the profile.
func TestRTRAndPPR(t *testing.T) {
	l := startHSS(t, nil)
	ctx := context.Background()
	impi, impu := alice+"@"+domain, "sip:"+alice+"@"+domain
	got := make(chan *diam.Message, 4)
	answer := func(_ context.Context, _ *peer.Conn, m *diam.Message) *diam.Message {
		got <- m
		a := l.cxN.Answer(m, diameter.ResultSuccess)
		a.AddAVP(vsai(diameter.AppCx))
		return a
	}
	l.cxN.Handle(diameter.AppCx, diameter.CmdRT, answer)
	l.cxN.Handle(diameter.AppCx, diameter.CmdPP, answer)
	if _, err := l.h.Deregister(ctx, alice, ReasonPermanentTermination, "test"); err == nil {
		t.Fatal("deregistered a user who is not registered")
	}
	wantResult(t, l.sar(t, impi, impu, satRegistration), diameter.ResultSuccess, false)

	if err := l.h.PushProfile(ctx, impu); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m.Header.CommandCode != diameter.CmdPP || !strings.Contains(diameter.String(diameter.Find(m, "User-Data")), impu) || diameter.String(diameter.Find(m, "User-Name")) != impi {
		t.Fatalf("PPR: %v", m)
	}
	// As after an HSS restart: the S-CSCF's name is not remembered, the one
	// Cx peer connected is used.
	l.h.mu.Lock()
	clear(l.h.scscfs)
	l.h.mu.Unlock()
	n, err := l.h.Deregister(ctx, impi, ReasonPermanentTermination, "subscription ended")
	if err != nil || n != 3 {
		t.Fatalf("Deregister: %d, %v", n, err)
	}
	m = <-got
	if m.Header.CommandCode != diameter.CmdRT || len(diameter.FindAll(m, "Public-Identity")) != 3 ||
		diameter.Uint32(diameter.Find(m, "Deregistration-Reason", "Reason-Code"), 9) != ReasonPermanentTermination ||
		diameter.String(diameter.Find(m, "Deregistration-Reason", "Reason-Info")) != "subscription ended" || diameter.String(diameter.Find(m, "Destination-Host")) != "scscf.test" {
		t.Fatalf("RTR: %v", m)
	}
	wantResult(t, l.lir(t, impu), diameter.ExpIdentityNotRegistered, true)
	reg, _ := l.h.Store().Registration(ctx, "tel:+15550001")
	if reg.State != store.NotRegistered {
		t.Fatal("implicit set still registered after RTR")
	}
}

// An S-CSCF that is not in the allow-list is refused (DIAMETER_UNKNOWN_PEER).
func TestUnknownPeer(t *testing.T) {
	l := startHSS(t, nil)
	n, _ := peer.New(peer.Config{OriginHost: "rogue.test", OriginRealm: "test", Dict: diameter.Dictionary(),
		Apps: []peer.App{{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.Dial(ctx, "tcp", l.h.Addr().String()); err == nil || !strings.Contains(err.Error(), "3010") {
		t.Fatalf("rogue peer: %v", err)
	}
}
