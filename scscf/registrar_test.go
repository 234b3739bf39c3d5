package scscf

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/sipdigest"
)

func header(m sip.Message, name string) string {
	var v []string
	for _, h := range m.GetHeaders(name) {
		v = append(v, h.Value())
	}
	return strings.Join(v, ", ")
}

// IMS AKA registration (TS 24.229 §5.4.1.2, TS 33.203 §6.1): the 401
// carries a nonce the card accepts and CK/IK for the P-CSCF; the 200 the
// Service-Route, the implicit set and the contact.
func TestRegisterAKA(t *testing.T) {
	l := newLab(t)
	u := newUE(t, aliceIMPI, aliceIMPU, true)
	r401, r200 := l.register(u)
	t.Logf("401:\n%s", r401)
	t.Logf("200:\n%s", r200)

	ch, err := sipdigest.ParseChallenge(header(r401, "WWW-Authenticate"))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Algorithm != sipdigest.AKAv1MD5 || ch.Realm != domain || !slices.Equal(ch.QOP, []string{"auth"}) {
		t.Errorf("challenge %+v: want algorithm AKAv1-MD5, realm %s, qop auth", ch, domain)
	}
	rnd, autn, err := sipdigest.ParseAKANonce(ch.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	card, err := u.mil.VerifyAUTN(rnd, autn)
	if err != nil {
		t.Fatalf("the nonce is not a valid AKA challenge for the card: %v", err)
	}
	if !strings.EqualFold(ch.CK, hex.EncodeToString(card.CK)) || !strings.EqualFold(ch.IK, hex.EncodeToString(card.IK)) {
		t.Errorf("ck=%s ik=%s, the card derives %x and %x", ch.CK, ch.IK, card.CK, card.IK)
	}

	if r200.StatusCode != 200 {
		t.Fatalf("second REGISTER: %d %s", r200.StatusCode, r200.Reason)
	}
	if got, want := header(r200, "Service-Route"), "<sip:orig@"+l.sc.Addr().String()+";lr>"; got != want {
		t.Errorf("Service-Route %q, want %q", got, want)
	}
	if got, want := header(r200, "P-Associated-URI"), "<"+aliceIMPU+">, <"+aliceSIPn+">, <"+aliceTel+">"; got != want {
		t.Errorf("P-Associated-URI %q, want %q", got, want)
	}
	if got, want := header(r200, "Path"), "<sip:term@"+l.p.addr+";lr>"; got != want {
		t.Errorf("Path %q, want %q (RFC 3327 §5.3: echoed)", got, want)
	}
	contact := header(r200, "Contact")
	if !strings.Contains(contact, "+sip.instance=") || !strings.Contains(contact, ";expires=600000") {
		t.Errorf("Contact %q: want the +sip.instance and expires=600000", contact)
	}
	for _, id := range []string{aliceIMPU, aliceTel, aliceSIPn} {
		bs := l.sc.Bindings(id)
		if len(bs) != 1 || bs[0].IMPI != aliceIMPI || len(bs[0].Path) != 1 || bs[0].Instance == "" || bs[0].Source != l.p.addr {
			t.Errorf("Bindings(%s) = %+v", id, bs)
		}
	}
	if got := l.sc.AssociatedURIs(aliceTel); len(got) != 3 || got[0] != aliceIMPU {
		t.Errorf("AssociatedURIs = %v", got)
	}
	if !strings.Contains(l.logs.String(), "REGISTER accepted (200)") {
		t.Error("no log line of the accepted REGISTER")
	}
}

// SIP Digest for a softphone without SIM (TS 33.203 Annex N): the first
// REGISTER has no Authorization; the HSS gives H(A1).
func TestRegisterDigest(t *testing.T) {
	l := newLab(t)
	u := newUE(t, softIMPI, softIMPU, false)
	r401, r200 := l.register(u)
	ch, err := sipdigest.ParseChallenge(header(r401, "WWW-Authenticate"))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Algorithm != sipdigest.MD5 || ch.CK != "" || ch.IK != "" || ch.Realm != domain {
		t.Errorf("challenge %+v: want MD5 without ck/ik", ch)
	}
	if r200.StatusCode != 200 {
		t.Fatalf("REGISTER: %d %s", r200.StatusCode, r200.Reason)
	}
	if got := header(r200, "P-Associated-URI"); got != "<"+softIMPU+">" {
		t.Errorf("P-Associated-URI %q", got)
	}
	if len(l.sc.Bindings(softIMPU)) != 1 || l.sc.Bindings(aliceIMPU) != nil {
		t.Errorf("bindings: soft %v, SIM %v", l.sc.Bindings(softIMPU), l.sc.Bindings(aliceIMPU))
	}
	// A second softphone, over TCP.
	u3 := newUE(t, softIMPI, softIMPU, false)
	u3.tcp = true
	if _, r := l.register(u3); r.StatusCode != 200 || len(r.GetHeaders("Contact")) != 2 {
		t.Errorf("over TCP: %d with %d contacts, want 200 with both softphones", r.StatusCode, len(r.GetHeaders("Contact")))
	}
	if b := l.sc.Bindings(softIMPU); len(b) != 2 || b[1].Transport != "TCP" {
		t.Errorf("bindings %+v: want the second over TCP", b)
	}
	// A wrong password: 403.
	u2 := newUE(t, softIMPI, softIMPU, false)
	u2.password = "guess"
	if _, r := l.register(u2); r.StatusCode != 403 {
		t.Errorf("wrong password: %d, want 403", r.StatusCode)
	}
}

// A wrong RES (TS 24.229 §5.4.1.2.3): 403, nothing registered, the HSS told.
func TestRegisterWrongRES(t *testing.T) {
	l := newLab(t)
	u := newUE(t, aliceIMPI, aliceIMPU, true)
	u.badRES = true
	_, r := l.register(u)
	if r.StatusCode != 403 {
		t.Fatalf("wrong RES: %d %s, want 403", r.StatusCode, r.Reason)
	}
	if !strings.Contains(header(r, "Warning"), "wrong response") {
		t.Errorf("Warning %q does not say why", header(r, "Warning"))
	}
	if b := l.sc.Bindings(aliceIMPU); b != nil {
		t.Errorf("registered after a wrong RES: %v", b)
	}
	logs := l.logs.String()
	if !strings.Contains(logs, "REGISTER refused (403): wrong response") || !strings.Contains(logs, "SAR AUTHENTICATION_FAILURE") {
		t.Errorf("the logs do not tell the refusal and the SAR AUTHENTICATION_FAILURE")
	}
}

// A replayed Authorization (same nonce again) never registers: nonces are
// single-use (TS 24.229 §5.4.1.2.1).
func TestRegisterReplay(t *testing.T) {
	l := newLab(t)
	u := newUE(t, aliceIMPI, aliceIMPU, true)
	r401 := l.p.do(l.p.request(u, u.initialAuthz()))
	authz := u.answer(t, r401)
	if r := l.p.do(l.p.request(u, authz)); r.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", r.StatusCode)
	}
	// An attacker replays the REGISTER with its own contact.
	evil := *u
	evil.contact = "<sip:evil@192.0.2.66:5060>"
	r := l.p.do(l.p.request(&evil, authz))
	if r.StatusCode != 401 {
		t.Fatalf("replayed Authorization: %d %s, want 401 with a new challenge", r.StatusCode, r.Reason)
	}
	if ch, _ := sipdigest.ParseChallenge(header(r, "WWW-Authenticate")); ch == nil || strings.Contains(authz, ch.Nonce) {
		t.Error("the 401 does not carry a new nonce")
	}
	for _, b := range l.sc.Bindings(aliceIMPU) {
		if strings.Contains(b.URI, "evil") {
			t.Fatalf("the replay registered %s", b.URI)
		}
	}
	if !strings.Contains(l.logs.String(), "replayed Authorization") {
		t.Error("the log does not say the nonce was replayed")
	}
	// An Authorization for another IMPI's nonce does not register either.
	bob := newUE(t, bobIMPI, bobIMPU, true)
	b401 := l.p.do(l.p.request(bob, bob.initialAuthz()))
	stolen := u.answer(t, b401) // Alice answers the challenge issued to Bob
	if r := l.p.do(l.p.request(u, stolen)); r.StatusCode != 401 {
		t.Errorf("Alice answering Bob's nonce: %d, want 401", r.StatusCode)
	}
}

// Resynchronisation (TS 24.229 §5.4.1.2.3, TS 33.102 §6.3.5): a card ahead
// sends auts; the S-CSCF's MAR with RAND‖AUTS gets a vector the card accepts.
func TestRegisterResync(t *testing.T) {
	l := newLab(t)
	u := newUE(t, aliceIMPI, aliceIMPU, true)
	u.sqnMS = aka.MakeSQN(5000, 3)
	r1 := l.p.do(l.p.request(u, u.initialAuthz()))
	ch1, _ := sipdigest.ParseChallenge(header(r1, "WWW-Authenticate"))
	rnd, autn, _ := sipdigest.ParseAKANonce(ch1.Nonce)
	if c, err := u.mil.VerifyAUTN(rnd, autn); err != nil || aka.SEQ(c.SQN) >= aka.SEQ(u.sqnMS) {
		t.Fatalf("the first vector should be behind the card: %v", err)
	}
	u.auts = true
	r2 := l.p.do(l.p.request(u, u.answer(t, r1)))
	if r2.StatusCode != 401 {
		t.Fatalf("REGISTER with auts: %d %s, want a new 401", r2.StatusCode, r2.Reason)
	}
	ch2, _ := sipdigest.ParseChallenge(header(r2, "WWW-Authenticate"))
	rnd2, autn2, _ := sipdigest.ParseAKANonce(ch2.Nonce)
	c2, err := u.mil.VerifyAUTN(rnd2, autn2)
	if err != nil {
		t.Fatal(err)
	}
	if aka.SEQ(c2.SQN) <= aka.SEQ(u.sqnMS) {
		t.Fatalf("after resync the vector's %s is not ahead of the card's %s", aka.FormatSQN(c2.SQN), aka.FormatSQN(u.sqnMS))
	}
	u.auts = false
	if r3 := l.p.do(l.p.request(u, u.answer(t, r2))); r3.StatusCode != 200 {
		t.Fatalf("REGISTER after resync: %d %s", r3.StatusCode, r3.Reason)
	}
}

// Two devices of one user (two +sip.instance) are both bound and listed;
// a re-registration refreshes one; a de-registration removes it.
func TestRegisterTwoDevicesReRegisterDeregister(t *testing.T) {
	l := newLab(t)
	phone := newUE(t, aliceIMPI, aliceIMPU, true)
	tablet := newUE(t, aliceIMPI, aliceTel, true)
	l.mustRegister(phone)
	r := l.mustRegister(tablet)
	if n := len(r.GetHeaders("Contact")); n != 2 {
		t.Errorf("200 lists %d contacts, want both devices:\n%s", n, r)
	}
	t.Logf("200 OK with two contacts: %d bytes", len(r.String()))
	if n := len(l.sc.Bindings(aliceSIPn)); n != 2 {
		t.Fatalf("%d bindings, want 2", n)
	}
	before := l.sc.Bindings(aliceIMPU)
	phone.expires = 3600
	r = l.mustRegister(phone) // re-registration: challenged again (no IPsec: every REGISTER is)
	if !strings.Contains(header(r, "Contact"), "expires=3600") {
		t.Errorf("re-registration: contacts %q", header(r, "Contact"))
	}
	after := l.sc.Bindings(aliceIMPU)
	if len(after) != 2 || !after[0].Expires.Before(before[0].Expires) || after[0].Event != "shortened" || after[0].CSeq <= before[0].CSeq {
		t.Errorf("re-registration: before %+v, after %+v", before[0], after[0])
	}
	if !strings.Contains(l.logs.String(), "SAR RE_REGISTRATION") {
		t.Error("a re-registration is not a SAR RE_REGISTRATION")
	}
	tablet.expires = 0
	r = l.mustRegister(tablet)
	if n := len(r.GetHeaders("Contact")); n != 1 {
		t.Errorf("after the tablet's de-registration the 200 lists %d contacts, want 1", n)
	}
	phone.expires = 0
	r = l.mustRegister(phone)
	if n := len(r.GetHeaders("Contact")); n != 0 || l.sc.Bindings(aliceIMPU) != nil {
		t.Errorf("after de-registration: %d contacts in the 200, bindings %v", n, l.sc.Bindings(aliceIMPU))
	}
	if !strings.Contains(l.logs.String(), "SAR USER_DEREGISTRATION") {
		t.Error("the last de-registration did not SAR USER_DEREGISTRATION")
	}
}

// A nonce whose reg-await-auth ran out never registers: a new 401.
func TestRegisterStaleNonce(t *testing.T) {
	l := newLab(t, func(c *Config) { c.AuthTimeout = time.Nanosecond })
	u := newUE(t, aliceIMPI, aliceIMPU, true)
	r1 := l.p.do(l.p.request(u, u.initialAuthz()))
	r2 := l.p.do(l.p.request(u, u.answer(t, r1)))
	if r2.StatusCode != 401 || l.sc.Bindings(aliceIMPU) != nil {
		t.Fatalf("answer to an expired challenge: %d, want 401 and no binding", r2.StatusCode)
	}
	if logs := l.logs.String(); !strings.Contains(logs, "stale nonce") && !strings.Contains(logs, "reg-await-auth ran out") {
		t.Error("the log does not say the nonce was stale")
	}
}

// Contact: * with Expires: 0 removes the user's contacts (RFC 3261 §10.2.2).
func TestRegisterWildcard(t *testing.T) {
	l := newLab(t)
	u := newUE(t, aliceIMPI, aliceIMPU, true)
	l.mustRegister(u)
	u.contact, u.expires = "*", 0
	l.mustRegister(u)
	if b := l.sc.Bindings(aliceIMPU); b != nil {
		t.Errorf("after Contact: * the bindings are %v", b)
	}
	// Contact: * with a non-zero expiry is malformed.
	u.expires = 60
	if r := l.p.do(l.p.request(u, u.initialAuthz())); r.StatusCode != 400 {
		t.Errorf("Contact: * with Expires 60: %d, want 400", r.StatusCode)
	}
}

// Below MinExpires: 423 with Min-Expires (RFC 3261 §10.3 step 7).
func TestRegisterTooBrief(t *testing.T) {
	l := newLab(t, func(c *Config) { c.MinExpires = 60e9 })
	u := newUE(t, aliceIMPI, aliceIMPU, true)
	u.expires = 30
	r := l.p.do(l.p.request(u, u.initialAuthz()))
	if r.StatusCode != 423 || header(r, "Min-Expires") != "60" {
		t.Errorf("%d Min-Expires %q, want 423 and 60", r.StatusCode, header(r, "Min-Expires"))
	}
}

// An unknown user is refused by the HSS's UAR: 403, logged.
func TestRegisterUnknownUser(t *testing.T) {
	l := newLab(t)
	u := newUE(t, "999990000000009@"+domain, "sip:999990000000009@"+domain, true)
	r := l.p.do(l.p.request(u, u.initialAuthz()))
	if r.StatusCode != 403 || !strings.Contains(header(r, "Warning"), "unknown user") {
		t.Errorf("%d %q, want 403 unknown user", r.StatusCode, header(r, "Warning"))
	}
}

// Requests from a source that is not a trusted P-CSCF get 403 and a log line.
func TestUntrustedSource(t *testing.T) {
	l := newLab(t)
	rogue := startPCSCF(t, "127.0.0.2", l.sc.Addr().String())
	u := newUE(t, aliceIMPI, aliceIMPU, true)
	r := rogue.do(rogue.request(u, u.initialAuthz()))
	if r.StatusCode != 403 {
		t.Fatalf("REGISTER from 127.0.0.2: %d, want 403", r.StatusCode)
	}
	if !strings.Contains(l.logs.String(), "source 127.0.0.2:") || !strings.Contains(l.logs.String(), "is not a trusted P-CSCF") {
		t.Error("the refusal is not logged with its reason")
	}
	if bytes.Contains([]byte(l.logs.String()), []byte("MAR")) {
		t.Error("an untrusted request reached the HSS")
	}
}
