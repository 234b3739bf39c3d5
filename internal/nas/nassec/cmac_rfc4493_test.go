package nassec

import (
	"crypto/aes"
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes hex test data; spaces are ignored.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// RFC 4493 §4 test vectors (AES-128, K = 2b7e1516...): the subkeys and the
// four examples, the messages being prefixes of the same 64 octets.
const (
	rfc4493Key = "2b7e1516 28aed2a6 abf71588 09cf4f3c"
	rfc4493Msg = "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51" +
		"30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710"
)

func TestRFC4493Subkeys(t *testing.T) {
	block, err := aes.NewCipher(unhex(t, rfc4493Key))
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := subkeys(block)
	if got, want := hex.EncodeToString(k1[:]), "fbeed618357133667c85e08f7236a8de"; got != want {
		t.Errorf("K1 %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(k2[:]), "f7ddac306ae266ccf90bc11ee46d513b"; got != want {
		t.Errorf("K2 %s, want %s", got, want)
	}
}

func TestRFC4493Examples(t *testing.T) {
	msg := unhex(t, rfc4493Msg)
	for _, ex := range []struct {
		n, length int
		mac       string
	}{
		{1, 0, "bb1d6929e95937287fa37d129b756746"},
		{2, 16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{3, 40, "dfa66747de9ae63030ca32611497c827"},
		{4, 64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		got, err := CMAC(unhex(t, rfc4493Key), msg[:ex.length])
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got[:]) != ex.mac {
			t.Errorf("RFC 4493 example %d (len %d): %x, want %s", ex.n, ex.length, got, ex.mac)
		}
	}
}

func TestCMACRejectsKeyLength(t *testing.T) {
	if _, err := CMAC(make([]byte, 24), nil); err == nil {
		t.Error("a 192-bit key was accepted")
	}
}
