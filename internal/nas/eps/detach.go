package eps

// DetachRequest is the Detach request sent by the UE, TS 24.301 §8.2.11.1
// (UE originating detach).
type DetachRequest struct {
	DetachType DetachType
	SwitchOff  bool
	KSI        KSI
	Identity   EPSMobileIdentity
	Other      []IE
}

// Type returns TypeDetachRequest.
func (*DetachRequest) Type() MessageType { return TypeDetachRequest }

func (*DetachRequest) String() string { return "Detach request (UE originating)" }

// Encode encodes the message, TS 24.301 table 8.2.11.1.1.
func (m *DetachRequest) Encode() ([]byte, error) {
	w := emmWriter(TypeDetachRequest)
	lo := uint8(m.DetachType)
	if lo > 7 {
		lo = 0xFF // fails the check below: the type has 3 bits
	} else if m.SwitchOff {
		lo |= 8
	}
	w.nibbles("Detach type and NAS key set identifier", lo, 0xF, uint8(m.KSI), 0xF)
	w.lv("EPS mobile identity", w.check(m.Identity.encode()), maxEPSIdentityLen)
	w.optional(nil, m.Other)
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.11.1.1.
func (m *DetachRequest) Decode(b []byte) error {
	r, err := emmReader(b, TypeDetachRequest)
	if err != nil {
		return err
	}
	o := r.u8("Detach type and NAS key set identifier")
	id := r.lv("EPS mobile identity")
	ies := r.optional(nil)
	if r.err != nil {
		return r.err
	}
	*m = DetachRequest{DetachType: DetachType(o & 7), SwitchOff: o&8 != 0, KSI: KSI(o >> 4), Other: ies}
	if m.Identity, err = decodeEPSMobileIdentity(id); err != nil {
		r.invalid("EPS mobile identity", err)
	}
	return r.err
}

// NetworkDetachRequest is the Detach request sent by the network, TS
// 24.301 §8.2.11.2 (UE terminated detach).
type NetworkDetachRequest struct {
	DetachType DetachType
	Cause      *EMMCause
	Other      []IE
}

// networkDetachIEs is the optional part of table 8.2.11.2.1.
var networkDetachIEs = []ieSpec{
	{ieiEMMCause, fmtTV, 1, "EMM cause"},
}

// Type returns TypeDetachRequest.
func (*NetworkDetachRequest) Type() MessageType { return TypeDetachRequest }

func (*NetworkDetachRequest) String() string { return "Detach request (UE terminated)" }

// Encode encodes the message, TS 24.301 table 8.2.11.2.1.
func (m *NetworkDetachRequest) Encode() ([]byte, error) {
	w := emmWriter(TypeDetachRequest)
	w.nibbles("Detach type", uint8(m.DetachType), 7, 0, 0)
	w.optional(networkDetachIEs, append(causeIE(ieiEMMCause, (*uint8)(m.Cause)), m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.11.2.1.
func (m *NetworkDetachRequest) Decode(b []byte) error {
	r, err := emmReader(b, TypeDetachRequest)
	if err != nil {
		return err
	}
	o := r.u8("Detach type")
	ies := r.optional(networkDetachIEs)
	if r.err != nil {
		return r.err
	}
	*m = NetworkDetachRequest{DetachType: DetachType(o & 7)}
	for _, ie := range ies {
		if ie.IEI == ieiEMMCause && m.Cause == nil {
			c := EMMCause(ie.Value[0])
			m.Cause = &c
			continue
		}
		m.Other = append(m.Other, ie)
	}
	return nil
}

// DetachAccept is the Detach accept, TS 24.301 §8.2.10 (either direction).
type DetachAccept struct {
	Other []IE
}

// Type returns TypeDetachAccept.
func (*DetachAccept) Type() MessageType { return TypeDetachAccept }

func (*DetachAccept) String() string { return TypeDetachAccept.String() }

// Encode encodes the message, TS 24.301 tables 8.2.10.1.1 and 8.2.10.2.1.
func (m *DetachAccept) Encode() ([]byte, error) {
	return encodeEmpty(TypeDetachAccept, m.Other)
}

// Decode decodes the message, TS 24.301 tables 8.2.10.1.1 and 8.2.10.2.1.
func (m *DetachAccept) Decode(b []byte) error {
	ies, err := decodeEmpty(b, TypeDetachAccept)
	*m = DetachAccept{Other: ies}
	return err
}
