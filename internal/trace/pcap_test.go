package trace

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/imslab/imslab/internal/tsharktest"
)

var (
	t0  = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ue  = netip.MustParseAddrPort("127.0.0.1:5070")
	pcf = netip.MustParseAddrPort("127.0.0.1:5060")
	c6  = netip.MustParseAddrPort("[::1]:40001")
	s6  = netip.MustParseAddrPort("[::1]:3868")
)

type frame struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func write(t *testing.T, lt layers.LinkType, pkts ...Packet) (layers.LinkType, []frame) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPcapWriterLinkType(&buf, lt)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{ci, data})
	}
	return r.LinkType(), out
}

// csum is the Internet checksum (RFC 1071) of b, folded.
func csum(b []byte) uint16 {
	var s uint32
	for len(b) > 1 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// pseudo returns the IPv4 or IPv6 pseudo-header for a transport checksum.
func pseudo(src, dst []byte, proto byte, length int) []byte {
	var p []byte
	p = append(p, src...)
	p = append(p, dst...)
	if len(src) == 4 {
		return append(p, 0, proto, byte(length>>8), byte(length))
	}
	p = binary.BigEndian.AppendUint32(p, uint32(length))
	return append(p, 0, 0, 0, proto)
}

// checkChecksums verifies the IPv4 header and TCP/UDP checksums of an
// Ethernet frame independently of gopacket: each sums to zero. Frames
// shorter than 60 bytes are padded (IEEE 802.3), hence the IP lengths.
func checkChecksums(t *testing.T, data []byte) {
	t.Helper()
	eth := data[14:]
	if len(data) < 60 {
		t.Errorf("Ethernet frame of %d bytes", len(data))
	}
	var src, dst, l4 []byte
	var proto byte
	switch eth[0] >> 4 {
	case 4:
		ihl := int(eth[0]&0x0f) * 4
		if csum(eth[:ihl]) != 0 {
			t.Errorf("bad IPv4 header checksum")
		}
		total := int(binary.BigEndian.Uint16(eth[2:]))
		if total > len(eth) || (len(data) > 60 && total != len(eth)) {
			t.Errorf("IPv4 total length %d, frame has %d", total, len(eth))
		}
		src, dst, proto, l4 = eth[12:16], eth[16:20], eth[9], eth[ihl:total]
	case 6:
		pl := int(binary.BigEndian.Uint16(eth[4:]))
		if 40+pl > len(eth) || (len(data) > 60 && 40+pl != len(eth)) {
			t.Errorf("IPv6 payload length %d, frame has %d", pl, len(eth)-40)
		}
		src, dst, proto, l4 = eth[8:24], eth[24:40], eth[6], eth[40:40+pl]
	default:
		t.Fatalf("not IP: %x", eth[:1])
	}
	if csum(append(pseudo(src, dst, proto, len(l4)), l4...)) != 0 {
		t.Errorf("bad transport checksum (protocol %d)", proto)
	}
}

func TestTCPFlow(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 300) // 3000 bytes: 1400 + 1400 + 200
	lt, frames := write(t, layers.LinkTypeEthernet,
		Packet{Time: t0, Src: ue, Dst: pcf, Proto: "tcp", Payload: []byte("REGISTER")},
		Packet{Time: t0.Add(time.Millisecond), Src: pcf, Dst: ue, Proto: "tcp", Payload: big},
		Packet{Time: t0.Add(2 * time.Millisecond), Src: ue, Dst: pcf, Proto: "tcp", Payload: []byte("ACK")},
	)
	if lt != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", lt)
	}
	if len(frames) != 3+1+3+1 {
		t.Fatalf("%d frames, want 8 (handshake, 1, 3 segments, 1)", len(frames))
	}
	type seg struct {
		fromUE        bool
		syn, ack, psh bool
		seq, acked    uint32
		payload       []byte
	}
	var segs []seg
	for _, f := range frames {
		checkChecksums(t, f.data)
		p := gopacket.NewPacket(f.data, layers.LayerTypeEthernet, gopacket.Default)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			t.Fatalf("no TCP layer: %v", p)
		}
		if len(tcp.Payload) > MaxSegment {
			t.Errorf("segment of %d bytes", len(tcp.Payload))
		}
		segs = append(segs, seg{tcp.SrcPort == 5070, tcp.SYN, tcp.ACK, tcp.PSH, tcp.Seq, tcp.Ack, tcp.Payload})
	}
	// Handshake: SYN, SYN-ACK, ACK (RFC 9293 §3.5).
	syn, synack, ack := segs[0], segs[1], segs[2]
	if !syn.fromUE || !syn.syn || syn.ack || synack.fromUE || !synack.syn || !synack.ack || !ack.fromUE || ack.syn || !ack.ack {
		t.Fatalf("handshake flags wrong: %+v %+v %+v", syn, synack, ack)
	}
	if synack.acked != syn.seq+1 || ack.seq != syn.seq+1 || ack.acked != synack.seq+1 {
		t.Fatalf("handshake numbers wrong: %+v %+v %+v", syn, synack, ack)
	}
	// Data: contiguous per direction, acknowledging all the peer sent.
	next := map[bool]uint32{true: syn.seq + 1, false: synack.seq + 1}
	got := map[bool][]byte{}
	for _, s := range segs[3:] {
		if !s.psh || !s.ack {
			t.Errorf("data segment without PSH|ACK: %+v", s)
		}
		if s.seq != next[s.fromUE] {
			t.Errorf("seq %d, want %d", s.seq, next[s.fromUE])
		}
		if s.acked != next[!s.fromUE] {
			t.Errorf("ack %d, want %d", s.acked, next[!s.fromUE])
		}
		next[s.fromUE] += uint32(len(s.payload))
		got[s.fromUE] = append(got[s.fromUE], s.payload...)
	}
	if string(got[true]) != "REGISTERACK" || !bytes.Equal(got[false], big) {
		t.Errorf("payloads not contiguous: %q / %d bytes", got[true], len(got[false]))
	}
	if !frames[3].ci.Timestamp.Equal(t0) || !frames[7].ci.Timestamp.Equal(t0.Add(2*time.Millisecond)) {
		t.Errorf("timestamps %v %v", frames[3].ci.Timestamp, frames[7].ci.Timestamp)
	}
}

func TestUDPAndIPv6(t *testing.T) {
	_, frames := write(t, layers.LinkTypeEthernet,
		Packet{Time: t0, Src: ue, Dst: pcf, Proto: "udp", Payload: []byte("OPTIONS sip:x SIP/2.0\r\n\r\n")},
		Packet{Time: t0, Src: c6, Dst: s6, Proto: "udp", Payload: []byte("odd")},
		Packet{Time: t0, Src: c6, Dst: s6, Proto: "tcp", Payload: []byte("v6")},
		// An IPv4-mapped IPv6 address is written as IPv4.
		Packet{Time: t0, Src: netip.MustParseAddrPort("[::ffff:127.0.0.1]:1"), Dst: pcf, Proto: "udp", Payload: []byte("x")},
	)
	if len(frames) != 1+1+4+1 {
		t.Fatalf("%d frames", len(frames))
	}
	for i, f := range frames {
		checkChecksums(t, f.data)
		p := gopacket.NewPacket(f.data, layers.LayerTypeEthernet, gopacket.Default)
		if i == 0 || i == 6 {
			if p.Layer(layers.LayerTypeIPv4) == nil {
				t.Errorf("frame %d not IPv4", i)
			}
		} else if p.Layer(layers.LayerTypeIPv6) == nil {
			t.Errorf("frame %d not IPv6", i)
		}
		if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			if int(udp.Length) != 8+len(udp.Payload) {
				t.Errorf("UDP length %d for %d bytes", udp.Length, len(udp.Payload))
			}
		}
	}
}

func TestRawAndUser0(t *testing.T) {
	lt, frames := write(t, layers.LinkTypeRaw, Packet{Time: t0, Src: ue, Dst: pcf, Proto: "udp", Payload: []byte("x")})
	if lt != layers.LinkTypeRaw || len(frames) != 1 || frames[0].data[0] != 0x45 || len(frames[0].data) != 20+8+1 {
		t.Errorf("raw: %v % x", lt, frames)
	}
	nas := []byte{0x07, 0x56, 0x08, 0x09, 0x10, 0x10, 0x00, 0x00, 0x00, 0x00, 0x10}
	lt, frames = write(t, LinkTypeUser0, Packet{Time: t0, Payload: nas}, Packet{Payload: nas[:2]})
	if lt != LinkTypeUser0 || len(frames) != 2 || !bytes.Equal(frames[0].data, nas) || !bytes.Equal(frames[1].data, nas[:2]) {
		t.Errorf("user0: %v %v", lt, frames)
	}
	// A zero Time follows the previous record by 1 µs.
	if d := frames[1].ci.Timestamp.Sub(frames[0].ci.Timestamp); d != time.Microsecond {
		t.Errorf("zero Time gave %v after the previous record", d)
	}
}

func TestWriteErrors(t *testing.T) {
	w, err := NewPcapWriter(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]Packet{
		"mixed families": {Src: ue, Dst: s6, Proto: "udp"},
		"protocol":       {Src: ue, Dst: pcf, Proto: "sctp"},
		"no address":     {Dst: pcf, Proto: "udp"},
		"UDP too large":  {Src: ue, Dst: pcf, Proto: "udp", Payload: make([]byte, 70000)},
	} {
		if err := w.Write(p); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "pcap: ") {
			t.Errorf("%s: error %q", name, err)
		}
	}
}

// TestTshark: tshark reads the synthetic frames as SIP over UDP and TCP,
// with valid checksums and a clean TCP stream (tsharktest.Check).
func TestTshark(t *testing.T) {
	tsharktest.Require(t)
	path := filepath.Join(t.TempDir(), "sip.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewPcapWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	invite := "INVITE sip:bob@ims.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@ims.test>;tag=1\r\nTo: <sip:bob@ims.test>\r\nCall-ID: c1\r\n" +
		"CSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5070;transport=tcp>\r\nContent-Type: application/sdp\r\n"
	body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n" +
		strings.Repeat("a=x-pad:0123456789abcdef0123456789abcdef\r\n", 50)
	invite += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	options := "OPTIONS sip:pcscf.ims.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@ims.test>;tag=2\r\nTo: <sip:pcscf.ims.test>\r\nCall-ID: c2\r\n" +
		"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	for _, p := range []Packet{
		{Time: t0, Src: ue, Dst: pcf, Proto: "udp", Payload: []byte(options)},
		{Time: t0, Src: netip.AddrPortFrom(ue.Addr(), 40000), Dst: pcf, Proto: "tcp", Payload: []byte(invite)},
		{Time: t0, Src: netip.MustParseAddrPort("[::1]:5070"), Dst: netip.MustParseAddrPort("[::1]:5060"), Proto: "udp", Payload: []byte(options)},
	} {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	tsharktest.Check(t, path, tsharktest.ValidateChecksums()...)
	rows := tsharktest.Fields(t, path, []string{"sip.Method", "ip.version", "ipv6.version"}, "-Y", "sip")
	var methods []string
	for _, r := range rows {
		methods = append(methods, r[0])
	}
	if strings.Join(methods, " ") != "OPTIONS INVITE OPTIONS" {
		t.Errorf("tshark sees SIP methods %q (rows %q)", methods, rows)
	}
}
