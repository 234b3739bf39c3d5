// Package epc is the lab's access network, "EPC-lite": an MME (EPS NAS
// with the UE over the s1lite framing, S6a to the HSS, S11 to the gateway)
// and the combined SGW/PGW of package gw. `imslab epc` runs them.
package epc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
	"github.com/imslab/imslab/internal/diameter/s6a"
	"github.com/imslab/imslab/internal/nas/eps"
	"github.com/imslab/imslab/internal/nas/nassec"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/testbed/epc/gw"
)

// MME defaults (PLMN 001/01, TS 23.003 §19.4.2.4 for the MME's FQDN).
const (
	DefaultMMEListen  = "127.0.0.1:36412" // the S1AP port (TS 36.412 §7), here TCP with s1lite
	DefaultOriginHost = "mme.epc.mnc001.mcc001.3gppnetwork.org"
	DefaultHSSRealm   = "ims.mnc001.mcc001.3gppnetwork.org"
	defaultTAC        = 1
	nasTimeout        = 15 * time.Second
	hssWait           = 20 * time.Second // how long the MME waits for the HSS at start
)

// MMEConfig configures the MME.
type MMEConfig struct {
	Listen     string // s1lite (UE side), default DefaultMMEListen
	HSS        string // Diameter S6a, default 127.0.0.1:3868
	HSSRealm   string
	OriginHost string
	// SGW is the gateway's GTPv2-C address and SGWUserPlanePort its GTP-U
	// port (F-TEIDs carry no port).
	SGW              string
	SGWUserPlanePort uint16
	MCC, MNC         string // serving network, default 001/01
	// Ciphering is the NAS ciphering algorithm chosen when the UE supports
	// it: nassec.EEA0 (the default: null ciphering, as Open5GS prefers by
	// default, so that every NAS message of a lab capture can be read) or
	// nassec.EEA2. Integrity is always 128-EIA2.
	Ciphering nassec.EEA
	Logger    *slog.Logger
	// Trace sees every NAS PDU (Protocol "NAS-EPS", no endpoints), S6a
	// Diameter message and GTPv2-C message the MME sends or receives.
	Trace func(trace.Event)
}

// MME is the mobility management entity.
type MME struct {
	cfg  MMEConfig
	log  *slog.Logger
	plmn []byte // TS 24.008 §10.5.1.13 encoding

	node *peer.Node
	hss  *s6a.Client
	sgw  *gw.Client
	ln   net.Listener

	mu     sync.Mutex
	nextID uint32
	ues    map[string]*ueContext // by IMSI
	wg     sync.WaitGroup
}

// NewMME checks the configuration.
func NewMME(cfg MMEConfig) (*MME, error) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&cfg.Listen, DefaultMMEListen)
	def(&cfg.HSS, "127.0.0.1:3868")
	def(&cfg.HSSRealm, DefaultHSSRealm)
	def(&cfg.OriginHost, DefaultOriginHost)
	def(&cfg.SGW, gw.DefaultListen)
	def(&cfg.MCC, "001")
	def(&cfg.MNC, "01")
	if cfg.Ciphering != nassec.EEA0 && cfg.Ciphering != nassec.EEA2 {
		return nil, fmt.Errorf("epc: NAS ciphering %v: want EEA0 or 128-EEA2", cfg.Ciphering)
	}
	plmn, err := eps.PLMN{MCC: cfg.MCC, MNC: cfg.MNC}.Bytes()
	if err != nil {
		return nil, fmt.Errorf("epc: PLMN %s/%s: %w (want a 3-digit MCC and a 2- or 3-digit MNC)", cfg.MCC, cfg.MNC, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &MME{cfg: cfg, log: log, plmn: plmn, ues: map[string]*ueContext{}}, nil
}

// Addr is the s1lite listening address once Run listens.
func (m *MME) Addr() net.Addr {
	if m.ln == nil {
		return nil
	}
	return m.ln.Addr()
}

// listen opens the UE side and the connections to the HSS and the gateway.
func (m *MME) listen(ctx context.Context) error {
	n, err := peer.New(peer.Config{OriginHost: m.cfg.OriginHost, OriginRealm: "epc.mnc" + pad3(m.cfg.MNC) + ".mcc" + m.cfg.MCC + ".3gppnetwork.org",
		Dict: diameter.Dictionary(), Apps: []peer.App{{ID: diameter.AppS6a, Vendor: diameter.Vendor3GPP}}, Logger: m.log.With("layer", "diameter"),
		Trace: m.traceDiameter})
	if err != nil {
		return err
	}
	m.node = n
	// The HSS may be starting too: try for a while, as the S-CSCF does.
	var conn *peer.Conn
	deadline := time.Now().Add(hssWait)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		if conn, err = n.Dial(ctx, "tcp", m.cfg.HSS); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("epc: S6a to the HSS at %s: %w (is imslab hss running?)", m.cfg.HSS, err)
		}
		m.log.Info("the HSS does not answer yet; trying again", "hss", m.cfg.HSS, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	m.hss = s6a.New(n, conn, m.cfg.HSSRealm)
	m.sgw, err = gw.Dial(ctx, gw.ClientConfig{SGW: m.cfg.SGW, SGWUserPlanePort: m.cfg.SGWUserPlanePort, Logger: m.log, Trace: m.cfg.Trace})
	if err != nil {
		conn.Close()
		return fmt.Errorf("epc: S11 to the gateway at %s: %w", m.cfg.SGW, err)
	}
	var lc net.ListenConfig
	m.ln, err = lc.Listen(ctx, "tcp", m.cfg.Listen)
	if err != nil {
		conn.Close()
		m.sgw.Close()
		return fmt.Errorf("epc: MME on %s: %w (is another imslab epc running?)", m.cfg.Listen, err)
	}
	return nil
}

func pad3(mnc string) string {
	if len(mnc) == 2 {
		return "0" + mnc
	}
	return mnc
}

// serve accepts UEs until ctx ends.
func (m *MME) serve(ctx context.Context) {
	go func() { <-ctx.Done(); m.ln.Close() }()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			break
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.handle(ctx, c)
		}()
	}
	m.wg.Wait()
	m.sgw.Close()
	m.hss.Conn().Close()
}

// traceDiameter turns the peer's events into trace events.
func (m *MME) traceDiameter(e peer.Event) {
	if m.cfg.Trace == nil {
		return
	}
	l, _ := netip.ParseAddrPort(addrString(e.Local))
	r, _ := netip.ParseAddrPort(addrString(e.Remote))
	ev := trace.Event{Time: e.Time, Node: "MME", Protocol: "Diameter", Sent: e.Dir == peer.Out, Network: e.Network, Src: r, Dst: l, Raw: e.Raw}
	if ev.Sent {
		ev.Src, ev.Dst = l, r
	}
	m.cfg.Trace(ev)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// ueContext is what the MME keeps of an attached UE.
type ueContext struct {
	imsi     string
	conn     net.Conn
	sec      *eps.SecurityContext
	ulCount  uint32 // NAS COUNT expected next from the UE
	dlCount  uint32 // NAS COUNT to send next
	session  *gw.Session
	ebi, pti uint8
}

// attachError ends an attach with an Attach Reject of cause, or (reject
// false) without one (an Authentication Reject was sent).
type attachError struct {
	cause  eps.EMMCause
	reject bool
	why    string
}

func (e *attachError) Error() string { return e.why }

// handle runs one UE's connection: an attach, then a detach or the end.
func (m *MME) handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	go func() { <-ctx.Done(); conn.Close() }()
	u := &ueContext{conn: conn}
	log := m.log.With("ue", conn.RemoteAddr().String())
	if err := m.attach(ctx, u, log); err != nil {
		var ae *attachError
		if errors.As(err, &ae) && ae.reject {
			_ = m.sendPlain(u, &eps.AttachReject{Cause: ae.cause})
		}
		if u.imsi == "" && errors.Is(err, io.EOF) {
			log.Debug("a connection closed before any NAS message") // a port probe
		} else {
			log.Warn("attach failed: "+err.Error(), "imsi", u.imsi)
		}
		m.release(ctx, u)
		return
	}
	m.mu.Lock()
	m.ues[u.imsi] = u
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		if m.ues[u.imsi] == u {
			delete(m.ues, u.imsi)
		}
		m.mu.Unlock()
		m.release(context.WithoutCancel(ctx), u)
	}()
	// Attached: wait for a detach (TS 24.301 §5.5.2.2) or the end.
	for {
		msg, err := m.receive(u)
		if err != nil {
			log.Info("UE gone: "+err.Error(), "imsi", u.imsi)
			return
		}
		if d, ok := msg.(*eps.DetachRequest); ok {
			log.Info(fmt.Sprintf("detach requested by %s (switch off: %v)", u.imsi, d.SwitchOff), "imsi", u.imsi)
			m.release(context.WithoutCancel(ctx), u)
			if !d.SwitchOff {
				_ = m.sendProtected(u, &eps.DetachAccept{}, eps.IntegrityProtectedCiphered)
			}
			return
		}
		log.Info("ignored "+msg.String()+" from an attached UE", "imsi", u.imsi)
	}
}

// release deletes the UE's PDN connection at the gateway.
func (m *MME) release(ctx context.Context, u *ueContext) {
	if u.session == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.sgw.DeleteSession(ctx, u.session); err != nil {
		m.log.Warn("Delete Session failed", "imsi", u.imsi, "err", err)
	}
	u.session = nil
}
