// Package scscf is imslab's S-CSCF (TS 24.229 §5.4): the registrar of the
// IMS and the proxy that routes its calls. It authenticates REGISTER with
// IMS AKA (AKAv1-MD5, RFC 3310, TS 33.203) or SIP Digest (TS 33.203 Annex
// N) using vectors fetched from the HSS over Cx (TS 29.228/29.229), keeps
// the bindings of every implicit registration set, serves the reg event
// package (RFC 3680, TS 24.229 §5.4.2.1) and obeys the HSS's
// network-initiated de-registration (RTR). It routes INVITEs as a stateful
// proxy (RFC 3261 §16): originating for its registered users (§5.4.3.2),
// terminating to every registered contact of the callee in parallel
// (§5.4.3.3), and stays on the dialog's path (Record-Route). It also
// performs the I-CSCF's Cx queries (UAR, LIR): imslab has no separate
// I-CSCF. SIP transport, transactions and parsing are github.com/emiago/sipgo.
package scscf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Lab defaults (PLMN 001/01, TS 23.003 §13).
const (
	DefaultListen     = "127.0.0.1:6060"
	DefaultName       = "sip:scscf.ims.mnc001.mcc001.3gppnetwork.org:6060"
	DefaultDomain     = "ims.mnc001.mcc001.3gppnetwork.org"
	DefaultHSS        = "127.0.0.1:3868"
	DefaultOriginHost = "scscf.ims.mnc001.mcc001.3gppnetwork.org"
	DefaultStateFile  = "imslab-scscf.json"
	// DefaultMaxExpires is the registration expiry a UE asks for (TS 24.229
	// §5.1.1.2.1: 600000 s); longer requests are shortened to it.
	DefaultMaxExpires     = 600000 * time.Second
	DefaultExpires        = 3600 * time.Second // RFC 3261 §10.2.1.1 when the REGISTER names none
	DefaultMinExpires     = 1 * time.Second
	DefaultAuthTimeout    = 32 * time.Second // reg-await-auth: 64*T1, the UE's transaction timeout
	defaultSubExpires     = 3761 * time.Second
	maxChallengesPerIMPI  = 4
	cxTimeout             = 5 * time.Second
	notifyTimeout         = 40 * time.Second
	trustedDefaultAddress = "127.0.0.1"
)

// DefaultNoAnswerTimeout is how long a call rings before the S-CSCF
// cancels it and answers 408 (RFC 3261 §16.8: Timer C's role).
const DefaultNoAnswerTimeout = 60 * time.Second

// Config configures the S-CSCF. The zero value, with the defaults New
// fills in, is the local lab's S-CSCF.
type Config struct {
	// Listen is the SIP address, served on UDP and TCP (same port). Port 0
	// picks a free one (Addr tells which).
	Listen string
	// Name is the S-CSCF's SIP URI, its Server-Name on Cx.
	Name string
	// Advertise is the host:port put in Service-Route and Contact
	// (default: the address Listen bound).
	Advertise string
	// Domain is the home network domain: AKA realm, Visited-Network-
	// Identifier when the P-CSCF sends none.
	Domain string
	// HSS is the HSS's Diameter address (TCP).
	HSS string
	// OriginHost and OriginRealm are the S-CSCF's Diameter identity
	// (default OriginRealm: Domain).
	OriginHost, OriginRealm string
	// TrustedPCSCF lists the addresses (IP or CIDR) allowed to send
	// requests; any other source gets 403. Default ["127.0.0.1"].
	TrustedPCSCF []string
	// StateFile keeps the registrations and reg-event subscriptions across
	// restarts (JSON Lines, see state.go).
	StateFile string
	// MinExpires, MaxExpires and DefaultExpires bound registration expiry
	// (RFC 3261 §10.3 step 7: 423 below MinExpires).
	MinExpires, MaxExpires, DefaultExpires time.Duration
	// AuthTimeout is reg-await-auth (TS 24.229 §5.4.1.2.1): how long a
	// challenge's nonce stays usable.
	AuthTimeout time.Duration
	// NoAnswerTimeout is how long the devices of a callee ring: then the
	// S-CSCF cancels every branch and answers 408 Request Timeout (RFC 3261
	// §16.8: a branch whose Timer C fires counts as 408). Default 60 s.
	NoAnswerTimeout time.Duration
	Logger          *slog.Logger
	// Trace, if set, sees every SIP and Diameter message sent and received.
	Trace func(Event)
}

// Event is one message sent or received, for traces (ladder, pcap).
type Event struct {
	Time          time.Time
	Protocol      string // "SIP" or "Diameter"
	Out           bool   // sent by the S-CSCF
	Network       string // "udp" or "tcp"
	Local, Remote string
	Summary       string // "REGISTER sip:ims...", "401 Unauthorized", "MAR", "MAA 2001"
	Raw           []byte
}

// SCSCF is the running service.
type SCSCF struct {
	cfg     Config
	log     *slog.Logger
	trusted []netip.Prefix

	ua     *sipgo.UserAgent
	server *sipgo.Server
	client *sipgo.Client

	reg   *registrar
	hss   *cxPeer
	tasks tracker // SIP handlers, NOTIFY senders, background SARs

	runCtx  context.Context
	started chan struct{}
	addr    net.Addr // bound SIP address, set before started closes
	udpAddr string
	contact sip.Uri // our Contact: sip:ADVERTISE
}

// New checks the configuration, fills the defaults and loads the
// registration state saved by a previous run (StateFile).
func New(cfg Config) (*SCSCF, error) {
	setDefaults(&cfg)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	trusted, err := parseTrusted(cfg.TrustedPCSCF)
	if err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("scscf: listen address %q: %w (want host:port, e.g. 127.0.0.1:6060)", cfg.Listen, err)
	}
	if cfg.Advertise != "" {
		if err := checkAdvertise(cfg.Advertise); err != nil {
			return nil, err
		}
	}
	if !strings.HasPrefix(cfg.Name, "sip:") {
		return nil, fmt.Errorf("scscf: name %q must be a SIP URI (e.g. %s)", cfg.Name, DefaultName)
	}
	s := &SCSCF{cfg: cfg, log: log, trusted: trusted, started: make(chan struct{}), runCtx: context.Background()}
	st, dropped, err := loadState(cfg.StateFile, time.Now())
	if err != nil {
		return nil, err
	}
	s.reg = newRegistrar(s, st)
	if n := len(st.sets); n > 0 || len(dropped) > 0 {
		log.Info(fmt.Sprintf("restored %d registration set(s) and %d reg-event subscription(s) from %s; %d set(s) expired while the S-CSCF was down",
			n, len(st.subs), cfg.StateFile, len(dropped)))
	}
	s.hss = newCxPeer(s, dropped)
	return s, nil
}

func setDefaults(cfg *Config) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&cfg.Listen, DefaultListen)
	def(&cfg.Name, DefaultName)
	def(&cfg.Domain, DefaultDomain)
	def(&cfg.HSS, DefaultHSS)
	def(&cfg.OriginHost, DefaultOriginHost)
	def(&cfg.OriginRealm, cfg.Domain)
	def(&cfg.StateFile, DefaultStateFile)
	if cfg.TrustedPCSCF == nil {
		cfg.TrustedPCSCF = []string{trustedDefaultAddress}
	}
	dur := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	dur(&cfg.MinExpires, DefaultMinExpires)
	dur(&cfg.MaxExpires, DefaultMaxExpires)
	dur(&cfg.DefaultExpires, DefaultExpires)
	dur(&cfg.AuthTimeout, DefaultAuthTimeout)
	dur(&cfg.NoAnswerTimeout, DefaultNoAnswerTimeout)
}

// parseTrusted reads the trusted P-CSCF list: IP addresses or CIDR prefixes.
func parseTrusted(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, t := range list {
		t = strings.TrimSpace(t)
		if p, err := netip.ParsePrefix(t); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(t)
		if err != nil {
			return nil, fmt.Errorf("scscf: trusted P-CSCF %q is neither an IP address nor a CIDR prefix", t)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func checkAdvertise(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" || port == "" || port == "0" {
		return fmt.Errorf("scscf: advertised address %q: want host:port with a real port", a)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		return fmt.Errorf("scscf: advertised address %q is unspecified: give the address P-CSCFs reach (--advertise)", a)
	}
	return nil
}

// Addr returns the SIP address (UDP and TCP) once Run listens, nil if Run
// failed to.
func (s *SCSCF) Addr() net.Addr {
	<-s.started
	return s.addr
}

// Run serves SIP and keeps the Diameter connection to the HSS until ctx
// ends, then closes every socket and connection, waits for its goroutines
// and flushes the state file.
func (s *SCSCF) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.runCtx = ctx
	udp, tcp, err := listenBoth(ctx, s.cfg.Listen)
	if err != nil {
		close(s.started)
		return err
	}
	if err := s.setupSIP(udp); err != nil {
		udp.Close()
		tcp.Close()
		close(s.started)
		return err
	}
	if err := s.reg.state.open(); err != nil {
		s.ua.Close()
		udp.Close()
		tcp.Close()
		close(s.started)
		return err
	}
	s.addr = tcp.Addr()
	close(s.started)
	s.log.Info("S-CSCF listening", "sip", s.addr.String(), "transports", "udp,tcp", "name", s.cfg.Name,
		"service_route", s.serviceRoute(), "hss", s.cfg.HSS, "trusted_pcscf", s.cfg.TrustedPCSCF, "state", s.cfg.StateFile)

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(4)
	go func() { defer wg.Done(); errc <- serveErr(ctx, s.server.ServeUDP(udp), "UDP") }()
	go func() { defer wg.Done(); errc <- serveErr(ctx, s.server.ServeTCP(tcp), "TCP") }()
	go func() { defer wg.Done(); s.hss.run(ctx) }()
	go func() { defer wg.Done(); s.reg.runTimers(ctx) }()
	go s.reg.state.run()

	select {
	case <-ctx.Done():
	case err = <-errc:
		cancel()
	}
	udp.Close()
	tcp.Close()
	s.tasks.close()
	s.ua.Close()
	wg.Wait()
	s.reg.state.close()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	s.log.Info("S-CSCF stopped")
	return err
}

func serveErr(ctx context.Context, err error, what string) error {
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("stopped")
	}
	return fmt.Errorf("scscf: serving SIP over %s: %w", what, err)
}

// listenBoth binds UDP and TCP on the same address; with port 0 it finds a
// port free for both.
func listenBoth(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	var lc net.ListenConfig
	for try := 0; ; try++ {
		udp, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("scscf: SIP over UDP on %s: %w (is another S-CSCF running? choose another address with --listen)", addr, err)
		}
		tcp, err := lc.Listen(ctx, "tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if _, port, _ := net.SplitHostPort(addr); port != "0" || try == 10 {
			return nil, nil, fmt.Errorf("scscf: SIP over TCP on %s: %w (is another S-CSCF running? choose another address with --listen)", addr, err)
		}
	}
}

// setupSIP builds the sipgo user agent, server and client.
func (s *SCSCF) setupSIP(udp net.PacketConn) error {
	adv := s.cfg.Advertise
	if adv == "" {
		adv = udp.LocalAddr().String()
		if err := checkAdvertise(adv); err != nil {
			return fmt.Errorf("%w (listening on all interfaces needs --advertise)", err)
		}
		s.cfg.Advertise = adv
	}
	host, portStr, _ := net.SplitHostPort(adv)
	port, _ := strconv.Atoi(portStr)
	s.contact = sip.Uri{Scheme: "sip", Host: host, Port: port}
	s.udpAddr = udp.LocalAddr().String()
	sipLog := s.log.With("layer", "sipgo")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("imslab-scscf"), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})))
	if err != nil {
		return fmt.Errorf("scscf: SIP stack: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		return fmt.Errorf("scscf: SIP server: %w", err)
	}
	cl, err := sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog), sipgo.WithClientHostname(host), sipgo.WithClientPort(port))
	if err != nil {
		return fmt.Errorf("scscf: SIP client: %w", err)
	}
	s.ua, s.server, s.client = ua, srv, cl
	srv.OnRegister(s.handler(s.reg.onRegister))
	srv.OnSubscribe(s.handler(s.reg.onSubscribe))
	route := s.handler(s.onRequest)
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE, sip.PRACK, sip.UPDATE, sip.INFO} {
		srv.OnRequest(m, route)
	}
	srv.OnNoRoute(route)
	return nil
}

// serviceRoute is the Service-Route the S-CSCF returns (TS 24.229
// §5.4.1.2.2): the UE's originating requests come back to "orig".
func (s *SCSCF) serviceRoute() string {
	return "<sip:orig@" + s.cfg.Advertise + ";lr>"
}
