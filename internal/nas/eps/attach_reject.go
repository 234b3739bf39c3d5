package eps

// AttachReject is the Attach reject, TS 24.301 §8.2.3 (network to UE).
type AttachReject struct {
	Cause EMMCause
	// ESM is the optional ESM message container's message (a PDN
	// connectivity reject when the cause is #19 ESM failure).
	ESM   ESMMessage
	Other []IE
}

// attachRejectIEs is the optional part of table 8.2.3.1.
var attachRejectIEs = []ieSpec{
	{ieiESMContainer, fmtTLVE, 0, "ESM message container"},
	{0x5F, fmtTLV, 0, "T3346 value"},
	{0x16, fmtTLV, 0, "T3402 value"},
	{0xA0, fmtTV1, 0, "Extended EMM cause"},
}

// Type returns TypeAttachReject.
func (*AttachReject) Type() MessageType { return TypeAttachReject }

func (*AttachReject) String() string { return TypeAttachReject.String() }

// Encode encodes the message, TS 24.301 table 8.2.3.1.
func (m *AttachReject) Encode() ([]byte, error) {
	w := emmWriter(TypeAttachReject)
	w.u8(uint8(m.Cause))
	var ies []IE
	if m.ESM != nil {
		ies = append(ies, IE{IEI: ieiESMContainer, Value: w.check(encodeESM(m.ESM))})
	}
	w.optional(attachRejectIEs, append(ies, m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.3.1.
func (m *AttachReject) Decode(b []byte) error {
	r, err := emmReader(b, TypeAttachReject)
	if err != nil {
		return err
	}
	c := r.u8("EMM cause")
	ies := r.optional(attachRejectIEs)
	if r.err != nil {
		return r.err
	}
	*m = AttachReject{Cause: EMMCause(c)}
	for _, ie := range ies {
		if ie.IEI == ieiESMContainer && m.ESM == nil {
			m.ESM = r.esm(ie.Value)
			continue
		}
		m.Other = append(m.Other, ie)
	}
	return r.err
}
