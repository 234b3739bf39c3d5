package tsharktest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/trace"
)

var (
	client = netip.MustParseAddrPort("127.0.0.1:40000")
	hss    = netip.MustParseAddrPort("127.0.0.1:3868")
	t0     = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
)

func mk(t *testing.T, app, code, vendor uint32, data datatype.Type) *diam.AVP {
	t.Helper()
	a, err := diameter.NewAVP(app, code, vendor, data)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func grp(avps ...*diam.AVP) *diam.GroupedAVP { return &diam.GroupedAVP{AVP: avps} }

// common adds Session-Id, Vendor-Specific-Application-Id, Auth-Session-State,
// Origin-Host/Realm (and Destination-Realm for requests), TS 29.229 §6.1 and
// TS 29.272 §7.2.
func common(t *testing.T, m *diam.Message, app uint32, origin string, request bool) {
	m.AddAVP(mk(t, app, avp.SessionID, 0, datatype.UTF8String("scscf.ims.test;1;1")))
	m.AddAVP(mk(t, app, avp.VendorSpecificApplicationID, 0, grp(
		mk(t, app, avp.VendorID, 0, datatype.Unsigned32(diameter.Vendor3GPP)),
		mk(t, app, avp.AuthApplicationID, 0, datatype.Unsigned32(app)),
	)))
	m.AddAVP(mk(t, app, avp.AuthSessionState, 0, datatype.Enumerated(1)))
	m.AddAVP(mk(t, app, avp.OriginHost, 0, datatype.DiameterIdentity(origin+".ims.test")))
	m.AddAVP(mk(t, app, avp.OriginRealm, 0, datatype.DiameterIdentity("ims.test")))
	if request {
		m.AddAVP(mk(t, app, avp.DestinationRealm, 0, datatype.DiameterIdentity("ims.test")))
	}
}

// messages returns a Cx MAR/MAA (TS 29.229 §6.1.7-8) and an S6a AIR/AIA
// (TS 29.272 §7.2.5-6), encoded.
func messages(t *testing.T) (mar, maa, air, aia []byte) {
	d := diameter.Dictionary()
	cx := func(code uint32, data datatype.Type) *diam.AVP {
		return mk(t, diameter.AppCx, code, diameter.Vendor3GPP, data)
	}
	s6a := func(code uint32, data datatype.Type) *diam.AVP {
		return mk(t, diameter.AppS6a, code, diameter.Vendor3GPP, data)
	}
	impi := datatype.UTF8String("001010000000001@ims.mnc001.mcc001.3gppnetwork.org")
	impu := datatype.UTF8String("sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org")

	req := diam.NewMessage(diameter.CmdMA, diam.RequestFlag|diam.ProxiableFlag, diameter.AppCx, 1, 1, d)
	common(t, req, diameter.AppCx, "scscf", true)
	req.AddAVP(mk(t, diameter.AppCx, avp.UserName, 0, impi))
	req.AddAVP(cx(diameter.AVPPublicIdentity, impu))
	req.AddAVP(cx(diameter.AVPSIPAuthDataItem, grp(
		cx(diameter.AVPSIPAuthenticationScheme, datatype.UTF8String("Digest-AKAv1-MD5")),
	)))
	req.AddAVP(cx(diameter.AVPSIPNumberAuthItems, datatype.Unsigned32(1)))
	req.AddAVP(cx(diameter.AVPServerName, datatype.UTF8String("sip:scscf.ims.test:6060")))

	// Not req.Answer(): go-diameter's Answer puts Result-Code before
	// Session-Id, whose place is fixed first (RFC 6733 §3.2, < Session-Id >).
	ans := diam.NewMessage(diameter.CmdMA, diam.ProxiableFlag, diameter.AppCx, 1, 1, d)
	common(t, ans, diameter.AppCx, "hss", false)
	ans.AddAVP(mk(t, diameter.AppCx, avp.ResultCode, 0, datatype.Unsigned32(diameter.ResultSuccess)))
	ans.AddAVP(mk(t, diameter.AppCx, avp.UserName, 0, impi))
	ans.AddAVP(cx(diameter.AVPPublicIdentity, impu))
	ans.AddAVP(cx(diameter.AVPSIPNumberAuthItems, datatype.Unsigned32(1)))
	ans.AddAVP(cx(diameter.AVPSIPAuthDataItem, grp(
		cx(diameter.AVPSIPItemNumber, datatype.Unsigned32(1)),
		cx(diameter.AVPSIPAuthenticationScheme, datatype.UTF8String("Digest-AKAv1-MD5")),
		cx(diameter.AVPSIPAuthenticate, datatype.OctetString(bytes.Repeat([]byte{0xa1}, 32))),
		cx(diameter.AVPSIPAuthorization, datatype.OctetString(bytes.Repeat([]byte{0xb2}, 8))),
		cx(diameter.AVPConfidentialityKey, datatype.OctetString(bytes.Repeat([]byte{0xc3}, 16))),
		cx(diameter.AVPIntegrityKey, datatype.OctetString(bytes.Repeat([]byte{0xd4}, 16))),
	)))

	sreq := diam.NewMessage(diameter.CmdAI, diam.RequestFlag|diam.ProxiableFlag, diameter.AppS6a, 2, 2, d)
	common(t, sreq, diameter.AppS6a, "mme", true)
	sreq.AddAVP(mk(t, diameter.AppS6a, avp.UserName, 0, datatype.UTF8String("001010000000001")))
	sreq.AddAVP(s6a(diameter.AVPRequestedEUTRANAuthenticationInfo, grp(
		s6a(diameter.AVPNumberOfRequestedVectors, datatype.Unsigned32(1)),
		s6a(diameter.AVPImmediateResponsePreferred, datatype.Unsigned32(1)),
	)))
	sreq.AddAVP(s6a(diameter.AVPVisitedPLMNID, datatype.OctetString("\x00\xf1\x10")))

	sans := diam.NewMessage(diameter.CmdAI, diam.ProxiableFlag, diameter.AppS6a, 2, 2, d)
	common(t, sans, diameter.AppS6a, "hss", false)
	sans.AddAVP(mk(t, diameter.AppS6a, avp.ResultCode, 0, datatype.Unsigned32(diameter.ResultSuccess)))
	sans.AddAVP(s6a(diameter.AVPAuthenticationInfo, grp(s6a(diameter.AVPEUTRANVector, grp(
		s6a(diameter.AVPRAND, datatype.OctetString(bytes.Repeat([]byte{1}, 16))),
		s6a(diameter.AVPXRES, datatype.OctetString(bytes.Repeat([]byte{2}, 8))),
		s6a(diameter.AVPAUTN, datatype.OctetString(bytes.Repeat([]byte{3}, 16))),
		s6a(diameter.AVPKASME, datatype.OctetString(bytes.Repeat([]byte{4}, 32))),
	)))))

	var out [4][]byte
	for i, m := range []*diam.Message{req, ans, sreq, sans} {
		b, err := m.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out[0], out[1], out[2], out[3]
}

func writePcap(t *testing.T, name string, pkts ...trace.Packet) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := trace.NewPcapWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCxS6aDissectedByTshark writes a Cx MAR/MAA and an S6a AIR/AIA as one
// TCP flow 127.0.0.1:40000 <-> 127.0.0.1:3868 and checks that tshark
// dissects them cleanly, with every AVP named.
func TestCxS6aDissectedByTshark(t *testing.T) {
	Require(t)
	mar, maa, air, aia := messages(t)
	pcap := writePcap(t, "cx-s6a.pcap",
		trace.Packet{Time: t0, Src: client, Dst: hss, Proto: "tcp", Payload: mar},
		trace.Packet{Time: t0.Add(time.Millisecond), Src: hss, Dst: client, Proto: "tcp", Payload: maa},
		trace.Packet{Time: t0.Add(2 * time.Millisecond), Src: client, Dst: hss, Proto: "tcp", Payload: air},
		trace.Packet{Time: t0.Add(3 * time.Millisecond), Src: hss, Dst: client, Proto: "tcp", Payload: aia},
	)
	Check(t, pcap, ValidateChecksums()...)

	rows := Fields(t, pcap, []string{"diameter.cmd.code", "diameter.flags.request", "diameter.applicationId", "tcp.stream"}, "-Y", "diameter")
	want := [][]string{
		{"303", "1", "16777216", "0"},
		{"303", "0", "16777216", "0"},
		{"318", "1", "16777251", "0"},
		{"318", "0", "16777251", "0"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("commands (code, request, application, TCP stream) = %q, want %q", rows, want)
	}

	if u := UnknownDiameterAVPs(t, pcap); len(u) > 0 {
		t.Errorf("AVPs Wireshark does not know: %s", strings.Join(u, "; "))
	}

	// The MAA's SIP-Auth-Data-Item (TS 29.229 §6.3.13) and the AIA's
	// E-UTRAN-Vector (TS 29.272 §7.3.18), member by member, under
	// Wireshark's names.
	members := []string{
		"diameter.3GPP-SIP-Item-Number", "diameter.3GPP-SIP-Authentication-Scheme",
		"diameter.3GPP-SIP-Authenticate", "diameter.3GPP-SIP-Authorization",
		"diameter.Confidentiality-Key", "diameter.Integrity-Key",
	}
	rows = Fields(t, pcap, members, "-Y", "diameter.3GPP-SIP-Auth-Data-Item && diameter.flags.request == 0")
	want = [][]string{{"1", "Digest-AKAv1-MD5", strings.Repeat("a1", 32), strings.Repeat("b2", 8), strings.Repeat("c3", 16), strings.Repeat("d4", 16)}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("MAA SIP-Auth-Data-Item members = %q, want %q", rows, want)
	}
	rows = Fields(t, pcap, []string{"diameter.RAND", "diameter.XRES", "diameter.AUTN", "diameter.KASME"}, "-Y", "diameter.E-UTRAN-Vector")
	want = [][]string{{strings.Repeat("01", 16), strings.Repeat("02", 8), strings.Repeat("03", 16), strings.Repeat("04", 32)}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("AIA E-UTRAN-Vector members = %q, want %q", rows, want)
	}
}

// wiresharkLacks lists the Cx AVPs (TS 29.229 Table 6.3.1, Rel-14 to Rel-17)
// that Wireshark 4.0's dictionary (diameter/TGPP.xml) does not define; a
// newer Wireshark may know them.
var wiresharkLacks = map[string]bool{"659": true, "660": true, "661": true, "662": true, "663": true, "664": true, "665": true, "666": true}

// TestEveryCxAVPDissected puts every Cx AVP of our dictionary, encoded with
// its type and flags, in one SAR: tshark must find no error (a type whose
// length Wireshark disagrees with is a malformed-packet expert info), and
// must know every AVP but those its dictionary lacks.
func TestEveryCxAVPDissected(t *testing.T) {
	Require(t)
	d := diameter.Dictionary()
	m := diam.NewMessage(diameter.CmdSA, diam.RequestFlag|diam.ProxiableFlag, diameter.AppCx, 3, 3, d)
	common(t, m, diameter.AppCx, "scscf", true)
	member := mk(t, diameter.AppCx, avp.UserName, 0, datatype.UTF8String("user"))
	for code := uint32(diameter.AVPVisitedNetworkIdentifier); code <= diameter.AVPPCSCFIPAddress; code++ {
		a, err := d.FindAVPWithVendor(diameter.AppCx, code, diameter.Vendor3GPP)
		if err != nil {
			continue // 627 is void in TS 29.229
		}
		var v datatype.Type
		switch a.Data.TypeName {
		case "UTF8String":
			v = datatype.UTF8String("sip:x@ims.test")
		case "OctetString":
			v = datatype.OctetString("0123456789abcdef")
		case "Unsigned32":
			v = datatype.Unsigned32(1)
		case "Enumerated":
			v = datatype.Enumerated(a.Data.Enum[0].Code)
		case "DiameterURI":
			v = datatype.DiameterURI("aaa://ccf.ims.test")
		case "DiameterIdentity":
			v = datatype.DiameterIdentity("pcscf.ims.test")
		case "Time":
			v = datatype.Time(t0)
		case "Address":
			v = datatype.Address(net.IPv4(127, 0, 0, 1).To4())
		case "Grouped":
			v = grp(member)
		default:
			t.Fatalf("%s: type %s not covered", a.Name, a.Data.TypeName)
		}
		m.AddAVP(mk(t, diameter.AppCx, code, diameter.Vendor3GPP, v))
	}
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	pcap := writePcap(t, "every-cx-avp.pcap", trace.Packet{Time: t0, Src: client, Dst: hss, Proto: "tcp", Payload: b})
	Check(t, pcap)
	var lacking []string
	for _, u := range UnknownDiameterAVPs(t, pcap) {
		code := strings.Fields(u)[3]
		if !wiresharkLacks[code] {
			t.Errorf("Wireshark does not know %s", u)
		}
		lacking = append(lacking, code)
	}
	t.Logf("Cx AVPs this tshark does not know: %v", lacking)
}

// recorder stands in for a testing.TB to observe Check failing.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
}

func (r *recorder) Helper() {}

// TestCheckSegmentsAndTruncation: a PDU spanning several TCP segments is
// clean; a PDU cut short at the end of the capture is not (PEERS.md).
func TestCheckSegmentsAndTruncation(t *testing.T) {
	Require(t)
	m := diam.NewMessage(diameter.CmdSA, diam.ProxiableFlag, diameter.AppCx, 4, 4, diameter.Dictionary())
	common(t, m, diameter.AppCx, "hss", false)
	m.AddAVP(mk(t, diameter.AppCx, avp.ResultCode, 0, datatype.Unsigned32(diameter.ResultSuccess)))
	m.AddAVP(mk(t, diameter.AppCx, diameter.AVPUserData, diameter.Vendor3GPP,
		datatype.OctetString("<IMSSubscription>"+strings.Repeat("<ServiceProfile/>", 300)+"</IMSSubscription>")))
	big, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if len(big) < 3*trace.MaxSegment {
		t.Fatalf("message of %d bytes is too small for the test", len(big))
	}
	whole := writePcap(t, "segmented.pcap",
		trace.Packet{Time: t0, Src: hss, Dst: client, Proto: "tcp", Payload: big},
		trace.Packet{Time: t0.Add(time.Millisecond), Src: hss, Dst: client, Proto: "tcp", Payload: big},
	)
	r := &recorder{TB: t}
	Check(r, whole)
	if r.failed {
		t.Errorf("segmented PDUs flagged: %s", r.msg)
	}

	cut := writePcap(t, "truncated.pcap",
		trace.Packet{Time: t0, Src: hss, Dst: client, Proto: "tcp", Payload: big},
		trace.Packet{Time: t0.Add(time.Millisecond), Src: hss, Dst: client, Proto: "tcp", Payload: big[:2*trace.MaxSegment+10]},
	)
	r = &recorder{TB: t}
	Check(r, cut)
	if !r.failed {
		t.Error("a truncated PDU passed Check")
	}

	// A wrong AVP length inside a PDU is flagged (malformed expert info).
	badAVP := diam.NewAVP(diameter.AVPSIPNumberAuthItems, avp.Mbit|avp.Vbit, diameter.Vendor3GPP, datatype.OctetString("abc"))
	m.AddAVP(badAVP) // an Unsigned32 AVP of 3 bytes
	malformed, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	r = &recorder{TB: t}
	Check(r, writePcap(t, "malformed.pcap", trace.Packet{Time: t0, Src: hss, Dst: client, Proto: "tcp", Payload: malformed}))
	if !r.failed {
		t.Error("an Unsigned32 AVP of 3 bytes passed Check")
	}
}

// TestNASUserDLT: raw NAS PDUs in a USER0 (DLT 147) pcap decode as nas-eps.
func TestNASUserDLT(t *testing.T) {
	Require(t)
	// An Identity Response (IMSI 001010000000001), PEERS.md, as a raw NAS PDU.
	path := filepath.Join(t.TempDir(), "nas.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := trace.NewPcapWriterLinkType(f, trace.LinkTypeUser0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(trace.Packet{Time: t0, Payload: []byte{0x07, 0x56, 0x08, 0x09, 0x10, 0x10, 0x00, 0x00, 0x00, 0x00, 0x10}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	Check(t, path, UserDLT("nas-eps")...)
	rows := Fields(t, path, []string{"nas_eps.nas_msg_emm_type", "e212.imsi"}, UserDLT("nas-eps")...)
	if len(rows) != 1 || rows[0][0] != "0x56" || rows[0][1] != "001010000000001" {
		t.Errorf("NAS decode = %q, want Identity response (0x56) of IMSI 001010000000001", rows)
	}
}

// stopRecorder records how Require stops a test: Fatalf (failure) or Skipf.
type stopRecorder struct {
	testing.TB
	how string
}

func (r *stopRecorder) Helper() {}
func (r *stopRecorder) Fatalf(format string, args ...any) {
	r.how = "fail: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *stopRecorder) Skipf(format string, args ...any) {
	r.how = "skip: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestRequireWithoutTshark: without tshark, Require skips, but fails under
// CI (a missing peer is a failure there).
func TestRequireWithoutTshark(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &stopRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Require(r)
		}()
		<-done
		want := "skip: "
		if ci != "" {
			want = "fail: "
		}
		if !strings.HasPrefix(r.how, want) || !strings.Contains(r.how, "apt-get install -y") {
			t.Errorf("CI=%q: Require %q, want %s... naming the install command", ci, r.how, want)
		}
	}
}
