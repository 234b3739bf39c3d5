package nassec

import (
	"crypto/aes"
	"encoding/binary"
	"fmt"
)

// EIA2MAC computes the 32-bit MAC of msg with 128-EIA2, TS 33.401 Annex
// B.2.3: AES-CMAC over M = COUNT ‖ BEARER ‖ DIRECTION ‖ 0^26 ‖ MESSAGE, the
// MAC being the 32 most significant bits of the CMAC.
func EIA2MAC(key []byte, count uint32, bearer uint8, dir Direction, msg []byte) ([4]byte, error) {
	return eia2Bits(key, count, bearer, dir, msg, 8*len(msg))
}

// eia2Bits is 128-EIA2 over the first bits bits of msg.
func eia2Bits(key []byte, count uint32, bearer uint8, dir Direction, msg []byte, bits int) ([4]byte, error) {
	var mac [4]byte
	if err := checkInputs(key, bearer); err != nil {
		return mac, err
	}
	if bits < 0 || bits > 8*len(msg) {
		return mac, fmt.Errorf("nassec: %d bits asked of a %d-octet message", bits, len(msg))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return mac, err
	}
	m := make([]byte, 8+(bits+7)/8)
	binary.BigEndian.PutUint32(m[:4], count)
	m[4] = bearer<<3 | byte(dir&1)<<2
	copy(m[8:], msg)
	t := cmacBits(block, m, 64+bits)
	copy(mac[:], t[:4])
	return mac, nil
}
