package eps

import (
	"crypto/subtle"
	"fmt"

	"github.com/imslab/imslab/internal/nas/nassec"
)

// MaxCount is the largest NAS COUNT: 24 bits, a 16-bit overflow counter and
// the 8-bit sequence number, TS 24.301 §4.4.3.1.
const MaxCount = 1<<24 - 1

// SecurityContext is the part of an EPS security context (TS 24.301
// §4.4.2, TS 33.401 §7.2.5) that protects NAS messages: the selected
// algorithms and the NAS keys. The NAS COUNTs, one per direction, are the
// caller's: Protect takes the COUNT to send with, Unprotect the COUNT
// expected next, and returns the one the message was sent with.
type SecurityContext struct {
	EEA     nassec.EEA
	EIA     nassec.EIA
	KNASenc []byte
	KNASint []byte
}

// NewSecurityContext derives K_NASenc and K_NASint from K_ASME for the
// algorithms the Security mode command selects, TS 33.401 Annex A.7.
func NewSecurityContext(kasme []byte, alg NASSecurityAlgorithms) (*SecurityContext, error) {
	enc, integ, err := nassec.NASKeys(kasme, alg.EEA, alg.EIA)
	if err != nil {
		return nil, err
	}
	return &SecurityContext{EEA: alg.EEA, EIA: alg.EIA, KNASenc: enc, KNASint: integ}, nil
}

// ProtectedHeader is the header of a security protected NAS message, TS
// 24.301 §9.1 figure 9.1.2 (§8.2.23): the security header type, the
// message authentication code and the sequence number (the 8 low bits of
// the NAS COUNT).
type ProtectedHeader struct {
	Type SecurityHeaderType
	MAC  [4]byte
	SQN  uint8
}

// Ciphered tells whether the NAS message is ciphered (types 2 and 4).
func (h ProtectedHeader) Ciphered() bool {
	return h.Type == IntegrityProtectedCiphered || h.Type == IntegrityProtectedCipheredNewContext
}

// ParseProtected splits a security protected NAS message into its header
// and its NAS message (ciphered for types 2 and 4). It checks no MAC.
func ParseProtected(pdu []byte) (ProtectedHeader, []byte, error) {
	if len(pdu) == 0 {
		return ProtectedHeader{}, nil, fmt.Errorf("%w: empty NAS PDU", ErrMissingIE)
	}
	if pd := ProtocolDiscriminator(pdu[0] & 0x0F); pd != PDEMM {
		return ProtectedHeader{}, nil, fmt.Errorf("%w: protocol discriminator %d (a security protected message is EMM)", ErrNotProtected, pd)
	}
	h := ProtectedHeader{Type: SecurityHeaderType(pdu[0] >> 4)}
	switch {
	case h.Type == Plain:
		return h, nil, ErrNotProtected
	case h.Type > IntegrityProtectedCipheredNewContext:
		return h, nil, fmt.Errorf("%w: %v (service request and reserved types are not supported)", ErrUnknownMessage, h.Type)
	case len(pdu) < 7:
		return h, nil, fmt.Errorf("%w: security protected message of %d octets: the MAC, sequence number and NAS message need 7", ErrMissingIE, len(pdu))
	}
	copy(h.MAC[:], pdu[1:5])
	h.SQN = pdu[5]
	return h, pdu[6:], nil
}

// EstimateCount is the NAS COUNT of a received message whose sequence
// number is sqn, given the COUNT the receiver expects next, TS 24.301
// §4.4.3.1: the overflow counter is the expected one, plus one if sqn is
// below the expected sequence number (the 8-bit SQN wrapped).
func EstimateCount(expected uint32, sqn uint8) uint32 {
	expected &= MaxCount
	overflow := expected >> 8
	if uint32(sqn) < expected&0xFF {
		overflow++
	}
	return (overflow<<8 | uint32(sqn)) & MaxCount
}

// Protect builds the security protected NAS message carrying plain (a plain
// EMM or ESM message) with security header type t, sent with NAS COUNT
// count in direction dir, TS 24.301 §4.4.3-§4.4.5 and §9.1: for types 2 and
// 4 the message is ciphered first (TS 33.401 B.1); the MAC is computed over
// the sequence number and the (ciphered) message (B.2), with BEARER 0.
func (c *SecurityContext) Protect(plain []byte, t SecurityHeaderType, count uint32, dir nassec.Direction) ([]byte, error) {
	if t < IntegrityProtected || t > IntegrityProtectedCipheredNewContext {
		return nil, fmt.Errorf("eps: protect: %v is not a security protection (types 1 to 4)", t)
	}
	if count > MaxCount {
		return nil, fmt.Errorf("eps: protect: NAS COUNT %#x does not fit 24 bits", count)
	}
	if len(plain) == 0 {
		return nil, fmt.Errorf("eps: protect: no NAS message")
	}
	h := ProtectedHeader{Type: t, SQN: uint8(count)}
	msg := plain
	if h.Ciphered() {
		var err error
		if msg, err = nassec.Encrypt(c.EEA, c.KNASenc, count, nassec.NASBearer, dir, plain); err != nil {
			return nil, fmt.Errorf("eps: protect: %w", err)
		}
	}
	out := make([]byte, 6, 6+len(msg))
	out[0] = byte(t)<<4 | byte(PDEMM)
	out[5] = h.SQN
	out = append(out, msg...)
	mac, err := nassec.MAC(c.EIA, c.KNASint, count, nassec.NASBearer, dir, out[5:])
	if err != nil {
		return nil, fmt.Errorf("eps: protect: %w", err)
	}
	copy(out[1:5], mac[:])
	return out, nil
}

// Unprotected is a security protected NAS message that Unprotect verified.
type Unprotected struct {
	Header ProtectedHeader
	// Count is the NAS COUNT the message was sent with: the receiver
	// expects Count+1 next (TS 24.301 §4.4.3.1).
	Count uint32
	// Plain is the plain NAS message (EMM or ESM), deciphered.
	Plain []byte
}

// Unprotect verifies a security protected NAS message received in
// direction dir, TS 24.301 §4.4.3-§4.4.5: it estimates its NAS COUNT from
// its sequence number and expected (the COUNT the receiver expects next),
// checks the MAC over the sequence number and message (ErrMACFailure: a
// forged, damaged or replayed message, since a replayed sequence number
// gives a COUNT one overflow ahead) and deciphers types 2 and 4. With EIA0
// the MAC is not checked (TS 33.401 §5.1.4.1: it is 0 and has no value).
func (c *SecurityContext) Unprotect(pdu []byte, dir nassec.Direction, expected uint32) (*Unprotected, error) {
	h, msg, err := ParseProtected(pdu)
	if err != nil {
		return nil, err
	}
	count := EstimateCount(expected, h.SQN)
	if c.EIA != nassec.EIA0 {
		mac, err := nassec.MAC(c.EIA, c.KNASint, count, nassec.NASBearer, dir, pdu[5:])
		if err != nil {
			return nil, fmt.Errorf("eps: unprotect: %w", err)
		}
		if subtle.ConstantTimeCompare(mac[:], h.MAC[:]) != 1 {
			return nil, fmt.Errorf("%w: %v message, NAS COUNT %#06x (SQN %d), %v: MAC %x, computed %x",
				ErrMACFailure, h.Type, count, h.SQN, dir, h.MAC, mac)
		}
	}
	plain := clone(msg)
	if h.Ciphered() {
		if plain, err = nassec.Encrypt(c.EEA, c.KNASenc, count, nassec.NASBearer, dir, msg); err != nil {
			return nil, fmt.Errorf("eps: unprotect: %w", err)
		}
	}
	return &Unprotected{Header: h, Count: count, Plain: plain}, nil
}
