package srtpcost

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"testing"
)

// RFC 3711 Appendix B.2: the AES-CM keystream for session key
// 2B7E1516..., salt F0F1...FCFD, SSRC 0, index 0 — the raw floor's IV is
// built as §4.1.1 says.
func TestRawAESCMKeystreamRFC3711B2(t *testing.T) {
	key, _ := hex.DecodeString("2B7E151628AED2A6ABF7158809CF4F3C")
	salt, _ := hex.DecodeString("F0F1F2F3F4F5F6F7F8F9FAFBFCFD")
	want, _ := hex.DecodeString("E03EAD0935C95E80E166B16DD92B4EB4" +
		"D23513162B02D0F72A43A2FE4A5F97AB" + "41E95B3BB0A2E8DD477901E4FCA894C0")
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawCM{block: block}
	copy(r.salt[:], salt)
	iv := r.iv(0, 0)
	got := make([]byte, len(want))
	cipher.NewCTR(block, iv[:]).XORKeyStream(got, got)
	if !bytes.Equal(got, want) {
		t.Errorf("keystream\n got %X\nwant %X", got, want)
	}
	// SSRC and index land in octets 4..7 and 8..13 of the IV.
	iv = r.iv(0x01020304, 0x0000aabbccddeeff)
	if got, want := hex.EncodeToString(iv[4:14]), "f5f7f5f3"+"524236261202"; got != want {
		t.Errorf("IV octets 4..13 = %s, want %s", got, want)
	}
}

// The raw floor does the whole transform: what it protects it unprotects,
// and a flipped bit fails the tag.
func TestRawAESCMRoundTrip(t *testing.T) {
	r, err := newRawCM()
	if err != nil {
		t.Fatal(err)
	}
	pkt := rtpPacket(42)
	wire := r.protect(nil, pkt, 3)
	if len(wire) != HeaderLen+PayloadLen+tagLen {
		t.Fatalf("SRTP packet of %d bytes, want %d", len(wire), HeaderLen+PayloadLen+tagLen)
	}
	if bytes.Equal(wire[HeaderLen:HeaderLen+PayloadLen], pkt[HeaderLen:]) {
		t.Fatal("payload not encrypted")
	}
	plain, ok := r.unprotect(nil, wire, 3)
	if !ok || !bytes.Equal(plain, pkt) {
		t.Fatalf("round trip: ok=%v, %X", ok, plain)
	}
	if _, ok := r.unprotect(nil, wire, 4); ok {
		t.Error("a wrong ROC passed the tag check (RFC 3711 §4.2: the ROC is authenticated)")
	}
	wire[20] ^= 1
	if _, ok := r.unprotect(nil, wire, 3); ok {
		t.Error("a flipped payload bit passed the tag check")
	}
}

// The GCM floor seals what it opens, with the RFC 7714 §8.1 IV.
func TestRawAESGCMRoundTrip(t *testing.T) {
	r, err := newRawGCM()
	if err != nil {
		t.Fatal(err)
	}
	pkt := rtpPacket(9)
	wire := r.aead.Seal(append([]byte(nil), pkt[:HeaderLen]...), r.nonce(pkt, 1), pkt[HeaderLen:], pkt[:HeaderLen])
	if len(wire) != HeaderLen+PayloadLen+16 {
		t.Fatalf("%d bytes, want %d (RFC 7714 §7.2: 16-octet tag)", len(wire), HeaderLen+PayloadLen+16)
	}
	plain, err := r.aead.Open(append([]byte(nil), wire[:HeaderLen]...), r.nonce(wire, 1), wire[HeaderLen:], wire[:HeaderLen])
	if err != nil || !bytes.Equal(plain, pkt) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := r.aead.Open(nil, r.nonce(wire, 2), wire[HeaderLen:], wire[:HeaderLen]); err == nil {
		t.Error("a wrong ROC opened (RFC 7714 §8.1: the ROC is in the IV)")
	}
}
