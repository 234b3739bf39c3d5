package trace

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/internal/diameter"
)

// The lab of the fixtures: a UE, the P-CSCF, the S-CSCF (SIP on 6060, its
// Diameter client port 41000) and the HSS on 3869, so that SIP and
// Diameter are off their registered ports.
var (
	aUE     = netip.MustParseAddrPort("127.0.0.1:5070")
	aPCSCF  = netip.MustParseAddrPort("127.0.0.1:5060")
	aSCSCF  = netip.MustParseAddrPort("127.0.0.1:6060")
	aSCSCFd = netip.MustParseAddrPort("127.0.0.1:41000")
	aHSS    = netip.MustParseAddrPort("127.0.0.1:3869")
)

// sipMsg builds a SIP message with a correct Content-Length.
func sipMsg(start string, headers []string, body string) []byte {
	return []byte(start + "\r\n" + strings.Join(headers, "\r\n") + fmt.Sprintf("\r\nContent-Length: %d\r\n\r\n", len(body)) + body)
}

// register and its 401, as the UE and the P-CSCF send them.
func register(branch, via string, extra ...string) []byte {
	h := append([]string{"Via: SIP/2.0/UDP " + via + ";branch=" + branch, "Max-Forwards: 70",
		"From: <sip:alice@ims.test>;tag=a1", "To: <sip:alice@ims.test>", "Call-ID: reg1@127.0.0.1", "CSeq: 1 REGISTER",
		"Contact: <sip:alice@127.0.0.1:5070>", "Expires: 600"}, extra...)
	return sipMsg("REGISTER sip:ims.test SIP/2.0", h, "")
}

func unauthorized(vias ...string) []byte {
	var h []string
	for _, v := range vias {
		h = append(h, "Via: SIP/2.0/UDP "+v)
	}
	h = append(h, "From: <sip:alice@ims.test>;tag=a1", "To: <sip:alice@ims.test>;tag=s1", "Call-ID: reg1@127.0.0.1",
		"CSeq: 1 REGISTER", `WWW-Authenticate: Digest realm="ims.test", nonce="bm9uY2U=", algorithm=AKAv1-MD5, qop="auth"`)
	return sipMsg("SIP/2.0 401 Unauthorized", h, "")
}

// cxMessage builds a MAR, or its MAA with a Result-Code.
func cxMessage(t testing.TB, request bool, result uint32) []byte {
	t.Helper()
	m := diam.NewRequest(diameter.CmdMA, diameter.AppCx, diameter.Dictionary())
	if !request {
		m = diam.NewMessage(diameter.CmdMA, 0, diameter.AppCx, 7, 9, diameter.Dictionary())
	} else {
		m.Header.HopByHopID, m.Header.EndToEndID = 7, 9
	}
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("scscf.ims.test;1;1"))
	m.AddAVP(diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.Vendor3GPP)),
		diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(diameter.AppCx)),
	}}))
	if !request {
		m.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(result))
	}
	m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	host, realm := "scscf.ims.test", "ims.test"
	if !request {
		host = "hss.ims.test"
	}
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(host))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(realm))
	if request {
		m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(realm))
		m.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String("alice@ims.test"))
		m.AddAVP(diameter.AVP(diameter.AppCx, "Public-Identity", datatype.UTF8String("sip:alice@ims.test")))
		m.AddAVP(diameter.AVP(diameter.AppCx, "SIP-Number-Auth-Items", datatype.Unsigned32(1)))
		m.AddAVP(diameter.AVP(diameter.AppCx, "Server-Name", datatype.UTF8String("sip:scscf.ims.test:6060")))
	}
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// registration returns the traces of the UE, the P-CSCF, the S-CSCF and
// the HSS for REGISTER, MAR, MAA, 401. The S-CSCF re-serialises what it
// receives (header names in lower case), as a SIP stack may.
func registration(t testing.TB) (ue, pcscf, scscf, hss []Event) {
	t.Helper()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	reg1 := register("z9hG4bKue1", "127.0.0.1:5070")
	reg2 := register("z9hG4bKpc1", "127.0.0.1:5060", "Path: <sip:term@127.0.0.1:5060;lr>")
	reg2 = []byte(strings.Replace(string(reg2), "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKpc1",
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKpc1\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKue1", 1))
	reg2seen := []byte(strings.NewReplacer("Call-ID:", "call-id:", "CSeq:", "cseq:").Replace(string(reg2)))
	mar, maa := cxMessage(t, true, 0), cxMessage(t, false, 2001)
	u2 := unauthorized("127.0.0.1:5060;branch=z9hG4bKpc1", "127.0.0.1:5070;branch=z9hG4bKue1")
	u1 := unauthorized("127.0.0.1:5070;branch=z9hG4bKue1")
	ev := func(ms int, node, proto string, sent bool, network string, src, dst netip.AddrPort, raw []byte) Event {
		return Event{Time: at(ms), Node: node, Protocol: proto, Sent: sent, Network: network, Src: src, Dst: dst, Raw: raw}
	}
	ue = []Event{
		ev(0, "UE alice", "SIP", true, "udp", aUE, aPCSCF, reg1),
		ev(9, "UE alice", "SIP", false, "udp", aPCSCF, aUE, u1),
	}
	pcscf = []Event{
		ev(1, "P-CSCF", "SIP", false, "udp", aUE, aPCSCF, reg1),
		ev(2, "P-CSCF", "SIP", true, "udp", aPCSCF, aSCSCF, reg2),
		ev(7, "P-CSCF", "SIP", false, "udp", aSCSCF, aPCSCF, u2),
		ev(8, "P-CSCF", "SIP", true, "udp", aPCSCF, aUE, u1),
	}
	scscf = []Event{
		ev(3, "S-CSCF", "SIP", false, "udp", aPCSCF, aSCSCF, reg2seen),
		ev(4, "S-CSCF", "Diameter", true, "tcp", aSCSCFd, aHSS, mar),
		ev(6, "S-CSCF", "Diameter", false, "tcp", aHSS, aSCSCFd, maa),
		ev(7, "S-CSCF", "SIP", true, "udp", aSCSCF, aPCSCF, u2),
	}
	hss = []Event{
		ev(5, "HSS", "Diameter", false, "tcp", aSCSCFd, aHSS, mar),
		ev(5, "HSS", "Diameter", true, "tcp", aHSS, aSCSCFd, maa),
	}
	return ue, pcscf, scscf, hss
}

// rtpPacket builds an RTP packet (RFC 3550 §5.1) with a payload of n bytes.
func rtpPacket(pt byte, seq uint16, n int) []byte {
	b := make([]byte, 12+n)
	b[0], b[1] = 0x80, pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], uint32(seq)*160)
	binary.BigEndian.PutUint32(b[8:], 0x11223344)
	for i := range n {
		b[12+i] = 0xd5
	}
	return b
}

// rtcpSR builds an RTCP sender report without report blocks (RFC 3550
// §6.4.1).
func rtcpSR() []byte {
	b := make([]byte, 28)
	b[0], b[1] = 0x80, 200
	binary.BigEndian.PutUint16(b[2:], 6)
	binary.BigEndian.PutUint32(b[4:], 0x11223344)
	return b
}
