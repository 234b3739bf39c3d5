// Package pcscf is imslab's P-CSCF, the UE's first hop into the IMS (TS
// 24.229 §5.2): a stateful SIP proxy (RFC 3261 §16) on UDP and TCP. It
// forwards REGISTER to the S-CSCF with Path (RFC 3327) and
// P-Visited-Network-ID, removes CK/IK from the AKA challenge, records each
// registered flow, and then lets only registered UEs send requests, as
// their own identities (RFC 3325), routed via their Service-Route (RFC
// 3608). Requests from the core reach a UE on the flow it registered from.
package pcscf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipproxy"
)

// Lab defaults (PLMN 001/01, TS 23.003 §13).
const (
	DefaultListen           = "127.0.0.1:5060"
	DefaultSCSCF            = "127.0.0.1:6060"
	DefaultVisitedNetworkID = "ims.mnc001.mcc001.3gppnetwork.org"
)

// Config configures the P-CSCF. The zero value, with defaults filled by
// New, is the local lab's P-CSCF.
type Config struct {
	// Listen is the address of both the UDP socket and the TCP listener.
	// Default 127.0.0.1:5060; port 0 picks a free port (tests).
	Listen string
	// SCSCF is where REGISTERs go, host:port (later the I-CSCF role).
	// Default 127.0.0.1:6060.
	SCSCF string
	// SCSCFTransport is "udp" (default) or "tcp", towards SCSCF and
	// Service-Route entries without a transport parameter.
	SCSCFTransport string
	// Advertise is the host:port put in Path, Record-Route and Via; port
	// 0 means the bound port. Default: the bound Listen address (which
	// must then not be 0.0.0.0).
	Advertise string
	// VisitedNetworkID goes in P-Visited-Network-ID (TS 24.229 §5.2.2.1).
	// Default ims.mnc001.mcc001.3gppnetwork.org.
	VisitedNetworkID string
	// Core lists the IPs or CIDR prefixes allowed to send requests towards
	// UEs (the S-CSCF side). Default: the S-CSCF's IP.
	Core   []string
	Logger *slog.Logger
	// Trace sees every message received and sent on the P-CSCF's listening
	// sockets (UDP, and TCP connections UEs opened), garbage included. A
	// TCP connection the P-CSCF opens to the S-CSCF is not traced. It is
	// called on the socket's path: it must not block.
	Trace func(TraceEvent)
}

// TraceEvent is one message the P-CSCF received or sent.
type TraceEvent struct {
	Time          time.Time
	Sent          bool   // false: received
	Network       string // "udp" or "tcp"
	Local, Remote netip.AddrPort
	Raw           []byte
}

// Option sets an optional behaviour of New.
type Option func(*PCSCF)

// WithClock replaces time.Now for registration expiry (tests).
func WithClock(now func() time.Time) Option { return func(p *PCSCF) { p.now = now } }

// PCSCF is the proxy. Run it once.
type PCSCF struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	flows *flowTable

	// Set by Run before serving.
	ctx     context.Context
	srv     *sipgo.Server
	cli     *sipgo.Client
	laddr   sip.Addr       // the UDP socket, to send from it
	udp     net.PacketConn // the UDP socket (guarded), for large responses
	advHost string         // Advertise host
	advPort int            // Advertise port
	agent   string         // warn-agent: Advertise
	core    []netip.Prefix // Config.Core
	addr    net.Addr
	started chan struct{}

	mu      sync.Mutex // guards closing and handlers
	closing bool
	active  sync.WaitGroup
}

// New checks the configuration and fills its defaults.
func New(cfg Config, opts ...Option) (*PCSCF, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.SCSCF == "" {
		cfg.SCSCF = DefaultSCSCF
	}
	if cfg.VisitedNetworkID == "" {
		cfg.VisitedNetworkID = DefaultVisitedNetworkID
	}
	cfg.SCSCFTransport = strings.ToLower(cfg.SCSCFTransport)
	if cfg.SCSCFTransport == "" {
		cfg.SCSCFTransport = "udp"
	}
	if cfg.SCSCFTransport != "udp" && cfg.SCSCFTransport != "tcp" {
		return nil, fmt.Errorf("pcscf: S-CSCF transport %q: want udp or tcp", cfg.SCSCFTransport)
	}
	for name, a := range map[string]string{"listen": cfg.Listen, "S-CSCF": cfg.SCSCF, "advertise": cfg.Advertise} {
		if a == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("pcscf: %s address %q: want host:port: %w", name, a, err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return nil, fmt.Errorf("pcscf: %s address %q: bad port: %w", name, a, err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &PCSCF{cfg: cfg, log: log, now: time.Now, flows: newFlowTable(), started: make(chan struct{})}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Addr returns the bound address (UDP and TCP share it) once Run has
// started, or nil if Run failed to start.
func (p *PCSCF) Addr() net.Addr {
	<-p.started
	return p.addr
}

// Flows lists the registered flows.
func (p *PCSCF) Flows() []Flow { return p.flows.snapshot(p.now()) }

// Run serves until ctx ends, then closes its sockets and waits for its
// handlers.
func (p *PCSCF) Run(ctx context.Context) (err error) {
	startedOK := false
	defer func() {
		if !startedOK {
			close(p.started)
		}
	}()
	udp, tcp, err := listen(p.cfg.Listen)
	if err != nil {
		return fmt.Errorf("pcscf: cannot listen on %s (in use? pick another with --listen): %w", p.cfg.Listen, err)
	}
	defer udp.Close()
	defer tcp.Close()
	if err := p.setup(ctx, udp); err != nil {
		return err
	}

	g := &guard{parser: sip.NewParser(), log: p.log, agent: p.agent, trace: p.cfg.Trace}
	sipLog := slog.New(minLevel{p.log.Handler(), slog.LevelWarn}).With("component", "sipgo")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("imslab-pcscf"), sipgo.WithUserAgentHostname(p.advHost),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(p.onStrayResponse)))
	if err != nil {
		return fmt.Errorf("pcscf: sipgo user agent: %w", err)
	}
	if p.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog)); err != nil {
		return fmt.Errorf("pcscf: sipgo server: %w", err)
	}
	if p.cli, err = sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog)); err != nil {
		return fmt.Errorf("pcscf: sipgo client: %w", err)
	}
	p.srv.OnRegister(p.wrap(p.onRegister))
	p.srv.OnNoRoute(p.wrap(p.onRequest))

	// Addr answers once sipgo reads both sockets: sending from the UDP
	// socket needs it in sipgo's connection pool.
	var ready sync.WaitGroup
	ready.Add(2)
	udpReady, tcpReady := sync.OnceFunc(ready.Done), sync.OnceFunc(ready.Done)
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	serve := func(f func() error, ready func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ready() // also when serving failed at once
			if err := f(); err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				errc <- err
			}
		}()
	}
	p.udp = &guardPacketConn{PacketConn: udp, g: g, ready: udpReady}
	serve(func() error { return p.srv.ServeUDP(p.udp) }, udpReady)
	serve(func() error { return p.srv.ServeTCP(&guardListener{Listener: tcp, g: g, ready: tcpReady}) }, tcpReady)
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.sweep(ctx)
	}()
	ready.Wait()
	p.addr = udp.LocalAddr()
	startedOK = true
	close(p.started)
	p.log.Info("P-CSCF serving", "listen", p.addr.String(), "advertise", p.agent, "scscf", p.cfg.SCSCFTransport+":"+p.cfg.SCSCF,
		"path", p.pathValue(), "visited_network", p.cfg.VisitedNetworkID, "core", fmt.Sprint(p.core))

	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("pcscf: serving stopped: %w", err)
	}
	udp.Close()
	tcp.Close()
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.active.Wait()
	ua.Close()
	wg.Wait()
	p.log.Info("P-CSCF stopped")
	return err
}

// setup derives what Run needs from the configuration and the bound socket.
func (p *PCSCF) setup(ctx context.Context, udp net.PacketConn) error {
	p.ctx = ctx
	ua := udp.LocalAddr().(*net.UDPAddr)
	p.laddr = sip.Addr{IP: ua.IP, Port: ua.Port}
	adv := p.cfg.Advertise
	if adv == "" {
		if ua.IP.IsUnspecified() {
			return fmt.Errorf("pcscf: listening on %s: set an address UEs and the S-CSCF can reach with --advertise", ua)
		}
		adv = ua.String()
	}
	host, port, _ := net.SplitHostPort(adv)
	p.advHost = host
	p.advPort, _ = strconv.Atoi(port)
	if p.advPort == 0 {
		p.advPort = ua.Port
	}
	p.agent = net.JoinHostPort(p.advHost, strconv.Itoa(p.advPort))
	core := p.cfg.Core
	if len(core) == 0 {
		h, _, _ := net.SplitHostPort(p.cfg.SCSCF)
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		if err != nil {
			return fmt.Errorf("pcscf: resolving the S-CSCF %s to trust it: %w", h, err)
		}
		for _, ip := range ips {
			core = append(core, ip.Unmap().String())
		}
	}
	for _, c := range core {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			ip, err2 := netip.ParseAddr(c)
			if err2 != nil {
				return fmt.Errorf("pcscf: core network %q: want an IP or a CIDR prefix: %w", c, err)
			}
			pfx = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		p.core = append(p.core, pfx.Masked())
	}
	return nil
}

// listen binds UDP and TCP on the same address; with port 0 it retries
// until one free port serves both.
func listen(addr string) (*net.UDPConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	for try := 0; ; try++ {
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		bound := strconv.Itoa(u.LocalAddr().(*net.UDPAddr).Port)
		t, err := net.Listen("tcp", net.JoinHostPort(host, bound))
		if err == nil {
			return u.(*net.UDPConn), t, nil
		}
		u.Close()
		if port != "0" || try == 20 {
			return nil, nil, err
		}
	}
}

// sweep removes expired registrations every second (TS 24.229 §5.2.2.1:
// the P-CSCF keeps the registration state until it expires).
func (p *PCSCF) sweep(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.expire()
		}
	}
}

func (p *PCSCF) expire() {
	for _, f := range p.flows.expire(p.now()) {
		ids, _ := f.identities()
		p.log.Info("registration expired: flow removed", "flow", f.key.String(), "impi", f.impi, "impus", uris(ids))
	}
}

// wrap runs a handler unless Run is closing, and turns a panic into a 500
// and a log line instead of a crash.
func (p *PCSCF) wrap(h func(*sip.Request, sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		p.mu.Lock()
		if p.closing {
			p.mu.Unlock()
			return
		}
		p.active.Add(1)
		p.mu.Unlock()
		defer p.active.Done()
		defer func() {
			if r := recover(); r != nil {
				p.log.Error("bug: panic while handling a request (answered 500)", "panic", r,
					"request", req.StartLine(), "stack", string(debug.Stack()))
				p.reply(req, tx, 500, "Server Internal Error", "internal error")
			}
		}()
		h(req, tx)
	}
}

// reply answers a request from the P-CSCF itself, saying why in a Warning
// (RFC 3261 §20.43). An ACK is never answered.
func (p *PCSCF) reply(req *sip.Request, tx sip.ServerTransaction, code int, reason, why string) {
	if req.IsAck() || tx == nil {
		return
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if why != "" {
		res.AppendHeader(sip.NewHeader(hWarning, fmt.Sprintf("399 %s \"%s\"", p.agent, sanitize(why, 160))))
	}
	if err := p.respond(tx, res); err != nil {
		p.log.Warn("could not send a response", "status", code, "to", req.Source(), "error", err)
	}
}

// respond sends a response in its transaction. One too large for sipgo's
// UDP limit is written on the UDP socket directly: a response stays on the
// request's transport (RFC 3261 §18.2.2) and IP fragments it; sipgo's
// transaction then does not retransmit it.
func (p *PCSCF) respond(tx sip.ServerTransaction, res *sip.Response) error {
	if !strings.EqualFold(res.Transport(), "UDP") || p.udp == nil {
		return tx.Respond(res)
	}
	b := res.String()
	if len(b) <= sipproxy.UDPMax {
		return tx.Respond(res)
	}
	addr, err := net.ResolveUDPAddr("udp", res.Destination())
	if err != nil {
		return fmt.Errorf("response of %d bytes to %s: %w", len(b), res.Destination(), err)
	}
	_, err = p.udp.WriteTo([]byte(b), addr)
	return err
}

// refuse logs why a request is refused, then answers it.
func (p *PCSCF) refuse(req *sip.Request, tx sip.ServerTransaction, code int, reason, why string, attrs ...any) {
	p.log.Warn(fmt.Sprintf("refused %s: %d %s", req.Method, code, reason),
		append(append([]any{"why", why}, attrs...), reqAttrs(req)...)...)
	p.reply(req, tx, code, reason, why)
}

// reqAttrs are the log fields that identify a request.
func reqAttrs(req *sip.Request) []any {
	a := []any{"src", strings.ToLower(req.Transport()) + ":" + req.Source(), "ruri", req.Recipient.String()}
	if f := req.From(); f != nil {
		a = append(a, "from", f.Address.String())
	}
	if c := req.CallID(); c != nil {
		a = append(a, "call_id", c.Value())
	}
	return a
}

func uris(as []nameAddr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.URI.String()
	}
	return out
}

// flowKeyOf is the flow a request arrived on.
func flowKeyOf(req *sip.Request) FlowKey {
	ap, _ := netip.ParseAddrPort(req.Source())
	return FlowKey{Transport: strings.ToLower(req.Transport()),
		Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
}

// callID is a message's Call-ID, "" without one.
func callID(m sip.Message) string {
	if c := m.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

// legAttrs are the log fields of a leg: its flow and identities.
func (p *PCSCF) legAttrs(l leg) []any {
	a := []any{"flow", l.flow.String()}
	if l.impi != "" {
		a = append(a, "impi", l.impi)
	}
	if l.identity != "" {
		a = append(a, l.label, l.identity)
	}
	return a
}

// direction says where a leg's request goes, back where its responses go.
func direction(l leg) string {
	if l.toCore {
		return "UE → core"
	}
	return "core → UE"
}

func back(l leg) string {
	if l.toCore {
		return "core → UE"
	}
	return "UE → core"
}

// reasonOf is the reason phrase of the refusals assert returns.
func reasonOf(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	}
	return "Error"
}

// minLevel keeps sipgo's own logs to warnings and errors.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }
