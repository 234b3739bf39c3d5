package sim

import (
	"errors"
	"fmt"
)

// Instructions used by a UICC, ETSI TS 102 221 §10.1.2.
const (
	InsSelect       = 0xA4
	InsStatus       = 0xF2
	InsReadBinary   = 0xB0
	InsUpdateBinary = 0xD6
	InsReadRecord   = 0xB2
	InsVerify       = 0x20
	InsAuthenticate = 0x88
	InsGetResponse  = 0xC0
)

// Command is a parsed short command APDU, ISO 7816-4 §5.1.
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	// Le is the expected response length (1..256); 0 when absent.
	Le int
	// HasLe tells whether the APDU carried an Le byte (cases 2 and 4).
	HasLe bool
}

// errBadAPDU means the bytes are not a short command APDU.
var errBadAPDU = errors.New("malformed command APDU")

// ParseCommand parses a short command APDU in one of the four cases of
// ISO 7816-4 §5.1 (extended lengths are not used by a UICC over T=0).
func ParseCommand(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, fmt.Errorf("%w: %d bytes, a header needs 4", errBadAPDU, len(b))
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
	case len(body) == 1: // case 2
		c.Le, c.HasLe = leValue(body[0]), true
	default:
		lc := int(body[0])
		switch {
		case lc == 0:
			return Command{}, fmt.Errorf("%w: Lc=0 with %d bytes following (extended length is not supported)", errBadAPDU, len(body)-1)
		case len(body) == 1+lc: // case 3
			c.Data = body[1:]
		case len(body) == 2+lc: // case 4
			c.Data = body[1 : 1+lc]
			c.Le, c.HasLe = leValue(body[1+lc]), true
		default:
			return Command{}, fmt.Errorf("%w: Lc=%d but %d data bytes", errBadAPDU, lc, len(body)-1)
		}
	}
	return c, nil
}

func leValue(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

// Bytes encodes the command as a short APDU.
func (c Command) Bytes() []byte {
	b := []byte{c.CLA, c.INS, c.P1, c.P2}
	if len(c.Data) > 0 {
		b = append(b, byte(len(c.Data)))
		b = append(b, c.Data...)
	}
	if c.HasLe {
		b = append(b, byte(c.Le)) // 256 encodes as 00
	}
	return b
}

// DescribeCommand names a command APDU for a trace line, e.g.
// "SELECT by AID (FCP)" or "READ RECORD 1 (absolute)".
func DescribeCommand(apdu []byte) string {
	c, err := ParseCommand(apdu)
	if err != nil {
		return "(malformed APDU)"
	}
	switch c.INS {
	case InsSelect:
		how := map[byte]string{0x00: "by FID", 0x01: "child DF", 0x03: "parent DF", 0x04: "by AID", 0x08: "by path from MF", 0x09: "by path from current DF"}[c.P1]
		if how == "" {
			how = fmt.Sprintf("P1=%02X", c.P1)
		}
		target := spaced(c.Data)
		if c.P1 == 0x00 && len(c.Data) == 2 {
			target = fileName(uint16(c.Data[0])<<8 | uint16(c.Data[1]))
		}
		ret := "no data"
		switch c.P2 & 0x0C {
		case 0x04:
			ret = "FCP"
		case 0x00:
			ret = "FCI"
		}
		return fmt.Sprintf("SELECT %s %s (%s)", how, target, ret)
	case InsReadBinary:
		if c.P1&0x80 != 0 {
			return fmt.Sprintf("READ BINARY SFI %02X offset %d, %d bytes", c.P1&0x1F, c.P2, c.Le%256)
		}
		return fmt.Sprintf("READ BINARY offset %d, %d bytes", int(c.P1)<<8|int(c.P2), c.Le%256)
	case InsReadRecord:
		mode := map[byte]string{0x02: "next", 0x03: "previous", 0x04: "absolute"}[c.P2&0x07]
		s := fmt.Sprintf("READ RECORD %d (%s)", c.P1, mode)
		if sfi := c.P2 >> 3; sfi != 0 {
			s += fmt.Sprintf(" SFI %02X", sfi)
		}
		return s
	case InsStatus:
		return "STATUS"
	case InsGetResponse:
		return fmt.Sprintf("GET RESPONSE %d bytes", c.Le%256)
	case InsVerify:
		if len(c.Data) == 0 {
			return fmt.Sprintf("VERIFY PIN %02X (ask retries)", c.P2)
		}
		return fmt.Sprintf("VERIFY PIN %02X", c.P2)
	case InsAuthenticate:
		ctx := map[byte]string{0x80: "GSM context", 0x81: "3G/IMS AKA context"}[c.P2]
		if ctx == "" {
			ctx = fmt.Sprintf("P2=%02X", c.P2)
		}
		return "AUTHENTICATE " + ctx + " (RAND, AUTN)"
	case InsUpdateBinary:
		return "UPDATE BINARY"
	}
	return fmt.Sprintf("INS %02X", c.INS)
}
