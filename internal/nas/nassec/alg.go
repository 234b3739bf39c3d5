package nassec

import (
	"errors"
	"fmt"
)

// EEA is an EPS encryption algorithm identity, TS 33.401 §5.1.3.2: the
// 3-bit "type of ciphering algorithm" of TS 24.301 §9.9.3.23.
type EEA uint8

// EPS encryption algorithms, TS 33.401 §5.1.3.2.
const (
	EEA0 EEA = 0 // null ciphering
	EEA1 EEA = 1 // 128-EEA1, SNOW 3G
	EEA2 EEA = 2 // 128-EEA2, AES
	EEA3 EEA = 3 // 128-EEA3, ZUC
)

// EIA is an EPS integrity algorithm identity, TS 33.401 §5.1.4.2: the 3-bit
// "type of integrity protection algorithm" of TS 24.301 §9.9.3.23.
type EIA uint8

// EPS integrity algorithms, TS 33.401 §5.1.4.2.
const (
	EIA0 EIA = 0 // null integrity, emergency calls only
	EIA1 EIA = 1 // 128-EIA1, SNOW 3G
	EIA2 EIA = 2 // 128-EIA2, AES
	EIA3 EIA = 3 // 128-EIA3, ZUC
)

func (a EEA) String() string {
	if a == EEA0 {
		return "EEA0"
	}
	return fmt.Sprintf("128-EEA%d", uint8(a))
}

func (a EIA) String() string {
	if a == EIA0 {
		return "EIA0"
	}
	return fmt.Sprintf("128-EIA%d", uint8(a))
}

// Direction is the DIRECTION input of the algorithms, TS 33.401 B.1.1.
type Direction uint8

// Directions, TS 33.401 Annex B.1.1 and B.2.1.
const (
	Uplink   Direction = 0
	Downlink Direction = 1
)

func (d Direction) String() string {
	if d == Downlink {
		return "downlink"
	}
	return "uplink"
}

// NASBearer is the BEARER input used for NAS: the NAS connection identifier
// 0 (TS 33.401 §8.1.1 and B.1.1: BEARER is not used for NAS and set to 0).
const NASBearer = 0

// KeyLen is the length of the 128-bit algorithm keys (K_NASenc, K_NASint).
const KeyLen = 16

// ErrUnsupportedAlgorithm: the algorithm is not one this package implements
// (EEA0, 128-EEA2, EIA0, 128-EIA2).
var ErrUnsupportedAlgorithm = errors.New("nassec: algorithm not implemented (only EEA0, 128-EEA2, EIA0 and 128-EIA2 are)")

// Encrypt ciphers data with alg, TS 33.401 Annex B.1: EEA0 returns a copy
// of data, 128-EEA2 is EEA2. Ciphering is its own inverse: Encrypt also
// deciphers.
func Encrypt(alg EEA, key []byte, count uint32, bearer uint8, dir Direction, data []byte) ([]byte, error) {
	switch alg {
	case EEA0:
		return append([]byte(nil), data...), nil
	case EEA2:
		return EEA2Cipher(key, count, bearer, dir, data)
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupportedAlgorithm, alg)
}

// MAC computes the 32-bit MAC of msg with alg, TS 33.401 Annex B.2: EIA0
// gives 0 (§5.1.4.1), 128-EIA2 is EIA2MAC.
func MAC(alg EIA, key []byte, count uint32, bearer uint8, dir Direction, msg []byte) ([4]byte, error) {
	switch alg {
	case EIA0:
		return [4]byte{}, nil
	case EIA2:
		return EIA2MAC(key, count, bearer, dir, msg)
	}
	return [4]byte{}, fmt.Errorf("%w: %v", ErrUnsupportedAlgorithm, alg)
}

// checkInputs validates the key and BEARER, TS 33.401 B.1.1: a 128-bit key,
// a 5-bit BEARER.
func checkInputs(key []byte, bearer uint8) error {
	if len(key) != KeyLen {
		return fmt.Errorf("nassec: key must be %d bytes, got %d", KeyLen, len(key))
	}
	if bearer > 0x1F {
		return fmt.Errorf("nassec: BEARER %d does not fit 5 bits", bearer)
	}
	return nil
}
