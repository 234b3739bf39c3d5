package nassec

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// rb is the constant of the subkey doubling for a 128-bit block, RFC 4493
// §2.3 (const_Rb).
const rb = 0x87

// CMAC computes AES-CMAC of msg under a 128-bit key, RFC 4493 §2.4.
func CMAC(key, msg []byte) ([16]byte, error) {
	if len(key) != KeyLen {
		return [16]byte{}, fmt.Errorf("nassec: AES-CMAC key must be %d bytes, got %d", KeyLen, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return [16]byte{}, err
	}
	return cmacBits(block, msg, 8*len(msg)), nil
}

// subkeys generates K1 and K2, RFC 4493 §2.3: L = AES-K(0^128), K1 = L·x,
// K2 = K1·x in GF(2^128).
func subkeys(b cipher.Block) (k1, k2 [16]byte) {
	var l [16]byte
	b.Encrypt(l[:], l[:])
	k1 = double(l)
	k2 = double(k1)
	return k1, k2
}

// double shifts a block left by one bit and, if the bit shifted out was 1,
// XORs const_Rb into the last octet (RFC 4493 §2.3 steps 2 and 3).
func double(in [16]byte) [16]byte {
	var out [16]byte
	for i := 0; i < 15; i++ {
		out[i] = in[i]<<1 | in[i+1]>>7
	}
	out[15] = in[15] << 1
	if in[0]&0x80 != 0 {
		out[15] ^= rb
	}
	return out
}

// cmacBits computes AES-CMAC of the first bits bits of msg, RFC 4493 §2.4
// generalised to bit strings as NIST SP 800-38B §6.2 defines it: a complete
// last block is XORed with K1; an incomplete (or empty) one is padded with a
// 1 bit and 0 bits and XORed with K2.
func cmacBits(b cipher.Block, msg []byte, bits int) [16]byte {
	k1, k2 := subkeys(b)
	n := (bits + 127) / 128
	complete := n > 0 && bits%128 == 0
	if n == 0 {
		n = 1
	}
	var x [16]byte
	for i := 0; i < n-1; i++ {
		for j := range x {
			x[j] ^= msg[16*i+j]
		}
		b.Encrypt(x[:], x[:])
	}
	var last [16]byte
	rem := bits - 128*(n-1)
	copy(last[:], msg[16*(n-1):16*(n-1)+(rem+7)/8])
	if complete {
		xor16(&last, &k1)
	} else {
		if r := rem % 8; r != 0 {
			last[rem/8] &= 0xFF << (8 - r)
		}
		last[rem/8] |= 0x80 >> (rem % 8)
		xor16(&last, &k2)
	}
	xor16(&x, &last)
	b.Encrypt(x[:], x[:])
	return x
}

func xor16(dst, src *[16]byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}
