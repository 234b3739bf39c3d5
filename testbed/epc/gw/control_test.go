package gw

import (
	"bytes"
	"errors"
	"github.com/imslab/imslab/internal/nas/eps"
	"net/netip"
	"slices"
	"testing"

	"github.com/wmnsk/go-gtp/gtpv2"
	"github.com/wmnsk/go-gtp/gtpv2/ie"
	"github.com/wmnsk/go-gtp/gtpv2/message"

	"github.com/imslab/imslab/internal/uplane"
)

const imsi1, imsi2, imsi3 = "001010000000001", "001010000000002", "001010000000003"

// TestSessionLifecycle: Create Session gives the first pool address and,
// asked in the PCO, the P-CSCF and DNS addresses; Modify Bearer records
// the eNB's F-TEID; Delete Session frees the address.
func TestSessionLifecycle(t *testing.T) {
	dns := netip.MustParseAddr("127.0.0.53")
	g := startGW(t, Config{DNS: []netip.Addr{dns}})
	c := dialGW(t, g, nil)
	ctx := ctxT(t)
	if err := c.Echo(ctx); err != nil {
		t.Fatalf("Echo: %v", err)
	}
	s, err := c.CreateSession(ctx, CreateSessionParams{IMSI: imsi1, MSISDN: "15550001", PCO: RequestPCO(eps.PCOPCSCFIPv4, eps.PCODNSIPv4)})
	if err != nil {
		t.Fatal(err)
	}
	if s.UE != netip.MustParseAddr("127.0.100.2") || s.Cause != CauseRequestAccepted {
		t.Errorf("UE %v cause %d, want 127.0.100.2 (the first host after the gateway's .1), 16", s.UE, s.Cause)
	}
	if !slices.Equal(s.PCSCF, []netip.Addr{DefaultPCSCF}) || !slices.Equal(s.DNS, []netip.Addr{dns}) {
		t.Errorf("PCO P-CSCF %v DNS %v, want [127.0.0.1] [%v]", s.PCSCF, s.DNS, dns)
	}
	// TS 24.008 §10.5.6.3: 80 | 000C 04 7f000001 | 000D 04 7f000035.
	if want := []byte{0x80, 0, 0x0c, 4, 127, 0, 0, 1, 0, 0x0d, 4, 127, 0, 0, 53}; !bytes.Equal(s.PCO, want) {
		t.Errorf("PCO % x, want % x", s.PCO, want)
	}
	if s.UplinkTEID == 0 || s.SGWControlTEID == 0 || s.SGWUserPlane != g.uAddr {
		t.Errorf("uplink TEID %#x, S11 TEID %#x, S1-U %v (want %v)", s.UplinkTEID, s.SGWControlTEID, s.SGWUserPlane, g.uAddr)
	}
	info, ok := g.Session(s.UE)
	if !ok || info.IMSI != imsi1 || info.MSISDN != "15550001" || info.EBI != 5 || info.UplinkTEID != s.UplinkTEID || info.DownlinkTEID != 0 {
		t.Fatalf("gateway's session %+v", info)
	}

	enb := netip.MustParseAddr("127.0.0.9")
	if err := c.ModifyBearer(ctx, s, enb, 0x1234); err != nil {
		t.Fatalf("Modify Bearer: %v", err)
	}
	info, _ = g.Session(s.UE)
	if info.DownlinkTEID != 0x1234 || info.ENB != netip.AddrPortFrom(enb, uplane.Port) {
		t.Errorf("after Modify Bearer: downlink TEID %#x to %v, want 0x1234 to 127.0.0.9:2152", info.DownlinkTEID, info.ENB)
	}

	if err := c.DeleteSession(ctx, s); err != nil {
		t.Fatalf("Delete Session: %v", err)
	}
	if n := len(g.Sessions()); n != 0 || g.sessions.pool.inUse() != 0 {
		t.Errorf("after Delete Session: %d sessions, %d addresses in use", n, g.sessions.pool.inUse())
	}
	// The tunnel is gone: its TEIDs are context not found.
	var ce *CauseError
	if err := c.DeleteSession(ctx, s); !errors.As(err, &ce) || ce.Cause != CauseContextNotFound {
		t.Errorf("second Delete Session: %v, want cause 64", err)
	}
}

// TestPCOOnlyWhenAsked: no PCO, or a PCO without 000CH, gets no P-CSCF.
func TestPCOOnlyWhenAsked(t *testing.T) {
	g := startGW(t, Config{})
	c := dialGW(t, g, nil)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		pco  []byte
		want []byte
	}{
		{"no PCO", nil, nil},
		{"DNS asked, none configured", RequestPCO(eps.PCODNSIPv4), nil},
		{"P-CSCF IPv6 asked (IPv4 PDN)", RequestPCO(eps.PCOPCSCFIPv6), nil},
		{"MTU asked", RequestPCO(eps.PCOIPv4LinkMTU), []byte{0x80, 0, 0x10, 2, 0x05, 0x78}},
		{"P-CSCF asked", RequestPCO(eps.PCOIPAddressViaNAS, eps.PCOPCSCFIPv4), []byte{0x80, 0, 0x0c, 4, 127, 0, 0, 1}},
	} {
		s, err := c.CreateSession(ctx, CreateSessionParams{IMSI: imsi1, PCO: tc.pco})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(s.PCO, tc.want) {
			t.Errorf("%s: PCO % x, want % x", tc.name, s.PCO, tc.want)
		}
		if tc.want == nil && s.PCSCF != nil {
			t.Errorf("%s: P-CSCF %v given unasked", tc.name, s.PCSCF)
		}
	}
	// Each Create Session of the same IMSI replaced the previous one.
	if n := len(g.Sessions()); n != 1 {
		t.Errorf("%d sessions for one IMSI, want 1", n)
	}
}

// TestPoolExhaustion: a /30 pool has one UE address; a second UE gets
// cause 84; the address comes back after Delete Session.
func TestPoolExhaustion(t *testing.T) {
	g := startGW(t, Config{Pool: netip.MustParsePrefix("127.0.100.0/30")})
	c := dialGW(t, g, nil)
	ctx := ctxT(t)
	s1, err := c.CreateSession(ctx, CreateSessionParams{IMSI: imsi1})
	if err != nil || s1.UE != netip.MustParseAddr("127.0.100.2") {
		t.Fatalf("first session %+v, %v", s1, err)
	}
	_, err = c.CreateSession(ctx, CreateSessionParams{IMSI: imsi2})
	var ce *CauseError
	if !errors.As(err, &ce) || ce.Cause != CauseAllDynamicAddressesOccupied {
		t.Fatalf("second session: %v, want cause 84", err)
	}
	if err := c.DeleteSession(ctx, s1); err != nil {
		t.Fatal(err)
	}
	s3, err := c.CreateSession(ctx, CreateSessionParams{IMSI: imsi3})
	if err != nil || s3.UE != s1.UE {
		t.Fatalf("after release: %+v, %v; want %v again", s3, err, s1.UE)
	}
}

// TestPoolRoundRobin: a freed address is not the next one handed out.
func TestPoolRoundRobin(t *testing.T) {
	p, err := newPool(netip.MustParsePrefix("127.0.100.0/29"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 5 {
		a, err := p.get()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
		if a.String() == "127.0.100.3" {
			p.put(a)
		}
	}
	want := []string{"127.0.100.2", "127.0.100.3", "127.0.100.4", "127.0.100.5", "127.0.100.6"}
	if !slices.Equal(got, want) {
		t.Errorf("handed out %v, want %v", got, want)
	}
	if a, err := p.get(); err != nil || a.String() != "127.0.100.3" {
		t.Errorf("then %v %v, want the freed 127.0.100.3", a, err)
	}
	if _, err := p.get(); !errors.Is(err, errPoolFull) {
		t.Errorf("full /29: %v, want errPoolFull", err)
	}
}

// TestUnknownTEID: Modify Bearer and Delete Session on an S11 TEID the
// gateway never gave get cause 64, in a response with TEID 0.
func TestUnknownTEID(t *testing.T) {
	g := startGW(t, Config{})
	c := dialGW(t, g, nil)
	ctx := ctxT(t)
	ghost := &Session{EBI: 5, SGWControlTEID: 0xdeadbeef}
	var ce *CauseError
	if err := c.ModifyBearer(ctx, ghost, netip.MustParseAddr("127.0.0.1"), 7); !errors.As(err, &ce) || ce.Cause != CauseContextNotFound {
		t.Errorf("Modify Bearer: %v, want cause 64", err)
	}
	if err := c.DeleteSession(ctx, ghost); !errors.As(err, &ce) || ce.Cause != CauseContextNotFound {
		t.Errorf("Delete Session: %v, want cause 64", err)
	}
	r := rawRequest(t, g, message.NewDeleteSessionRequest(0xdeadbeef, 9, ie.NewEPSBearerID(5)))
	if r.TEID() != 0 || r.Sequence() != 9 {
		t.Errorf("response TEID %#x seq %d, want 0 (TS 29.274 §5.5.2) and 9", r.TEID(), r.Sequence())
	}
	// A session's bearer other than its default one is not found either.
	s, err := c.CreateSession(ctx, CreateSessionParams{IMSI: imsi1})
	if err != nil {
		t.Fatal(err)
	}
	wrong := *s
	wrong.EBI = 6
	if err := c.ModifyBearer(ctx, &wrong, netip.MustParseAddr("127.0.0.1"), 7); !errors.As(err, &ce) || ce.Cause != CauseContextNotFound {
		t.Errorf("Modify Bearer of EBI 6: %v, want cause 64", err)
	}
}

// csrIEs are the IEs of a valid Create Session Request.
func csrIEs() []*ie.IE {
	return []*ie.IE{
		ie.NewIMSI(imsi1),
		ie.NewServingNetwork("001", "01"),
		ie.NewRATType(gtpv2.RATTypeEUTRAN),
		ie.NewFullyQualifiedTEID(gtpv2.IFTypeS11MMEGTPC, 0x1111, "127.0.0.1", ""),
		ie.NewAccessPointName("ims"),
		ie.NewPDNType(gtpv2.PDNTypeIPv4),
		ie.NewPDNAddressAllocation("0.0.0.0"),
		ie.NewBearerContext(ie.NewEPSBearerID(5), ie.NewBearerQoS(1, 9, 0, 5, 0, 0, 0, 0)),
	}
}

// without returns the IEs but those of type typ; with replaces them by r.
func without(ies []*ie.IE, typ uint8, r ...*ie.IE) []*ie.IE {
	var out []*ie.IE
	for _, i := range ies {
		if i.Type != typ {
			out = append(out, i)
		}
	}
	return append(out, r...)
}

// TestCreateSessionCauses: a request missing a mandatory IE gets cause 70
// naming it, an incorrect one 69, an unknown APN 78, an IPv6 PDN 83; an
// IPv4v6 request gets IPv4 with cause 18.
func TestCreateSessionCauses(t *testing.T) {
	g := startGW(t, Config{})
	for _, tc := range []struct {
		name      string
		ies       []*ie.IE
		cause     uint8
		offending uint8
	}{
		{"no APN", without(csrIEs(), ie.AccessPointName), CauseMandatoryIEMissing, ie.AccessPointName},
		{"no IMSI", without(csrIEs(), ie.IMSI), CauseMandatoryIEMissing, ie.IMSI},
		{"no RAT type", without(csrIEs(), ie.RATType), CauseMandatoryIEMissing, ie.RATType},
		{"no Sender F-TEID", without(csrIEs(), ie.FullyQualifiedTEID), CauseMandatoryIEMissing, ie.FullyQualifiedTEID},
		{"no bearer context", without(csrIEs(), ie.BearerContext), CauseMandatoryIEMissing, ie.BearerContext},
		{"bearer without QoS", without(csrIEs(), ie.BearerContext, ie.NewBearerContext(ie.NewEPSBearerID(5))), CauseMandatoryIEMissing, ie.BearerQoS},
		{"EBI 3", without(csrIEs(), ie.BearerContext, ie.NewBearerContext(ie.NewEPSBearerID(3), ie.NewBearerQoS(1, 9, 0, 5, 0, 0, 0, 0))), CauseMandatoryIEIncorrect, ie.EPSBearerID},
		{"APN internet", without(csrIEs(), ie.AccessPointName, ie.NewAccessPointName("internet")), CauseMissingOrUnknownAPN, 0},
		{"PDN type IPv6", without(csrIEs(), ie.PDNType, ie.NewPDNType(gtpv2.PDNTypeIPv6)), CausePreferredPDNTypeUnsupported, 0},
		{"PDN type IPv4v6", without(csrIEs(), ie.PDNType, ie.NewPDNType(gtpv2.PDNTypeIPv4v6)), CauseNewPDNTypeNetworkPreference, 0},
		{"APN with operator id", without(csrIEs(), ie.AccessPointName, ie.NewAccessPointName("IMS.mnc001.mcc001.gprs")), CauseRequestAccepted, 0},
	} {
		r := rawRequest(t, g, message.NewCreateSessionRequest(0, 100, tc.ies...))
		csr, ok := r.(*message.CreateSessionResponse)
		if !ok {
			t.Fatalf("%s: answered %s", tc.name, r.MessageTypeName())
		}
		cause, err := csr.Cause.Cause()
		if err != nil || cause != tc.cause {
			t.Errorf("%s: cause %d (%v), want %d", tc.name, cause, err, tc.cause)
			continue
		}
		if tc.offending != 0 {
			off, err := csr.Cause.OffendingIE()
			if err != nil || off.Type != tc.offending {
				t.Errorf("%s: offending IE %v (%v), want type %d", tc.name, off, err, tc.offending)
			}
		}
		if accepted(cause) && csr.PAA == nil {
			t.Errorf("%s: accepted without PAA", tc.name)
		}
		if !accepted(cause) && tc.offending != ie.FullyQualifiedTEID && csr.TEID() != 0x1111 {
			t.Errorf("%s: rejection to TEID %#x, want the MME's 0x1111", tc.name, csr.TEID())
		}
	}
}

// TestRetransmittedRequest: the same Create Session Request twice gets the
// same response and one session (TS 29.274 §7.6).
func TestRetransmittedRequest(t *testing.T) {
	g := startGW(t, Config{})
	b, err := message.Marshal(message.NewCreateSessionRequest(0, 4242, csrIEs()...))
	if err != nil {
		t.Fatal(err)
	}
	c1 := exchange(t, g.Addr(), b)
	// Another socket, another peer: a new request. The same socket: a
	// retransmission.
	conn := dialUDP(t, g.Addr().String())
	r1 := roundTrip(t, conn, b)
	r2 := roundTrip(t, conn, b)
	if !bytes.Equal(r1, r2) {
		t.Errorf("retransmission answered differently:\n% x\n% x", r1, r2)
	}
	if bytes.Equal(c1, r1) {
		t.Error("two peers' requests got the same response")
	}
	// The second peer's session replaced the first (same IMSI): one left.
	if n := len(g.Sessions()); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

// TestEchoAndVersion: GTPv2-C and GTP-U Echo are answered; a GTPv1-C
// message gets a Version Not Supported Indication (TS 29.274 §7.1.3).
func TestEchoAndVersion(t *testing.T) {
	g := startGW(t, Config{RestartCounter: 7})
	r := rawRequest(t, g, message.NewEchoRequest(77, ie.NewRecovery(1)))
	er, ok := r.(*message.EchoResponse)
	if !ok || er.Sequence() != 77 || er.Recovery == nil || er.Recovery.MustRecovery() != 7 {
		t.Errorf("Echo Response %v", r)
	}
	u, err := uplane.Decode(exchange(t, g.UserPlaneAddr(), uplane.EchoRequest(12)))
	if err != nil || u.Type != uplane.MsgEchoResponse || u.Seq != 12 {
		t.Errorf("GTP-U echo: %+v %v", u, err)
	}
	v1 := []byte{0x32, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0x12, 0x34, 0, 0} // GTPv1-C Echo Request
	if a := exchange(t, g.Addr(), v1); len(a) < 2 || a[0]>>5 != 2 || a[1] != message.MsgTypeVersionNotSupportedIndication {
		t.Errorf("GTPv1 message answered % x, want a Version Not Supported Indication", a)
	}
}

// TestErrorIndication: a T-PDU on an unknown TEID gets an Error Indication
// naming the TEID and the gateway's address (TS 29.281 §7.3.1).
func TestErrorIndication(t *testing.T) {
	g := startGW(t, Config{})
	a := exchange(t, g.UserPlaneAddr(), uplane.TPDU(0xabcdef, []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 100, 2, 127, 0, 0, 1}))
	d, err := uplane.Decode(a)
	if err != nil || d.Type != uplane.MsgErrorIndication || d.ErrorTEID != 0xabcdef || d.ErrorPeer != g.uAddr.Addr() {
		t.Errorf("answer %+v %v, want Error Indication for TEID 0xabcdef from %v", d, err, g.uAddr.Addr())
	}
}
