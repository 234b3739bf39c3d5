package gw

import (
	"errors"
	"net"
	"net/netip"
	"slices"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/imslab/imslab/internal/uplane"
)

// serveUserPlane reads GTP-U messages until the socket closes.
func (g *Gateway) serveUserPlane() {
	buf := make([]byte, 65536)
	for {
		n, from, err := g.uConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			g.log.Warn("GTP-U read", "err", err)
			continue
		}
		g.handleUserPlane(buf[:n], unmapAP(from))
	}
}

// handleUserPlane handles one GTP-U message (TS 29.281): a G-PDU on a
// known uplink TEID goes to SGi, one on an unknown TEID gets an Error
// Indication (§7.3.1), an Echo Request its Echo Response (§7.2).
func (g *Gateway) handleUserPlane(b []byte, from netip.AddrPort) {
	g.traceUserPlane(false, from, g.uAddr, b)
	d, err := uplane.Decode(b)
	if err != nil {
		g.log.Debug("GTP-U message dropped", "from", from, "err", err)
		return
	}
	switch d.Type {
	case uplane.MsgTPDU:
		s := g.sessions.byUplink(d.TEID)
		if s == nil {
			// Sent back to the G-PDU's source: every GTP-U socket of the
			// lab sends and receives on one port.
			g.log.Warn("T-PDU on an unknown TEID: Error Indication sent (TS 29.281 §7.3.1)", "from", from, "teid", teidString(d.TEID))
			g.sendUserPlane(from, uplane.ErrorIndication(d.TEID, g.uAddr.Addr()))
			return
		}
		s.latch(from)
		g.uplink(s, d.Payload)
	case uplane.MsgEchoRequest:
		g.sendUserPlane(from, uplane.EchoResponse(d.Seq))
	case uplane.MsgErrorIndication:
		g.log.Warn("the eNB does not know a downlink tunnel (Error Indication)", "from", from,
			"teid", teidString(d.ErrorTEID), "peer", d.ErrorPeer)
	}
}

// uplink forwards one IP packet from a UE: to another UE of the gateway
// directly, to SGi otherwise. Packets that are not IPv4 from the UE's own
// address, or to a destination outside Config.SGi, are dropped.
func (g *Gateway) uplink(s *session, ip []byte) {
	h := header.IPv4(ip)
	if !h.IsValid(len(ip)) || netip.AddrFrom4(h.SourceAddress().As4()) != s.ue {
		s.meter.Drop()
		g.log.Debug("uplink packet dropped: not IPv4 from the UE's address", "imsi", s.imsi, "ue", s.ue)
		return
	}
	ip = ip[:h.TotalLength()]
	s.meter.Up(len(ip))
	dst := netip.AddrFrom4(h.DestinationAddress().As4())
	if peer := g.sessions.byUE(dst); peer != nil {
		g.downlink(peer, ip)
		return
	}
	if !slices.ContainsFunc(g.cfg.SGi, func(p netip.Prefix) bool { return p.Contains(dst) }) {
		s.meter.Drop()
		g.log.Debug("uplink packet dropped: destination outside SGi", "imsi", s.imsi, "dst", dst)
		return
	}
	g.sgi.inject(ip)
}

// downlink sends one IP packet to a UE in a G-PDU with the eNB's TEID.
func (g *Gateway) downlink(s *session, ip []byte) {
	to, teid, ok := s.downlink()
	if !ok && s.hold(ip) {
		return // sent when Modify Bearer gives the eNB's endpoint
	}
	// An eNB on the gateway's own address whose port is not learnt yet
	// would send the gateway its own T-PDU.
	if !ok || to == g.uAddr {
		s.meter.Drop()
		return
	}
	if g.sendUserPlane(to, uplane.TPDU(teid, ip)) {
		s.meter.Down(len(ip))
	} else {
		s.meter.Drop()
	}
}

func (g *Gateway) sendUserPlane(to netip.AddrPort, b []byte) bool {
	if _, err := g.uConn.WriteToUDPAddrPort(b, to); err != nil {
		g.log.Debug("GTP-U send", "to", to, "err", err)
		return false
	}
	g.traceUserPlane(true, g.uAddr, to, b)
	return true
}

func (g *Gateway) traceUserPlane(sent bool, src, dst netip.AddrPort, raw []byte) {
	if g.cfg.Trace != nil {
		g.cfg.Trace(uplane.TraceEvent(Node, sent, src, dst, raw))
	}
}
