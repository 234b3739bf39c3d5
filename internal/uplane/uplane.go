// Package uplane is the UE's side of the EPC-lite user plane (DESIGN.md,
// Access network): the eNB collapsed into the UE. Given the IPv4 address the
// PGW assigned, the SGW's S1-U endpoint and the uplink TEID, and its own
// GTP-U socket and downlink TEID, it runs a userspace TCP/IP stack (gVisor's
// netstack) whose only interface sends every IP packet up the GTP-U tunnel
// (TS 29.281) and takes the downlink T-PDUs in. The UE's SIP stack and media
// use the sockets it hands out; the network then sees them come from the
// UE's pool address, through the PGW.
//
// The package also holds the GTP-U framing (gtpu.go) that the SGW/PGW
// shares.
package uplane

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/imslab/imslab/internal/trace"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// DefaultMTU is the tunnel interface's MTU: room for the GTP-U, UDP and
// outer IP headers under a 1500-byte path.
const DefaultMTU = 1400

// nicID is the one interface of the UE's stack.
const nicID tcpip.NICID = 1

// queueLen bounds the packets the stack may queue for the tunnel.
const queueLen = 1024

// Config describes the tunnel. Addr, SGW, UplinkTEID, Conn and DownlinkTEID
// are required.
type Config struct {
	// Addr is the UE's IPv4 address (the PDN Address Allocation).
	Addr netip.Addr
	// SGW is the SGW's S1-U GTP-U endpoint, where uplink T-PDUs go.
	SGW netip.AddrPort
	// UplinkTEID is the SGW's S1-U TEID (S1-U SGW F-TEID).
	UplinkTEID uint32
	// Conn is the eNB side's GTP-U socket; downlink T-PDUs arrive on it and
	// uplink ones leave from it. The Plane owns it: Close closes it.
	Conn net.PacketConn
	// DownlinkTEID is the TEID the eNB side chose (S1-U eNB F-TEID); see
	// NewTEID.
	DownlinkTEID uint32
	// MTU of the tunnel interface; default DefaultMTU.
	MTU int
	// Node names the traces' sender, default "UE".
	Node   string
	Logger *slog.Logger
	// Trace sees every GTP-U message sent and received (Protocol "GTP-U").
	Trace func(trace.Event)
}

// Plane is a running user plane.
type Plane struct {
	cfg   Config
	log   *slog.Logger
	stack *stack.Stack
	ep    *channel.Endpoint
	local netip.AddrPort // Conn's address, for traces
	meter Meter

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool
}

// NewTEID returns a random non-zero TEID (TEID 0 is reserved, TS 29.281
// §5.1).
func NewTEID() uint32 {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		if t := binary.BigEndian.Uint32(b[:]); t != 0 {
			return t
		}
	}
}

// Open starts the user plane. It runs until Close, or until ctx ends.
func Open(ctx context.Context, cfg Config) (*Plane, error) {
	switch {
	case !cfg.Addr.Unmap().Is4():
		return nil, fmt.Errorf("uplane: UE address %v is not IPv4 (PDN type IPv4 only)", cfg.Addr)
	case !cfg.SGW.IsValid():
		return nil, errors.New("uplane: no SGW GTP-U endpoint")
	case cfg.Conn == nil:
		return nil, errors.New("uplane: no GTP-U socket")
	case cfg.UplinkTEID == 0 || cfg.DownlinkTEID == 0:
		return nil, errors.New("uplane: TEID 0 is reserved (TS 29.281 §5.1)")
	}
	cfg.Addr = cfg.Addr.Unmap()
	if cfg.MTU <= 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.Node == "" {
		cfg.Node = "UE"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Plane{cfg: cfg, log: log, ep: channel.New(queueLen, uint32(cfg.MTU), "")}
	if ua, ok := cfg.Conn.LocalAddr().(*net.UDPAddr); ok {
		p.local = ua.AddrPort()
	}
	SetBuffers(cfg.Conn)
	s, err := newStack(p.ep, cfg.Addr)
	if err != nil {
		return nil, err
	}
	p.stack = s
	ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.downlink() }()
	go func() { defer p.wg.Done(); p.uplink(ctx) }()
	go func() { <-ctx.Done(); p.Close() }()
	log.Info("user plane up", "ue", cfg.Addr, "sgw", cfg.SGW, "uplink_teid", teidString(cfg.UplinkTEID),
		"gtpu", p.local, "downlink_teid", teidString(cfg.DownlinkTEID), "mtu", cfg.MTU)
	return p, nil
}

// SocketBuffer is the receive and send buffer asked for GTP-U sockets:
// a TCP window's burst of T-PDUs overflows the default one (the kernel caps
// it at net.core.rmem_max and wmem_max).
const SocketBuffer = 4 << 20

// SetBuffers enlarges a GTP-U socket's buffers to SocketBuffer, if it is a
// UDP socket.
func SetBuffers(c net.PacketConn) {
	if u, ok := c.(*net.UDPConn); ok {
		u.SetReadBuffer(SocketBuffer)
		u.SetWriteBuffer(SocketBuffer)
	}
}

// newStack builds a netstack with one interface, ep, holding addr, routing
// everything through it. Loopback addresses (the lab lives on 127.0.0.0/8)
// are allowed in and out of that non-loopback interface.
func newStack(ep stack.LinkEndpoint, addr netip.Addr) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocolWithOptions(ipv4.Options{AllowExternalLoopbackTraffic: true})},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	if err := s.CreateNIC(nicID, ep); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("uplane: creating the tunnel interface: %s", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom4(addr.As4()).WithPrefix()}
	if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("uplane: assigning %v: %s", addr, err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: nicID}})
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	return s, nil
}

// uplink sends every packet the stack emits up the tunnel (T-PDU with the
// uplink TEID, TS 29.281 §5.1).
func (p *Plane) uplink(ctx context.Context) {
	for {
		pkt := p.ep.ReadContext(ctx)
		if pkt == nil {
			return
		}
		b := make([]byte, 8, 8+pkt.Size())
		for _, s := range pkt.AsSlices() {
			b = append(b, s...)
		}
		pkt.DecRef()
		msg := tpduInPlace(p.cfg.UplinkTEID, b)
		if _, err := p.cfg.Conn.WriteTo(msg, net.UDPAddrFromAddrPort(p.cfg.SGW)); err != nil {
			p.meter.Drop()
			if ctx.Err() == nil {
				p.log.Warn("uplink T-PDU not sent", "sgw", p.cfg.SGW, "err", err)
			}
			continue
		}
		p.meter.Up(len(b) - 8)
		p.trace(true, p.local, p.cfg.SGW, msg)
	}
}

// downlink reads the GTP-U socket: T-PDUs on the downlink TEID go into the
// stack; Echo Requests are answered; T-PDUs on other TEIDs get an Error
// Indication (TS 29.281 §7.3.1).
func (p *Plane) downlink() {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.cfg.Conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Warn("GTP-U read", "err", err)
			continue
		}
		var src netip.AddrPort
		if ua, ok := from.(*net.UDPAddr); ok {
			src = ua.AddrPort()
		}
		p.handle(buf[:n], src, from)
	}
}

// handle processes one GTP-U message from src.
func (p *Plane) handle(b []byte, src netip.AddrPort, from net.Addr) {
	p.trace(false, src, p.local, b)
	d, err := Decode(b)
	if err != nil {
		p.log.Debug("GTP-U message dropped", "from", src, "err", err)
		return
	}
	switch d.Type {
	case MsgTPDU:
		if d.TEID != p.cfg.DownlinkTEID {
			p.log.Warn("T-PDU on an unknown TEID: Error Indication sent", "from", src, "teid", teidString(d.TEID))
			p.reply(ErrorIndication(d.TEID, p.local.Addr()), src, from)
			return
		}
		p.inject(d.Payload)
	case MsgEchoRequest:
		p.reply(EchoResponse(d.Seq), src, from)
	case MsgErrorIndication:
		p.log.Warn("the SGW does not know our uplink tunnel (Error Indication)", "from", src,
			"teid", teidString(d.ErrorTEID), "peer", d.ErrorPeer)
	}
}

// inject hands a downlink IP packet to the stack.
func (p *Plane) inject(ip []byte) {
	if !header.IPv4(ip).IsValid(len(ip)) {
		p.meter.Drop()
		return
	}
	p.meter.Down(len(ip))
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(ip)})
	p.ep.InjectInbound(ipv4.ProtocolNumber, pkt)
	pkt.DecRef()
}

func (p *Plane) reply(msg []byte, to netip.AddrPort, addr net.Addr) {
	if _, err := p.cfg.Conn.WriteTo(msg, addr); err == nil {
		p.trace(true, p.local, to, msg)
	}
}

func (p *Plane) trace(sent bool, src, dst netip.AddrPort, raw []byte) {
	if p.cfg.Trace != nil {
		p.cfg.Trace(TraceEvent(p.cfg.Node, sent, src, dst, raw))
	}
}

// Addr is the UE's IPv4 address.
func (p *Plane) Addr() netip.Addr { return p.cfg.Addr }

// Counters returns the packets and bytes tunnelled so far.
func (p *Plane) Counters() Counters { return p.meter.Counters() }

// ListenUDP opens a UDP socket on the UE's address (port 0: any free port).
func (p *Plane) ListenUDP(port uint16) (net.PacketConn, error) {
	if p.closed.Load() {
		return nil, errClosed
	}
	c, err := gonet.DialUDP(p.stack, &tcpip.FullAddress{NIC: nicID, Addr: p.tcpipAddr(), Port: port}, nil, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("uplane: UDP socket on %v:%d: %w", p.cfg.Addr, port, err)
	}
	return c, nil
}

// DialUDP opens a UDP socket on the UE's address and port (0: any) bound to
// raddr.
func (p *Plane) DialUDP(port uint16, raddr netip.AddrPort) (net.Conn, error) {
	r, err := p.full(raddr)
	if err != nil {
		return nil, err
	}
	c, err := gonet.DialUDP(p.stack, &tcpip.FullAddress{NIC: nicID, Addr: p.tcpipAddr(), Port: port}, &r, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("uplane: UDP socket to %v: %w", raddr, err)
	}
	return c, nil
}

// DialTCP opens a TCP connection from the UE's address to raddr.
func (p *Plane) DialTCP(ctx context.Context, raddr netip.AddrPort) (net.Conn, error) {
	r, err := p.full(raddr)
	if err != nil {
		return nil, err
	}
	c, err := gonet.DialContextTCP(ctx, p.stack, r, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("uplane: TCP to %v through the tunnel: %w", raddr, err)
	}
	return c, nil
}

// ListenTCP listens for TCP connections on the UE's address.
func (p *Plane) ListenTCP(port uint16) (net.Listener, error) {
	if p.closed.Load() {
		return nil, errClosed
	}
	l, err := gonet.ListenTCP(p.stack, tcpip.FullAddress{NIC: nicID, Addr: p.tcpipAddr(), Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("uplane: TCP listener on %v:%d: %w", p.cfg.Addr, port, err)
	}
	return l, nil
}

// Dial connects like net.Dialer.DialContext ("udp", "udp4", "tcp",
// "tcp4"; address "IPv4:port"), through the tunnel.
func (p *Plane) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, fmt.Errorf("uplane: dial %s: want IPv4:port: %w", address, err)
	}
	switch network {
	case "udp", "udp4":
		return p.DialUDP(0, ap)
	case "tcp", "tcp4":
		return p.DialTCP(ctx, ap)
	}
	return nil, fmt.Errorf("uplane: dial: network %q not supported (udp, tcp)", network)
}

// Close stops the user plane: its sockets, connections and the GTP-U
// socket are closed.
func (p *Plane) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.cancel()
		p.cfg.Conn.Close()
		p.ep.Close()
		p.stack.Close()
		p.wg.Wait()
		p.stack.Wait()
		p.log.Info("user plane down", "ue", p.cfg.Addr, "counters", p.meter.Counters().String())
	})
	return nil
}

func (p *Plane) tcpipAddr() tcpip.Address { return tcpip.AddrFrom4(p.cfg.Addr.As4()) }

// errClosed: the plane is closed.
var errClosed = fmt.Errorf("uplane: %w", net.ErrClosed)

// full converts an IPv4 endpoint to netstack's form; an error once the
// plane is closed.
func (p *Plane) full(ap netip.AddrPort) (tcpip.FullAddress, error) {
	if p.closed.Load() {
		return tcpip.FullAddress{}, errClosed
	}
	a := ap.Addr().Unmap()
	if !a.Is4() {
		return tcpip.FullAddress{}, fmt.Errorf("uplane: %v is not IPv4 (the PDN is IPv4)", ap)
	}
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(a.As4()), Port: ap.Port()}, nil
}

// teidString formats a TEID as Wireshark does: 0x0000002a.
func teidString(t uint32) string { return fmt.Sprintf("0x%08x", t) }
