// Package gw is EPC-lite's gateway: an SGW and a PGW in one (S5/S8
// collapsed; TS 23.401 §4.4.3.2-3). The MME creates, modifies and deletes
// sessions over GTPv2-C (S11, TS 29.274 §7.2); the gateway gives each UE an
// IPv4 address from its pool and, in the PCO, the P-CSCF address when the
// UE asked for it (TS 24.008 §10.5.6.3). The UE's packets arrive in GTP-U
// tunnels (S1-U, TS 29.281) and leave on SGi as plain IP, from the UE's own
// address: for UDP a real socket per UE flow bound to UEaddr:port, for TCP
// a userspace TCP stack (gVisor's netstack) that ends the UE's connection
// and opens a real one from UEaddr:port. No root is needed: the pool lies
// in 127.0.0.0/8, local on Linux's lo. Client is the MME's side of S11.
package gw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/internal/uplane"
)

// Lab defaults.
const (
	DefaultListen    = "127.0.0.1:2123" // GTPv2-C, TS 29.274 §4.4.2.1
	DefaultUserPlane = "127.0.0.1:2152" // GTP-U, TS 29.281 §4.4.2
	DefaultAPN       = "ims"
	DefaultMaxFlows  = 256
	// DefaultAMBR is the APN-AMBR (kbps) answered when the request has none.
	DefaultAMBR = 100000
	// Node is the name of the gateway in traces.
	Node = "SGW/PGW"
)

// DefaultPool is where UE addresses come from; the gateway keeps the
// first host (127.0.100.1) for itself.
var DefaultPool = netip.MustParsePrefix("127.0.100.0/24")

// DefaultPCSCF is the P-CSCF address given in the PCO.
var DefaultPCSCF = netip.MustParseAddr("127.0.0.1")

// DefaultSGi is where the PGW forwards to: the lab never leaves the host.
var DefaultSGi = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// Config configures the gateway. The zero value, with the defaults New
// fills in, is the local lab's.
type Config struct {
	// Listen is the GTPv2-C (S11) address; port 0 picks a free one.
	Listen string
	// UserPlane is the GTP-U (S1-U) address; port 0 picks a free one.
	UserPlane string
	// Pool holds the UE addresses: an IPv4 prefix of /30 or larger
	// (default 127.0.100.0/24); its first host is the gateway's.
	Pool netip.Prefix
	// APN is the access point served (default "ims"); a Create Session
	// for another gets cause 78.
	APN string
	// PCSCF are the P-CSCF IPv4 addresses put in the PCO (container 000CH)
	// when the UE asks; default 127.0.0.1.
	PCSCF []netip.Addr
	// DNS are the DNS server IPv4 addresses put in the PCO (000DH) when
	// asked; default none.
	DNS []netip.Addr
	// MTU is the IPv4 link MTU given in the PCO (0010H) when asked, and
	// the SGi stack's; default 1400.
	MTU int
	// MaxFlows bounds the UDP flows (SGi sockets) of one session.
	MaxFlows int
	// SGi lists the destinations the PGW forwards UE packets to; others
	// are dropped. Default 127.0.0.0/8.
	SGi []netip.Prefix
	// RestartCounter is the Recovery value (TS 29.274 §8.5).
	RestartCounter uint8
	Logger         *slog.Logger
	// Trace sees every GTPv2-C message (Protocol "GTPv2") and every GTP-U
	// message (Protocol "GTP-U", Raw the whole GTP-U packet with the inner
	// IP packet) the gateway sends and receives, Node "SGW/PGW".
	Trace func(trace.Event)
}

// Gateway is the SGW/PGW.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	sessions *table
	cache    responseCache
	ipID     atomic.Uint32 // IPv4 identification of downlink UDP packets
	charging atomic.Uint32 // Charging ID

	started      chan struct{}
	cConn, uConn *net.UDPConn
	cAddr, uAddr netip.AddrPort // bound addresses, set before started closes
	sgi          *sgi
	ctx          context.Context

	mu       sync.Mutex // guards stopping and wg.Add
	stopping bool
	wg       sync.WaitGroup
}

// New checks the configuration and prepares the gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.UserPlane == "" {
		cfg.UserPlane = DefaultUserPlane
	}
	if !cfg.Pool.IsValid() {
		cfg.Pool = DefaultPool
	}
	if cfg.APN == "" {
		cfg.APN = DefaultAPN
	}
	if cfg.PCSCF == nil {
		cfg.PCSCF = []netip.Addr{DefaultPCSCF}
	}
	if cfg.MTU <= 0 {
		cfg.MTU = uplane.DefaultMTU
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.SGi == nil {
		cfg.SGi = DefaultSGi
	}
	for _, a := range slices.Concat(cfg.PCSCF, cfg.DNS) {
		if !a.Is4() {
			return nil, fmt.Errorf("gw: %v is not an IPv4 address: the PCO carries IPv4 P-CSCF and DNS addresses (000CH, 000DH)", a)
		}
	}
	p, err := newPool(cfg.Pool)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: cfg, log: log, sessions: newTable(p), started: make(chan struct{}), ctx: context.Background()}
	return g, nil
}

// Addr returns the GTPv2-C address once Run listens, nil if Run failed to.
func (g *Gateway) Addr() net.Addr {
	<-g.started
	if g.cConn == nil {
		return nil
	}
	return g.cConn.LocalAddr()
}

// UserPlaneAddr returns the GTP-U address once Run listens, nil if Run
// failed to.
func (g *Gateway) UserPlaneAddr() net.Addr {
	<-g.started
	if g.uConn == nil {
		return nil
	}
	return g.uConn.LocalAddr()
}

// Run serves GTPv2-C and GTP-U until ctx ends, then deletes every session
// (closing its SGi sockets and connections) and closes its sockets.
func (g *Gateway) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := listenUDP(g.cfg.Listen)
	if err != nil {
		close(g.started)
		return fmt.Errorf("gw: GTPv2-C on %s: %w (is another SGW/PGW running? choose another address)", g.cfg.Listen, err)
	}
	u, err := listenUDP(g.cfg.UserPlane)
	if err != nil {
		c.Close()
		close(g.started)
		return fmt.Errorf("gw: GTP-U on %s: %w (is another SGW/PGW running? choose another address)", g.cfg.UserPlane, err)
	}
	uplane.SetBuffers(u)
	x, err := newSGi(g)
	if err != nil {
		c.Close()
		u.Close()
		close(g.started)
		return err
	}
	g.ctx, g.sgi = ctx, x
	g.cConn, g.uConn = c, u
	g.cAddr, g.uAddr = advertised(c), advertised(u)
	close(g.started)
	g.log.Info("SGW/PGW listening", "gtpc", g.cAddr.String(), "gtpu", g.uAddr.String(), "pool", g.cfg.Pool.String(),
		"apn", g.cfg.APN, "pcscf", addrList(g.cfg.PCSCF), "dns", addrList(g.cfg.DNS))

	g.wg.Add(3)
	go func() { defer g.wg.Done(); g.serveControl() }()
	go func() { defer g.wg.Done(); g.serveUserPlane() }()
	go func() { defer g.wg.Done(); x.output(ctx) }()
	<-ctx.Done()

	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
	c.Close()
	u.Close()
	for _, s := range g.sessions.all() {
		g.release(s, "gateway stopping")
	}
	x.close()
	g.wg.Wait()
	x.wait()
	g.log.Info("SGW/PGW stopped")
	return nil
}

// track counts a goroutine that Run must wait for; false once Run stops.
func (g *Gateway) track() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return false
	}
	g.wg.Add(1)
	return true
}

// listenUDP binds a UDP socket.
func listenUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return net.ListenUDP("udp", ua)
}

// advertised is the address put in F-TEIDs and traces: the bound one, or
// 127.0.0.1 if bound to all addresses.
func advertised(c *net.UDPConn) netip.AddrPort {
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	a := ap.Addr().Unmap()
	if a.IsUnspecified() {
		a = netip.MustParseAddr("127.0.0.1")
	}
	return netip.AddrPortFrom(a, ap.Port())
}

func addrList(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// SessionInfo describes one session and its traffic.
type SessionInfo struct {
	IMSI, MSISDN, APN string
	EBI               uint8
	UE                netip.Addr
	ControlTEID       uint32         // S11 SGW TEID
	UplinkTEID        uint32         // S1-U SGW TEID
	DownlinkTEID      uint32         // S1-U eNB TEID, 0 before Modify Bearer
	ENB               netip.AddrPort // where downlink T-PDUs go
	Counters          uplane.Counters
}

// Sessions lists the sessions, in UE address order.
func (g *Gateway) Sessions() []SessionInfo {
	ss := g.sessions.all()
	out := make([]SessionInfo, len(ss))
	for i, s := range ss {
		out[i] = s.info()
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return a.UE.Compare(b.UE) })
	return out
}

// Session describes the session of a UE address.
func (g *Gateway) Session(ue netip.Addr) (SessionInfo, bool) {
	s := g.sessions.byUE(ue)
	if s == nil {
		return SessionInfo{}, false
	}
	return s.info(), true
}

// errStopping: the gateway is shutting down.
var errStopping = errors.New("gw: stopping")
