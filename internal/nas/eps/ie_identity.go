package eps

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PLMN is a PLMN identity: MCC (3 digits) and MNC (2 or 3 digits).
type PLMN struct {
	MCC, MNC string
}

func (p PLMN) String() string { return p.MCC + "/" + p.MNC }

// Bytes encodes the PLMN identity in three BCD octets, TS 24.301
// §9.9.3.32 (TS 24.008 §10.5.1.13): MCC2 MCC1 | MNC3 MCC3 | MNC2 MNC1,
// MNC3 = F for a 2-digit MNC. This is also the serving network identity
// of K_ASME (TS 33.401 A.2) and the Visited-PLMN-Id of S6a.
func (p PLMN) Bytes() ([]byte, error) {
	d := func(s string, i int) (byte, bool) {
		if i >= len(s) {
			return 0xF, true
		}
		c := s[i]
		return c - '0', c >= '0' && c <= '9'
	}
	if len(p.MCC) != 3 || len(p.MNC) < 2 || len(p.MNC) > 3 {
		return nil, fmt.Errorf("%w: PLMN %q/%q: want a 3-digit MCC and a 2- or 3-digit MNC", ErrInvalidIE, p.MCC, p.MNC)
	}
	var v [6]byte
	for i, x := range []struct {
		s string
		i int
	}{{p.MCC, 0}, {p.MCC, 1}, {p.MCC, 2}, {p.MNC, 0}, {p.MNC, 1}, {p.MNC, 2}} {
		var ok bool
		if v[i], ok = d(x.s, x.i); !ok {
			return nil, fmt.Errorf("%w: PLMN %s: not a digit", ErrInvalidIE, p)
		}
	}
	return []byte{v[1]<<4 | v[0], v[5]<<4 | v[2], v[4]<<4 | v[3]}, nil
}

// ParsePLMN decodes a 3-octet PLMN identity (the layout of PLMN.Bytes).
func ParsePLMN(b []byte) (PLMN, error) {
	if len(b) != 3 {
		return PLMN{}, fmt.Errorf("%w: PLMN identity of %d octets, want 3", ErrInvalidIE, len(b))
	}
	n := []byte{b[0] & 0xF, b[0] >> 4, b[1] & 0xF, b[2] & 0xF, b[2] >> 4, b[1] >> 4}
	var s []byte
	for i, x := range n {
		if x > 9 && !(i == 5 && x == 0xF) {
			return PLMN{}, fmt.Errorf("%w: PLMN identity %x: %X is not a digit", ErrInvalidIE, b, x)
		}
		if x <= 9 {
			s = append(s, '0'+x)
		}
	}
	return PLMN{MCC: string(s[:3]), MNC: string(s[3:])}, nil
}

// TAI is a tracking area identity, TS 24.301 §9.9.3.32: PLMN and TAC.
type TAI struct {
	PLMN PLMN
	TAC  uint16
}

func (t TAI) String() string { return fmt.Sprintf("%s/%#04x", t.PLMN, t.TAC) }

func (t TAI) encode() ([]byte, error) {
	p, err := t.PLMN.Bytes()
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint16(p, t.TAC), nil
}

func decodeTAI(b []byte) (TAI, error) {
	if len(b) != 5 {
		return TAI{}, fmt.Errorf("TAI of %d octets, want 5", len(b))
	}
	p, err := ParsePLMN(b[:3])
	return TAI{PLMN: p, TAC: binary.BigEndian.Uint16(b[3:])}, err
}

// TAIList is a tracking area identity list, TS 24.301 §9.9.3.33: 1 to 16
// TAIs. It is encoded as partial lists of type 00 (one PLMN, TACs not
// consecutive), one per run of TAIs of the same PLMN; decoding also reads
// types 01 (consecutive TACs) and 10 (several PLMNs).
type TAIList []TAI

// maxTAIs is the most TAIs a list may carry, TS 24.301 §9.9.3.33.
const maxTAIs = 16

func (l TAIList) encode() ([]byte, error) {
	if len(l) == 0 || len(l) > maxTAIs {
		return nil, fmt.Errorf("%w: TAI list of %d TAIs, want 1 to %d", ErrInvalidIE, len(l), maxTAIs)
	}
	var out []byte
	for i := 0; i < len(l); {
		j := i + 1
		for j < len(l) && l[j].PLMN == l[i].PLMN {
			j++
		}
		p, err := l[i].PLMN.Bytes()
		if err != nil {
			return nil, err
		}
		out = append(out, byte(j-i-1)) // type 00, number of elements - 1
		out = append(out, p...)
		for _, t := range l[i:j] {
			out = binary.BigEndian.AppendUint16(out, t.TAC)
		}
		i = j
	}
	return out, nil
}

func decodeTAIList(b []byte) (TAIList, error) {
	var l TAIList
	for len(b) > 0 {
		typ, n := b[0]>>5&3, int(b[0]&0x1F)+1
		b = b[1:]
		need := map[byte]int{0: 3 + 2*n, 1: 5, 2: 5 * n}[typ]
		if typ == 3 {
			return nil, fmt.Errorf("partial TAI list of reserved type 11")
		}
		if len(b) < need {
			return nil, fmt.Errorf("partial TAI list of type %02b with %d elements needs %d octets, %d left", typ, n, need, len(b))
		}
		for i := 0; i < n; i++ {
			var t TAI
			var err error
			switch typ {
			case 0:
				t, err = decodeTAI(append(b[:3:3], b[3+2*i:5+2*i]...))
			case 1:
				t, err = decodeTAI(b[:5])
				if int(t.TAC)+n-1 > 0xFFFF {
					return nil, fmt.Errorf("consecutive TACs from %#04x overflow", t.TAC)
				}
				t.TAC += uint16(i)
			case 2:
				t, err = decodeTAI(b[5*i : 5*i+5])
			}
			if err != nil {
				return nil, err
			}
			l = append(l, t)
		}
		b = b[need:]
	}
	if len(l) == 0 || len(l) > maxTAIs {
		return nil, fmt.Errorf("%d TAIs, want 1 to %d", len(l), maxTAIs)
	}
	return l, nil
}

// GUTI is a globally unique temporary identity, TS 23.003 §2.8, as coded
// in the EPS mobile identity IE (TS 24.301 §9.9.3.12).
type GUTI struct {
	PLMN       PLMN
	MMEGroupID uint16
	MMECode    uint8
	MTMSI      uint32
}

func (g GUTI) String() string {
	return fmt.Sprintf("%s-%04x-%02x-%08x", g.PLMN, g.MMEGroupID, g.MMECode, g.MTMSI)
}

// EPSIdentityType is the type of identity of an EPS mobile identity, TS
// 24.301 table 9.9.3.12.1.
type EPSIdentityType uint8

// EPS mobile identity types.
const (
	EPSIdentityIMSI EPSIdentityType = 1
	EPSIdentityIMEI EPSIdentityType = 3
	EPSIdentityGUTI EPSIdentityType = 6
)

// EPSMobileIdentity is the EPS mobile identity IE, TS 24.301 §9.9.3.12: an
// IMSI or IMEI (Digits) or a GUTI.
type EPSMobileIdentity struct {
	Type   EPSIdentityType
	Digits string
	GUTI   GUTI
}

// maxEPSIdentityLen is the longest EPS mobile identity value, TS 24.301
// §9.9.3.12 (LV 2-12 in the messages' tables: the GUTI's 11 octets).
const maxEPSIdentityLen = 11

func (id EPSMobileIdentity) String() string {
	switch id.Type {
	case EPSIdentityIMSI:
		return "IMSI " + id.Digits
	case EPSIdentityIMEI:
		return "IMEI " + id.Digits
	case EPSIdentityGUTI:
		return "GUTI " + id.GUTI.String()
	}
	return fmt.Sprintf("EPS identity type %d", id.Type)
}

func (id EPSMobileIdentity) encode() ([]byte, error) {
	switch id.Type {
	case EPSIdentityIMSI, EPSIdentityIMEI:
		return encodeDigits(uint8(id.Type), id.Digits, 15)
	case EPSIdentityGUTI:
		p, err := id.GUTI.PLMN.Bytes()
		if err != nil {
			return nil, err
		}
		b := append([]byte{0xF0 | byte(EPSIdentityGUTI)}, p...)
		b = binary.BigEndian.AppendUint16(b, id.GUTI.MMEGroupID)
		b = append(b, id.GUTI.MMECode)
		return binary.BigEndian.AppendUint32(b, id.GUTI.MTMSI), nil
	}
	return nil, fmt.Errorf("%w: EPS mobile identity of type %d", ErrInvalidIE, id.Type)
}

func decodeEPSMobileIdentity(b []byte) (EPSMobileIdentity, error) {
	if len(b) == 0 || len(b) > maxEPSIdentityLen {
		return EPSMobileIdentity{}, fmt.Errorf("%d octets, want 1 to %d", len(b), maxEPSIdentityLen)
	}
	switch t := EPSIdentityType(b[0] & 7); t {
	case EPSIdentityIMSI, EPSIdentityIMEI:
		d, err := decodeDigits(b, 15)
		return EPSMobileIdentity{Type: t, Digits: d}, err
	case EPSIdentityGUTI:
		if len(b) != 11 {
			return EPSMobileIdentity{}, fmt.Errorf("GUTI of %d octets, want 11", len(b))
		}
		p, err := ParsePLMN(b[1:4])
		return EPSMobileIdentity{Type: t, GUTI: GUTI{
			PLMN:       p,
			MMEGroupID: binary.BigEndian.Uint16(b[4:6]),
			MMECode:    b[6],
			MTMSI:      binary.BigEndian.Uint32(b[7:11]),
		}}, err
	default:
		return EPSMobileIdentity{}, fmt.Errorf("type of identity %d", t)
	}
}

// IdentityType is a type of identity of TS 24.008 §10.5.1.4 (Mobile
// identity) and TS 24.301 §9.9.3.17 (Identity type 2).
type IdentityType uint8

// Identity types.
const (
	IdentityIMSI   IdentityType = 1
	IdentityIMEI   IdentityType = 2
	IdentityIMEISV IdentityType = 3
	IdentityTMSI   IdentityType = 4
)

func (t IdentityType) String() string {
	switch t {
	case IdentityIMSI:
		return "IMSI"
	case IdentityIMEI:
		return "IMEI"
	case IdentityIMEISV:
		return "IMEISV"
	case IdentityTMSI:
		return "TMSI"
	}
	return fmt.Sprintf("identity type %d", uint8(t))
}

// MobileIdentity is the Mobile identity IE, TS 24.008 §10.5.1.4 (TS 24.301
// §9.9.2.3): an IMSI, IMEI or IMEISV (Digits) or a TMSI.
type MobileIdentity struct {
	Type   IdentityType
	Digits string
	TMSI   uint32
}

func (id MobileIdentity) String() string {
	if id.Type == IdentityTMSI {
		return fmt.Sprintf("TMSI %08x", id.TMSI)
	}
	return id.Type.String() + " " + id.Digits
}

// maxDigits is the length of the identity: 15 digits for an IMSI (TS
// 23.003 §2.2) or IMEI (§6.2.1), 16 for an IMEISV (§6.2.2).
func (t IdentityType) maxDigits() int {
	if t == IdentityIMEISV {
		return 16
	}
	return 15
}

func (id MobileIdentity) encode() ([]byte, error) {
	switch id.Type {
	case IdentityIMSI, IdentityIMEI, IdentityIMEISV:
		return encodeDigits(uint8(id.Type), id.Digits, id.Type.maxDigits())
	case IdentityTMSI:
		return binary.BigEndian.AppendUint32([]byte{0xF0 | byte(IdentityTMSI)}, id.TMSI), nil
	}
	return nil, fmt.Errorf("%w: mobile identity of type %d", ErrInvalidIE, id.Type)
}

func decodeMobileIdentity(b []byte) (MobileIdentity, error) {
	if len(b) == 0 {
		return MobileIdentity{}, fmt.Errorf("empty")
	}
	switch t := IdentityType(b[0] & 7); t {
	case IdentityIMSI, IdentityIMEI, IdentityIMEISV:
		d, err := decodeDigits(b, t.maxDigits())
		return MobileIdentity{Type: t, Digits: d}, err
	case IdentityTMSI:
		if len(b) != 5 {
			return MobileIdentity{}, fmt.Errorf("TMSI identity of %d octets, want 5", len(b))
		}
		return MobileIdentity{Type: t, TMSI: binary.BigEndian.Uint32(b[1:])}, nil
	default:
		return MobileIdentity{}, fmt.Errorf("type of identity %d", t)
	}
}

// encodeDigits codes a digit identity, TS 24.008 §10.5.1.4: octet 1 holds
// digit 1, the odd/even indicator and the type; then two digits an octet,
// the last high nibble F when the number of digits is even.
func encodeDigits(typ uint8, digits string, max int) ([]byte, error) {
	if len(digits) == 0 || len(digits) > max {
		return nil, fmt.Errorf("%w: identity %q: want 1 to %d digits", ErrInvalidIE, digits, max)
	}
	nib := make([]byte, 0, len(digits)+2)
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return nil, fmt.Errorf("%w: identity %q: not a digit", ErrInvalidIE, digits)
		}
		nib = append(nib, digits[i]-'0')
	}
	odd := byte(len(digits) & 1)
	out := []byte{nib[0]<<4 | odd<<3 | typ}
	rest := nib[1:]
	if len(rest)%2 == 1 {
		rest = append(rest, 0xF)
	}
	for i := 0; i < len(rest); i += 2 {
		out = append(out, rest[i+1]<<4|rest[i])
	}
	return out, nil
}

// decodeDigits reads a digit identity coded as encodeDigits codes it.
func decodeDigits(b []byte, max int) (string, error) {
	nib := []byte{b[0] >> 4}
	for _, x := range b[1:] {
		nib = append(nib, x&0xF, x>>4)
	}
	if b[0]&8 == 0 { // even: the last nibble is the filler
		if nib[len(nib)-1] != 0xF {
			return "", fmt.Errorf("even number of digits without the filler F")
		}
		nib = nib[:len(nib)-1]
	}
	if len(nib) == 0 || len(nib) > max {
		return "", fmt.Errorf("%d digits, want 1 to %d", len(nib), max)
	}
	s := make([]byte, len(nib))
	for i, x := range nib {
		if x > 9 {
			return "", fmt.Errorf("%X is not a digit", x)
		}
		s[i] = '0' + x
	}
	return string(s), nil
}

var errNotGUTI = errors.New("the identity is not a GUTI")
