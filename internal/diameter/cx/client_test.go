package cx_test

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imslab/imslab/hss"
	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/cx"
	"github.com/imslab/imslab/internal/diameter/peer"
)

const domain = "ims.mnc001.mcc001.3gppnetwork.org"

// The client against the real HSS: UAR, MAR (AKA and Digest), SAR, LIR.
func TestClientAgainstHSS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := hss.New(hss.Config{DB: filepath.Join(t.TempDir(), "hss.db"), Listen: "127.0.0.1:0", APIListen: "-", AllowPeers: []string{"scscf.test"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	k, _ := hex.DecodeString("465b5ce8b199b49faa5f0a2ee238a6bc")
	opc, _ := hex.DecodeString("cd63cb71954a9f4e48a5994e37a02baf")
	impi, impu := "001010000000001@"+domain, "sip:001010000000001@"+domain
	if err := h.Store().Add(ctx, &store.Subscriber{IMSI: "001010000000001", K: k, OPc: opc, AMF: 0x8000, Domain: domain,
		Private: []store.PrivateID{{IMPI: impi, Scheme: store.SchemeAKA, IMPUs: []string{impu}},
			{IMPI: "bob@" + domain, Scheme: store.SchemeDigest, Password: "pw", IMPUs: []string{"sip:bob@" + domain}}},
		Public: []store.PublicID{{IMPU: impu, IRS: 1, Default: true}, {IMPU: "sip:bob@" + domain, IRS: 2}}}); err != nil {
		t.Fatal(err)
	}
	n, err := peer.New(peer.Config{OriginHost: "scscf.test", OriginRealm: domain, Dict: diameter.Dictionary(),
		Apps: []peer.App{{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP}}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := n.Dial(ctx, "tcp", h.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := cx.New(n, conn, domain)

	uaa, err := c.UAR(ctx, impi, impu, domain, cx.AuthRegistration)
	if err != nil || uaa.Code != diameter.ExpFirstRegistration || !uaa.Experimental {
		t.Fatalf("UAR: %+v %v", uaa, err)
	}
	maa, err := c.MAR(ctx, impi, impu, "sip:scscf.test", cx.SchemeAKAv1, 2, nil)
	if err != nil || !maa.OK() || len(maa.Items) != 2 {
		t.Fatalf("MAR: %+v %v", maa, err)
	}
	card, _ := aka.New(k, opc)
	for _, it := range maa.Items {
		ch, err := card.VerifyAUTN(it.RAND, it.AUTN)
		if err != nil || hex.EncodeToString(ch.RES) != hex.EncodeToString(it.XRES) || len(it.CK) != 16 || len(it.IK) != 16 {
			t.Fatalf("vector: %v", err)
		}
	}
	auts, _ := card.AUTS(maa.Items[0].RAND, aka.MakeSQN(100, 3))
	maa, err = c.MAR(ctx, impi, impu, "sip:scscf.test", cx.SchemeAKAv1, 1, append(append([]byte{}, maa.Items[0].RAND...), auts...))
	if err != nil || !maa.OK() {
		t.Fatalf("MAR resync: %+v %v", maa, err)
	}
	if ch, _ := card.VerifyAUTN(maa.Items[0].RAND, maa.Items[0].AUTN); aka.SEQ(ch.SQN) != 101 {
		t.Fatalf("after resync SEQ %d", aka.SEQ(ch.SQN))
	}
	dm, err := c.MAR(ctx, "bob@"+domain, "sip:bob@"+domain, "sip:scscf.test", cx.SchemeUnknown, 1, nil)
	if err != nil || !dm.OK() || dm.Items[0].Scheme != cx.SchemeDigest || dm.Items[0].Realm != domain || len(dm.Items[0].HA1) != 32 {
		t.Fatalf("MAR digest: %+v %v", dm, err)
	}
	saa, err := c.SAR(ctx, impi, impu, "sip:scscf.test", cx.AssignRegistration, false)
	if err != nil || !saa.OK() || saa.UserName != impi || !strings.Contains(saa.UserData, impu) {
		t.Fatalf("SAR: %+v %v", saa, err)
	}
	lia, err := c.LIR(ctx, impu)
	if err != nil || !lia.OK() || lia.ServerName != "sip:scscf.test" {
		t.Fatalf("LIR: %+v %v", lia, err)
	}
	if s := lia.Result.String(); !strings.Contains(s, "DIAMETER_SUCCESS") {
		t.Fatalf("Result.String %q", s)
	}
}
