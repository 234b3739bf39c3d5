package nassec

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// EEA2Cipher ciphers (or deciphers) data with 128-EEA2, TS 33.401 Annex
// B.1.3: AES-128 in counter mode, the first counter block being
// T1 = COUNT ‖ BEARER ‖ DIRECTION ‖ 0^26 ‖ 0^64, incremented as a 128-bit
// integer (NIST SP 800-38A).
func EEA2Cipher(key []byte, count uint32, bearer uint8, dir Direction, data []byte) ([]byte, error) {
	return eea2Bits(key, count, bearer, dir, data, 8*len(data))
}

// eea2Bits is 128-EEA2 over the first bits bits of data (Annex C's test
// sets are not byte aligned): the bits past the end of the last octet are
// set to 0 in the output.
func eea2Bits(key []byte, count uint32, bearer uint8, dir Direction, data []byte, bits int) ([]byte, error) {
	if err := checkInputs(key, bearer); err != nil {
		return nil, err
	}
	if bits < 0 || bits > 8*len(data) {
		return nil, fmt.Errorf("nassec: %d bits asked of a %d-octet message", bits, len(data))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var t1 [aes.BlockSize]byte
	binary.BigEndian.PutUint32(t1[:4], count)
	t1[4] = bearer<<3 | byte(dir&1)<<2
	n := (bits + 7) / 8
	out := make([]byte, n)
	cipher.NewCTR(block, t1[:]).XORKeyStream(out, data[:n])
	if r := bits % 8; r != 0 {
		out[n-1] &= 0xFF << (8 - r)
	}
	return out, nil
}
