// Package aka implements the UMTS/IMS AKA computations shared by the card
// (sim/) and the network (hss/): MILENAGE (3GPP TS 35.206, via
// github.com/wmnsk/milenage), authentication vectors, AUTN and AUTS
// (TS 33.102 §6.3), and the SEQ/IND structure of SQN (TS 33.102 Annex C).
//
// Nothing here knows about a card or a service.
package aka

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/wmnsk/milenage"
)

// Sizes of the AKA parameters, TS 33.102 §6.3.7.
const (
	KeyLen  = 16 // K, OP, OPc, CK, IK
	RandLen = 16
	AUTNLen = 16
	AUTSLen = 14
	SQNLen  = 6
	AMFLen  = 2
	MACLen  = 8
	RESLen  = 8 // MILENAGE f2 gives 64 bits
)

// ErrMACFailure means the MAC in AUTN (or MAC-S in AUTS) did not verify: the
// challenge was not made with this subscriber's K/OPc.
var ErrMACFailure = errors.New("aka: MAC verification failed")

// Milenage is the MILENAGE algorithm set for one subscriber (K, OPc).
type Milenage struct {
	k, opc []byte
}

// New returns the algorithm set for K and OPc.
func New(k, opc []byte) (*Milenage, error) {
	if len(k) != KeyLen {
		return nil, fmt.Errorf("aka: K must be %d bytes, got %d", KeyLen, len(k))
	}
	if len(opc) != KeyLen {
		return nil, fmt.Errorf("aka: OPc must be %d bytes, got %d", KeyLen, len(opc))
	}
	return &Milenage{k: clone(k), opc: clone(opc)}, nil
}

// NewWithOP returns the algorithm set for K and OP (OPc is derived, TS 35.206 §4.1).
func NewWithOP(k, op []byte) (*Milenage, error) {
	opc, err := OPc(k, op)
	if err != nil {
		return nil, err
	}
	return New(k, opc)
}

// OPc derives OPc = OP ⊕ E_K(OP), TS 35.206 §4.1.
func OPc(k, op []byte) ([]byte, error) {
	if len(k) != KeyLen || len(op) != KeyLen {
		return nil, fmt.Errorf("aka: K and OP must be %d bytes each (got %d and %d)", KeyLen, len(k), len(op))
	}
	return milenage.ComputeOPc(k, op)
}

// OPc returns this subscriber's OPc.
func (m *Milenage) OPc() []byte { return clone(m.opc) }

func (m *Milenage) alg(rand []byte, sqn uint64, amf uint16) (*milenage.Milenage, error) {
	if len(rand) != RandLen {
		return nil, fmt.Errorf("aka: RAND must be %d bytes, got %d", RandLen, len(rand))
	}
	return milenage.NewWithOPc(m.k, m.opc, clone(rand), sqn, amf), nil
}

// F1 computes MAC-A (f1) for SQN and AMF, TS 35.206 §4.1.
func (m *Milenage) F1(rand []byte, sqn uint64, amf uint16) ([]byte, error) {
	a, err := m.alg(rand, sqn, amf)
	if err != nil {
		return nil, err
	}
	return a.F1()
}

// F1Star computes MAC-S (f1*) for SQN and AMF, TS 35.206 §4.1.
func (m *Milenage) F1Star(rand []byte, sqn uint64, amf uint16) ([]byte, error) {
	a, err := m.alg(rand, sqn, amf)
	if err != nil {
		return nil, err
	}
	return a.F1Star(a.SQN, a.AMF)
}

// F2345 computes RES (f2), CK (f3), IK (f4) and AK (f5), TS 35.206 §4.1.
func (m *Milenage) F2345(rand []byte) (res, ck, ik, ak []byte, err error) {
	a, err := m.alg(rand, 0, 0)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return a.F2345()
}

// F5Star computes AK for re-synchronisation (f5*), TS 35.206 §4.1.
func (m *Milenage) F5Star(rand []byte) ([]byte, error) {
	a, err := m.alg(rand, 0, 0)
	if err != nil {
		return nil, err
	}
	return a.F5Star()
}

// Vector is an authentication vector (quintet), TS 33.102 §6.3.2.
type Vector struct {
	RAND, XRES, CK, IK, AUTN []byte
	AK                       []byte // kept for E-UTRAN KASME derivation (TS 33.401 A.2)
	SQN                      uint64
	AMF                      uint16
}

// Vector generates the authentication vector for RAND, SQN and AMF:
// AUTN = SQN⊕AK ‖ AMF ‖ MAC-A, TS 33.102 §6.3.2.
func (m *Milenage) Vector(rand []byte, sqn uint64, amf uint16) (*Vector, error) {
	if sqn > MaxSQN {
		return nil, fmt.Errorf("aka: SQN %#x does not fit 48 bits", sqn)
	}
	a, err := m.alg(rand, sqn, amf)
	if err != nil {
		return nil, err
	}
	mac, err := a.F1()
	if err != nil {
		return nil, err
	}
	res, ck, ik, ak, err := a.F2345()
	if err != nil {
		return nil, err
	}
	autn := make([]byte, AUTNLen)
	putSQN(autn[:SQNLen], sqn)
	xorInto(autn[:SQNLen], ak)
	autn[6], autn[7] = byte(amf>>8), byte(amf)
	copy(autn[8:], mac)
	return &Vector{RAND: clone(rand), XRES: res, CK: ck, IK: ik, AUTN: autn, AK: ak, SQN: sqn, AMF: amf}, nil
}

// Challenge is what the card learns from a verified AUTN.
type Challenge struct {
	SQN         uint64
	AMF         uint16
	RES, CK, IK []byte
}

// VerifyAUTN is the card's side of TS 33.102 §6.3.3: it computes AK, recovers
// SQN from AUTN, and checks MAC-A. It returns ErrMACFailure if the MAC does not
// verify. The SQN freshness check is the caller's (it holds the SQN state).
func (m *Milenage) VerifyAUTN(rand, autn []byte) (*Challenge, error) {
	if len(autn) != AUTNLen {
		return nil, fmt.Errorf("aka: AUTN must be %d bytes, got %d", AUTNLen, len(autn))
	}
	res, ck, ik, ak, err := m.F2345(rand)
	if err != nil {
		return nil, err
	}
	sqnB := clone(autn[:SQNLen])
	xorInto(sqnB, ak)
	sqn := getSQN(sqnB)
	amf := uint16(autn[6])<<8 | uint16(autn[7])
	xmac, err := m.F1(rand, sqn, amf)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(xmac, autn[8:]) != 1 {
		return nil, ErrMACFailure
	}
	return &Challenge{SQN: sqn, AMF: amf, RES: res, CK: ck, IK: ik}, nil
}

// AUTS builds the re-synchronisation token AUTS = SQN_MS⊕AK* ‖ MAC-S, where
// MAC-S = f1*(SQN_MS, RAND, AMF) with the dummy AMF 0000, TS 33.102 §6.3.3.
func (m *Milenage) AUTS(rand []byte, sqnMS uint64) ([]byte, error) {
	if sqnMS > MaxSQN {
		return nil, fmt.Errorf("aka: SQN %#x does not fit 48 bits", sqnMS)
	}
	macS, err := m.F1Star(rand, sqnMS, 0)
	if err != nil {
		return nil, err
	}
	aks, err := m.F5Star(rand)
	if err != nil {
		return nil, err
	}
	auts := make([]byte, AUTSLen)
	putSQN(auts[:SQNLen], sqnMS)
	xorInto(auts[:SQNLen], aks)
	copy(auts[SQNLen:], macS)
	return auts, nil
}

// VerifyAUTS is the HSS's side of re-synchronisation, TS 33.102 §6.3.5: it
// recovers SQN_MS from AUTS and checks MAC-S (AMF 0000). It returns
// ErrMACFailure if MAC-S does not verify.
func (m *Milenage) VerifyAUTS(rand, auts []byte) (sqnMS uint64, err error) {
	if len(auts) != AUTSLen {
		return 0, fmt.Errorf("aka: AUTS must be %d bytes, got %d", AUTSLen, len(auts))
	}
	aks, err := m.F5Star(rand)
	if err != nil {
		return 0, err
	}
	b := clone(auts[:SQNLen])
	xorInto(b, aks)
	sqnMS = getSQN(b)
	macS, err := m.F1Star(rand, sqnMS, 0)
	if err != nil {
		return 0, err
	}
	if subtle.ConstantTimeCompare(macS, auts[SQNLen:]) != 1 {
		return 0, ErrMACFailure
	}
	return sqnMS, nil
}

func putSQN(b []byte, sqn uint64) {
	for i := SQNLen - 1; i >= 0; i-- {
		b[i] = byte(sqn)
		sqn >>= 8
	}
}

func getSQN(b []byte) uint64 {
	var v uint64
	for _, c := range b[:SQNLen] {
		v = v<<8 | uint64(c)
	}
	return v
}

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
