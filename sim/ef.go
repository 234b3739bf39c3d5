package sim

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Encoders and decoders of the elementary files a phone reads, exactly as
// ETSI TS 102 221, 3GPP TS 31.102 (USIM) and TS 31.103 (ISIM) define them.

// ErrBadEF is returned (wrapped) when an EF's content does not follow its spec.
var ErrBadEF = errors.New("malformed EF content")

func efErr(ef, format string, a ...any) error {
	return fmt.Errorf("%s: %w: %s", ef, ErrBadEF, fmt.Sprintf(format, a...))
}

// swapped BCD: first digit in the low nibble, 'F' fills the last byte.
func encodeBCD(digits string, n int) ([]byte, error) {
	out := make([]byte, n)
	for i := range out {
		out[i] = 0xFF
	}
	if len(digits) > 2*n {
		return nil, fmt.Errorf("%d digits do not fit %d bytes", len(digits), n)
	}
	for i, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%q is not a digit", c)
		}
		d := c - '0'
		if i%2 == 0 {
			out[i/2] = out[i/2]&0xF0 | d
		} else {
			out[i/2] = out[i/2]&0x0F | d<<4
		}
	}
	return out, nil
}

// decodeBCD reads swapped BCD digits up to the first 'F' filler.
func decodeBCD(b []byte) (string, error) {
	var sb strings.Builder
	for i := 0; i < 2*len(b); i++ {
		d := b[i/2] & 0x0F
		if i%2 == 1 {
			d = b[i/2] >> 4
		}
		if d == 0xF {
			// Only filler may follow the first filler.
			for j := i + 1; j < 2*len(b); j++ {
				e := b[j/2] & 0x0F
				if j%2 == 1 {
					e = b[j/2] >> 4
				}
				if e != 0xF {
					return "", fmt.Errorf("digit after filler")
				}
			}
			break
		}
		if d > 9 {
			return "", fmt.Errorf("nibble %X is not a decimal digit", d)
		}
		sb.WriteByte('0' + d)
	}
	return sb.String(), nil
}

// EncodeICCID encodes EF_ICCID (2FE2), TS 102 221 §13.2: 10 bytes, swapped BCD.
func EncodeICCID(iccid string) ([]byte, error) {
	if len(iccid) < 18 || len(iccid) > 20 {
		return nil, efErr("EF_ICCID", "ICCID must be 18 to 20 digits, got %d", len(iccid))
	}
	b, err := encodeBCD(iccid, 10)
	if err != nil {
		return nil, efErr("EF_ICCID", "%v", err)
	}
	return b, nil
}

// DecodeICCID decodes EF_ICCID, TS 102 221 §13.2.
func DecodeICCID(b []byte) (string, error) {
	if len(b) != 10 {
		return "", efErr("EF_ICCID", "length %d, want 10", len(b))
	}
	s, err := decodeBCD(b)
	if err != nil {
		return "", efErr("EF_ICCID", "%v", err)
	}
	return s, nil
}

// EncodeIMSI encodes EF_IMSI (6F07), TS 31.102 §4.2.2: a length byte, then
// digit 1 in the high nibble of byte 2 above the parity/type nibble (b4 = 1 for
// an odd number of digits, b3..b1 = 001), then the other digits in swapped BCD.
func EncodeIMSI(imsi string) ([]byte, error) {
	if len(imsi) < 6 || len(imsi) > 15 {
		return nil, efErr("EF_IMSI", "IMSI must be 6 to 15 digits, got %d", len(imsi))
	}
	parity := byte(0x1)
	if len(imsi)%2 == 1 {
		parity = 0x9
	}
	rest, err := encodeBCD(imsi[1:], 7)
	if err != nil {
		return nil, efErr("EF_IMSI", "%v", err)
	}
	if imsi[0] < '0' || imsi[0] > '9' {
		return nil, efErr("EF_IMSI", "%q is not a digit", imsi[0])
	}
	out := make([]byte, 9)
	out[0] = byte((len(imsi) + 2) / 2) // bytes used after the length byte
	out[1] = (imsi[0]-'0')<<4 | parity
	copy(out[2:], rest)
	return out, nil
}

// DecodeIMSI decodes EF_IMSI, TS 31.102 §4.2.2.
func DecodeIMSI(b []byte) (string, error) {
	if len(b) != 9 {
		return "", efErr("EF_IMSI", "length %d, want 9", len(b))
	}
	n := int(b[0])
	if n < 1 || n > 8 {
		return "", efErr("EF_IMSI", "length byte %d out of range 1..8", n)
	}
	if b[1]&0x07 != 0x01 {
		return "", efErr("EF_IMSI", "identity type %d, want 1 (IMSI)", b[1]&0x07)
	}
	odd := b[1]&0x08 != 0
	digits := (b[1] >> 4)
	if digits > 9 {
		return "", efErr("EF_IMSI", "first digit nibble %X", digits)
	}
	rest, err := decodeBCD(b[2 : 1+n])
	if err != nil {
		return "", efErr("EF_IMSI", "%v", err)
	}
	imsi := string('0'+digits) + rest
	if (len(imsi)%2 == 1) != odd {
		return "", efErr("EF_IMSI", "parity bit says odd=%v but %d digits", odd, len(imsi))
	}
	if len(imsi) < 6 {
		return "", efErr("EF_IMSI", "only %d digits", len(imsi))
	}
	return imsi, nil
}

// EncodeAD encodes EF_AD (6FAD), TS 31.102 §4.2.18: UE operation mode
// (00 = normal), additional information (00 00), length of MNC in the IMSI.
func EncodeAD(mncLen int) ([]byte, error) {
	if mncLen != 2 && mncLen != 3 {
		return nil, efErr("EF_AD", "MNC length must be 2 or 3, got %d", mncLen)
	}
	return []byte{0x00, 0x00, 0x00, byte(mncLen)}, nil
}

// DecodeAD returns the MNC length from EF_AD byte 4 (b4..b1), TS 31.102 §4.2.18.
func DecodeAD(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, efErr("EF_AD", "length %d, want at least 4 (no MNC length)", len(b))
	}
	n := int(b[3] & 0x0F)
	if n != 2 && n != 3 {
		return 0, efErr("EF_AD", "MNC length %d, want 2 or 3", n)
	}
	return n, nil
}

// msisdnAlphaLen is the alpha identifier length (X) of our EF_MSISDN records.
const msisdnAlphaLen = 14

// EncodeMSISDN encodes one EF_MSISDN (6F40) record, TS 31.102 §4.2.26 (the
// EF_ADN format of §4.4.2.3): alpha identifier (X bytes), BCD length, TON/NPI,
// 10 bytes of swapped BCD, capability id, extension id. A leading '+' selects
// TON international (0x91); otherwise unknown (0x81).
func EncodeMSISDN(alpha, number string) ([]byte, error) {
	rec := make([]byte, msisdnAlphaLen+14)
	for i := range rec {
		rec[i] = 0xFF
	}
	if len(alpha) > msisdnAlphaLen {
		return nil, efErr("EF_MSISDN", "alpha identifier longer than %d", msisdnAlphaLen)
	}
	copy(rec, alpha)
	if number == "" {
		return rec, nil
	}
	ton := byte(0x81)
	digits := number
	if strings.HasPrefix(number, "+") {
		ton, digits = 0x91, number[1:]
	}
	if len(digits) == 0 || len(digits) > 20 {
		return nil, efErr("EF_MSISDN", "number must have 1 to 20 digits, got %d", len(digits))
	}
	bcd, err := encodeBCD(digits, 10)
	if err != nil {
		return nil, efErr("EF_MSISDN", "%v", err)
	}
	x := msisdnAlphaLen
	rec[x] = byte(1 + (len(digits)+1)/2)
	rec[x+1] = ton
	copy(rec[x+2:], bcd)
	return rec, nil
}

// DecodeMSISDN decodes an EF_MSISDN record; an empty record gives "".
func DecodeMSISDN(rec []byte) (alpha, number string, err error) {
	if len(rec) < 14 {
		return "", "", efErr("EF_MSISDN", "record length %d, want at least 14", len(rec))
	}
	x := len(rec) - 14
	a := rec[:x]
	for len(a) > 0 && a[len(a)-1] == 0xFF {
		a = a[:len(a)-1]
	}
	alpha = string(a)
	n := int(rec[x])
	if n == 0xFF || n == 0 {
		return alpha, "", nil
	}
	if n < 2 || n > 11 {
		return "", "", efErr("EF_MSISDN", "BCD length %d out of range 2..11", n)
	}
	digits, err := decodeBCD(rec[x+2 : x+1+n])
	if err != nil {
		return "", "", efErr("EF_MSISDN", "%v", err)
	}
	if rec[x+1]&0x70 == 0x10 {
		digits = "+" + digits
	}
	return alpha, digits, nil
}

// EncodeServiceTable encodes EF_UST / EF_IST: service n is bit (n-1)%8 of byte
// (n-1)/8, TS 31.102 §4.2.8, TS 31.103 §4.2.7.
func EncodeServiceTable(services []int, size int) []byte {
	b := make([]byte, size)
	for _, n := range services {
		if n >= 1 && n <= 8*size {
			b[(n-1)/8] |= 1 << ((n - 1) % 8)
		}
	}
	return b
}

// DecodeServiceTable lists the services a service table marks available.
func DecodeServiceTable(b []byte) []int {
	var s []int
	for i, c := range b {
		for bit := 0; bit < 8; bit++ {
			if c&(1<<bit) != 0 {
				s = append(s, 8*i+bit+1)
			}
		}
	}
	return s
}

// tlv80 builds the single TLV (tag 80) of EF_IMPI, EF_DOMAIN and an EF_IMPU
// record, TS 31.103 §4.2.2-4.2.4; size > 0 pads with 'FF' to that size.
func tlv80(ef, value string, size int) ([]byte, error) {
	if len(value) == 0 || len(value) > 0x7F {
		return nil, efErr(ef, "value must be 1 to 127 bytes, got %d", len(value))
	}
	b := append([]byte{0x80, byte(len(value))}, value...)
	if size > 0 {
		if len(b) > size {
			return nil, efErr(ef, "value of %d bytes does not fit a %d-byte record", len(value), size)
		}
		for len(b) < size {
			b = append(b, 0xFF)
		}
	}
	return b, nil
}

// untlv80 reads the tag-80 TLV at the start of b; ok=false on an empty
// ('FF'-filled) record.
func untlv80(ef string, b []byte) (string, bool, error) {
	if len(b) == 0 || b[0] == 0xFF {
		return "", false, nil
	}
	if len(b) < 2 || b[0] != 0x80 {
		return "", false, efErr(ef, "tag %02X, want 80", b[0])
	}
	n := int(b[1])
	if n >= 0x80 || 2+n > len(b) {
		return "", false, efErr(ef, "length %d overruns the %d bytes", n, len(b))
	}
	return string(b[2 : 2+n]), true, nil
}

// EncodeIMPI encodes EF_IMPI (6F02), TS 31.103 §4.2.2: tag 80, NAI (RFC 4282).
func EncodeIMPI(impi string) ([]byte, error) { return tlv80("EF_IMPI", impi, 0) }

// DecodeIMPI decodes EF_IMPI.
func DecodeIMPI(b []byte) (string, error) {
	v, ok, err := untlv80("EF_IMPI", b)
	if err == nil && !ok {
		err = efErr("EF_IMPI", "empty")
	}
	return v, err
}

// EncodeDomain encodes EF_DOMAIN (6F03), TS 31.103 §4.2.3: tag 80, home domain.
func EncodeDomain(d string) ([]byte, error) { return tlv80("EF_DOMAIN", d, 0) }

// DecodeDomain decodes EF_DOMAIN.
func DecodeDomain(b []byte) (string, error) {
	v, ok, err := untlv80("EF_DOMAIN", b)
	if err == nil && !ok {
		err = efErr("EF_DOMAIN", "empty")
	}
	return v, err
}

// EncodeIMPU encodes one EF_IMPU (6F04) record, TS 31.103 §4.2.4: tag 80, SIP
// or tel URI, padded with 'FF' to the record size.
func EncodeIMPU(uri string, size int) ([]byte, error) { return tlv80("EF_IMPU", uri, size) }

// DecodeIMPU decodes an EF_IMPU record; ok=false for an unused record.
func DecodeIMPU(rec []byte) (uri string, ok bool, err error) { return untlv80("EF_IMPU", rec) }

// P-CSCF address types in EF_PCSCF, TS 31.103 §4.2.8.
const (
	PCSCFTypeFQDN = 0x00
	PCSCFTypeIPv4 = 0x01
	PCSCFTypeIPv6 = 0x02
)

// EncodePCSCF encodes one EF_PCSCF (6F09) record, TS 31.103 §4.2.8: tag 80,
// length, address type, address (FQDN text, or 4/16 address bytes).
// For example 192.168.12.34 is 80 05 01 C0 A8 0C 22.
func EncodePCSCF(addr string, size int) ([]byte, error) {
	var body []byte
	if ip, err := netip.ParseAddr(addr); err == nil {
		if ip.Is4() {
			a := ip.As4()
			body = append([]byte{PCSCFTypeIPv4}, a[:]...)
		} else {
			a := ip.As16()
			body = append([]byte{PCSCFTypeIPv6}, a[:]...)
		}
	} else {
		if addr == "" || len(addr) > 120 || strings.ContainsAny(addr, " /:") {
			return nil, efErr("EF_PCSCF", "%q is neither an IP address nor an FQDN", addr)
		}
		body = append([]byte{PCSCFTypeFQDN}, addr...)
	}
	b := append([]byte{0x80, byte(len(body))}, body...)
	if size > 0 {
		if len(b) > size {
			return nil, efErr("EF_PCSCF", "address does not fit a %d-byte record", size)
		}
		for len(b) < size {
			b = append(b, 0xFF)
		}
	}
	return b, nil
}

// DecodePCSCF decodes an EF_PCSCF record; ok=false for an unused record.
func DecodePCSCF(rec []byte) (addr string, ok bool, err error) {
	if len(rec) == 0 || rec[0] == 0xFF {
		return "", false, nil
	}
	if len(rec) < 3 || rec[0] != 0x80 {
		return "", false, efErr("EF_PCSCF", "tag %02X, want 80", rec[0])
	}
	n := int(rec[1])
	if n < 1 || n >= 0x80 || 2+n > len(rec) {
		return "", false, efErr("EF_PCSCF", "length %d overruns the %d bytes", n, len(rec))
	}
	v := rec[3 : 2+n]
	switch rec[2] {
	case PCSCFTypeFQDN:
		if len(v) == 0 {
			return "", false, efErr("EF_PCSCF", "empty FQDN")
		}
		return string(v), true, nil
	case PCSCFTypeIPv4:
		if len(v) != 4 {
			return "", false, efErr("EF_PCSCF", "IPv4 address of %d bytes", len(v))
		}
		return netip.AddrFrom4([4]byte(v)).String(), true, nil
	case PCSCFTypeIPv6:
		if len(v) != 16 {
			return "", false, efErr("EF_PCSCF", "IPv6 address of %d bytes", len(v))
		}
		return netip.AddrFrom16([16]byte(v)).String(), true, nil
	}
	return "", false, efErr("EF_PCSCF", "address type %02X unknown", rec[2])
}

// Application is an entry of EF_DIR.
type Application struct {
	AID   []byte
	Label string
}

// EncodeDIRRecord encodes one EF_DIR (2F00) record, TS 102 221 §13.1: an
// application template 61 holding the AID (4F) and a label (50), padded 'FF'.
func EncodeDIRRecord(app Application, size int) ([]byte, error) {
	if len(app.AID) < 5 || len(app.AID) > 16 {
		return nil, efErr("EF_DIR", "AID must be 5 to 16 bytes, got %d", len(app.AID))
	}
	inner := append([]byte{0x4F, byte(len(app.AID))}, app.AID...)
	if app.Label != "" {
		inner = append(inner, 0x50, byte(len(app.Label)))
		inner = append(inner, app.Label...)
	}
	if len(inner) > 0x7F {
		return nil, efErr("EF_DIR", "template too long")
	}
	b := append([]byte{0x61, byte(len(inner))}, inner...)
	if len(b) > size {
		return nil, efErr("EF_DIR", "template of %d bytes does not fit a %d-byte record", len(b), size)
	}
	for len(b) < size {
		b = append(b, 0xFF)
	}
	return b, nil
}

// DecodeDIRRecord decodes an EF_DIR record; ok=false for an unused record.
func DecodeDIRRecord(rec []byte) (app Application, ok bool, err error) {
	if len(rec) == 0 || rec[0] == 0xFF {
		return app, false, nil
	}
	if rec[0] != 0x61 || len(rec) < 2 || int(rec[1])+2 > len(rec) || rec[1] >= 0x80 {
		return app, false, efErr("EF_DIR", "not an application template (61)")
	}
	tlvs, err := parseTLVs(rec[2 : 2+int(rec[1])])
	if err != nil {
		return app, false, efErr("EF_DIR", "%v", err)
	}
	for _, t := range tlvs {
		switch t.tag {
		case 0x4F:
			app.AID = t.val
		case 0x50:
			app.Label = string(t.val)
		}
	}
	if len(app.AID) == 0 {
		return app, false, efErr("EF_DIR", "template without AID (4F)")
	}
	return app, true, nil
}

type tlv struct {
	tag byte
	val []byte
}

// parseTLVs reads a sequence of one-byte-tag BER-TLVs with short or 81/82
// lengths (TS 102 221 §11.1.1.3, ISO 7816-4 §5.2.2).
func parseTLVs(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		if b[0] == 0xFF || b[0] == 0x00 {
			break // padding
		}
		if len(b) < 2 {
			return nil, fmt.Errorf("truncated TLV")
		}
		tag, n, hdr := b[0], int(b[1]), 2
		switch {
		case b[1] == 0x81:
			if len(b) < 3 {
				return nil, fmt.Errorf("truncated TLV length")
			}
			n, hdr = int(b[2]), 3
		case b[1] == 0x82:
			if len(b) < 4 {
				return nil, fmt.Errorf("truncated TLV length")
			}
			n, hdr = int(b[2])<<8|int(b[3]), 4
		case b[1] >= 0x80:
			return nil, fmt.Errorf("unsupported TLV length %02X", b[1])
		}
		if hdr+n > len(b) {
			return nil, fmt.Errorf("TLV %02X length %d overruns %d bytes", tag, n, len(b)-hdr)
		}
		out = append(out, tlv{tag: tag, val: b[hdr : hdr+n]})
		b = b[hdr+n:]
	}
	return out, nil
}
