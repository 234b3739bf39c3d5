package sim

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// EF_IMSI, TS 31.102 §4.2.2: length byte, digit 1 over the parity/type
// nibble (1001 odd, 0001 even), then swapped BCD.
func TestIMSI_TS31102(t *testing.T) {
	for _, tc := range []struct{ imsi, ef string }{
		{"001010000000001", "08 09 10 10 00 00 00 00 10"}, // as in a real Identity Response (PEERS.md)
		{"234150999999999", "08 29 43 51 90 99 99 99 99"},
		{"00101123456789", "08 01 10 10 21 43 65 87 F9"}, // 14 digits: even parity, filler
		{"310260", "04 31 01 62 F0 FF FF FF FF"},
	} {
		got, err := EncodeIMSI(tc.imsi)
		if err != nil {
			t.Fatalf("%s: %v", tc.imsi, err)
		}
		if want := unhex(t, tc.ef); !bytes.Equal(got, want) {
			t.Errorf("EncodeIMSI(%s) = % X, want % X", tc.imsi, got, want)
		}
		back, err := DecodeIMSI(got)
		if err != nil || back != tc.imsi {
			t.Errorf("DecodeIMSI(% X) = %q, %v", got, back, err)
		}
	}
	for _, bad := range []string{"08 01 10 10 00 00 00 00 10" /* even parity, odd digits */, "08 0A 10 10 00 00 00 00 10" /* type 2 */, "09 09 10 10 00 00 00 00 10", "08 09 1A 10 00 00 00 00 10"} {
		if _, err := DecodeIMSI(unhex(t, bad)); !errors.Is(err, ErrBadEF) {
			t.Errorf("DecodeIMSI(%s) err = %v, want ErrBadEF", bad, err)
		}
	}
}

// EF_ICCID, TS 102 221 §13.2: swapped BCD, 'F' filler.
func TestICCID_TS102221(t *testing.T) {
	for _, tc := range []struct{ iccid, ef string }{
		{"89860012345678901234", "98 68 00 21 43 65 87 09 21 43"},
		{"8988211000000000011", "98 88 12 01 00 00 00 00 10 F1"},
	} {
		got, err := EncodeICCID(tc.iccid)
		if err != nil || !bytes.Equal(got, unhex(t, tc.ef)) {
			t.Errorf("EncodeICCID(%s) = % X, %v", tc.iccid, got, err)
		}
		back, err := DecodeICCID(got)
		if err != nil || back != tc.iccid {
			t.Errorf("DecodeICCID = %q, %v", back, err)
		}
	}
	if _, err := DecodeICCID(unhex(t, "98 68 00 21 43 65 87 09 F1 43")); err == nil {
		t.Error("digits after the filler accepted")
	}
}

// EF_AD, TS 31.102 §4.2.18: MNC length in byte 4.
func TestAD_TS31102(t *testing.T) {
	b, _ := EncodeAD(3)
	if !bytes.Equal(b, unhex(t, "00 00 00 03")) {
		t.Errorf("EncodeAD(3) = % X", b)
	}
	if n, err := DecodeAD(unhex(t, "80 00 00 02 FF")); n != 2 || err != nil {
		t.Errorf("DecodeAD = %d, %v", n, err)
	}
	for _, bad := range []string{"00 00 00", "00 00 00 04"} {
		if _, err := DecodeAD(unhex(t, bad)); err == nil {
			t.Errorf("DecodeAD(%s) accepted", bad)
		}
	}
}

// EF_MSISDN, TS 31.102 §4.2.26 (EF_ADN layout, §4.4.2.3).
func TestMSISDN_TS31102(t *testing.T) {
	rec, err := EncodeMSISDN("", "+15550001")
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "FFFFFFFFFFFFFFFFFFFFFFFFFFFF 05 91 51 55 00 10 FFFFFFFFFFFF FF FF")
	if !bytes.Equal(rec, want) {
		t.Errorf("EncodeMSISDN = % X\nwant          % X", rec, want)
	}
	_, n, err := DecodeMSISDN(rec)
	if err != nil || n != "+15550001" {
		t.Errorf("DecodeMSISDN = %q, %v", n, err)
	}
	// A record with an alpha identifier "Me" and a national number.
	other := unhex(t, "4D65FFFF 05 81 10 32 54 F6 FFFFFFFFFFFF FF FF")
	a, n, err := DecodeMSISDN(other)
	if err != nil || a != "Me" || n != "0123456" {
		t.Errorf("DecodeMSISDN(other) = %q %q %v", a, n, err)
	}
	if _, n, err := DecodeMSISDN(bytes.Repeat([]byte{0xFF}, 28)); err != nil || n != "" {
		t.Errorf("empty record: %q %v", n, err)
	}
}

// EF_UST / EF_IST bit layout, TS 31.102 §4.2.8.
func TestServiceTable(t *testing.T) {
	b := EncodeServiceTable([]int{1, 21, 64}, 8)
	if !bytes.Equal(b, unhex(t, "01 00 10 00 00 00 00 80")) {
		t.Errorf("EncodeServiceTable = % X", b)
	}
	if got := DecodeServiceTable(b); !reflect.DeepEqual(got, []int{1, 21, 64}) {
		t.Errorf("DecodeServiceTable = %v", got)
	}
}

// ISIM files, TS 31.103 §4.2.2-4.2.4 and §4.2.8 (EF_PCSCF, with the spec's
// example of 192.168.12.34).
func TestISIMFiles_TS31103(t *testing.T) {
	impi, _ := EncodeIMPI("001010000000001@ims.mnc001.mcc001.3gppnetwork.org")
	if impi[0] != 0x80 || int(impi[1]) != len(impi)-2 {
		t.Errorf("EF_IMPI TLV = % X", impi[:2])
	}
	if v, err := DecodeIMPI(pad(impi, 128)); err != nil || v != "001010000000001@ims.mnc001.mcc001.3gppnetwork.org" {
		t.Errorf("DecodeIMPI = %q %v", v, err)
	}
	dom, _ := EncodeDomain("ims.example.org")
	if !bytes.Equal(dom, append([]byte{0x80, 15}, "ims.example.org"...)) {
		t.Errorf("EF_DOMAIN = % X", dom)
	}
	rec, _ := EncodeIMPU("tel:+15550001", 32)
	if len(rec) != 32 || rec[31] != 0xFF {
		t.Errorf("EF_IMPU record not padded: % X", rec)
	}
	if u, ok, err := DecodeIMPU(rec); !ok || err != nil || u != "tel:+15550001" {
		t.Errorf("DecodeIMPU = %q %v %v", u, ok, err)
	}
	if _, ok, err := DecodeIMPU(bytes.Repeat([]byte{0xFF}, 32)); ok || err != nil {
		t.Error("empty IMPU record not recognised")
	}

	for _, tc := range []struct{ addr, ef string }{
		{"192.168.12.34", "80 05 01 C0 A8 0C 22"},
		{"pcscf.ims.mnc001.mcc001.3gppnetwork.org", "80 28 00" + hex.EncodeToString([]byte("pcscf.ims.mnc001.mcc001.3gppnetwork.org"))},
		{"2001:db8::1", "80 11 02 20010DB8000000000000000000000001"},
	} {
		got, err := EncodePCSCF(tc.addr, 0)
		if err != nil || !bytes.Equal(got, unhex(t, tc.ef)) {
			t.Errorf("EncodePCSCF(%s) = % X, %v", tc.addr, got, err)
		}
		back, ok, err := DecodePCSCF(pad(got, 64))
		if err != nil || !ok || back != tc.addr {
			t.Errorf("DecodePCSCF = %q %v %v", back, ok, err)
		}
	}
	for _, bad := range []string{"80 05 01 C0 A8 0C", "80 04 01 C0 A8 0C", "80 05 07 C0 A8 0C 22", "81 05 01 C0 A8 0C 22"} {
		if _, _, err := DecodePCSCF(unhex(t, bad)); err == nil {
			t.Errorf("DecodePCSCF(%s) accepted", bad)
		}
	}
}

// EF_DIR, TS 102 221 §13.1.
func TestDIR_TS102221(t *testing.T) {
	rec, err := EncodeDIRRecord(Application{AID: AIDUSIM, Label: "USIM"}, 32)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "61 18 4F 10 A0000000871002FFFFFFFF8907090000 50 04 5553494D FFFFFFFFFFFF")
	if !bytes.Equal(rec, want) {
		t.Errorf("EF_DIR record = % X\nwant           % X", rec, want)
	}
	app, ok, err := DecodeDIRRecord(rec)
	if err != nil || !ok || !bytes.Equal(app.AID, AIDUSIM) || app.Label != "USIM" {
		t.Errorf("DecodeDIRRecord = %+v %v %v", app, ok, err)
	}
}
