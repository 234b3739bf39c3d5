package eps

// SecurityModeCommand is the Security mode command, TS 24.301 §8.2.20
// (network to UE). It is sent integrity protected with the new EPS security
// context (security header type 3).
type SecurityModeCommand struct {
	Algorithms NASSecurityAlgorithms
	KSI        KSI
	// ReplayedCapability echoes the UE's security capabilities (see
	// UENetworkCapability.Replayed).
	ReplayedCapability UESecurityCapability
	// IMEISVRequested asks the UE for its IMEISV in the Security mode
	// complete (IMEISV request IE, TS 24.301 §9.9.3.18).
	IMEISVRequested bool
	Other           []IE
}

// securityModeCommandIEs is the optional part of table 8.2.20.1.
var securityModeCommandIEs = []ieSpec{
	{ieiIMEISVRequest, fmtTV1, 0, "IMEISV request"},
	{0x55, fmtTV, 4, "Replayed nonceUE"},
	{0x56, fmtTV, 4, "NonceMME"},
	{0x4F, fmtTLV, 0, "HashMME"},
	{0x6F, fmtTLV, 0, "Replayed UE additional security capability"},
	{0xD0, fmtTV1, 0, "UE radio capability ID request"},
}

// Type returns TypeSecurityModeCommand.
func (*SecurityModeCommand) Type() MessageType { return TypeSecurityModeCommand }

func (*SecurityModeCommand) String() string { return TypeSecurityModeCommand.String() }

// Encode encodes the message, TS 24.301 table 8.2.20.1.
func (m *SecurityModeCommand) Encode() ([]byte, error) {
	w := emmWriter(TypeSecurityModeCommand)
	o, err := m.Algorithms.octet()
	w.fail(err)
	w.u8(o)
	w.nibbles("NAS key set identifier", uint8(m.KSI), 0xF, 0, 0)
	w.lv("Replayed UE security capabilities", w.check(m.ReplayedCapability.encode()), 5)
	var ies []IE
	if m.IMEISVRequested {
		ies = append(ies, IE{IEI: ieiIMEISVRequest, Value: []byte{1}})
	}
	w.optional(securityModeCommandIEs, append(ies, m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.20.1.
func (m *SecurityModeCommand) Decode(b []byte) error {
	r, err := emmReader(b, TypeSecurityModeCommand)
	if err != nil {
		return err
	}
	alg := r.u8("Selected NAS security algorithms")
	o := r.u8("NAS key set identifier")
	uecap := r.lv("Replayed UE security capabilities")
	ies := r.optional(securityModeCommandIEs)
	if r.err != nil {
		return r.err
	}
	*m = SecurityModeCommand{Algorithms: decodeNASSecurityAlgorithms(alg), KSI: KSI(o & 0xF)}
	if m.ReplayedCapability, err = decodeUESecurityCapability(uecap); err != nil {
		r.invalid("Replayed UE security capabilities", err)
	}
	for _, ie := range ies {
		// Value 1 is "IMEISV requested"; any other stays in Other.
		if ie.IEI == ieiIMEISVRequest && ie.Value[0] == 1 && !m.IMEISVRequested {
			m.IMEISVRequested = true
			continue
		}
		m.Other = append(m.Other, ie)
	}
	return r.err
}

// SecurityModeComplete is the Security mode complete, TS 24.301 §8.2.21
// (UE to network), sent integrity protected and ciphered with the new EPS
// security context (security header type 4).
type SecurityModeComplete struct {
	IMEISV *MobileIdentity // when the command asked for it
	Other  []IE
}

// securityModeCompleteIEs is the optional part of table 8.2.21.1.
var securityModeCompleteIEs = []ieSpec{
	{ieiIMEISV, fmtTLV, 0, "IMEISV"},
	{0x79, fmtTLVE, 0, "Replayed NAS message container"},
	{0x66, fmtTLV, 0, "UE radio capability ID"},
}

// Type returns TypeSecurityModeComplete.
func (*SecurityModeComplete) Type() MessageType { return TypeSecurityModeComplete }

func (*SecurityModeComplete) String() string { return TypeSecurityModeComplete.String() }

// Encode encodes the message, TS 24.301 table 8.2.21.1.
func (m *SecurityModeComplete) Encode() ([]byte, error) {
	w := emmWriter(TypeSecurityModeComplete)
	var ies []IE
	if m.IMEISV != nil {
		ies = append(ies, IE{IEI: ieiIMEISV, Value: w.check(m.IMEISV.encode())})
	}
	w.optional(securityModeCompleteIEs, append(ies, m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.21.1.
func (m *SecurityModeComplete) Decode(b []byte) error {
	r, err := emmReader(b, TypeSecurityModeComplete)
	if err != nil {
		return err
	}
	ies := r.optional(securityModeCompleteIEs)
	if r.err != nil {
		return r.err
	}
	*m = SecurityModeComplete{}
	for _, ie := range ies {
		if ie.IEI == ieiIMEISV && m.IMEISV == nil {
			id, err := decodeMobileIdentity(ie.Value)
			if err != nil {
				r.invalid("IMEISV", err)
			}
			m.IMEISV = &id
			continue
		}
		m.Other = append(m.Other, ie)
	}
	return r.err
}

// SecurityModeReject is the Security mode reject, TS 24.301 §8.2.22 (UE to
// network).
type SecurityModeReject struct {
	Cause EMMCause
	Other []IE
}

// Type returns TypeSecurityModeReject.
func (*SecurityModeReject) Type() MessageType { return TypeSecurityModeReject }

func (*SecurityModeReject) String() string { return TypeSecurityModeReject.String() }

// Encode encodes the message, TS 24.301 table 8.2.22.1.
func (m *SecurityModeReject) Encode() ([]byte, error) {
	return encodeEMMCause(TypeSecurityModeReject, m.Cause, m.Other)
}

// Decode decodes the message, TS 24.301 table 8.2.22.1.
func (m *SecurityModeReject) Decode(b []byte) error {
	c, ies, err := decodeEMMCause(b, TypeSecurityModeReject)
	*m = SecurityModeReject{Cause: c, Other: ies}
	return err
}
