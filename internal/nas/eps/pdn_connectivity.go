package eps

// PDNConnectivityRequest is the PDN connectivity request, TS 24.301
// §8.3.20 (UE to network); in the Attach request it asks for the default
// bearer.
type PDNConnectivityRequest struct {
	ESMHeader
	PDNType     PDNType
	RequestType RequestType
	// ESMInfoTransfer is the ESM information transfer flag (TS 24.301
	// §9.9.4.5): the UE will send the APN and PCO later, ciphered.
	ESMInfoTransfer bool
	APN             string // "" when absent
	PCO             *PCO
	Other           []IE
}

// pdnConnectivityRequestIEs is the optional part of table 8.3.20.1.
var pdnConnectivityRequestIEs = []ieSpec{
	{ieiESMInfoFlag, fmtTV1, 0, "ESM information transfer flag"},
	{ieiAPN, fmtTLV, 0, "Access point name"},
	{ieiPCO, fmtTLV, 0, "Protocol configuration options"},
	{0xC0, fmtTV1, 0, "Device properties"},
	{0x33, fmtTLV, 0, "NBIFOM container"},
	{0x66, fmtTLV, 0, "Header compression configuration"},
	{0x7B, fmtTLVE, 0, "Extended protocol configuration options"},
}

// Type returns TypePDNConnectivityRequest.
func (*PDNConnectivityRequest) Type() MessageType { return TypePDNConnectivityRequest }

func (*PDNConnectivityRequest) String() string { return TypePDNConnectivityRequest.String() }

// Encode encodes the message, TS 24.301 table 8.3.20.1.
func (m *PDNConnectivityRequest) Encode() ([]byte, error) {
	w := esmWriter(m.ESMHeader, TypePDNConnectivityRequest)
	w.nibbles("Request type and PDN type", uint8(m.RequestType), 7, uint8(m.PDNType), 7)
	var ies []IE
	if m.ESMInfoTransfer {
		ies = append(ies, IE{IEI: ieiESMInfoFlag, Value: []byte{1}})
	}
	if m.APN != "" {
		ies = append(ies, IE{IEI: ieiAPN, Value: w.check(encodeAPN(m.APN))})
	}
	ies = append(ies, w.pcoIE(m.PCO)...)
	w.optional(pdnConnectivityRequestIEs, append(ies, m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.3.20.1.
func (m *PDNConnectivityRequest) Decode(b []byte) error {
	r, h, err := esmReader(b, TypePDNConnectivityRequest)
	if err != nil {
		return err
	}
	o := r.u8("Request type and PDN type")
	ies := r.optional(pdnConnectivityRequestIEs)
	if r.err != nil {
		return r.err
	}
	*m = PDNConnectivityRequest{ESMHeader: h, RequestType: RequestType(o & 7), PDNType: PDNType(o >> 4 & 7)}
	for _, ie := range ies {
		switch {
		case ie.IEI == ieiESMInfoFlag && ie.Value[0] == 1 && !m.ESMInfoTransfer:
			m.ESMInfoTransfer = true
		case ie.IEI == ieiAPN && m.APN == "":
			if m.APN, err = decodeAPN(ie.Value); err != nil {
				r.invalid("Access point name", err)
			}
		case ie.IEI == ieiPCO && r.decodePCOIE(ie, &m.PCO):
		default:
			m.Other = append(m.Other, ie)
		}
	}
	return r.err
}

// PDNConnectivityReject is the PDN connectivity reject, TS 24.301 §8.3.19
// (network to UE).
type PDNConnectivityReject struct {
	ESMHeader
	Cause ESMCause
	PCO   *PCO
	Other []IE
}

// pdnConnectivityRejectIEs is the optional part of table 8.3.19.1.
var pdnConnectivityRejectIEs = []ieSpec{
	{ieiPCO, fmtTLV, 0, "Protocol configuration options"},
	{0x37, fmtTLV, 0, "Back-off timer value"},
	{0x6B, fmtTLV, 0, "Re-attempt indicator"},
	{0x33, fmtTLV, 0, "NBIFOM container"},
	{0x7B, fmtTLVE, 0, "Extended protocol configuration options"},
}

// Type returns TypePDNConnectivityReject.
func (*PDNConnectivityReject) Type() MessageType { return TypePDNConnectivityReject }

func (*PDNConnectivityReject) String() string { return TypePDNConnectivityReject.String() }

// Encode encodes the message, TS 24.301 table 8.3.19.1.
func (m *PDNConnectivityReject) Encode() ([]byte, error) {
	return encodeESMCause(m.ESMHeader, TypePDNConnectivityReject, pdnConnectivityRejectIEs, m.Cause, m.PCO, m.Other)
}

// Decode decodes the message, TS 24.301 table 8.3.19.1.
func (m *PDNConnectivityReject) Decode(b []byte) error {
	*m = PDNConnectivityReject{}
	return decodeESMCause(b, TypePDNConnectivityReject, pdnConnectivityRejectIEs, &m.ESMHeader, &m.Cause, &m.PCO, &m.Other)
}
