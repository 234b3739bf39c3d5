package aka

import (
	"bytes"
	"testing"
)

// KASME vectors (TS 33.401 Annex A.2) published with two open-source EPCs.
// TS 33.401 itself carries no KDF test data.
var kasmeVectors = []struct {
	source                       string
	ck, ik, plmn, sqn, ak, kasme string
}{
	{
		// open5gs tests/unit/security-test.c, security_test3.
		source: "open5gs security_test3",
		ck:     "b40ba9a3c58b2a05bbf0d987b21bf8cb", ik: "f769bcd751044604127672711c6d3441",
		plmn: "024830", sqn: "fd8eef40df7d", ak: "aa689c648370",
		kasme: "238e457e0f758badbca8d34bb2612c10428d426757cb5553b2b184fa64bfc549",
	},
	{
		// srsRAN_4G lib/test/common/test_security_kdf.cc, test_generate_k_asme
		// (MCC 001, MNC 01).
		source: "srsRAN test_generate_k_asme",
		ck:     "7bc15d69309cf3ec5d324404edd6f0f9", ik: "c15d69309cf3ec5d324404edd6f0f97b",
		plmn: "00f110", sqn: "0000000012d9", ak: "5d69309cf3ec",
		kasme: "d5ef4d8f33266902295d42f322a2f2cf11fb2ccc124c09b4d88d361597037990",
	},
}

func TestKASME(t *testing.T) {
	for _, v := range kasmeVectors {
		sqnAK := tsHex(t, v.sqn)
		xorInto(sqnAK, tsHex(t, v.ak))
		got, err := KASME(tsHex(t, v.ck), tsHex(t, v.ik), tsHex(t, v.plmn), sqnAK)
		if err != nil {
			t.Fatalf("%s: %v", v.source, err)
		}
		if want := tsHex(t, v.kasme); !bytes.Equal(got, want) {
			t.Errorf("%s: KASME %x, want %x", v.source, got, want)
		}
	}
}

func TestKASMERejectsBadLengths(t *testing.T) {
	k16, sn, sqn := make([]byte, 16), make([]byte, 3), make([]byte, 6)
	for _, c := range []struct {
		name                string
		ck, ik, snID, sqnAK []byte
	}{
		{"short CK", k16[:15], k16, sn, sqn},
		{"short IK", k16, k16[:8], sn, sqn},
		{"4-octet SN id", k16, k16, make([]byte, 4), sqn},
		{"short SQN⊕AK", k16, k16, sn, sqn[:5]},
	} {
		if _, err := KASME(c.ck, c.ik, c.snID, c.sqnAK); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// TestKDFKeNB checks the generic KDF (TS 33.220 B.2) with another FC: K_eNB,
// TS 33.401 A.3 (FC 0x11, P0 = uplink NAS COUNT), vector from srsRAN_4G
// lib/test/common/test_security_kdf.cc, test_generate_k_enb.
func TestKDFKeNB(t *testing.T) {
	kasme := tsHex(t, "6144c681d1bea9dae1b8cf6cd10a686341db8046a1e7a9ab4d1ea0e33c994ac0")
	got := KDF(kasme, FCKeNB, []byte{0, 0, 0, 0})
	if want := tsHex(t, "c4c7bc798ab94e3d354cd6608e79aa92f5569df46519507850051e36f018ca5f"); !bytes.Equal(got, want) {
		t.Errorf("K_eNB %x, want %x", got, want)
	}
}
