package eps

import (
	"fmt"
	"net/netip"
	"strings"
)

// encodeAPN codes an access point name, TS 24.008 §10.5.6.1 with the label
// encoding of TS 23.003 §9.1: each dot-separated label as a length octet
// and its characters ("ims" is 03 69 6d 73).
func encodeAPN(apn string) ([]byte, error) {
	var out []byte
	for _, l := range strings.Split(apn, ".") {
		if len(l) == 0 || len(l) > 63 {
			return nil, fmt.Errorf("%w: APN %q: labels are 1 to 63 characters", ErrInvalidIE, apn)
		}
		out = append(out, byte(len(l)))
		out = append(out, l...)
	}
	if len(out) > 100 {
		return nil, fmt.Errorf("%w: APN %q: %d octets, at most 100 (TS 23.003 §9.1)", ErrInvalidIE, apn, len(out))
	}
	return out, nil
}

// decodeAPN reads an access point name coded as encodeAPN codes it.
func decodeAPN(b []byte) (string, error) {
	if len(b) == 0 || len(b) > 100 {
		return "", fmt.Errorf("%d octets, want 1 to 100", len(b))
	}
	var labels []string
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || n > 63 || n >= len(b) {
			return "", fmt.Errorf("label of length %d with %d octets left", n, len(b)-1)
		}
		l := string(b[1 : 1+n])
		if strings.Contains(l, ".") {
			return "", fmt.Errorf("label %q holds a dot", l)
		}
		labels = append(labels, l)
		b = b[1+n:]
	}
	return strings.Join(labels, "."), nil
}

// PDNType is a PDN type, TS 24.301 §9.9.4.10 (and the PDN type value of
// the PDN address, §9.9.4.9).
type PDNType uint8

// PDN types.
const (
	PDNTypeIPv4   PDNType = 1
	PDNTypeIPv6   PDNType = 2
	PDNTypeIPv4v6 PDNType = 3
)

// RequestType is the request type of a PDN connectivity request, TS
// 24.301 §9.9.4.14.
type RequestType uint8

// Request types.
const (
	RequestInitial   RequestType = 1
	RequestHandover  RequestType = 2
	RequestEmergency RequestType = 4
)

// PDNAddress is the PDN address IE, TS 24.301 §9.9.4.9: the UE's IPv4
// address and/or the interface identifier of its IPv6 link-local address.
type PDNAddress struct {
	Type    PDNType
	IPv4    netip.Addr
	IPv6IID [8]byte
}

func (a PDNAddress) encode() ([]byte, error) {
	out := []byte{byte(a.Type)}
	if a.Type == PDNTypeIPv6 || a.Type == PDNTypeIPv4v6 {
		out = append(out, a.IPv6IID[:]...)
	}
	if a.Type == PDNTypeIPv4 || a.Type == PDNTypeIPv4v6 {
		if !a.IPv4.Is4() {
			return nil, fmt.Errorf("%w: PDN address of type %d without an IPv4 address (%v)", ErrInvalidIE, a.Type, a.IPv4)
		}
		v4 := a.IPv4.As4()
		out = append(out, v4[:]...)
	}
	if a.Type < PDNTypeIPv4 || a.Type > PDNTypeIPv4v6 {
		return nil, fmt.Errorf("%w: PDN address of type %d (only IPv4, IPv6, IPv4v6)", ErrInvalidIE, a.Type)
	}
	return out, nil
}

func decodePDNAddress(b []byte) (PDNAddress, error) {
	if len(b) == 0 {
		return PDNAddress{}, fmt.Errorf("empty")
	}
	a := PDNAddress{Type: PDNType(b[0] & 7)}
	want := map[PDNType]int{PDNTypeIPv4: 5, PDNTypeIPv6: 9, PDNTypeIPv4v6: 13}[a.Type]
	if want == 0 {
		return PDNAddress{}, fmt.Errorf("PDN type %d (only IPv4, IPv6, IPv4v6)", a.Type)
	}
	if len(b) != want {
		return PDNAddress{}, fmt.Errorf("%d octets for PDN type %d, want %d", len(b), a.Type, want)
	}
	if a.Type != PDNTypeIPv4 {
		copy(a.IPv6IID[:], b[1:9])
	}
	if a.Type != PDNTypeIPv6 {
		a.IPv4 = netip.AddrFrom4([4]byte(b[len(b)-4:]))
	}
	return a, nil
}

// EPSQoS is the EPS quality of service IE, TS 24.301 §9.9.4.3: the QCI and,
// for a GBR bearer, the bit rate octets as received.
type EPSQoS struct {
	QCI   uint8
	Rates []byte
}

func (q EPSQoS) encode() ([]byte, error) {
	if len(q.Rates) > 12 {
		return nil, fmt.Errorf("%w: EPS QoS of %d octets, at most 13", ErrInvalidIE, 1+len(q.Rates))
	}
	return append([]byte{q.QCI}, q.Rates...), nil
}

func decodeEPSQoS(b []byte) (EPSQoS, error) {
	if len(b) < 1 || len(b) > 13 {
		return EPSQoS{}, fmt.Errorf("%d octets, want 1 to 13", len(b))
	}
	return EPSQoS{QCI: b[0], Rates: clone(b[1:])}, nil
}

// APNAMBR is the APN aggregate maximum bit rate IE, TS 24.301 §9.9.4.2:
// its 2, 4 or 6 value octets (downlink, uplink, then the extended and
// extended-2 octets).
type APNAMBR []byte

// NewAPNAMBR codes a downlink and an uplink rate in kbit/s (up to 256
// Mbit/s each, rounded down to the coding's step), TS 24.301 table
// 9.9.4.2.1: octets 3-4, and octets 5-6 for rates above 8640 kbit/s.
func NewAPNAMBR(dlKbps, ulKbps uint32) APNAMBR {
	dl, dlExt := ambrOctets(dlKbps)
	ul, ulExt := ambrOctets(ulKbps)
	if dlExt == 0 && ulExt == 0 {
		return APNAMBR{dl, ul}
	}
	return APNAMBR{dl, ul, dlExt, ulExt}
}

// ambrOctets codes one rate: the octet of octets 3/4 and the extended one.
func ambrOctets(k uint32) (base, ext uint8) {
	switch {
	case k == 0:
		return 0xFF, 0
	case k <= 63:
		return uint8(k), 0
	case k <= 568:
		return uint8(64 + (k-64)/8), 0
	case k <= 8640:
		return uint8(128 + (k-576)/64), 0
	case k <= 16000:
		return 0xFE, uint8((k - 8600) / 100)
	case k <= 128000:
		return 0xFE, uint8(74 + (k-16000)/1000)
	case k <= 256000:
		return 0xFE, uint8(186 + (k-128000)/2000)
	}
	return 0xFE, 250
}

// Kbps returns the downlink and uplink rates in kbit/s coded in octets 3-6
// (octets 7-8, for rates above 256 Mbit/s, are not read).
func (a APNAMBR) Kbps() (dl, ul uint32) {
	var dlExt, ulExt uint8
	if len(a) >= 4 {
		dlExt, ulExt = a[2], a[3]
	}
	if len(a) >= 2 {
		dl, ul = ambrKbps(a[0], dlExt), ambrKbps(a[1], ulExt)
	}
	return dl, ul
}

// ambrKbps decodes one rate, TS 24.301 table 9.9.4.2.1.
func ambrKbps(base, ext uint8) uint32 {
	b, e := uint32(base), uint32(ext)
	switch {
	case ext != 0 && e <= 74:
		return 8600 + e*100
	case ext != 0 && e <= 186:
		return 16000 + (e-74)*1000
	case ext != 0:
		return 128000 + (min(e, 250)-186)*2000
	case b == 0 || b == 0xFF:
		return 0
	case b <= 63:
		return b
	case b <= 127:
		return 64 + (b-64)*8
	}
	return 576 + (b-128)*64
}

func decodeAPNAMBR(b []byte) (APNAMBR, error) {
	if len(b) != 2 && len(b) != 4 && len(b) != 6 {
		return nil, fmt.Errorf("%d octets, want 2, 4 or 6", len(b))
	}
	return APNAMBR(clone(b)), nil
}

func (a APNAMBR) encode() ([]byte, error) {
	if len(a) != 2 && len(a) != 4 && len(a) != 6 {
		return nil, fmt.Errorf("%w: APN-AMBR of %d octets, want 2, 4 or 6", ErrInvalidIE, len(a))
	}
	return a, nil
}

// ESMCause is an ESM cause, TS 24.301 §9.9.4.4 (values in Annex B).
type ESMCause uint8

// ESM causes the lab uses, TS 24.301 table 9.9.4.4.1.
const (
	ESMOperatorDeterminedBarring  ESMCause = 8
	ESMInsufficientResources      ESMCause = 26
	ESMUnknownAPN                 ESMCause = 27 // missing or unknown APN
	ESMUnknownPDNType             ESMCause = 28
	ESMUserAuthenticationFailed   ESMCause = 29
	ESMRejectedByGateway          ESMCause = 30 // request rejected by Serving GW or PDN GW
	ESMRequestRejected            ESMCause = 31 // unspecified
	ESMServiceOptionNotSupported  ESMCause = 32
	ESMServiceOptionNotSubscribed ESMCause = 33
	ESMRegularDeactivation        ESMCause = 36
	ESMNetworkFailure             ESMCause = 38
	ESMInvalidEPSBearerIdentity   ESMCause = 43
	ESMPDNTypeIPv4OnlyAllowed     ESMCause = 50
	ESMPDNTypeIPv6OnlyAllowed     ESMCause = 51
	ESMInvalidPTI                 ESMCause = 81
	ESMSemanticallyIncorrect      ESMCause = 95
	ESMInvalidMandatoryInfo       ESMCause = 96
	ESMMessageTypeNonExistent     ESMCause = 97
	ESMProtocolError              ESMCause = 111 // unspecified
)

var esmCauseNames = map[ESMCause]string{
	ESMOperatorDeterminedBarring:  "Operator Determined Barring",
	ESMInsufficientResources:      "Insufficient resources",
	ESMUnknownAPN:                 "Missing or unknown APN",
	ESMUnknownPDNType:             "Unknown PDN type",
	ESMUserAuthenticationFailed:   "User authentication or authorization failed",
	ESMRejectedByGateway:          "Request rejected by Serving GW or PDN GW",
	ESMRequestRejected:            "Request rejected, unspecified",
	ESMServiceOptionNotSupported:  "Service option not supported",
	ESMServiceOptionNotSubscribed: "Requested service option not subscribed",
	ESMRegularDeactivation:        "Regular deactivation",
	ESMNetworkFailure:             "Network failure",
	ESMInvalidEPSBearerIdentity:   "Invalid EPS bearer identity",
	ESMPDNTypeIPv4OnlyAllowed:     "PDN type IPv4 only allowed",
	ESMPDNTypeIPv6OnlyAllowed:     "PDN type IPv6 only allowed",
	ESMInvalidPTI:                 "Invalid PTI value",
	ESMSemanticallyIncorrect:      "Semantically incorrect message",
	ESMInvalidMandatoryInfo:       "Invalid mandatory information",
	ESMMessageTypeNonExistent:     "Message type non-existent or not implemented",
	ESMProtocolError:              "Protocol error, unspecified",
}

func (c ESMCause) String() string {
	if n, ok := esmCauseNames[c]; ok {
		return fmt.Sprintf("#%d %s", uint8(c), n)
	}
	return fmt.Sprintf("ESM cause #%d", uint8(c))
}
