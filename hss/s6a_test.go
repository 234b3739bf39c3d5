package hss

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/diameter"
)

// PLMN 001/01 as Visited-PLMN-Id (TS 24.008 §10.5.1.13): 00 F1 10.
var plmn00101 = []byte{0x00, 0xF1, 0x10}

func (l *lab) air(t *testing.T, imsi string, n int, resync []byte) *diam.Message {
	t.Helper()
	info := []*diam.AVP{s6A("Number-Of-Requested-Vectors", datatype.Unsigned32(n)),
		s6A("Immediate-Response-Preferred", datatype.Unsigned32(1))}
	if resync != nil {
		info = append(info, s6A("Re-synchronization-Info", datatype.OctetString(resync)))
	}
	return l.do(t, l.s6a, req(l.s6N, diameter.AppS6a, diameter.CmdAI,
		s6A("User-Name", datatype.UTF8String(imsi)),
		s6A("Visited-PLMN-Id", datatype.OctetString(plmn00101)),
		s6A("Requested-EUTRAN-Authentication-Info", diameter.Group(info...))))
}

// AIR: E-UTRAN vectors that the card accepts, with the AMF separation bit,
// and K_ASME = KDF(CK‖IK, 0x10 ‖ SN id ‖ 00 03 ‖ SQN⊕AK ‖ 00 06)
// (TS 33.401 A.2, TS 33.220 B.2) computed here from the card's side.
func TestAIR(t *testing.T) {
	l := startHSS(t, nil)
	a := l.air(t, alice, 3, nil)
	wantResult(t, a, diameter.ResultSuccess, false)
	vecs := diameter.FindAll(a, "Authentication-Info")
	if len(vecs) != 1 {
		t.Fatalf("Authentication-Info: %v", a)
	}
	card, _ := aka.New(unhex(t, set1K), unhex(t, set1OPc))
	items := vecs[0].Data.(*diam.GroupedAVP).AVP
	if len(items) != 3 {
		t.Fatalf("%d vectors, want 3", len(items))
	}
	lastSEQ := uint64(0)
	for _, it := range items {
		get := func(name string) []byte { return diameter.Bytes(diameter.Member(it, diameter.AppS6a, name)) }
		rnd, autn, xres, k := get("RAND"), get("AUTN"), get("XRES"), get("KASME")
		ch, err := card.VerifyAUTN(rnd, autn)
		if err != nil {
			t.Fatal(err)
		}
		if ch.AMF&0x8000 == 0 {
			t.Fatalf("AMF %04x without the separation bit", ch.AMF)
		}
		if !bytes.Equal(ch.RES, xres) {
			t.Fatal("XRES is not the card's RES")
		}
		mac := hmac.New(sha256.New, append(append([]byte{}, ch.CK...), ch.IK...))
		mac.Write([]byte{0x10, 0x00, 0xF1, 0x10, 0x00, 0x03})
		mac.Write(autn[:6])
		mac.Write([]byte{0x00, 0x06})
		if !bytes.Equal(mac.Sum(nil), k) {
			t.Fatal("KASME is not KDF(CK‖IK, S) of TS 33.401 A.2")
		}
		if aka.SEQ(ch.SQN) <= lastSEQ {
			t.Fatal("SEQ not increasing across vectors")
		}
		lastSEQ = aka.SEQ(ch.SQN)
	}
	// One subscriber, one SQN: a MAR after the AIR continues the sequence.
	m := l.mar(t, alice+"@"+domain, "sip:"+alice+"@"+domain, schemeAKA, 1, nil)
	v := diameter.Bytes(diameter.Find(m, "SIP-Auth-Data-Item", "SIP-Authenticate"))
	if ch, _ := card.VerifyAUTN(v[:16], v[16:]); aka.SEQ(ch.SQN) != lastSEQ+1 {
		t.Fatalf("Cx vector SEQ %d after S6a's %d", aka.SEQ(ch.SQN), lastSEQ)
	}

	wantResult(t, l.air(t, "001019999999999", 1, nil), diameter.ExpUserUnknown, true)

	// Resync over S6a.
	rnd := bytes.Repeat([]byte{7}, 16)
	auts, _ := card.AUTS(rnd, aka.MakeSQN(5000, 1))
	a = l.air(t, alice, 1, append(rnd, auts...))
	wantResult(t, a, diameter.ResultSuccess, false)
	it := diameter.FindAll(a, "Authentication-Info")[0].Data.(*diam.GroupedAVP).AVP[0]
	ch, err := card.VerifyAUTN(diameter.Bytes(diameter.Member(it, diameter.AppS6a, "RAND")), diameter.Bytes(diameter.Member(it, diameter.AppS6a, "AUTN")))
	if err != nil || aka.SEQ(ch.SQN) != 5001 {
		t.Fatalf("after S6a resync: %v %v", ch, err)
	}
	auts[0] ^= 0xFF
	wantResult(t, l.air(t, alice, 1, append(rnd, auts...)), diameter.ExpAuthenticationDataUnavailable, true)
}

func TestULRAndPUR(t *testing.T) {
	l := startHSS(t, nil)
	ctx := context.Background()
	a := l.do(t, l.s6a, req(l.s6N, diameter.AppS6a, diameter.CmdUL,
		s6A("User-Name", datatype.UTF8String(alice)),
		s6A("RAT-Type", datatype.Enumerated(1004)), // EUTRAN
		s6A("ULR-Flags", datatype.Unsigned32(0x22)),
		s6A("Visited-PLMN-Id", datatype.OctetString(plmn00101))))
	wantResult(t, a, diameter.ResultSuccess, false)
	if got := diameter.String(diameter.Find(a, "Subscription-Data", "APN-Configuration-Profile", "APN-Configuration", "Service-Selection")); got != "ims" {
		t.Fatalf("APN %q", got)
	}
	if got := diameter.Bytes(diameter.Find(a, "Subscription-Data", "MSISDN")); !bytes.Equal(got, []byte{0x51, 0x55, 0x00, 0x10}) {
		t.Fatalf("MSISDN %x, want TBCD of 15550001", got)
	}
	if host, _, _ := l.h.Store().MME(ctx, alice); host != "mme.test" {
		t.Fatalf("serving MME %q", host)
	}
	wantResult(t, l.do(t, l.s6a, req(l.s6N, diameter.AppS6a, diameter.CmdPU, s6A("User-Name", datatype.UTF8String(alice)))), diameter.ResultSuccess, false)
	if host, _, _ := l.h.Store().MME(ctx, alice); host != "" {
		t.Fatalf("MME still stored after PUR: %q", host)
	}
	wantResult(t, l.do(t, l.s6a, req(l.s6N, diameter.AppS6a, diameter.CmdUL,
		s6A("User-Name", datatype.UTF8String("001019999999999")),
		s6A("RAT-Type", datatype.Enumerated(1004)),
		s6A("ULR-Flags", datatype.Unsigned32(0x22)),
		s6A("Visited-PLMN-Id", datatype.OctetString(plmn00101)))), diameter.ExpUserUnknown, true)
}
