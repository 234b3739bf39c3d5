package aka

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// FC values of the EPS key derivations, TS 33.401 Annex A (A.1: 0x10..0x1F
// are EPS; the 5GS ones of TS 33.501 Annex A start at 0x69).
const (
	FCKASME  = 0x10 // K_ASME from CK, IK, TS 33.401 A.2
	FCKeNB   = 0x11 // K_eNB from K_ASME and the uplink NAS COUNT, A.3
	FCAlgKey = 0x15 // NAS/RRC/UP algorithm keys from K_ASME or K_eNB, A.7
)

// KDF is the generic key derivation function of TS 33.220 Annex B.2.0:
// HMAC-SHA-256(key, S) with S = FC ‖ P0 ‖ L0 ‖ P1 ‖ L1 ‖ ..., each Li the
// length of Pi in two octets (B.2.1.1). It returns the 256-bit output.
func KDF(key []byte, fc byte, params ...[]byte) []byte {
	s := []byte{fc}
	for _, p := range params {
		s = append(s, p...)
		s = append(s, byte(len(p)>>8), byte(len(p)))
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(s)
	return mac.Sum(nil)
}

// KASME derives K_ASME (256 bits) from CK, IK, the serving network identity
// and SQN⊕AK (the first six octets of AUTN), TS 33.401 Annex A.2: the KDF
// keyed with CK‖IK over FC 0x10, P0 = SN id (the PLMN identity, three BCD
// octets coded as in TS 24.301 §9.9.3.32), P1 = SQN⊕AK.
func KASME(ck, ik, snID, sqnXorAK []byte) ([]byte, error) {
	if len(ck) != KeyLen || len(ik) != KeyLen {
		return nil, fmt.Errorf("aka: CK and IK must be %d bytes each (got %d and %d)", KeyLen, len(ck), len(ik))
	}
	if len(snID) != 3 {
		return nil, fmt.Errorf("aka: serving network id must be the 3-octet PLMN identity, got %d octets", len(snID))
	}
	if len(sqnXorAK) != SQNLen {
		return nil, fmt.Errorf("aka: SQN⊕AK must be %d bytes, got %d", SQNLen, len(sqnXorAK))
	}
	key := append(clone(ck), ik...)
	return KDF(key, FCKASME, snID, sqnXorAK), nil
}
