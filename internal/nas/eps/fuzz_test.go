package eps

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/imslab/imslab/internal/nas/nassec"
)

// seeds is the fuzz seed corpus: the real PDUs of the vector tests and
// every sample message encoded.
func seeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, v := range plainVectors {
		out = append(out, unhex(f, v.hex))
	}
	for _, h := range []string{
		"0741020bf600f110000201030003e605f07000001000050215d011d15200f11030395c0a003103e5e0349011035758a65d0100e0c1",
		"07417108999910480000464407f070000018008000330265d011272d808021100100001081060000000083060000000000" +
			"0d00000a00000500001000001100001a01010023000024005c0a005d0106c1",
		"075d220004f0700000c1",
		"0742013e060000f1100001002a5201c101041b0774657374313233066d6e63303031066d636330303104677072730501c0a80502270180500bf600f11080010135166dbc640100",
	} {
		out = append(out, unhex(f, h))
	}
	for _, s := range samples() {
		b, err := s.msg.Encode()
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkReencode asserts that a decoded message encodes, and that its
// encoding decodes to the same value and encodes to the same octets.
func checkReencode(t *testing.T, m Message, decode func([]byte) (Message, error)) {
	out, err := m.Encode()
	if err != nil {
		t.Fatalf("%v decodes but does not encode: %v\n%#v", m, err, m)
	}
	m2, err := decode(out)
	if err != nil {
		t.Fatalf("the encoding %x of %v does not decode: %v", out, m, err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("%x decodes to\n%#v\nnot\n%#v", out, m2, m)
	}
	if again, err := m2.Encode(); err != nil || !bytes.Equal(again, out) {
		t.Fatalf("unstable encoding: %x then %x (%v)", out, again, err)
	}
}

func FuzzDecodeEMM(f *testing.F) {
	for _, s := range seeds(f) {
		if ProtocolDiscriminator(s[0]&0xF) == PDEMM {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeEMM(b)
		if err != nil {
			return
		}
		checkReencode(t, m, DecodeEMM)
	})
}

func FuzzDecodeESM(f *testing.F) {
	for _, s := range seeds(f) {
		if ProtocolDiscriminator(s[0]&0xF) == PDESM {
			f.Add(s)
		}
	}
	f.Add(unhex(f, "5201c101090908696e7465726e657405010ae1000a271b80802110020200108106c0a8a8018306c0a8a801000d04c0a8a801"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeESM(b)
		if err != nil {
			return
		}
		checkReencode(t, m, func(b []byte) (Message, error) { return DecodeESM(b) })
	})
}

// FuzzUnprotect runs Unprotect with two contexts: 128-EEA2/128-EIA2 (a
// message that verifies must be the one Protect builds) and
// 128-EEA2/EIA0, whose MAC is not checked, so that mutated messages reach
// the deciphering and the decoder.
func FuzzUnprotect(f *testing.F) {
	strong := &SecurityContext{EEA: nassec.EEA2, EIA: nassec.EIA2, KNASenc: bytes.Repeat([]byte{1}, 16), KNASint: bytes.Repeat([]byte{2}, 16)}
	weak := &SecurityContext{EEA: nassec.EEA2, EIA: nassec.EIA0, KNASenc: strong.KNASenc, KNASint: strong.KNASint}
	for i, s := range seeds(f) {
		for _, c := range []*SecurityContext{strong, weak} {
			typ := SecurityHeaderType(1 + i%4)
			pdu, err := c.Protect(s, typ, uint32(i*37), nassec.Direction(i%2))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(pdu, uint32(i*37), i%2 == 1)
		}
	}
	f.Add(unhex(f, "374efd571100075d020102f070c1"), uint32(0), true) // srsRAN sec_mode_command_pdu
	f.Fuzz(func(t *testing.T, pdu []byte, expected uint32, down bool) {
		dir := nassec.Uplink
		if down {
			dir = nassec.Downlink
		}
		for _, c := range []*SecurityContext{strong, weak} {
			u, err := c.Unprotect(pdu, dir, expected)
			if err != nil {
				continue
			}
			again, err := c.Protect(u.Plain, u.Header.Type, u.Count, dir)
			if err != nil {
				t.Fatalf("Unprotect gave %+v, which Protect refuses: %v", u, err)
			}
			want := bytes.Clone(pdu)
			if c.EIA == nassec.EIA0 {
				copy(want[1:5], []byte{0, 0, 0, 0})
			}
			if !bytes.Equal(again, want) {
				t.Fatalf("Protect(Unprotect(%x)) = %x", pdu, again)
			}
			if m, err := Decode(u.Plain); err == nil {
				checkReencode(t, m, Decode)
			}
		}
	})
}
