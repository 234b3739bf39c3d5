package trace

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/tsharktest"
)

// call returns a registration's merged trace, then SIP over TCP (P-CSCF to
// S-CSCF on 6060), an RTP stream with rtcp-mux, an SRTP stream and its
// SRTCP, and a NAS message a pcap cannot carry.
func call(t testing.TB) []Event {
	t.Helper()
	events := Merge(registration(t))
	at := t0.Add(time.Second)
	tcpC := netip.MustParseAddrPort("127.0.0.1:45000")
	inv := sipMsg("INVITE tel:+15550002 SIP/2.0", []string{"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKi1",
		"Max-Forwards: 69", "From: <sip:alice@ims.test>;tag=i1", "To: <tel:+15550002>", "Call-ID: call1@127.0.0.1",
		"CSeq: 1 INVITE", "Contact: <sip:alice@127.0.0.1:5070>", "Content-Type: application/sdp"},
		"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41002 RTP/AVP 0\r\n")
	ringing := sipMsg("SIP/2.0 180 Ringing", []string{"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKi1",
		"From: <sip:alice@ims.test>;tag=i1", "To: <tel:+15550002>;tag=b1", "Call-ID: call1@127.0.0.1", "CSeq: 1 INVITE"}, "")
	events = append(events,
		Event{Time: at, Node: "P-CSCF", Protocol: "SIP", Sent: true, Network: "tcp", Src: tcpC, Dst: aSCSCF, Raw: inv},
		Event{Time: at.Add(time.Millisecond), Node: "S-CSCF", Protocol: "SIP", Sent: true, Network: "tcp", Src: aSCSCF, Dst: tcpC, Raw: ringing},
		Event{Time: at.Add(2 * time.Millisecond), Node: "UE alice", Protocol: "SIP", Sent: true, Network: "udp", Src: aUE, Dst: aPCSCF, Raw: []byte("\r\n\r\n")},
		Event{Time: at.Add(3 * time.Millisecond), Node: "UE alice", Protocol: "NAS", Sent: true, Raw: []byte{0x07, 0x45}},
	)
	alice, bob := netip.MustParseAddrPort("127.0.0.1:41002"), netip.MustParseAddrPort("127.0.0.1:41004")
	at = at.Add(time.Second)
	for i := range 5 {
		ts := at.Add(time.Duration(i) * 20 * time.Millisecond)
		srtp := append(rtpPacket(8, uint16(100+i), 160), bytes.Repeat([]byte{0xaa}, 10)...) // + auth tag
		events = append(events,
			Event{Time: ts, Node: "UE alice", Protocol: "RTP", Sent: true, Network: "udp", Src: alice, Dst: bob, Raw: rtpPacket(0, uint16(i), 160)},
			Event{Time: ts, Node: "UE bob", Protocol: "SRTP", Sent: true, Network: "udp", Src: bob, Dst: alice, Raw: srtp},
		)
	}
	srtcp := append(rtcpSR(), 0x80, 0, 0, 1) // E flag and SRTCP index, RFC 3711 §3.4
	srtcp = append(srtcp, bytes.Repeat([]byte{0xbb}, 10)...)
	events = append(events,
		Event{Time: at.Add(time.Second), Node: "UE alice", Protocol: "RTP", Sent: true, Network: "udp", Src: alice, Dst: bob, Raw: rtcpSR()},
		Event{Time: at.Add(time.Second), Node: "UE bob", Protocol: "SRTCP", Sent: true, Network: "udp",
			Src: netip.AddrPortFrom(bob.Addr(), bob.Port()+1), Dst: netip.AddrPortFrom(alice.Addr(), alice.Port()+1), Raw: srtcp},
	)
	return events
}

func TestDecodeAs(t *testing.T) {
	got := strings.Join(DecodeAs(call(t)), " ")
	want := "-d tcp.port==3869,diameter -d tcp.port==6060,sip -d udp.port==5070,sip -d udp.port==6060,sip -d udp.port==41002,rtp -d udp.port==41003,rtcp -d udp.port==41004,rtp"
	if got != want {
		t.Errorf("DecodeAs:\n got %s\nwant %s", got, want)
	}
}

// TestPcapTshark: SIP over UDP and TCP, Diameter over TCP, RTP, SRTP and
// RTCP off their registered ports decode cleanly with WritePcap's
// DecodeAs.
func TestPcapTshark(t *testing.T) {
	tsharktest.Require(t)
	path := filepath.Join(t.TempDir(), "call.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	events := call(t)
	info, err := WritePcap(f, events)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if info.Written != len(events)-1 || info.Skipped != 1 {
		t.Errorf("written %d, skipped %d of %d events", info.Written, info.Skipped, len(events))
	}
	args := append(slices.Clone(info.DecodeAs), tsharktest.ValidateChecksums()...)
	tsharktest.Check(t, path, args...)
	if u := tsharktest.UnknownDiameterAVPs(t, path, info.DecodeAs...); len(u) > 0 {
		t.Errorf("AVPs tshark does not know: %v", u)
	}
	var got []string
	for _, r := range tsharktest.Fields(t, path, []string{"frame.protocols", "sip.Method", "sip.Status-Code", "diameter.cmd.code", "rtp.p_type", "rtcp.pt"}, info.DecodeAs...) {
		r[0] = r[0][strings.LastIndexByte(r[0], ':')+1:] // the innermost protocol
		got = append(got, strings.Join(slices.DeleteFunc(r, func(s string) bool { return s == "" }), "/"))
	}
	want := []string{"sip/REGISTER", "sip/REGISTER", "tcp", "tcp", "tcp", "diameter/303", "diameter/303", "sip/401", "sip/401",
		"tcp", "tcp", "tcp", "sdp/INVITE", "sip/180", "data", // the CRLF keep-alive
		"rtp/0", "rtp/8", "rtp/0", "rtp/8", "rtp/0", "rtp/8", "rtp/0", "rtp/8", "rtp/0", "rtp/8", "rtcp/200", "rtcp/200"}
	if !slices.Equal(got, want) {
		t.Errorf("tshark reads:\n%q\nwant\n%q", got, want)
	}
}
