package sim

import (
	"context"
	"testing"
)

// FuzzSoftCardAPDU sends arbitrary byte strings, split into APDUs at 0xFE
// 0xFE, to cards with and without ISIM and PIN: every answer must end in a
// status word, and nothing may panic.
func FuzzSoftCardAPDU(f *testing.F) {
	for _, s := range []string{
		"00A40004023F00", "00A4040407A0000000871002", "00B0000009", "00B2010400", "80F2000000",
		"0020000108313233340000FFFF", "00C0000010", "00A40804047FFF6F07", "00B0870009",
		"0088008122" + "10" + "00112233445566778899AABBCCDDEEFF" + "10" + "00112233445566778899AABBCCDDEEFF",
	} {
		f.Add(unhex(f, s))
	}
	f.Add(unhex(f, "00A4040407A0000000871004FEFE00A40004026F04FEFE00B2010440"))
	cards := []*SoftCard{newCard(f, true, ""), newCard(f, false, "1234")}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, c := range cards {
			c.Reset()
			for _, apdu := range splitFE(in) {
				resp, err := c.Transmit(context.Background(), apdu)
				if err != nil || len(resp) < 2 {
					t.Fatalf("Transmit(% X) = % X, %v", apdu, resp, err)
				}
			}
		}
	})
}

func splitFE(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i+1 < len(b); i++ {
		if b[i] == 0xFE && b[i+1] == 0xFE {
			out = append(out, b[start:i])
			start = i + 2
			i++
		}
	}
	return append(out, b[start:])
}

// FuzzEFDecoders feeds card bytes to every EF decoder and to the FCP and
// AUTHENTICATE response parsers: errors are fine, panics are not, and what
// decodes must encode back to an equal value.
func FuzzEFDecoders(f *testing.F) {
	for _, s := range []string{
		"080910100000000010", "98680021436587092143", "00000002", "FFFF05915155001FFFFFFFFFFFFFFFFF",
		"800501C0A80C22", "8011022001", "61184F10A0000000871002FFFFFFFF8907090000500455534D",
		"621A8202782183023F00A503800171", "DB0811111111111111111022", "DC0E",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := DecodeIMSI(b); err == nil {
			if e, err := EncodeIMSI(v); err != nil {
				t.Fatalf("IMSI %q decoded but does not encode: %v", v, err)
			} else if back, _ := DecodeIMSI(e); back != v {
				t.Fatalf("IMSI round trip %q -> %q", v, back)
			}
		}
		if v, err := DecodeICCID(b); err == nil && len(v) >= 18 {
			if e, err := EncodeICCID(v); err != nil {
				t.Fatalf("ICCID %q decoded but does not encode: %v", v, err)
			} else if back, _ := DecodeICCID(e); back != v {
				t.Fatalf("ICCID round trip %q -> %q", v, back)
			}
		}
		_, _ = DecodeAD(b)
		_, _, _ = DecodeMSISDN(b)
		_ = DecodeServiceTable(b)
		_, _ = DecodeIMPI(b)
		_, _ = DecodeDomain(b)
		_, _, _ = DecodeIMPU(b)
		if a, ok, err := DecodePCSCF(b); err == nil && ok && b[2] != PCSCFTypeFQDN {
			if _, err := EncodePCSCF(a, 0); err != nil {
				t.Fatalf("P-CSCF %q decoded but does not encode: %v", a, err)
			}
		}
		_, _, _ = DecodeDIRRecord(b)
		_, _ = ParseFCP(b)
		_, _ = ParseAuthResponse(b)
		_, _ = ParseCommand(b)
		_ = DescribeCommand(b)
	})
}
