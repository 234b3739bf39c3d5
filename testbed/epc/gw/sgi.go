package gw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

const (
	sgiNIC tcpip.NICID = 1
	// dialTimeout bounds the PGW's connect on behalf of a UE.
	dialTimeout = 5 * time.Second
	// maxSYNInFlight bounds the UE connections being set up at once.
	maxSYNInFlight = 1024
)

// sgi is the PGW's SGi side: a netstack that takes every uplink IP packet
// (any destination, promiscuous; answering from any source, spoofing) the
// way tun2socks does. UDP datagrams leave it for a real socket bound to
// the UE's address and port; TCP connections are ended in it and relayed
// over real connections from the UE's address and port.
type sgi struct {
	g     *Gateway
	stack *stack.Stack
	ep    *channel.Endpoint
}

func newSGi(g *Gateway) (*sgi, error) {
	x := &sgi{g: g, ep: channel.New(1024, uint32(g.cfg.MTU), "")}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocolWithOptions(ipv4.Options{AllowExternalLoopbackTraffic: true})},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	x.stack = s
	for _, err := range []tcpip.Error{s.CreateNIC(sgiNIC, x.ep), s.SetPromiscuousMode(sgiNIC, true), s.SetSpoofing(sgiNIC, true)} {
		if err != nil {
			s.Destroy()
			return nil, fmt.Errorf("gw: SGi stack: %s", err)
		}
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: sgiNIC}})
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	fwd := tcp.NewForwarder(s, 0, maxSYNInFlight, x.handleTCP)
	s.SetTransportProtocolHandler(tcp.ProtocolNumber, fwd.HandlePacket)
	s.SetTransportProtocolHandler(udp.ProtocolNumber, x.handleUDP)
	return x, nil
}

// inject hands an uplink IPv4 packet to the stack (copied).
func (x *sgi) inject(ip []byte) {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(ip)})
	x.ep.InjectInbound(ipv4.ProtocolNumber, pkt)
	pkt.DecRef()
}

// output sends the stack's packets (the TCP side facing the UEs) down the
// tunnel of the UE they are addressed to.
func (x *sgi) output(ctx context.Context) {
	for {
		pkt := x.ep.ReadContext(ctx)
		if pkt == nil {
			return
		}
		b := make([]byte, 0, pkt.Size())
		for _, v := range pkt.AsSlices() {
			b = append(b, v...)
		}
		pkt.DecRef()
		if len(b) < header.IPv4MinimumSize {
			continue
		}
		if s := x.g.sessions.byUE(netip.AddrFrom4(header.IPv4(b).DestinationAddress().As4())); s != nil {
			x.g.downlink(s, b)
		}
	}
}

func (x *sgi) close() { x.ep.Close(); x.stack.Close() }
func (x *sgi) wait()  { x.stack.Wait() }

// handleUDP takes a UE's UDP datagram (reassembled by the stack): checked
// (RFC 768), then sent from the UE's address and port by the flow's socket.
func (x *sgi) handleUDP(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	s := x.g.sessions.byUE(netip.AddrFrom4(id.RemoteAddress.As4()))
	if s == nil {
		return true
	}
	h := header.UDP(pkt.TransportHeader().Slice())
	payload := pkt.Data().AsRange().ToSlice()
	n := int(h.Length()) - header.UDPMinimumSize
	if n < 0 || n > len(payload) {
		s.meter.Drop()
		return true
	}
	payload = payload[:n]
	if h.Checksum() != 0 && !h.IsChecksumValid(id.RemoteAddress, id.LocalAddress, checksum.Checksum(payload, 0)) {
		s.meter.Drop()
		x.g.log.Debug("uplink UDP dropped: bad checksum", "ue", s.ue)
		return true
	}
	c, err := x.g.udpFlow(s, id.RemotePort)
	if err != nil {
		s.meter.Drop()
		x.g.log.Warn("uplink UDP dropped", "imsi", s.imsi, "ue", s.ue, "port", id.RemotePort, "err", err)
		return true
	}
	dst := netip.AddrPortFrom(netip.AddrFrom4(id.LocalAddress.As4()), id.LocalPort)
	if _, err := c.WriteToUDPAddrPort(payload, dst); err != nil {
		x.g.log.Debug("SGi UDP send", "from", c.LocalAddr(), "to", dst, "err", err)
	}
	return true
}

// udpFlow returns the SGi socket of a UE's UDP port, opening it (bound to
// UEaddr:port) and its downlink reader the first time.
func (g *Gateway) udpFlow(s *session, port uint16) (*net.UDPConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.udp[port]; c != nil {
		return c, nil
	}
	if s.closed {
		return nil, errStopping
	}
	if len(s.udp) >= g.cfg.MaxFlows {
		return nil, fmt.Errorf("the session has %d UDP flows already (MaxFlows)", len(s.udp))
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.ue, port)))
	if err != nil {
		return nil, fmt.Errorf("SGi socket on %v:%d: %w (is %v on a local interface? Linux has 127.0.0.0/8 on lo)", s.ue, port, err, s.ue)
	}
	if !g.track() {
		c.Close()
		return nil, errStopping
	}
	s.udp[port] = c
	g.log.Debug("UDP flow opened", "imsi", s.imsi, "sgi", c.LocalAddr())
	go func() {
		defer g.wg.Done()
		g.udpDownlink(s, c, netip.AddrPortFrom(s.ue, port))
	}()
	return c, nil
}

// udpDownlink wraps what a flow's socket receives in IPv4+UDP to the UE
// and tunnels it down, until the socket closes.
func (g *Gateway) udpDownlink(s *session, c *net.UDPConn, ue netip.AddrPort) {
	buf := make([]byte, 65535)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		g.downlink(s, buildUDP(unmapAP(from), ue, buf[:n], uint16(g.ipID.Add(1))))
	}
}

// buildUDP makes an IPv4 (RFC 791) + UDP (RFC 768) packet with its
// checksums.
func buildUDP(src, dst netip.AddrPort, payload []byte, id uint16) []byte {
	total := header.IPv4MinimumSize + header.UDPMinimumSize + len(payload)
	b := make([]byte, total)
	ip := header.IPv4(b)
	srcA, dstA := tcpip.AddrFrom4(src.Addr().As4()), tcpip.AddrFrom4(dst.Addr().As4())
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(total), ID: id, TTL: 64,
		Protocol: uint8(header.UDPProtocolNumber), SrcAddr: srcA, DstAddr: dstA})
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(b[header.IPv4MinimumSize:])
	ulen := uint16(header.UDPMinimumSize + len(payload))
	u.Encode(&header.UDPFields{SrcPort: src.Port(), DstPort: dst.Port(), Length: ulen})
	copy(u.Payload(), payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, srcA, dstA, ulen)
	xsum = checksum.Checksum(payload, xsum)
	sum := ^u.CalculateChecksum(xsum)
	if sum == 0 {
		sum = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	u.SetChecksum(sum)
	return b
}

// handleTCP ends a UE's TCP connection in the stack once the PGW has
// connected, from the UE's address and port, to where the UE was going;
// a refused connect resets the UE's.
func (x *sgi) handleTCP(r *tcp.ForwarderRequest) {
	g := x.g
	id := r.ID()
	ue := netip.AddrPortFrom(netip.AddrFrom4(id.RemoteAddress.As4()), id.RemotePort)
	dst := netip.AddrPortFrom(netip.AddrFrom4(id.LocalAddress.As4()), id.LocalPort)
	s := g.sessions.byUE(ue.Addr())
	if s == nil || !g.track() {
		r.Complete(true)
		return
	}
	defer g.wg.Done()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(ue), Timeout: dialTimeout, Control: reuseAddr}
	out, err := d.DialContext(g.ctx, "tcp4", dst.String())
	if err != nil {
		g.log.Warn("TCP from the UE refused: the PGW could not connect", "imsi", s.imsi, "from", ue, "to", dst, "err", err)
		r.Complete(true)
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		r.Complete(true)
		out.Close()
		g.log.Warn("TCP from the UE: handshake failed", "from", ue, "to", dst, "err", terr.String())
		return
	}
	r.Complete(false)
	in := gonet.NewTCPConn(&wq, ep)
	rel := &relay{in: in, out: out.(*net.TCPConn)}
	if !s.addConn(rel) {
		rel.Close()
		return
	}
	g.log.Info("TCP relayed", "imsi", s.imsi, "from", ue, "to", dst)
	rel.run()
	s.removeConn(rel)
	g.log.Debug("TCP relay ended", "from", ue, "to", dst)
}

// relay copies a UE's TCP connection (in, the stack's side) to its SGi
// connection (out) and back, passing half-closes on.
type relay struct {
	in   *gonet.TCPConn
	out  *net.TCPConn
	once sync.Once
}

func (r *relay) run() {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if _, err := io.Copy(r.out, r.in); err != nil {
			r.Close()
		}
		r.out.CloseWrite()
	}()
	go func() {
		defer wg.Done()
		if _, err := io.Copy(r.in, r.out); err != nil {
			r.Close()
		}
		r.in.CloseWrite()
	}()
	wg.Wait()
	r.Close()
}

// Close closes both sides.
func (r *relay) Close() error {
	r.once.Do(func() {
		r.in.Close()
		r.out.Close()
	})
	return nil
}
