package uplane

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// TestDecode reads GTP-U messages of TS 29.281 §5.1 and §7.
func TestDecode(t *testing.T) {
	ip := []byte{0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 127, 0, 100, 2, 127, 0, 0, 1, 0x13, 0xc4, 0x13, 0xc6, 0, 8, 0, 0}
	g := TPDU(0x01020304, ip)
	if want := []byte{0x30, 0xff, 0, 28, 1, 2, 3, 4}; !bytes.Equal(g[:8], want) {
		t.Errorf("G-PDU header % x, want % x", g[:8], want)
	}
	d, err := Decode(g)
	if err != nil || d.Type != MsgTPDU || d.TEID != 0x01020304 || !bytes.Equal(d.Payload, ip) {
		t.Fatalf("G-PDU: %+v %v", d, err)
	}
	if s := Summarize(g); s != "T-PDU UDP 5060>5062" {
		t.Errorf("summary %q", s)
	}
	// With sequence number and a PDU Session Container extension header
	// (type 0x85, TS 38.415), as 5G nodes send.
	ext := append([]byte{0x36, 0xff, 0, byte(8 + len(ip)), 0, 0, 0, 9, 0, 7, 0, 0x85, 1, 0x10, 0x01, 0}, ip...)
	if d, err := Decode(ext); err != nil || !d.HasSeq || d.Seq != 7 || d.TEID != 9 || !bytes.Equal(d.Payload, ip) {
		t.Errorf("with extension header: %+v %v", d, err)
	}
	ei := ErrorIndication(0xabc, netip.MustParseAddr("127.0.0.1"))
	if d, err := Decode(ei); err != nil || d.Type != MsgErrorIndication || d.ErrorTEID != 0xabc || d.ErrorPeer != netip.MustParseAddr("127.0.0.1") || d.TEID != 0 {
		t.Errorf("Error Indication: %+v %v", d, err)
	}
	if d, err := Decode(EchoResponse(5)); err != nil || d.Type != MsgEchoResponse || d.Seq != 5 {
		t.Errorf("Echo Response: %+v %v", d, err)
	}
	for _, bad := range [][]byte{nil, g[:7], {0x48, 0x01, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0}, {0x20, 0xff, 0, 0, 0, 0, 0, 1}, g[:20]} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("% x decoded", bad)
		}
	}
	if _, err := Decode([]byte{0x48, 0x20, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0}); !errors.Is(err, ErrNotGTPU) {
		t.Errorf("GTPv2-C decoded as GTP-U: %v", err)
	}
}

// FuzzDecode: no input panics; a decoded G-PDU re-encodes to one with the
// same TEID and T-PDU.
func FuzzDecode(f *testing.F) {
	ip := []byte{0x45, 0, 0, 20, 0, 1, 0, 0, 64, 6, 0, 0, 127, 0, 100, 2, 127, 0, 0, 1}
	f.Add(TPDU(1, ip))
	f.Add(EchoRequest(1))
	f.Add(ErrorIndication(7, netip.MustParseAddr("127.0.0.1")))
	f.Add(append([]byte{0x34, 0xff, 0, byte(8 + len(ip)), 0, 0, 0, 9, 0, 0, 0, 0x85, 1, 0x10, 0x01, 0}, ip...))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		_ = Summarize(b)
		if err != nil || d.Type != MsgTPDU {
			return
		}
		e, err := Decode(TPDU(d.TEID, d.Payload))
		if err != nil || e.TEID != d.TEID || !bytes.Equal(e.Payload, d.Payload) {
			t.Fatalf("re-encoded G-PDU: %+v %v", e, err)
		}
	})
}
