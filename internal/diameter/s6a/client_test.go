package s6a_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/imslab/imslab/hss"
	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
	"github.com/imslab/imslab/internal/diameter/s6a"
)

const mmeHost = "mme.epc.mnc001.mcc001.3gppnetwork.org"

// The MME's client against the real HSS: AIR (with a resynchronisation),
// ULR and PUR, with TS 35.208 test set 1 keys.
func TestClientAgainstHSS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := hss.New(hss.Config{DB: filepath.Join(t.TempDir(), "hss.db"), Listen: "127.0.0.1:0", APIListen: "-"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	k, _ := hex.DecodeString("465b5ce8b199b49faa5f0a2ee238a6bc")
	opc, _ := hex.DecodeString("cd63cb71954a9f4e48a5994e37a02baf")
	const imsi = "001010000000001"
	sub := &store.Subscriber{IMSI: imsi, MSISDN: "+15550001", K: k, OPc: opc, AMF: 0x8000, Domain: "ims.mnc001.mcc001.3gppnetwork.org"}
	if err := sub.DeriveIdentities(2); err != nil {
		t.Fatal(err)
	}
	if err := h.Store().Add(ctx, sub); err != nil {
		t.Fatal(err)
	}
	n, err := peer.New(peer.Config{OriginHost: mmeHost, OriginRealm: "epc.mnc001.mcc001.3gppnetwork.org", Dict: diameter.Dictionary(),
		Apps: []peer.App{{ID: diameter.AppS6a, Vendor: diameter.Vendor3GPP}}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := n.Dial(ctx, "tcp", h.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := s6a.New(n, conn, "ims.mnc001.mcc001.3gppnetwork.org")
	plmn := []byte{0x00, 0xf1, 0x10} // 001/01, TS 24.008 §10.5.1.13

	aia, err := c.AIR(ctx, imsi, plmn, 1, nil)
	if err != nil || !aia.OK() || len(aia.Vectors) != 1 {
		t.Fatalf("AIR: %+v %v", aia, err)
	}
	card, _ := aka.New(k, opc)
	v := aia.Vectors[0]
	ch, err := card.VerifyAUTN(v.RAND, v.AUTN)
	if err != nil || !bytes.Equal(ch.RES, v.XRES) || len(v.KASME) != 32 {
		t.Fatalf("vector: RES %x XRES %x KASME %d bytes, %v", ch.RES, v.XRES, len(v.KASME), err)
	}
	if v.AUTN[6]&0x80 == 0 {
		t.Errorf("AMF %x lacks the separation bit (TS 33.401 §6.1.1)", v.AUTN[6:8])
	}
	auts, _ := card.AUTS(v.RAND, aka.MakeSQN(300, 2))
	aia, err = c.AIR(ctx, imsi, plmn, 1, append(append([]byte{}, v.RAND...), auts...))
	if err != nil || !aia.OK() {
		t.Fatalf("AIR with resync: %+v %v", aia, err)
	}
	if ch, err := card.VerifyAUTN(aia.Vectors[0].RAND, aia.Vectors[0].AUTN); err != nil || aka.SEQ(ch.SQN) != 301 {
		t.Fatalf("after resync: %v SEQ %d", err, aka.SEQ(ch.SQN))
	}
	if aia, err := c.AIR(ctx, "001019999999999", plmn, 1, nil); err != nil || aia.Code != diameter.ExpUserUnknown || !aia.Experimental {
		t.Errorf("AIR unknown IMSI: %+v %v", aia, err)
	}

	ula, err := c.ULR(ctx, imsi, plmn)
	if err != nil || !ula.OK() || ula.MSISDN != "15550001" || len(ula.APNs) != 1 || ula.APNs[0] != "ims" {
		t.Fatalf("ULR: %+v %v", ula, err)
	}
	if host, _, err := h.Store().MME(ctx, imsi); err != nil || host != mmeHost {
		t.Errorf("the HSS records MME %q (%v)", host, err)
	}
	if r, err := c.PUR(ctx, imsi); err != nil || !r.OK() {
		t.Fatalf("PUR: %v %v", r, err)
	}
	if host, _, _ := h.Store().MME(ctx, imsi); host != "" {
		t.Errorf("after PUR the HSS still records MME %q", host)
	}
}
