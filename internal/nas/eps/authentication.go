package eps

import "fmt"

// AuthenticationRequest is the Authentication request, TS 24.301 §8.2.7
// (network to UE): the EPS challenge RAND and AUTN (TS 33.401 §6.1.1).
type AuthenticationRequest struct {
	KSI   KSI // NAS key set identifier_ASME of the K_ASME to be created
	RAND  [16]byte
	AUTN  [16]byte
	Other []IE
}

// Type returns TypeAuthenticationRequest.
func (*AuthenticationRequest) Type() MessageType { return TypeAuthenticationRequest }

func (*AuthenticationRequest) String() string { return TypeAuthenticationRequest.String() }

// Encode encodes the message, TS 24.301 table 8.2.7.1.
func (m *AuthenticationRequest) Encode() ([]byte, error) {
	w := emmWriter(TypeAuthenticationRequest)
	w.nibbles("NAS key set identifier", uint8(m.KSI), 0xF, 0, 0)
	w.raw(m.RAND[:])
	w.lv("Authentication parameter AUTN", m.AUTN[:], 16)
	w.optional(nil, m.Other)
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.7.1.
func (m *AuthenticationRequest) Decode(b []byte) error {
	r, err := emmReader(b, TypeAuthenticationRequest)
	if err != nil {
		return err
	}
	o := r.u8("NAS key set identifier")
	rand := r.take("Authentication parameter RAND", 16)
	autn := r.lv("Authentication parameter AUTN")
	ies := r.optional(nil)
	if r.err == nil && len(autn) != 16 {
		r.invalid("Authentication parameter AUTN", fmt.Errorf("%d octets, want 16 (TS 24.301 §9.9.3.2)", len(autn)))
	}
	if r.err != nil {
		return r.err
	}
	*m = AuthenticationRequest{KSI: KSI(o & 0xF), RAND: [16]byte(rand), AUTN: [16]byte(autn), Other: ies}
	return nil
}

// AuthenticationResponse is the Authentication response, TS 24.301 §8.2.8
// (UE to network).
type AuthenticationResponse struct {
	RES   []byte // 4 to 16 octets, TS 24.301 §9.9.3.4
	Other []IE
}

// Type returns TypeAuthenticationResponse.
func (*AuthenticationResponse) Type() MessageType { return TypeAuthenticationResponse }

func (*AuthenticationResponse) String() string { return TypeAuthenticationResponse.String() }

// Encode encodes the message, TS 24.301 table 8.2.8.1.
func (m *AuthenticationResponse) Encode() ([]byte, error) {
	w := emmWriter(TypeAuthenticationResponse)
	if len(m.RES) < 4 {
		w.fail(fmt.Errorf("%w: RES of %d octets, want 4 to 16", ErrInvalidIE, len(m.RES)))
	}
	w.lv("Authentication response parameter", m.RES, 16)
	w.optional(nil, m.Other)
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.8.1.
func (m *AuthenticationResponse) Decode(b []byte) error {
	r, err := emmReader(b, TypeAuthenticationResponse)
	if err != nil {
		return err
	}
	res := r.lv("Authentication response parameter")
	ies := r.optional(nil)
	if r.err == nil && (len(res) < 4 || len(res) > 16) {
		r.invalid("Authentication response parameter", fmt.Errorf("RES of %d octets, want 4 to 16", len(res)))
	}
	if r.err != nil {
		return r.err
	}
	*m = AuthenticationResponse{RES: res, Other: ies}
	return nil
}

// AuthenticationFailure is the Authentication failure, TS 24.301 §8.2.5
// (UE to network): cause #20 MAC failure, #21 synch failure (with AUTS for
// the resynchronisation, TS 33.102 §6.3.5) or #26 non-EPS authentication
// unacceptable.
type AuthenticationFailure struct {
	Cause EMMCause
	AUTS  []byte // authentication failure parameter, 14 octets; nil if absent
	Other []IE
}

// authFailureIEs is the optional part of table 8.2.5.1.
var authFailureIEs = []ieSpec{
	{ieiAUTS, fmtTLV, 0, "Authentication failure parameter"},
}

// Type returns TypeAuthenticationFailure.
func (*AuthenticationFailure) Type() MessageType { return TypeAuthenticationFailure }

func (*AuthenticationFailure) String() string { return TypeAuthenticationFailure.String() }

// Encode encodes the message, TS 24.301 table 8.2.5.1.
func (m *AuthenticationFailure) Encode() ([]byte, error) {
	w := emmWriter(TypeAuthenticationFailure)
	w.u8(uint8(m.Cause))
	var ies []IE
	if m.AUTS != nil {
		if len(m.AUTS) != 14 {
			w.fail(fmt.Errorf("%w: AUTS of %d octets, want 14 (TS 24.008 §10.5.3.2.2)", ErrInvalidIE, len(m.AUTS)))
		}
		ies = append(ies, IE{IEI: ieiAUTS, Value: m.AUTS})
	}
	w.optional(authFailureIEs, append(ies, m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.5.1.
func (m *AuthenticationFailure) Decode(b []byte) error {
	r, err := emmReader(b, TypeAuthenticationFailure)
	if err != nil {
		return err
	}
	c := r.u8("EMM cause")
	ies := r.optional(authFailureIEs)
	if r.err != nil {
		return r.err
	}
	*m = AuthenticationFailure{Cause: EMMCause(c)}
	for _, ie := range ies {
		if ie.IEI == ieiAUTS && m.AUTS == nil {
			if len(ie.Value) != 14 {
				r.invalid("Authentication failure parameter", fmt.Errorf("AUTS of %d octets, want 14", len(ie.Value)))
			}
			m.AUTS = ie.Value
			continue
		}
		m.Other = append(m.Other, ie)
	}
	return r.err
}

// AuthenticationReject is the Authentication reject, TS 24.301 §8.2.6
// (network to UE).
type AuthenticationReject struct {
	Other []IE
}

// Type returns TypeAuthenticationReject.
func (*AuthenticationReject) Type() MessageType { return TypeAuthenticationReject }

func (*AuthenticationReject) String() string { return TypeAuthenticationReject.String() }

// Encode encodes the message, TS 24.301 table 8.2.6.1.
func (m *AuthenticationReject) Encode() ([]byte, error) {
	return encodeEmpty(TypeAuthenticationReject, m.Other)
}

// Decode decodes the message, TS 24.301 table 8.2.6.1.
func (m *AuthenticationReject) Decode(b []byte) error {
	ies, err := decodeEmpty(b, TypeAuthenticationReject)
	*m = AuthenticationReject{Other: ies}
	return err
}
