// Package ue is imslab's simulated phone, IMS side: it reads its identities
// from a SIM (any sim backend), registers to the IMS through the P-CSCF with
// IMS-AKA (TS 24.229 §5.1.1, TS 33.203, RFC 3310), keeps the registration
// refreshed, subscribes to its registration state (reg event, RFC 3680) and
// de-registers on shutdown.
//
// A UE owns no global state: many UEs live in one process (the testbed, the
// load tool), each with its own card, SIP stack and port.
package ue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/sim"
)

// Lab defaults.
const (
	DefaultPCSCF     = "127.0.0.1:5060"
	DefaultLocalAddr = "127.0.0.1:0"
	DefaultTransport = "udp"
	DefaultUserAgent = "imslab-ue"
	// DefaultExpires is the registration expiry the UE asks for.
	DefaultExpires = 600 * time.Second
	// DefaultSubscribeExpires is the reg-event subscription expiry the UE
	// asks for, TS 24.229 §5.1.1.3: 600 000 seconds.
	DefaultSubscribeExpires = 600000 * time.Second
	// deregisterTimeout bounds the un-SUBSCRIBE and de-REGISTER sent once
	// Run's context has ended.
	deregisterTimeout = 5 * time.Second
)

// Config configures a UE. Only Card is required.
type Config struct {
	// Card is the SIM, opened by the caller with sim.Open or
	// sim.NewSoftCard; the UE uses it but does not close it.
	Card sim.Transport
	// PIN is verified when the card asks for it.
	PIN string
	// App is the card application that authenticates: "isim", "usim", or
	// "" for the ISIM when the card has one, else the USIM (TS 33.203 §6.1).
	App string
	// PCSCF is the P-CSCF "host:port". Empty: the ISIM's EF_PCSCF (port
	// 5060), else DefaultPCSCF.
	PCSCF string
	// Transport is how the UE sends: "udp" (default) or "tcp". It listens
	// on both, on one port (RFC 3261 §18: big requests come over TCP).
	Transport string
	// LocalAddr is the address the UE's SIP stack listens on and puts in
	// its Contact (default 127.0.0.1:0: any free port).
	LocalAddr string
	// Expires is the registration expiry asked for (default 600 s).
	Expires time.Duration
	// SubscribeExpires is the reg-event subscription expiry asked for
	// (default 600 000 s, TS 24.229 §5.1.1.3).
	SubscribeExpires time.Duration
	// InstanceID is the +sip.instance (RFC 5626 §4.1), "urn:uuid:...".
	// Default: a UUID derived from the card's ICCID and IMSI, stable across
	// runs.
	InstanceID string
	// UserAgent is the User-Agent header (default "imslab-ue").
	UserAgent string
	// Logger gets one line per protocol event (default: discard).
	Logger *slog.Logger
	// Ladder, when set, gets a text ladder of every SIP message sent and
	// received (UE ↔ P-CSCF) and every AUTHENTICATE (SIM ↔ UE).
	Ladder io.Writer
	// Messages, when set, gets every SIP message sent and received in full.
	Messages io.Writer
	// OnEvent, when set, is called for every registration and reg-event
	// change and every step of a call, one call at a time. It must not
	// block.
	OnEvent func(Event)
	// Trace, when set, gets every SIP message the UE sends and receives
	// and every RTP/SRTP packet of its calls (Node "UE"), for the lab's
	// traces (ladder, pcap). It is called on the sockets' paths: it must
	// not block.
	Trace func(trace.Event)
	// Attach, when set, is the EPC's MME address (imslab epc): Boot first
	// attaches over LTE (EPS AKA with the same card), takes the P-CSCF
	// from the PCO, and every SIP and RTP packet then travels inside the
	// GTP-U tunnel from the address the PGW gave; SIP goes over one TCP
	// connection to the P-CSCF.
	Attach string
	// Answer is what the UE does with incoming calls (default: ring 0 s,
	// answer, send silence).
	Answer AnswerPolicy
}

// UE is one simulated phone: a card, its identities and a SIP user agent.
type UE struct {
	cfg    Config
	log    *slog.Logger
	ladder *trace.Ladder
	msgMu  sync.Mutex // serialises cfg.Messages
	evMu   sync.Mutex // serialises cfg.OnEvent

	bootMu sync.Mutex
	booted bool
	closed bool

	// Set by Boot, then read-only.
	card       *card
	id         *sim.Identities
	app        sim.App
	impu       sip.Uri // the public identity registered, a SIP URI
	pcscf      string  // host:port
	network    string  // "UDP" or "TCP"
	contact    sip.Uri // this UE's contact address
	instance   string  // urn:uuid:...
	callID     string  // Call-ID of every REGISTER, TS 24.229 §5.1.1.4.1
	fromTag    string
	stack      *stack
	pcscfWhy   string      // why this P-CSCF
	attachment *Attachment // when attached (Config.Attach)

	regMu sync.Mutex // one REGISTER exchange at a time; guards cseq
	cseq  uint32

	mu            sync.Mutex // guards reg, sub, deregistering
	reg           *Registration
	sub           *subscription
	deregistering bool

	actions chan action // from NOTIFY handling to Run

	callCtx    context.Context // ends at Close: calls, their media and timers
	callCancel context.CancelFunc
	callMu     sync.Mutex
	calls      map[string]*Call // by Call-ID
	callWG     sync.WaitGroup   // media sessions
	incoming   chan *Call       // answered incoming calls, for NextCall

	hmu      sync.Mutex // guards closing; orders handlers.Add before Wait
	closing  bool
	handlers sync.WaitGroup // requests being handled (sipgo's goroutines)
}

// New checks the configuration and fills in its defaults. It opens nothing:
// Boot (or Register, or Run) reads the card and opens the SIP stack.
func New(cfg Config) (*UE, error) {
	if cfg.Card == nil {
		return nil, errors.New("ue: no card: open one with sim.Open (soft:CARD.yaml, pcsc or pcsc:N)")
	}
	switch strings.ToLower(cfg.Transport) {
	case "":
		cfg.Transport = DefaultTransport
	case "udp", "tcp":
		cfg.Transport = strings.ToLower(cfg.Transport)
	default:
		return nil, fmt.Errorf("ue: transport %q: want udp or tcp", cfg.Transport)
	}
	switch strings.ToLower(cfg.App) {
	case "", "isim", "usim":
		cfg.App = strings.ToLower(cfg.App)
	default:
		return nil, fmt.Errorf("ue: app %q: want isim, usim or empty (ISIM when the card has one)", cfg.App)
	}
	if cfg.LocalAddr == "" {
		cfg.LocalAddr = DefaultLocalAddr
	}
	if cfg.Expires == 0 {
		cfg.Expires = DefaultExpires
	}
	if cfg.Expires < time.Second {
		return nil, fmt.Errorf("ue: expires %v: want at least 1s", cfg.Expires)
	}
	if cfg.SubscribeExpires == 0 {
		cfg.SubscribeExpires = DefaultSubscribeExpires
	}
	if cfg.SubscribeExpires < time.Second {
		return nil, fmt.Errorf("ue: subscribe expires %v: want at least 1s", cfg.SubscribeExpires)
	}
	if cfg.InstanceID != "" && !strings.HasPrefix(cfg.InstanceID, "urn:") {
		return nil, fmt.Errorf("ue: instance ID %q: want a URN (urn:uuid:UUID)", cfg.InstanceID)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Answer.After < 0 {
		return nil, fmt.Errorf("ue: answer after %v: want 0 or more", cfg.Answer.After)
	}
	u := &UE{cfg: cfg, log: cfg.Logger, network: strings.ToUpper(cfg.Transport), actions: make(chan action, 8)}
	u.callCtx, u.callCancel = context.WithCancel(context.Background())
	u.incoming = make(chan *Call, 64)
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Ladder != nil {
		u.ladder = trace.NewLadder(cfg.Ladder, 42, "SIM", "UE", "P-CSCF")
	}
	return u, nil
}

// Boot is the UE's start-up (TS 24.229 §5.1.1.1A): it reads the identities
// from the card (verifying the PIN if given), chooses the application that
// authenticates, the public identity to register and the P-CSCF, and opens
// the SIP stack. Register and Run call it; a second call does nothing.
func (u *UE) Boot(ctx context.Context) error {
	u.bootMu.Lock()
	defer u.bootMu.Unlock()
	if u.closed {
		return errors.New("ue: closed")
	}
	if u.booted {
		return nil
	}
	if u.cfg.Attach != "" {
		a, err := Attach(ctx, AttachConfig{Card: u.cfg.Card, PIN: u.cfg.PIN, MME: u.cfg.Attach, Logger: u.log, Trace: u.cfg.Trace})
		if err != nil {
			return err
		}
		u.attachment = a
		u.network, u.cfg.Transport = "TCP", "tcp"
		u.emit(Event{Kind: Attached, Text: fmt.Sprintf("attached to the EPC: address %s on APN %s, P-CSCF from the PCO %v", a.Addr, a.APN, a.PCSCF)})
	}
	if err := u.readCard(ctx); err != nil {
		u.detach()
		return err
	}
	st, err := openStack(u)
	if err != nil {
		u.detach()
		return err
	}
	if u.attachment != nil {
		// One TCP connection to the P-CSCF through the tunnel, for all SIP
		// (TS 24.229 §4.2A; the P-CSCF sends to the UE on it too).
		pc, perr := netip.ParseAddrPort(u.pcscf)
		var conn net.Conn
		if perr == nil {
			conn, perr = u.attachment.Plane.DialTCP(ctx, pc)
		}
		if perr != nil {
			_ = st.close()
			u.detach()
			return fmt.Errorf("ue: SIP to the P-CSCF %s through the tunnel: %w", u.pcscf, perr)
		}
		st.flow = newConnListener(conn)
	}
	u.stack = st
	u.contact = st.contact
	if err := st.serve(); err != nil {
		_ = st.close()
		u.detach()
		return err
	}
	u.booted = true
	u.log.Info("UE booted", "pcscf_source", u.pcscfWhy, "impi", u.id.IMPI, "impu", u.impu.String(), "domain", u.id.Domain,
		"app", u.app.String(), "contact", u.contact.String(), "pcscf", u.pcscf, "transport", u.cfg.Transport,
		"instance", u.instance)
	return nil
}

// Identities returns what Boot read from the card (nil before Boot).
func (u *UE) Identities() *sim.Identities {
	u.bootMu.Lock()
	defer u.bootMu.Unlock()
	return u.id
}

// PCSCF returns the P-CSCF the UE uses ("" before Boot).
func (u *UE) PCSCF() string {
	u.bootMu.Lock()
	defer u.bootMu.Unlock()
	return u.pcscf
}

// PCSCFSource says why the UE uses its P-CSCF: given, from the PCO of the
// attach, from the ISIM's EF_PCSCF, or the lab's default ("" before Boot).
func (u *UE) PCSCFSource() string {
	u.bootMu.Lock()
	defer u.bootMu.Unlock()
	return u.pcscfWhy
}

// Contact returns the UE's contact URI ("" before Boot).
func (u *UE) Contact() string {
	u.bootMu.Lock()
	defer u.bootMu.Unlock()
	if !u.booted {
		return ""
	}
	return u.contact.String()
}

// Registration returns the current registration, nil when not registered.
func (u *UE) Registration() *Registration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reg
}

// Close closes the SIP stack without de-registering (Run de-registers
// first). The card stays open: it is the caller's.
func (u *UE) Close() error {
	u.bootMu.Lock()
	st, already := u.stack, u.closed
	u.closed = true
	u.bootMu.Unlock()
	if already || st == nil {
		u.callCancel()
		return nil
	}
	// Calls in progress end with BYE, briefly (RFC 3261 §15).
	for _, c := range u.Calls() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.Hangup(ctx)
		cancel()
	}
	u.callCancel()
	// Not under bootMu: a handler's OnEvent may ask for Contact().
	u.hmu.Lock()
	u.closing = true
	u.hmu.Unlock()
	u.handlers.Wait()
	u.callWG.Wait()
	err := st.close()
	u.detach()
	return err
}

// Attachment returns the EPS attachment (nil when not attached).
func (u *UE) Attachment() *Attachment {
	u.bootMu.Lock()
	defer u.bootMu.Unlock()
	return u.attachment
}

// detach ends the attachment, if any (TS 24.301 §5.5.2.2).
func (u *UE) detach() {
	a := u.attachment
	if a == nil {
		return
	}
	u.attachment = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Detach(ctx); err != nil {
		u.log.Warn("detach failed", "err", err)
		return
	}
	u.emit(Event{Kind: Detached, Text: "detached from the EPC"})
}

// handle wraps a request handler so that Close waits for it to finish.
func (u *UE) handle(h func(*sip.Request, sip.ServerTransaction)) func(*sip.Request, sip.ServerTransaction) {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		u.hmu.Lock()
		if u.closing {
			u.hmu.Unlock()
			return
		}
		u.handlers.Add(1)
		u.hmu.Unlock()
		defer u.handlers.Done()
		h(req, tx)
	}
}

// emit logs an event and hands it to OnEvent.
func (u *UE) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	lvl := slog.LevelInfo
	if ev.Err != nil {
		lvl = slog.LevelWarn
	}
	u.log.Log(context.Background(), lvl, ev.Text, "event", ev.Kind.String(), "impu", u.impu.String())
	if u.cfg.OnEvent == nil {
		return
	}
	u.evMu.Lock()
	defer u.evMu.Unlock()
	u.cfg.OnEvent(ev)
}
