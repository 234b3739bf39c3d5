package eps

// AttachRequest is the Attach request, TS 24.301 §8.2.4 (UE to network).
type AttachRequest struct {
	AttachType          AttachType
	KSI                 KSI
	Identity            EPSMobileIdentity
	UENetworkCapability UENetworkCapability
	// ESM is the ESM message container's message: the PDN connectivity
	// request.
	ESM            ESMMessage
	LastVisitedTAI *TAI
	// Other holds the optional IEs not modelled above, as received.
	Other []IE
}

// attachRequestIEs is the optional part of table 8.2.4.1.
var attachRequestIEs = []ieSpec{
	{0x19, fmtTV, 3, "Old P-TMSI signature"},
	{0x50, fmtTLV, 0, "Additional GUTI"},
	{ieiLastVisitedTAI, fmtTV, 5, "Last visited registered TAI"},
	{0x5C, fmtTV, 2, "DRX parameter"},
	{0x31, fmtTLV, 0, "MS network capability"},
	{0x13, fmtTV, 5, "Old location area identification"},
	{0x90, fmtTV1, 0, "TMSI status"},
	{0x11, fmtTLV, 0, "Mobile station classmark 2"},
	{0x20, fmtTLV, 0, "Mobile station classmark 3"},
	{0x40, fmtTLV, 0, "Supported Codecs"},
	{0xF0, fmtTV1, 0, "Additional update type"},
	{0x5D, fmtTLV, 0, "Voice domain preference and UE's usage setting"},
	{0xD0, fmtTV1, 0, "Device properties"},
	{0xE0, fmtTV1, 0, "Old GUTI type"},
	{0xC0, fmtTV1, 0, "MS network feature support"},
	{0x10, fmtTLV, 0, "TMSI based NRI container"},
	{0x6A, fmtTLV, 0, "T3324 value"},
	{0x5E, fmtTLV, 0, "T3412 extended value"},
	{0x6E, fmtTLV, 0, "Extended DRX parameters"},
	{0x6F, fmtTLV, 0, "UE additional security capability"},
	{0x6D, fmtTLV, 0, "UE status"},
	{0x17, fmtTV, 1, "Additional information requested"},
	{0x32, fmtTLV, 0, "N1 UE network capability"},
}

// Type returns TypeAttachRequest.
func (*AttachRequest) Type() MessageType { return TypeAttachRequest }

func (*AttachRequest) String() string { return TypeAttachRequest.String() }

// Encode encodes the message, TS 24.301 table 8.2.4.1.
func (m *AttachRequest) Encode() ([]byte, error) {
	w := emmWriter(TypeAttachRequest)
	w.nibbles("EPS attach type and NAS key set identifier", uint8(m.AttachType), 7, uint8(m.KSI), 0xF)
	w.lv("EPS mobile identity", w.check(m.Identity.encode()), maxEPSIdentityLen)
	w.lv("UE network capability", w.check(m.UENetworkCapability.encode()), 13)
	w.lve("ESM message container", w.check(encodeESM(m.ESM)))
	var ies []IE
	if m.LastVisitedTAI != nil {
		ies = append(ies, IE{IEI: ieiLastVisitedTAI, Value: w.check(m.LastVisitedTAI.encode())})
	}
	w.optional(attachRequestIEs, append(ies, m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.4.1.
func (m *AttachRequest) Decode(b []byte) error {
	r, err := emmReader(b, TypeAttachRequest)
	if err != nil {
		return err
	}
	o := r.u8("EPS attach type and NAS key set identifier")
	id := r.lv("EPS mobile identity")
	uecap := r.lv("UE network capability")
	esm := r.lve("ESM message container")
	ies := r.optional(attachRequestIEs)
	if r.err != nil {
		return r.err
	}
	*m = AttachRequest{AttachType: AttachType(o & 7), KSI: KSI(o >> 4)}
	if m.Identity, err = decodeEPSMobileIdentity(id); err != nil {
		r.invalid("EPS mobile identity", err)
	}
	if m.UENetworkCapability, err = decodeUENetworkCapability(uecap); err != nil {
		r.invalid("UE network capability", err)
	}
	m.ESM = r.esm(esm)
	for _, ie := range ies {
		if ie.IEI == ieiLastVisitedTAI && m.LastVisitedTAI == nil {
			t, err := decodeTAI(ie.Value)
			if err != nil {
				r.invalid("Last visited registered TAI", err)
			}
			m.LastVisitedTAI = &t
			continue
		}
		m.Other = append(m.Other, ie)
	}
	return r.err
}
