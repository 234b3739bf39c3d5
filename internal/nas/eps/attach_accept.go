package eps

// IMSVoPS is bit 1 of the EPS network feature support IE, TS 24.301
// §9.9.3.12A: IMS voice over PS session in S1 mode supported.
const IMSVoPS = 0x01

// AttachAccept is the Attach accept, TS 24.301 §8.2.1 (network to UE).
type AttachAccept struct {
	Result  AttachResult
	T3412   GPRSTimer
	TAIList TAIList
	// ESM is the ESM message container's message: the Activate default EPS
	// bearer context request.
	ESM   ESMMessage
	GUTI  *GUTI
	Cause *EMMCause
	T3402 *GPRSTimer
	// NetworkFeatureSupport is the EPS network feature support IE's value
	// (1 or 2 octets, e.g. IMSVoPS), nil when absent.
	NetworkFeatureSupport []byte
	Other                 []IE
}

// attachAcceptIEs is the optional part of table 8.2.1.1.
var attachAcceptIEs = []ieSpec{
	{ieiGUTI, fmtTLV, 0, "GUTI"},
	{0x13, fmtTV, 5, "Location area identification"},
	{0x23, fmtTLV, 0, "MS identity"},
	{ieiEMMCause, fmtTV, 1, "EMM cause"},
	{ieiT3402, fmtTV, 1, "T3402 value"},
	{0x59, fmtTV, 1, "T3423 value"},
	{0x4A, fmtTLV, 0, "Equivalent PLMNs"},
	{0x34, fmtTLV, 0, "Emergency number list"},
	{ieiNetFeatures, fmtTLV, 0, "EPS network feature support"},
	{0xF0, fmtTV1, 0, "Additional update result"},
	{0x5E, fmtTLV, 0, "T3412 extended value"},
	{0x6A, fmtTLV, 0, "T3324 value"},
	{0x6E, fmtTLV, 0, "Extended DRX parameters"},
	{0x65, fmtTLV, 0, "DCN-ID"},
	{0xE0, fmtTV1, 0, "SMS services status"},
	{0xD0, fmtTV1, 0, "Non-3GPP NW provided policies"},
	{0x6B, fmtTLV, 0, "T3448 value"},
	{0xC0, fmtTV1, 0, "Network policy"},
	{0x6C, fmtTLV, 0, "T3447 value"},
	{0x7A, fmtTLVE, 0, "Extended emergency number list"},
	{0x7C, fmtTLVE, 0, "Ciphering key data"},
	{0x66, fmtTLV, 0, "UE radio capability ID"},
	{0xB0, fmtTV1, 0, "UE radio capability ID deletion indication"},
}

// Type returns TypeAttachAccept.
func (*AttachAccept) Type() MessageType { return TypeAttachAccept }

func (*AttachAccept) String() string { return TypeAttachAccept.String() }

// Encode encodes the message, TS 24.301 table 8.2.1.1.
func (m *AttachAccept) Encode() ([]byte, error) {
	w := emmWriter(TypeAttachAccept)
	w.nibbles("EPS attach result", uint8(m.Result), 7, 0, 0)
	w.u8(uint8(m.T3412))
	w.lv("TAI list", w.check(m.TAIList.encode()), 96)
	w.lve("ESM message container", w.check(encodeESM(m.ESM)))
	var ies []IE
	if m.GUTI != nil {
		id := EPSMobileIdentity{Type: EPSIdentityGUTI, GUTI: *m.GUTI}
		ies = append(ies, IE{IEI: ieiGUTI, Value: w.check(id.encode())})
	}
	ies = append(ies, causeIE(ieiEMMCause, (*uint8)(m.Cause))...)
	ies = append(ies, causeIE(ieiT3402, (*uint8)(m.T3402))...)
	if m.NetworkFeatureSupport != nil {
		ies = append(ies, IE{IEI: ieiNetFeatures, Value: m.NetworkFeatureSupport})
	}
	w.optional(attachAcceptIEs, append(ies, m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.1.1.
func (m *AttachAccept) Decode(b []byte) error {
	r, err := emmReader(b, TypeAttachAccept)
	if err != nil {
		return err
	}
	o := r.u8("EPS attach result")
	t := r.u8("T3412 value")
	tais := r.lv("TAI list")
	esm := r.lve("ESM message container")
	ies := r.optional(attachAcceptIEs)
	if r.err != nil {
		return r.err
	}
	*m = AttachAccept{Result: AttachResult(o & 7), T3412: GPRSTimer(t)}
	if m.TAIList, err = decodeTAIList(tais); err != nil {
		r.invalid("TAI list", err)
	}
	m.ESM = r.esm(esm)
	for _, ie := range ies {
		switch {
		case ie.IEI == ieiGUTI && m.GUTI == nil:
			id, err := decodeEPSMobileIdentity(ie.Value)
			if err == nil && id.Type != EPSIdentityGUTI {
				err = errNotGUTI
			}
			if err != nil {
				r.invalid("GUTI", err)
			}
			m.GUTI = &id.GUTI
		case ie.IEI == ieiEMMCause && m.Cause == nil:
			c := EMMCause(ie.Value[0])
			m.Cause = &c
		case ie.IEI == ieiT3402 && m.T3402 == nil:
			t := GPRSTimer(ie.Value[0])
			m.T3402 = &t
		case ie.IEI == ieiNetFeatures && m.NetworkFeatureSupport == nil && len(ie.Value) > 0:
			m.NetworkFeatureSupport = ie.Value
		default:
			m.Other = append(m.Other, ie)
		}
	}
	return r.err
}
