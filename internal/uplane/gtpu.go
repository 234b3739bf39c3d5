package uplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/wmnsk/go-gtp/gtpv1/ie"
	"github.com/wmnsk/go-gtp/gtpv1/message"
)

// GTP-U message types (TS 29.281 §6.1).
const (
	MsgEchoRequest      = message.MsgTypeEchoRequest     // 1
	MsgEchoResponse     = message.MsgTypeEchoResponse    // 2
	MsgErrorIndication  = message.MsgTypeErrorIndication // 26
	MsgSupportedExtHdrs = message.MsgTypeSupportedExtensionHeaderNotification
	MsgEndMarker        = message.MsgTypeEndMarker // 254
	MsgTPDU             = message.MsgTypeTPDU      // 255: G-PDU, a T-PDU behind the header
)

// Port is the GTP-U UDP port (TS 29.281 §4.4.2).
const Port = 2152

// ErrNotGTPU is wrapped by Decode for bytes that are not a GTPv1-U message.
var ErrNotGTPU = errors.New("not a GTPv1-U message")

// Datagram is one GTP-U message read from the network.
type Datagram struct {
	Type   uint8
	TEID   uint32
	Seq    uint16 // valid if HasSeq
	HasSeq bool
	// Payload is the T-PDU of a G-PDU: the inner IP packet. It aliases the
	// decoded bytes.
	Payload []byte
	// ErrorTEID and ErrorPeer are the TEID Data I and GTP-U Peer Address of
	// an Error Indication (TS 29.281 §7.3.1): the tunnel its sender does not
	// know.
	ErrorTEID uint32
	ErrorPeer netip.Addr
}

// Decode reads a GTPv1-U message: the header (TS 29.281 §5.1, extension
// headers skipped), and the IEs of an Error Indication.
func Decode(b []byte) (Datagram, error) {
	if len(b) < 8 || b[0]>>5 != 1 || b[0]&0x10 == 0 {
		return Datagram{}, fmt.Errorf("uplane: %w (%d bytes, flags %#x)", ErrNotGTPU, len(b), first(b))
	}
	h, err := message.ParseHeader(b)
	if err != nil {
		return Datagram{}, fmt.Errorf("uplane: GTP-U header: %w", err)
	}
	d := Datagram{Type: h.Type, TEID: h.TEID, Seq: h.SequenceNumber, HasSeq: h.HasSequence(), Payload: h.Payload}
	if h.Type == MsgErrorIndication {
		ei, err := message.ParseErrorIndication(b)
		if err != nil {
			return d, fmt.Errorf("uplane: Error Indication: %w", err)
		}
		if ei.TEIDDataI == nil || ei.GTPUPeerAddress == nil {
			return d, errors.New("uplane: Error Indication without TEID Data I or GTP-U Peer Address (TS 29.281 §7.3.1)")
		}
		if d.ErrorTEID, err = ei.TEIDDataI.TEID(); err != nil {
			return d, fmt.Errorf("uplane: Error Indication TEID Data I: %w", err)
		}
		d.ErrorPeer, _ = netip.AddrFromSlice(ei.GTPUPeerAddress.Payload)
		d.ErrorPeer = d.ErrorPeer.Unmap()
	}
	return d, nil
}

func first(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// TPDU returns a G-PDU carrying ip to the tunnel teid (TS 29.281 §5.1,
// no optional fields).
func TPDU(teid uint32, ip []byte) []byte {
	b := make([]byte, 8+len(ip))
	copy(b[8:], ip)
	return tpduInPlace(teid, b)
}

// tpduInPlace writes the G-PDU header into b[:8] in front of the T-PDU
// already in b[8:].
func tpduInPlace(teid uint32, b []byte) []byte {
	m := message.NewTPDU(teid, b[8:])
	_ = m.MarshalTo(b) // b has room: MarshalLen is 8+len(payload)
	return b
}

// EchoRequest returns an Echo Request (TS 29.281 §7.2.1).
func EchoRequest(seq uint16) []byte {
	b, _ := message.Marshal(message.NewEchoRequest(seq))
	return b
}

// EchoResponse returns the Echo Response to an Echo Request of sequence seq,
// with Recovery 0 (TS 29.281 §7.2.2: the receiver ignores its value).
func EchoResponse(seq uint16) []byte {
	b, _ := message.Marshal(message.NewEchoResponse(seq, ie.NewRecovery(0)))
	return b
}

// ErrorIndication returns the Error Indication (TS 29.281 §7.3.1) a node
// sends back for a G-PDU on a TEID it does not know: TEID Data I is that
// TEID, GTP-U Peer Address the node's own address, the header TEID 0.
func ErrorIndication(teid uint32, self netip.Addr) []byte {
	b, _ := message.Marshal(message.NewErrorIndication(0, 0, ie.NewTEIDDataI(teid), ie.NewGSNAddressByIP(net.IP(self.Unmap().AsSlice()))))
	return b
}

// Summarize labels a GTP-U message for ladders and logs: "T-PDU UDP
// 5060>5062", "Echo Request", "Error Indication TEID 0x0000002a".
func Summarize(raw []byte) string {
	d, err := Decode(raw)
	if err != nil {
		return "GTP-U (undecodable)"
	}
	switch d.Type {
	case MsgTPDU:
		return "T-PDU " + describeIP(d.Payload)
	case MsgEchoRequest:
		return "Echo Request"
	case MsgEchoResponse:
		return "Echo Response"
	case MsgErrorIndication:
		return fmt.Sprintf("Error Indication TEID %#08x", d.ErrorTEID)
	case MsgEndMarker:
		return "End Marker"
	}
	return fmt.Sprintf("GTP-U type %d", d.Type)
}
