package eps

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/nas/nassec"
)

func TestPLMN(t *testing.T) {
	for _, c := range []struct {
		p   PLMN
		hex string
	}{
		{PLMN{MCC: "001", MNC: "01"}, "00f110"},  // PEERS.md attach request
		{PLMN{MCC: "417", MNC: "99"}, "14f799"},  // open5gs attach accept
		{PLMN{MCC: "310", MNC: "410"}, "130014"}, // 3-digit MNC
		{PLMN{MCC: "208", MNC: "93"}, "02f839"},
	} {
		b, err := c.p.Bytes()
		if err != nil || string(b) != string(unhex(t, c.hex)) {
			t.Errorf("%v: %x %v, want %s", c.p, b, err, c.hex)
		}
		p, err := ParsePLMN(unhex(t, c.hex))
		if err != nil || p != c.p {
			t.Errorf("%s: %v %v", c.hex, p, err)
		}
	}
	for _, bad := range []PLMN{{MCC: "01", MNC: "01"}, {MCC: "001", MNC: "1"}, {MCC: "0a1", MNC: "01"}, {MCC: "001", MNC: "0123"}} {
		if _, err := bad.Bytes(); err == nil {
			t.Errorf("%v encoded", bad)
		}
	}
	for _, bad := range []string{"00f1", "0af110", "00f11f", "00a110"} {
		if p, err := ParsePLMN(unhex(t, bad)); err == nil {
			t.Errorf("%s decoded to %v", bad, p)
		}
	}
}

// TestTAIListTypes decodes the three partial list types of TS 24.301
// §9.9.3.33; type 00 is what Encode writes.
func TestTAIListTypes(t *testing.T) {
	p := PLMN{MCC: "001", MNC: "01"}
	q := PLMN{MCC: "417", MNC: "99"}
	for _, c := range []struct {
		hex  string
		want TAIList
	}{
		{"0200f110000100050009", TAIList{{p, 1}, {p, 5}, {p, 9}}},  // type 00, 3 TACs
		{"2200f1100010", TAIList{{p, 0x10}, {p, 0x11}, {p, 0x12}}}, // type 01, consecutive
		{"4100f110000114f7990002", TAIList{{p, 1}, {q, 2}}},        // type 10, two PLMNs
		{"0000f110000100" + "14f7990007", TAIList{{p, 1}, {q, 7}}}, // two partial lists
	} {
		l, err := decodeTAIList(unhex(t, c.hex))
		if err != nil || !reflect.DeepEqual(l, c.want) {
			t.Errorf("%s: %v %v, want %v", c.hex, l, err, c.want)
		}
	}
	for _, bad := range []string{"", "00", "0000f1100001ff", "6000f1100001", "2f00f110fff1", "1000f110" + "0001000200030004000500060007000800090010001100120013001400150016" + "0017"} {
		if l, err := decodeTAIList(unhex(t, bad)); err == nil {
			t.Errorf("%s decoded to %v", bad, l)
		}
	}
	b, err := TAIList{{p, 1}, {p, 5}, {q, 2}}.encode()
	if err != nil || string(b) != string(unhex(t, "0100f11000010005"+"0014f7990002")) {
		t.Errorf("encode: %x %v", b, err)
	}
}

func TestDigits(t *testing.T) {
	for _, c := range []struct {
		id  MobileIdentity
		hex string
	}{
		{MobileIdentity{Type: IdentityIMSI, Digits: "001010000000001"}, "0910100000000010"},
		{MobileIdentity{Type: IdentityIMEISV, Digits: "3534900698733101"}, "3335940096783301f1"},
		{MobileIdentity{Type: IdentityIMSI, Digits: "12"}, "11f2"},
		{MobileIdentity{Type: IdentityTMSI, TMSI: 0xc0000001}, "f4c0000001"},
	} {
		b, err := c.id.encode()
		if err != nil || string(b) != string(unhex(t, c.hex)) {
			t.Errorf("%v: %x %v, want %s", c.id, b, err, c.hex)
			continue
		}
		id, err := decodeMobileIdentity(b)
		if err != nil || id != c.id {
			t.Errorf("%v: %x decodes to %v %v", c.id, b, id, err)
		}
	}
	for _, bad := range []string{"01", "0910100000000a10", "0110", "f9", "05", "f40000"} {
		if id, err := decodeMobileIdentity(unhex(t, bad)); err == nil {
			t.Errorf("%s decoded to %v", bad, id)
		}
	}
	if _, err := (MobileIdentity{Type: IdentityIMSI, Digits: "0010100000000012"}).encode(); err == nil {
		t.Error("a 16-digit IMSI was encoded")
	}
}

func TestAPN(t *testing.T) {
	b, err := encodeAPN("ims")
	if err != nil || string(b) != "\x03ims" {
		t.Errorf("ims: %q %v", b, err)
	}
	for _, bad := range []string{"\x00", "\x04ims", "\x02i.", "\x03ims\x00"} {
		if s, err := decodeAPN([]byte(bad)); err == nil {
			t.Errorf("%q decoded to %q", bad, s)
		}
	}
}

// TestAPNAMBR checks the rate coding of TS 24.301 table 9.9.4.2.1.
func TestAPNAMBR(t *testing.T) {
	for _, c := range []struct {
		dl, ul uint32
		want   APNAMBR
		back   [2]uint32
	}{
		{0, 0, APNAMBR{0xFF, 0xFF}, [2]uint32{0, 0}},
		{63, 64, APNAMBR{63, 64}, [2]uint32{63, 64}},
		{568, 576, APNAMBR{127, 128}, [2]uint32{568, 576}},
		{8640, 1000, APNAMBR{0xFE, 134}, [2]uint32{8640, 960}},
		{16000, 8700, APNAMBR{0xFE, 0xFE, 74, 1}, [2]uint32{16000, 8700}},
		{100000, 50000, APNAMBR{0xFE, 0xFE, 158, 108}, [2]uint32{100000, 50000}},
		{256000, 1 << 30, APNAMBR{0xFE, 0xFE, 250, 250}, [2]uint32{256000, 256000}},
	} {
		a := NewAPNAMBR(c.dl, c.ul)
		if !reflect.DeepEqual(a, c.want) {
			t.Errorf("%d/%d kbps: %x, want %x", c.dl, c.ul, a, c.want)
		}
		if dl, ul := a.Kbps(); dl != c.back[0] || ul != c.back[1] {
			t.Errorf("%x: %d/%d kbps, want %v", a, dl, ul, c.back)
		}
	}
}

func TestGPRSTimer(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want GPRSTimer
		back time.Duration
	}{
		{0, GPRSTimerDeactivated, 0},
		{10 * time.Second, 0x05, 10 * time.Second},
		{12 * time.Minute, 0x2c, 12 * time.Minute},
		{54 * time.Minute, 0x49, 54 * time.Minute},
		{24 * time.Hour, 0x5f, 186 * time.Minute},
	} {
		g := NewGPRSTimer(c.d)
		if g != c.want {
			t.Errorf("%v: %#x, want %#x", c.d, g, c.want)
		}
		if d, ok := g.Duration(); d != c.back || ok != (c.d > 0) {
			t.Errorf("%#x: %v %v", g, d, ok)
		}
	}
}

func TestCapabilities(t *testing.T) {
	c := UENetworkCapability{EEA: 0xe0, EIA: 0x60, More: []byte{0xc0, 0xc0, 0x01}}
	if !c.SupportsEEA(nassec.EEA0) || !c.SupportsEEA(nassec.EEA2) || c.SupportsEEA(nassec.EEA3) || c.SupportsEEA(9) {
		t.Error("SupportsEEA")
	}
	if c.SupportsEIA(nassec.EIA0) || !c.SupportsEIA(nassec.EIA2) {
		t.Error("SupportsEIA")
	}
	r := c.Replayed()
	if !reflect.DeepEqual(r, UESecurityCapability{EEA: 0xe0, EIA: 0x60, More: []byte{0xc0, 0x40}}) {
		t.Errorf("replayed %+v (the UCS2 bit must go)", r)
	}
}

func TestPCO(t *testing.T) {
	var p PCO
	p.Add(PCOPCSCFIPv4, nil)
	if !p.Has(PCOPCSCFIPv4) || p.Has(PCODNSIPv4) {
		t.Error("Has")
	}
	p.Add(PCOPCSCFIPv4, []byte{10, 0, 0, 1})
	p.Add(PCOPCSCFIPv4, []byte{10, 0, 0, 2})
	got := p.IPv4(PCOPCSCFIPv4)
	if want := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}; !reflect.DeepEqual(got, want) {
		t.Errorf("IPv4 %v", got)
	}
	b, err := p.encode()
	if err != nil || string(b) != string(unhex(t, "80000c00"+"000c040a000001"+"000c040a000002")) {
		t.Errorf("%x %v", b, err)
	}
	for _, bad := range []string{"", "00", "80000c", "80000c0501"} {
		if _, err := decodePCO(unhex(t, bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

func TestPDNAddress(t *testing.T) {
	for _, a := range []PDNAddress{
		{Type: PDNTypeIPv4, IPv4: netip.MustParseAddr("10.45.0.2")},
		{Type: PDNTypeIPv6, IPv6IID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{Type: PDNTypeIPv4v6, IPv4: netip.MustParseAddr("10.45.0.2"), IPv6IID: [8]byte{7: 9}},
	} {
		b, err := a.encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodePDNAddress(b)
		if err != nil || back != a {
			t.Errorf("%+v: %x → %+v %v", a, b, back, err)
		}
	}
	for _, bad := range []string{"", "01", "010a00", "050a000001", "020a000001"} {
		if _, err := decodePDNAddress(unhex(t, bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}
