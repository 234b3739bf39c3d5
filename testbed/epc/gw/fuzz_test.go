package gw

import (
	"bytes"
	"github.com/imslab/imslab/internal/nas/eps"
	"log/slog"
	"net/netip"
	"reflect"
	"testing"

	"github.com/wmnsk/go-gtp/gtpv2/ie"
	"github.com/wmnsk/go-gtp/gtpv2/message"

	"github.com/imslab/imslab/internal/uplane"
)

// TestPCO: the PCO of TS 24.008 §10.5.6.3 in both directions, and what a
// malformed one is.
func TestPCO(t *testing.T) {
	req := RequestPCO(eps.PCOPCSCFIPv4, eps.PCODNSIPv4)
	if want := []byte{0x80, 0x00, 0x0c, 0x00, 0x00, 0x0d, 0x00}; !bytes.Equal(req, want) {
		t.Errorf("request % x, want % x", req, want)
	}
	p, err := eps.ParsePCO(req)
	if err != nil || !p.Has(eps.PCOPCSCFIPv4) || !p.Has(eps.PCODNSIPv4) || p.Has(eps.PCOIPv4LinkMTU) {
		t.Fatalf("ParsePCO: %+v %v", p, err)
	}
	ans := answerPCO(p, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}, nil, 1400)
	a, err := eps.ParsePCO(ans)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.IPv4(eps.PCOPCSCFIPv4); len(got) != 2 || got[1] != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("P-CSCF addresses %v", got)
	}
	for _, bad := range [][]byte{nil, {0x00}, {0x80, 0x00}, {0x80, 0x00, 0x0c, 0x04, 127}} {
		if _, err := eps.ParsePCO(bad); err == nil {
			t.Errorf("% x parsed", bad)
		}
	}
}

// FuzzParsePCO: no input panics, and what parses re-encodes to itself.
func FuzzParsePCO(f *testing.F) {
	f.Add(RequestPCO(eps.PCOPCSCFIPv4, eps.PCODNSIPv4, eps.PCOIPv4LinkMTU))
	f.Add([]byte{0x80, 0, 0x0c, 4, 127, 0, 0, 1, 0x80, 0x21, 0x10, 1, 0, 0, 0x10, 0x81, 6, 0, 0, 0, 0, 0x83, 6, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := eps.ParsePCO(b)
		if err != nil {
			return
		}
		m, err := p.Marshal()
		if err != nil {
			t.Fatalf("%+v parsed but does not re-encode: %v", p, err)
		}
		q, err := eps.ParsePCO(m)
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip: %+v → %+v (%v)", p, q, err)
		}
		_ = answerPCO(p, []netip.Addr{DefaultPCSCF}, []netip.Addr{DefaultPCSCF}, 1400)
	})
}

// fuzzGateway is a running gateway with one session whose eNB side is a
// socket nobody reads, for the fuzz targets; SGi stays on 127.0.0.0/8.
func fuzzGateway(f *testing.F) (*Gateway, *Session) {
	g := startGW(f, Config{Logger: slog.New(slog.DiscardHandler), MaxFlows: 8})
	c := dialGW(f, g, nil)
	s, err := c.CreateSession(ctxT(f), CreateSessionParams{IMSI: imsi1})
	if err != nil {
		f.Fatal(err)
	}
	if err := c.ModifyBearer(ctxT(f), s, netip.MustParseAddr("127.0.0.1"), 1); err != nil {
		f.Fatal(err)
	}
	return g, s
}

// ipv4UDP is a UE's IPv4/UDP packet to 127.0.0.1:9 (discard).
func ipv4UDP(ue netip.Addr, payload string) []byte {
	return buildUDP(netip.AddrPortFrom(ue, 5060), netip.MustParseAddrPort("127.0.0.1:9"), []byte(payload), 1)
}

// FuzzUserPlane feeds the gateway's GTP-U handling arbitrary datagrams and,
// tunnelled on the session's uplink TEID, arbitrary inner packets: nothing
// may panic.
func FuzzUserPlane(f *testing.F) {
	g, s := fuzzGateway(f)
	from := netip.MustParseAddrPort("127.0.0.1:9")
	syn := ipv4UDP(s.UE, "")
	syn[9] = 6 // protocol TCP, header garbage
	f.Add(false, uplane.TPDU(s.UplinkTEID, ipv4UDP(s.UE, "INVITE")))
	f.Add(false, uplane.EchoRequest(1))
	f.Add(false, uplane.ErrorIndication(5, netip.MustParseAddr("127.0.0.1")))
	f.Add(false, []byte{0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x01, 0})
	f.Add(true, ipv4UDP(s.UE, "RTP"))
	f.Add(true, syn)
	f.Add(true, []byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, tunnelled bool, b []byte) {
		if tunnelled {
			b = uplane.TPDU(s.UplinkTEID, b)
		}
		g.handleUserPlane(b, from)
	})
}

// FuzzControl feeds the gateway's GTPv2-C handling arbitrary messages.
func FuzzControl(f *testing.F) {
	g, s := fuzzGateway(f)
	for _, m := range []message.Message{
		message.NewCreateSessionRequest(0, 1, csrIEs()...),
		message.NewModifyBearerRequest(s.SGWControlTEID, 2, ie.NewBearerContext(ie.NewEPSBearerID(5),
			ie.NewFullyQualifiedTEID(0, 7, "127.0.0.1", ""))),
		message.NewDeleteSessionRequest(s.SGWControlTEID, 3, ie.NewEPSBearerID(5)),
		message.NewEchoRequest(4, ie.NewRecovery(0)),
	} {
		b, err := message.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	from := netip.MustParseAddrPort("127.0.0.1:9")
	f.Fuzz(func(t *testing.T, b []byte) {
		g.handleControl(b, from)
	})
}
