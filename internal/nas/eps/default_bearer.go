package eps

// ActivateDefaultBearerRequest is the Activate default EPS bearer context
// request, TS 24.301 §8.3.6 (network to UE): the default bearer's QoS, the
// APN, the UE's address and, in the PCO, the P-CSCF and DNS addresses.
type ActivateDefaultBearerRequest struct {
	ESMHeader
	QoS        EPSQoS
	APN        string
	PDNAddress PDNAddress
	APNAMBR    APNAMBR // nil when absent
	Cause      *ESMCause
	PCO        *PCO
	Other      []IE
}

// activateDefaultBearerRequestIEs is the optional part of table 8.3.6.1.
var activateDefaultBearerRequestIEs = []ieSpec{
	{0x5D, fmtTLV, 0, "Transaction identifier"},
	{0x30, fmtTLV, 0, "Negotiated QoS"},
	{0x32, fmtTV, 1, "Negotiated LLC SAPI"},
	{0x80, fmtTV1, 0, "Radio priority"},
	{0x34, fmtTLV, 0, "Packet flow Identifier"},
	{ieiAPNAMBR, fmtTLV, 0, "APN-AMBR"},
	{ieiESMCause, fmtTV, 1, "ESM cause"},
	{ieiPCO, fmtTLV, 0, "Protocol configuration options"},
	{0xB0, fmtTV1, 0, "Connectivity type"},
	{0xC0, fmtTV1, 0, "WLAN offload indication"},
	{0x33, fmtTLV, 0, "NBIFOM container"},
	{0x66, fmtTLV, 0, "Header compression configuration"},
	{0x90, fmtTV1, 0, "Control plane only indication"},
	{0x7B, fmtTLVE, 0, "Extended protocol configuration options"},
	{0x6E, fmtTLV, 0, "Serving PLMN rate control"},
	{0x5F, fmtTLV, 0, "Extended APN-AMBR"},
}

// Type returns TypeActivateDefaultBearerRequest.
func (*ActivateDefaultBearerRequest) Type() MessageType { return TypeActivateDefaultBearerRequest }

func (*ActivateDefaultBearerRequest) String() string {
	return TypeActivateDefaultBearerRequest.String()
}

// Encode encodes the message, TS 24.301 table 8.3.6.1.
func (m *ActivateDefaultBearerRequest) Encode() ([]byte, error) {
	w := esmWriter(m.ESMHeader, TypeActivateDefaultBearerRequest)
	w.lv("EPS quality of service", w.check(m.QoS.encode()), 13)
	w.lv("Access point name", w.check(encodeAPN(m.APN)), 100)
	w.lv("PDN address", w.check(m.PDNAddress.encode()), 13)
	var ies []IE
	if m.APNAMBR != nil {
		ies = append(ies, IE{IEI: ieiAPNAMBR, Value: w.check(m.APNAMBR.encode())})
	}
	ies = append(ies, causeIE(ieiESMCause, (*uint8)(m.Cause))...)
	ies = append(ies, w.pcoIE(m.PCO)...)
	w.optional(activateDefaultBearerRequestIEs, append(ies, m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.3.6.1.
func (m *ActivateDefaultBearerRequest) Decode(b []byte) error {
	r, h, err := esmReader(b, TypeActivateDefaultBearerRequest)
	if err != nil {
		return err
	}
	qos := r.lv("EPS quality of service")
	apn := r.lv("Access point name")
	addr := r.lv("PDN address")
	ies := r.optional(activateDefaultBearerRequestIEs)
	if r.err != nil {
		return r.err
	}
	*m = ActivateDefaultBearerRequest{ESMHeader: h}
	if m.QoS, err = decodeEPSQoS(qos); err != nil {
		r.invalid("EPS quality of service", err)
	}
	if m.APN, err = decodeAPN(apn); err != nil {
		r.invalid("Access point name", err)
	}
	if m.PDNAddress, err = decodePDNAddress(addr); err != nil {
		r.invalid("PDN address", err)
	}
	for _, ie := range ies {
		switch {
		case ie.IEI == ieiAPNAMBR && m.APNAMBR == nil:
			if m.APNAMBR, err = decodeAPNAMBR(ie.Value); err != nil {
				r.invalid("APN-AMBR", err)
			}
		case ie.IEI == ieiESMCause && m.Cause == nil:
			c := ESMCause(ie.Value[0])
			m.Cause = &c
		case ie.IEI == ieiPCO && r.decodePCOIE(ie, &m.PCO):
		default:
			m.Other = append(m.Other, ie)
		}
	}
	return r.err
}

// ActivateDefaultBearerAccept is the Activate default EPS bearer context
// accept, TS 24.301 §8.3.4 (UE to network).
type ActivateDefaultBearerAccept struct {
	ESMHeader
	PCO   *PCO
	Other []IE
}

// Type returns TypeActivateDefaultBearerAccept.
func (*ActivateDefaultBearerAccept) Type() MessageType { return TypeActivateDefaultBearerAccept }

func (*ActivateDefaultBearerAccept) String() string {
	return TypeActivateDefaultBearerAccept.String()
}

// Encode encodes the message, TS 24.301 table 8.3.4.1.
func (m *ActivateDefaultBearerAccept) Encode() ([]byte, error) {
	w := esmWriter(m.ESMHeader, TypeActivateDefaultBearerAccept)
	w.optional(pcoTable, append(w.pcoIE(m.PCO), m.Other...))
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.3.4.1.
func (m *ActivateDefaultBearerAccept) Decode(b []byte) error {
	r, h, err := esmReader(b, TypeActivateDefaultBearerAccept)
	if err != nil {
		return err
	}
	ies := r.optional(pcoTable)
	if r.err != nil {
		return r.err
	}
	*m = ActivateDefaultBearerAccept{ESMHeader: h}
	for _, ie := range ies {
		if ie.IEI == ieiPCO && r.decodePCOIE(ie, &m.PCO) {
			continue
		}
		m.Other = append(m.Other, ie)
	}
	return r.err
}

// ActivateDefaultBearerReject is the Activate default EPS bearer context
// reject, TS 24.301 §8.3.5 (UE to network).
type ActivateDefaultBearerReject struct {
	ESMHeader
	Cause ESMCause
	PCO   *PCO
	Other []IE
}

// Type returns TypeActivateDefaultBearerReject.
func (*ActivateDefaultBearerReject) Type() MessageType { return TypeActivateDefaultBearerReject }

func (*ActivateDefaultBearerReject) String() string {
	return TypeActivateDefaultBearerReject.String()
}

// Encode encodes the message, TS 24.301 table 8.3.5.1.
func (m *ActivateDefaultBearerReject) Encode() ([]byte, error) {
	return encodeESMCause(m.ESMHeader, TypeActivateDefaultBearerReject, pcoTable, m.Cause, m.PCO, m.Other)
}

// Decode decodes the message, TS 24.301 table 8.3.5.1.
func (m *ActivateDefaultBearerReject) Decode(b []byte) error {
	*m = ActivateDefaultBearerReject{}
	return decodeESMCause(b, TypeActivateDefaultBearerReject, pcoTable, &m.ESMHeader, &m.Cause, &m.PCO, &m.Other)
}
