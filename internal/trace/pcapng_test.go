package trace

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/imslab/imslab/internal/tsharktest"
)

// The EPC of the fixtures: the UE's and the MME's ends of the s1lite
// connection, the MME's and the gateway's GTP-C ports (the MME's off the
// registered 2123) and the eNB's and the gateway's GTP-U ports (the eNB's
// off 2152).
var (
	aUEs1  = netip.MustParseAddrPort("127.0.0.1:40100")
	aMMEs1 = netip.MustParseAddrPort("127.0.0.1:36412")
	aMMEc  = netip.MustParseAddrPort("127.0.0.1:40123")
	aGWc   = netip.MustParseAddrPort("127.0.0.1:2123")
	aENBu  = netip.MustParseAddrPort("127.0.0.1:42152")
	aGWu   = netip.MustParseAddrPort("127.0.0.1:2152")
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tpdu builds a GTP-U T-PDU (TS 29.281 §5.1: version 1, PT 1, no optional
// fields, message type 255) carrying an IPv4/UDP packet from src to dst.
func tpdu(t testing.TB, teid uint32, src, dst netip.AddrPort, payload string) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	inner := buf.Bytes()
	b := make([]byte, 8, 8+len(inner))
	b[0], b[1] = 0x30, 0xff
	binary.BigEndian.PutUint16(b[2:], uint16(len(inner)))
	binary.BigEndian.PutUint32(b[4:], teid)
	return append(b, inner...)
}

// epc returns the registration's merged trace with, around it, an attach's
// NAS PDUs as the UE and the MME traced them (Attach Request, Identity
// Response, both seen by both ends; an integrity-protected PDU, and a
// ciphered one only the MME traced), a 5GS Registration Request, GTP-U T-PDUs both ways, and, with the
// Detach Request, a Delete Session Request and Response (GTPv2-C).
func epc(t testing.TB) []Event {
	t.Helper()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	nas := func(ms int, node string, sent, uplink bool, summary, raw string) Event {
		e := Event{Time: at(ms), Node: node, Protocol: "NAS-EPS", Sent: sent, Src: aMMEs1, Dst: aUEs1, Summary: summary, Raw: unhex(t, raw)}
		if uplink {
			e.Src, e.Dst = aUEs1, aMMEs1
		}
		return e
	}
	udp := func(ms int, node, proto string, src, dst netip.AddrPort, raw []byte) Event {
		return Event{Time: at(ms), Node: node, Protocol: proto, Sent: true, Network: "udp", Src: src, Dst: dst, Raw: raw}
	}
	ueNAS := []Event{
		nas(-300, "UE", true, true, "Attach Request", "0741720bf600f110000201030003e602e0e000040201d011"),
		nas(-280, "UE", true, true, "Identity Response", "0756080910100000000010"),
		nas(-260, "UE", false, false, "Security Mode Command (integrity protected)", "37 5a0b1c2d 00 075d020005e060000000"),
		nas(1000, "UE", true, true, "Detach Request", "0745710bf600f11000020100000001"),
	}
	mmeNAS := []Event{
		nas(-299, "MME", false, true, "Attach Request", "0741720bf600f110000201030003e602e0e000040201d011"),
		nas(-279, "MME", false, true, "Identity Response", "0756080910100000000010"),
		nas(-261, "MME", true, false, "Security Mode Command (integrity protected)", "37 5a0b1c2d 00 075d020005e060000000"),
		nas(1001, "MME", false, true, "Detach Request", "0745710bf600f11000020100000001"),
		nas(1004, "MME", true, false, "Detach Accept (integrity protected and ciphered)", "27 12345678 05 a1b2c3d4e5"),
	}
	gnb := []Event{{Time: at(-400), Node: "UE", Protocol: "NAS-5GS", Sent: true, Summary: "Registration Request",
		Raw: unhex(t, "7e004179000c0100f1100000000000000010 2e02e0e0")}}
	ueIP, pcscfIP := netip.MustParseAddrPort("10.45.0.2:5070"), netip.MustParseAddrPort("10.10.0.1:5060")
	user := []Event{
		udp(-200, "eNB", "GTP-U", aENBu, aGWu, tpdu(t, 0x1001, ueIP, pcscfIP, "OPTIONS")),
		udp(-199, "SGW/PGW", "GTP-U", aGWu, aENBu, tpdu(t, 0x2002, pcscfIP, ueIP, "200 OK")),
		udp(1002, "MME", "GTPv2", aMMEc, aGWc, unhex(t, "4824000d 00000077 000005 00 4900010005")),
		udp(1003, "SGW/PGW", "GTPv2", aGWc, aMMEc, unhex(t, "4825000e 00000088 000005 00 020002001000")),
	}
	ue, pcscf, scscf, hss := registration(t)
	return Merge(ue, pcscf, scscf, hss, ueNAS, mmeNAS, gnb, user)
}

// ngFrame is a frame read back from a pcapng.
type ngFrame struct {
	ci       gopacket.CaptureInfo
	data     []byte
	comments []string
}

func readNG(t *testing.T, b []byte) ([]pcapgo.NgInterface, []ngFrame) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	var frames []ngFrame
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, ngFrame{ci, slices.Clone(data), opts.Comments})
	}
	var ifaces []pcapgo.NgInterface
	for i := range r.NInterfaces() {
		intf, err := r.Interface(i)
		if err != nil {
			t.Fatal(err)
		}
		ifaces = append(ifaces, intf)
	}
	return ifaces, frames
}

// TestPcapNGLayout: interface 0 holds exactly WritePcap's frames, interface
// 1 (USER0) the EPS NAS PDUs and interface 2 (USER1) the 5GS one, each
// with the comment that says who traced it, in the order of the events.
func TestPcapNGLayout(t *testing.T) {
	events := epc(t)
	var classic, ng bytes.Buffer
	pinfo, err := WritePcap(&classic, events)
	if err != nil {
		t.Fatal(err)
	}
	info, err := WritePcapNG(&ng, events)
	if err != nil {
		t.Fatal(err)
	}
	if info.Written != pinfo.Written+6 || info.Skipped != 0 || pinfo.Skipped != 6 {
		t.Errorf("pcapng: %d written, %d skipped; pcap: %d written, %d skipped", info.Written, info.Skipped, pinfo.Written, pinfo.Skipped)
	}
	if !slices.Equal(info.DecodeAs, pinfo.DecodeAs) || !slices.Equal(pinfo.Args, pinfo.DecodeAs) {
		t.Errorf("DecodeAs %q, pcap's %q (args %q)", info.DecodeAs, pinfo.DecodeAs, pinfo.Args)
	}
	wantArgs := append(slices.Clone(info.DecodeAs), "-o", `uat:user_dlts:"User 0 (DLT=147)","nas-eps","0","","0",""`,
		"-o", `uat:user_dlts:"User 1 (DLT=148)","nas-5gs","0","","0",""`)
	if !slices.Equal(info.Args, wantArgs) {
		t.Errorf("Args\n %q\nwant\n %q", info.Args, wantArgs)
	}

	ifaces, frames := readNG(t, ng.Bytes())
	var lts []layers.LinkType
	for _, i := range ifaces {
		lts = append(lts, i.LinkType)
	}
	if want := []layers.LinkType{layers.LinkTypeEthernet, LinkTypeUser0, LinkTypeUser1}; !slices.Equal(lts, want) {
		t.Fatalf("interfaces of link types %v, want %v", lts, want)
	}
	pr, err := pcapgo.NewReader(&classic)
	if err != nil {
		t.Fatal(err)
	}
	var nas []ngFrame
	for i, f := range frames {
		if i > 0 && f.ci.Timestamp.Before(frames[i-1].ci.Timestamp) {
			t.Errorf("frame %d at %v, before frame %d", i+1, f.ci.Timestamp, i)
		}
		if f.ci.InterfaceIndex != 0 {
			nas = append(nas, f)
			continue
		}
		data, ci, err := pr.ReadPacketData()
		if err != nil {
			t.Fatalf("frame %d: pcap has fewer frames: %v", i+1, err)
		}
		if !bytes.Equal(data, f.data) || !ci.Timestamp.Equal(f.ci.Timestamp) || len(f.comments) != 0 {
			t.Errorf("frame %d differs from the pcap's:\n% x at %v\n% x at %v %q", i+1, data, ci.Timestamp, f.data, f.ci.Timestamp, f.comments)
		}
	}
	if _, _, err := pr.ReadPacketData(); err != io.EOF {
		t.Errorf("pcap has more frames than interface 0 (%v)", err)
	}
	var got []string
	for _, f := range nas {
		got = append(got, strings.Join(append([]string{string(rune('0' + f.ci.InterfaceIndex)), hex.EncodeToString(f.data[:2])}, f.comments...), " "))
	}
	want := []string{
		"2 7e00 UE sent: Registration Request",
		"1 0741 UE sent 127.0.0.1:40100 > 127.0.0.1:36412: Attach Request",
		"1 0756 UE sent 127.0.0.1:40100 > 127.0.0.1:36412: Identity Response",
		"1 375a MME sent 127.0.0.1:36412 > 127.0.0.1:40100: Security Mode Command (integrity protected)",
		"1 0745 UE sent 127.0.0.1:40100 > 127.0.0.1:36412: Detach Request",
		"1 2712 MME sent 127.0.0.1:36412 > 127.0.0.1:40100: Detach Accept (integrity protected and ciphered)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("NAS frames:\n%q\nwant\n%q", got, want)
	}
}

// TestPcapNGEPSOnly: without 5GS PDUs the file has two interfaces, and
// Args map USER0 alone; without any NAS PDU, no user DLT at all.
func TestPcapNGEPSOnly(t *testing.T) {
	events := slices.DeleteFunc(epc(t), func(e Event) bool { return e.Protocol == "NAS-5GS" })
	var b bytes.Buffer
	info, err := WritePcapNG(&b, events)
	if err != nil {
		t.Fatal(err)
	}
	ifaces, _ := readNG(t, b.Bytes())
	if len(ifaces) != 2 || ifaces[1].LinkType != LinkTypeUser0 || ifaces[1].Name != "nas-eps" {
		t.Errorf("interfaces %+v", ifaces)
	}
	if got := strings.Join(info.Args[len(info.DecodeAs):], " "); got != strings.Join(userDLT(LinkTypeUser0, "nas-eps"), " ") {
		t.Errorf("user DLT args %q", got)
	}
	events = slices.DeleteFunc(events, func(e Event) bool { return e.Protocol == "NAS-EPS" })
	b.Reset()
	if info, err = WritePcapNG(&b, events); err != nil {
		t.Fatal(err)
	}
	if ifaces, _ := readNG(t, b.Bytes()); len(ifaces) != 2 || !slices.Equal(info.Args, info.DecodeAs) {
		t.Errorf("without NAS: %d interfaces, args %q", len(ifaces), info.Args)
	}
}

// TestPcapNGTshark: tshark, given info.Args, dissects the whole capture
// cleanly (checksums verified, inner ones of GTP-U too): frames of
// interface 0 as SIP, Diameter, GTP-U and GTPv2-C, those of interface 1 as
// nas-eps, that of interface 2 as nas-5gs.
func TestPcapNGTshark(t *testing.T) {
	tsharktest.Require(t)
	path := filepath.Join(t.TempDir(), "epc.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := WritePcapNG(f, epc(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("tshark %s", strings.Join(info.Args, " "))
	tsharktest.Check(t, path, append(slices.Clone(info.Args), tsharktest.ValidateChecksums()...)...)

	var got []string
	for _, r := range tsharktest.Fields(t, path, []string{"frame.interface_id", "frame.protocols", "sip.Method", "sip.Status-Code",
		"diameter.cmd.code", "gtp.message", "gtpv2.message_type", "nas_eps.nas_msg_emm_type", "nas_5gs.mm.message_type"}, info.Args...) {
		protos := strings.Split(r[1], ":")
		r[1] = protos[len(protos)-1] // the innermost protocol
		if i := slices.Index(protos, "gtp"); i >= 0 && r[1] != "gtp" {
			r[1] = "gtp>" + strings.Join(protos[i+1:], ":") // and what it carries
		}
		got = append(got, strings.Join(slices.DeleteFunc(r, func(s string) bool { return s == "" }), "/"))
	}
	want := []string{
		"2/nas-5gs/0x41",
		"1/nas-eps/0x41", "1/nas-eps/0x56",
		"1/nas-eps/0x5d", // the Security Mode Command inside its integrity protection
		"0/gtp>ip:udp:data/0xff", "0/gtp>ip:udp:data/0xff",
		"0/sip/REGISTER", "0/sip/REGISTER", "0/tcp", "0/tcp", "0/tcp", "0/diameter/303", "0/diameter/303", "0/sip/401", "0/sip/401",
		"1/nas-eps/0x45", "0/gtp>gtpv2/36", "0/gtp>gtpv2/37",
		"1/nas-eps", // ciphered: no message type to read
	}
	if !slices.Equal(got, want) {
		t.Errorf("tshark reads:\n%q\nwant\n%q", got, want)
	}
	comments := tsharktest.Fields(t, path, []string{"frame.comment"}, append(slices.Clone(info.Args), "-Y", "nas-eps")...)
	if len(comments) != 5 || !strings.HasPrefix(comments[0][0], "UE sent ") {
		t.Errorf("comments of the nas-eps frames: %q", comments)
	}
}
