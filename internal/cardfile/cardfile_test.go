package cardfile

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TS 35.208 test set 1 keys.
const (
	testK   = "465b5ce8b199b49faa5f0a2ee238a6bc"
	testOPc = "cd63cb71954a9f4e48a5994e37a02baf"
)

func TestProfileValidation(t *testing.T) {
	base, err := New(Options{ICCID: "8988211000000000011", IMSI: "001010000000001", K: testK, OPc: testOPc, ISIM: true, PCSCF: []string{"192.168.12.34"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(p *Card)
	}{
		{"short K", func(p *Card) { p.K = "00" }},
		{"K not hex", func(p *Card) { p.K = strings.Repeat("zz", 16) }},
		{"no OP nor OPc", func(p *Card) { p.OPc = "" }},
		{"both OP and OPc", func(p *Card) { p.OP = testOPc }},
		{"bad AMF", func(p *Card) { p.AMF = "80" }},
		{"bad IMSI", func(p *Card) { p.IMSI = "00101abc" }},
		{"bad MNC length", func(p *Card) { p.MNCLength = 4 }},
		{"bad PIN", func(p *Card) { p.PIN = "12" }},
		{"IMPU not a URI", func(p *Card) { p.ISIM.IMPUs = []string{"alice"} }},
		{"bad P-CSCF", func(p *Card) { p.ISIM.PCSCF = []string{"not an address"} }},
		{"SEQ array size", func(p *Card) { p.State.SEQ = []uint64{1} }},
	} {
		p := *base
		is := *base.ISIM
		p.ISIM = &is
		tc.mod(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// OP instead of OPc: OPc is derived (TS 35.208 set 1: OP cdc202d5...).
	p := *base
	p.OPc, p.OP = "", "cdc202d5123e20f62b6d676ac72cb318"
	_, opc, _, err := p.Keys()
	if err != nil || hex.EncodeToString(opc) != testOPc {
		t.Errorf("OPc from OP = %x, %v", opc, err)
	}
}
