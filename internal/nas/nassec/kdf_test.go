package nassec

import (
	"encoding/hex"
	"testing"
)

// TestNASKeys checks TS 33.401 A.7 against srsRAN_4G
// lib/test/common/test_security_kdf.cc, test_generate_k_nas: from its
// K_ASME, K_NASint for 128-EIA1 (srsRAN prints the whole 256-bit KDF output;
// the key is its last 128 bits). The 128-EIA2 key is checked end to end
// against a real Security mode command in the eps package's tests.
func TestNASKeys(t *testing.T) {
	kasme := unhex(t, "d5ef4d8f33266902295d42f322a2f2cf11fb2ccc124c09b4d88d361597037990")
	_, kInt, err := NASKeys(kasme, EEA0, EIA1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(kInt), "b79408e243dd367dc8c6392295b3b451"; got != want {
		t.Errorf("K_NASint %s, want %s", got, want)
	}
	if _, _, err := NASKeys(kasme[:16], EEA2, EIA2); err == nil {
		t.Error("a 128-bit K_ASME was accepted")
	}
}
