package trace

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	ue, _, _, _ := registration(t)
	saa := cxMessage(t, false, 0)
	for _, tc := range []struct {
		proto string
		raw   []byte
		want  string
	}{
		{"SIP", ue[0].Raw, "REGISTER sip:ims.test"},
		{"sip", ue[1].Raw, "401 Unauthorized"},
		{"SIP", []byte("INVITE sip:+15550002;npdi@ims.test;user=phone SIP/2.0\r\n\r\n"), "INVITE sip:+15550002;npdi@ims.test"},
		{"SIP", []byte("\r\nINVITE tel:+15550001;phone-context=ims.test SIP/2.0\r\n\r\n"), "INVITE tel:+15550001"},
		{"SIP", []byte("SIP/2.0 200 OK\n"), "200 OK"},
		{"SIP", []byte("\r\n\r\n"), "keep-alive"},
		{"SIP", []byte("GET / HTTP/1.1\r\n"), ""},
		{"SIP", []byte("MESSAGE sip:" + strings.Repeat("a", 100) + " SIP/2.0\r\n"), "MESSAGE sip:" + strings.Repeat("a", 67) + "…"},
		{"Diameter", cxMessage(t, true, 0), "MAR"},
		{"Diameter", cxMessage(t, false, 2001), "MAA 2001"},
		{"Diameter", saa[:len(saa)-1], ""},
		{"Diameter", []byte{1, 0, 0, 20, 0x80, 0, 0x03, 0xe7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "command 999 R"},
		// An SAA whose Experimental-Result-Code is cut short.
		{"Diameter", []byte{1, 0, 0, 48, 0, 0, 1, 45, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 1, 41, 0x40, 0, 0, 28, 0, 0, 1, 10, 0x40, 0, 0, 12, 0, 0, 0x28, 0xaf, 0, 0, 1, 42, 0x40, 0, 0, 12}, "SAA"},
		{"RTP", rtpPacket(0, 7, 160), "RTP PT=0 seq=7"},
		{"SRTP", rtpPacket(0x80|8, 65535, 10), "SRTP PT=8 seq=65535"},
		{"SRTP", rtcpSR(), "SRTCP SR"},
		{"RTCP", rtcpSR(), "RTCP SR"},
		{"RTP", []byte{0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ""},
		{"NAS", []byte{7, 0x41}, ""},
	} {
		if got := Summarize(tc.proto, tc.raw); got != tc.want {
			t.Errorf("Summarize(%s, %.30q) = %q, want %q", tc.proto, tc.raw, got, tc.want)
		}
	}
	// Experimental-Result { Vendor-Id 10415, Experimental-Result-Code 5001 }.
	exp := []byte{1, 0, 0, 52, 0, 0, 1, 45, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 1, 41, 0x40, 0, 0, 32, 0, 0, 1, 10, 0x40, 0, 0, 12, 0, 0, 0x28, 0xaf, 0, 0, 1, 42, 0x40, 0, 0, 12, 0, 0, 0x13, 0x89}
	if got := SummarizeDiameter(exp); got != "SAA 5001" {
		t.Errorf("Experimental-Result: %q", got)
	}
	if got := (Event{Protocol: "NAS", Raw: []byte{7, 0x41}}).Label(); got != "NAS (2 bytes)" {
		t.Errorf("label %q", got)
	}
}
