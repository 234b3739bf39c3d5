package trace

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/imslab/imslab/internal/diameter"
)

// maxSummary bounds a summary's length, in runes.
const maxSummary = 80

// Summarize labels a message of a protocol the package knows ("SIP",
// "Diameter", "RTP", "SRTP", "RTCP", "SRTCP"; case-insensitive), "" for
// others and for bytes it cannot read.
func Summarize(protocol string, raw []byte) string {
	switch strings.ToUpper(protocol) {
	case "SIP":
		return SummarizeSIP(raw)
	case "DIAMETER":
		return SummarizeDiameter(raw)
	case "RTP", "SRTP", "RTCP", "SRTCP":
		return SummarizeRTP(protocol, raw)
	}
	return ""
}

// SummarizeSIP shortens a SIP message's start line (RFC 3261 §7.1, §7.2):
// method and request-URI without parameters ("INVITE tel:+15550001"), or
// status code and reason ("180 Ringing"); "keep-alive" for a CRLF
// keep-alive (RFC 5626 §3.5.1); "" if raw is not SIP.
func SummarizeSIP(raw []byte) string {
	trimmed := bytes.TrimLeft(raw, "\r\n")
	if len(bytes.TrimSpace(raw)) == 0 {
		if len(raw) > 0 {
			return "keep-alive"
		}
		return ""
	}
	line, _, _ := bytes.Cut(trimmed, []byte("\n"))
	f := strings.Fields(strings.TrimSpace(string(line)))
	switch {
	case len(f) >= 2 && strings.HasPrefix(f[0], "SIP/"):
		return shorten(strings.Join(f[1:], " "))
	case len(f) == 3 && strings.HasPrefix(f[2], "SIP/"):
		return shorten(f[0] + " " + shortURI(f[1]))
	}
	return ""
}

// shortURI drops a SIP or tel URI's parameters and headers (RFC 3261
// §19.1.1), keeping those of its user part.
func shortURI(u string) string {
	at := strings.LastIndexByte(u, '@') + 1
	if i := strings.IndexAny(u[at:], ";?"); i >= 0 {
		return u[:at+i]
	}
	return u
}

func shorten(s string) string {
	r := []rune(s)
	if len(r) <= maxSummary {
		return s
	}
	return string(r[:maxSummary-1]) + "…"
}

// Diameter header flags and AVPs, RFC 6733 §3, §4.1, §7.1, §7.6.
const (
	diamHeaderLen          = 20
	diamFlagRequest        = 0x80
	avpFlagVendor          = 0x80
	avpResultCode          = 268
	avpExperimentalResult  = 297
	avpExperimentalResCode = 298
)

// diamAbbrev holds the abbreviations the specifications give commands
// (RFC 6733 §3.1, TS 29.229 §6.1, TS 29.272 §7.2, TS 29.214 §5.6).
var diamAbbrev = map[uint32]string{
	diameter.CmdCE: "CE", diameter.CmdDW: "DW", diameter.CmdDP: "DP",
	diameter.CmdUA: "UA", diameter.CmdSA: "SA", diameter.CmdLI: "LI", diameter.CmdMA: "MA",
	diameter.CmdRT: "RT", diameter.CmdPP: "PP",
	diameter.CmdUL: "UL", diameter.CmdCL: "CL", diameter.CmdAI: "AI", diameter.CmdPU: "PU",
	319: "ID", 320: "DS", 322: "RS", 323: "NO", // S6a Insert/Delete-Subscriber-Data, Reset, Notify
	258: "RA", 265: "AA", 274: "AS", 275: "ST", // Rx
	272: "CC", // Gx, Ro
}

// SummarizeDiameter names a Diameter message by its command's abbreviation
// and R or A ("MAR"), with an answer's Result-Code or
// Experimental-Result-Code ("MAA 2001", "SAA 5001"); "" if raw is not a
// Diameter message.
func SummarizeDiameter(raw []byte) string {
	if len(raw) < diamHeaderLen || raw[0] != 1 {
		return ""
	}
	n := int(uint32(raw[1])<<16 | uint32(raw[2])<<8 | uint32(raw[3]))
	if n < diamHeaderLen || n > len(raw) {
		return ""
	}
	request := raw[4]&diamFlagRequest != 0
	code := uint32(raw[5])<<16 | uint32(raw[6])<<8 | uint32(raw[7])
	name, ok := diamAbbrev[code]
	if !ok {
		name = fmt.Sprintf("command %d ", code)
	}
	if request {
		return name + "R"
	}
	name += "A"
	if rc, ok := diamResult(raw[diamHeaderLen:n]); ok {
		name += fmt.Sprintf(" %d", rc)
	}
	return name
}

// diamResult finds Result-Code, or the Experimental-Result-Code inside
// Experimental-Result, among AVPs.
func diamResult(avps []byte) (uint32, bool) {
	var exp []byte
	for len(avps) >= 8 {
		code := binary.BigEndian.Uint32(avps)
		flags := avps[4]
		l := int(uint32(avps[5])<<16 | uint32(avps[6])<<8 | uint32(avps[7]))
		hl := 8
		if flags&avpFlagVendor != 0 {
			hl = 12
		}
		if l < hl || l > len(avps) {
			break
		}
		data := avps[hl:l]
		vendor := flags&avpFlagVendor != 0
		switch {
		case code == avpResultCode && !vendor && len(data) == 4:
			return binary.BigEndian.Uint32(data), true
		case code == avpExperimentalResult && !vendor:
			exp = data
		case code == avpExperimentalResCode && !vendor && len(data) == 4:
			return binary.BigEndian.Uint32(data), true
		}
		next := (l + 3) &^ 3
		if next > len(avps) {
			break
		}
		avps = avps[next:]
	}
	if exp != nil {
		return diamResult(exp)
	}
	return 0, false
}

// rtcpTypes names RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1, RFC
// 3611 §2).
var rtcpTypes = map[byte]string{200: "SR", 201: "RR", 202: "SDES", 203: "BYE", 204: "APP", 205: "RTPFB", 206: "PSFB", 207: "XR"}

// SummarizeRTP labels an RTP or SRTP packet "RTP PT=0 seq=N" (RFC 3550
// §5.1; the header of an SRTP packet is clear, RFC 3711 §3.1), and an RTCP
// packet (the second byte in 192-223, RFC 5761 §4) "RTCP SR" or "SRTCP
// SR"; "" if raw is not RTP version 2.
func SummarizeRTP(protocol string, raw []byte) string {
	if len(raw) < 8 || raw[0]>>6 != 2 {
		return ""
	}
	secure := strings.HasPrefix(strings.ToUpper(protocol), "S")
	if isRTCP(raw) {
		p := "RTCP"
		if secure {
			p = "SRTCP"
		}
		if n, ok := rtcpTypes[raw[1]]; ok {
			return p + " " + n
		}
		return fmt.Sprintf("%s PT=%d", p, raw[1])
	}
	if len(raw) < 12 {
		return ""
	}
	p := "RTP"
	if secure {
		p = "SRTP"
	}
	return fmt.Sprintf("%s PT=%d seq=%d", p, raw[1]&0x7f, binary.BigEndian.Uint16(raw[2:]))
}

// isRTCP tells RTCP from RTP on a shared port (RFC 5761 §4).
func isRTCP(raw []byte) bool {
	return len(raw) >= 2 && raw[1] >= 192 && raw[1] <= 223
}

// payloadNames are the static RTP payload types of RFC 3551 §6 a lab call
// may use.
var payloadNames = map[byte]string{0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 13: "CN", 18: "G729"}

// payloadName names an RTP payload type: "PCMU", or "PT 96" for a dynamic
// one.
func payloadName(pt byte) string {
	if n, ok := payloadNames[pt]; ok {
		return n
	}
	return fmt.Sprintf("PT %d", pt)
}
