package gw

import (
	"context"
	"errors"
	"fmt"
	"github.com/imslab/imslab/internal/nas/eps"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/wmnsk/go-gtp/gtpv2"
	"github.com/wmnsk/go-gtp/gtpv2/ie"
	"github.com/wmnsk/go-gtp/gtpv2/message"

	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/internal/uplane"
)

// Client defaults: TS 29.274 §7.6 leaves T3-RESPONSE and N3-REQUESTS to
// the operator.
const (
	DefaultT3 = time.Second
	DefaultN3 = 3
	// DefaultQCI is the default bearer's QCI on the IMS APN: 5, IMS
	// signalling (TS 23.203 Table 6.1.7).
	DefaultQCI = 5
)

// ClientConfig configures the MME's side of S11.
type ClientConfig struct {
	// Local is the client's GTPv2-C address; default 127.0.0.1:0 ([::1]:0
	// for an IPv6 SGW).
	Local string
	// SGW is the gateway's GTPv2-C address; default 127.0.0.1:2123.
	SGW string
	// SGWUserPlanePort is the gateway's GTP-U port, which F-TEIDs do not
	// carry; default 2152 (TS 29.281 §4.4.2).
	SGWUserPlanePort uint16
	// T3 and N3: a request is sent N3 times, T3 apart, before
	// ErrNoResponse (TS 29.274 §7.6).
	T3     time.Duration
	N3     int
	Node   string // traces' name, default "MME"
	Logger *slog.Logger
	// Trace sees every GTPv2-C message sent and received.
	Trace func(trace.Event)
}

// CreateSessionParams is what the MME knows when it asks for a PDN
// connection (TS 29.274 §7.2.1).
type CreateSessionParams struct {
	IMSI   string // required
	MSISDN string
	// MCC and MNC are the serving network; default 001/01.
	MCC, MNC string
	APN      string // default "ims"
	EBI      uint8  // default bearer identity, default 5
	QCI      uint8  // default DefaultQCI
	ARP      uint8  // ARP priority level 1-15, default 9
	// AMBRUp and AMBRDown are the APN-AMBR in kbps, default DefaultAMBR.
	AMBRUp, AMBRDown uint32
	// PCO is the PCO value of the UE's PDN Connectivity Request (TS 24.008
	// §10.5.6.3), passed on as is; see RequestPCO.
	PCO []byte
}

// Session is a PDN connection the gateway created.
type Session struct {
	IMSI string
	EBI  uint8
	// UE is the address the PGW assigned (PAA).
	UE netip.Addr
	// PCO is the gateway's PCO value (nil if none), to pass to the UE in
	// the Activate Default EPS Bearer Context Request; PCSCF and DNS are
	// the addresses it holds.
	PCO          []byte
	PCSCF, DNS   []netip.Addr
	UplinkTEID   uint32         // S1-U SGW TEID
	SGWUserPlane netip.AddrPort // S1-U SGW endpoint: F-TEID address, SGWUserPlanePort
	// SGWControlTEID is the gateway's S11 TEID, MMEControlTEID the
	// client's.
	SGWControlTEID, MMEControlTEID uint32
	AMBRUp, AMBRDown               uint32
	Cause                          uint8 // 16, or 18 (IPv4 instead of IPv4v6)
}

// Client is the MME's side of S11. It is safe for concurrent use.
type Client struct {
	cfg          ClientConfig
	log          *slog.Logger
	conn         *net.UDPConn
	local, sgw   netip.AddrPort
	wg           sync.WaitGroup
	mu           sync.Mutex
	seq          uint32
	pending      map[uint32]chan message.Message
	closeOnce    sync.Once
	cancelWatch  context.CancelFunc
	teidsHandout map[uint32]bool
}

// Dial opens the client's socket; it sends nothing (see Echo). The client
// stops at Close or when ctx ends.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.SGW == "" {
		cfg.SGW = DefaultListen
	}
	if cfg.SGWUserPlanePort == 0 {
		cfg.SGWUserPlanePort = uplane.Port
	}
	if cfg.T3 <= 0 {
		cfg.T3 = DefaultT3
	}
	if cfg.N3 <= 0 {
		cfg.N3 = DefaultN3
	}
	if cfg.Node == "" {
		cfg.Node = "MME"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sgw, err := net.ResolveUDPAddr("udp", cfg.SGW)
	if err != nil {
		return nil, fmt.Errorf("gw: SGW address %q: %w", cfg.SGW, err)
	}
	if cfg.Local == "" {
		cfg.Local = "127.0.0.1:0"
		if sgw.AddrPort().Addr().Unmap().Is6() {
			cfg.Local = "[::1]:0"
		}
	}
	conn, err := listenUDP(cfg.Local)
	if err != nil {
		return nil, fmt.Errorf("gw: S11 socket on %s: %w", cfg.Local, err)
	}
	c := &Client{cfg: cfg, log: log, conn: conn, local: advertised(conn), sgw: unmapAP(sgw.AddrPort()),
		seq: uplane.NewTEID() & 0xfff, pending: map[uint32]chan message.Message{}, teidsHandout: map[uint32]bool{}}
	var wctx context.Context
	wctx, c.cancelWatch = context.WithCancel(ctx)
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.read() }()
	go func() { <-wctx.Done(); c.Close() }()
	return c, nil
}

// LocalAddr is the client's GTPv2-C address.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Close closes the socket; pending requests fail.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.cancelWatch()
		c.conn.Close()
		c.wg.Wait()
	})
	return nil
}

// read dispatches responses to their requests by sequence number (TS
// 29.274 §7.6) and answers Echo Requests.
func (c *Client) read() {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		from = unmapAP(from)
		b := append([]byte(nil), buf[:n]...)
		c.trace(false, from, c.local, b)
		m, err := message.Parse(b)
		if err != nil {
			c.log.Warn("GTPv2-C message from the SGW undecodable", "from", from, "err", err)
			continue
		}
		if req, ok := m.(*message.EchoRequest); ok {
			c.send(from, message.NewEchoResponse(req.Sequence(), ie.NewRecovery(0)))
			continue
		}
		c.mu.Lock()
		ch := c.pending[m.Sequence()]
		delete(c.pending, m.Sequence())
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

func (c *Client) send(to netip.AddrPort, m message.Message) error {
	b, err := message.Marshal(m)
	if err != nil {
		return fmt.Errorf("gw: encoding %s: %w", m.MessageTypeName(), err)
	}
	if _, err := c.conn.WriteToUDPAddrPort(b, to); err != nil {
		return fmt.Errorf("gw: sending %s to %v: %w", m.MessageTypeName(), to, err)
	}
	c.trace(true, c.local, to, b)
	return nil
}

func (c *Client) trace(sent bool, src, dst netip.AddrPort, raw []byte) {
	if c.cfg.Trace != nil {
		c.cfg.Trace(trace.Event{Time: time.Now(), Node: c.cfg.Node, Protocol: "GTPv2", Sent: sent, Network: "udp",
			Src: src, Dst: dst, Summary: SummarizeGTPv2(raw), Raw: raw})
	}
}

// request sends m with a fresh sequence number and waits for the response
// of type want, retransmitting every T3 up to N3 times (TS 29.274 §7.6).
func (c *Client) request(ctx context.Context, m message.Message, want uint8) (message.Message, error) {
	ch := make(chan message.Message, 1)
	c.mu.Lock()
	c.seq = (c.seq + 1) & 0xffffff
	seq := c.seq
	c.pending[seq] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, seq)
		c.mu.Unlock()
	}()
	m.SetSequenceNumber(seq)
	t := time.NewTimer(c.cfg.T3)
	defer t.Stop()
	for try := 0; try < c.cfg.N3; try++ {
		if err := c.send(c.sgw, m); err != nil {
			return nil, err
		}
		t.Reset(c.cfg.T3)
		select {
		case r := <-ch:
			if r.MessageType() != want {
				return nil, fmt.Errorf("gw: %s answered with %s", m.MessageTypeName(), r.MessageTypeName())
			}
			return r, nil
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("%w: %s sent %d times to %v", ErrNoResponse, m.MessageTypeName(), c.cfg.N3, c.sgw)
}

// Echo checks that the gateway answers (TS 29.274 §7.1.1).
func (c *Client) Echo(ctx context.Context) error {
	_, err := c.request(ctx, message.NewEchoRequest(0, ie.NewRecovery(0)), message.MsgTypeEchoResponse)
	return err
}

// mmeTEID picks a fresh S11 TEID for the client's side.
func (c *Client) mmeTEID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if t := uplane.NewTEID(); !c.teidsHandout[t] {
			c.teidsHandout[t] = true
			return t
		}
	}
}

// CreateSession asks for a PDN connection (TS 29.274 §7.2.1) and reads the
// Create Session Response (§7.2.2). A rejection is a *CauseError.
func (c *Client) CreateSession(ctx context.Context, p CreateSessionParams) (*Session, error) {
	if p.IMSI == "" {
		return nil, errors.New("gw: Create Session without IMSI")
	}
	p.MCC, p.MNC = orString(p.MCC, "001"), orString(p.MNC, "01")
	p.APN = orString(p.APN, DefaultAPN)
	if p.EBI == 0 {
		p.EBI = 5
	}
	if p.QCI == 0 {
		p.QCI = DefaultQCI
	}
	if p.ARP == 0 {
		p.ARP = 9
	}
	if p.AMBRUp == 0 {
		p.AMBRUp = DefaultAMBR
	}
	if p.AMBRDown == 0 {
		p.AMBRDown = DefaultAMBR
	}
	teid := c.mmeTEID()
	ies := []*ie.IE{
		ie.NewIMSI(p.IMSI),
		ie.NewServingNetwork(p.MCC, p.MNC),
		ie.NewRATType(gtpv2.RATTypeEUTRAN),
		fteid(gtpv2.IFTypeS11MMEGTPC, teid, c.local.Addr(), 0),
		ie.NewAccessPointName(p.APN),
		ie.NewSelectionMode(gtpv2.SelectionModeMSOrNetworkProvidedAPNSubscribedVerified),
		ie.NewPDNType(gtpv2.PDNTypeIPv4),
		ie.NewPDNAddressAllocation("0.0.0.0"),
		ie.NewAggregateMaximumBitRate(p.AMBRUp, p.AMBRDown),
		ie.NewBearerContext(ie.NewEPSBearerID(p.EBI), ie.NewBearerQoS(1, p.ARP, 0, p.QCI, 0, 0, 0, 0)),
	}
	if p.MSISDN != "" {
		ies = append(ies, ie.NewMSISDN(p.MSISDN))
	}
	if p.PCO != nil {
		ies = append(ies, ie.New(ie.ProtocolConfigurationOptions, 0, p.PCO))
	}
	r, err := c.request(ctx, message.NewCreateSessionRequest(0, 0, ies...), message.MsgTypeCreateSessionResponse)
	if err != nil {
		return nil, err
	}
	return readCSResponse(r.(*message.CreateSessionResponse), p, teid, c.cfg.SGWUserPlanePort)
}

// readCSResponse reads a Create Session Response (TS 29.274 §7.2.2).
func readCSResponse(r *message.CreateSessionResponse, p CreateSessionParams, teid uint32, uport uint16) (*Session, error) {
	cause, err := causeValue(r.Cause)
	if err != nil {
		return nil, fmt.Errorf("gw: Create Session Response: %w", err)
	}
	if !accepted(cause) {
		return nil, &CauseError{Message: "Create Session Response", Cause: cause}
	}
	s := &Session{IMSI: p.IMSI, EBI: p.EBI, MMEControlTEID: teid, Cause: cause, AMBRUp: p.AMBRUp, AMBRDown: p.AMBRDown}
	if r.SenderFTEIDC == nil || r.PAA == nil || len(r.BearerContextsCreated) == 0 {
		return nil, errors.New("gw: Create Session Response without Sender F-TEID, PAA or Bearer Context (TS 29.274 Table 7.2.2-1)")
	}
	if s.SGWControlTEID, err = r.SenderFTEIDC.TEID(); err != nil {
		return nil, fmt.Errorf("gw: Create Session Response: Sender F-TEID: %w", err)
	}
	paa, err := ie.ParsePDNAddressAllocationFields(r.PAA.Payload)
	if err != nil {
		return nil, fmt.Errorf("gw: Create Session Response: PAA: %w", err)
	}
	if ue, ok := netip.AddrFromSlice(paa.IPv4Address); ok {
		s.UE = ue.Unmap()
	} else {
		return nil, errors.New("gw: Create Session Response: PAA without IPv4 address")
	}
	up := child(r.BearerContextsCreated[0], ie.FullyQualifiedTEID, 0)
	if up == nil {
		return nil, errors.New("gw: Create Session Response: Bearer Context without S1-U SGW F-TEID")
	}
	addr, uteid, ok := readFTEID(up)
	if !ok {
		return nil, errors.New("gw: Create Session Response: S1-U SGW F-TEID unreadable")
	}
	s.UplinkTEID, s.SGWUserPlane = uteid, netip.AddrPortFrom(addr, uport)
	if r.AMBR != nil {
		if a, err := r.AMBR.AggregateMaximumBitRate(); err == nil {
			s.AMBRUp, s.AMBRDown = a.APNAMBRForUplink, a.APNAMBRForDownlink
		}
	}
	if r.PCO != nil {
		s.PCO = append([]byte(nil), r.PCO.Payload...)
		if pco, err := eps.ParsePCO(s.PCO); err == nil {
			s.PCSCF, s.DNS = pco.IPv4(eps.PCOPCSCFIPv4), pco.IPv4(eps.PCODNSIPv4)
		}
	}
	return s, nil
}

// ModifyBearer tells the gateway where the eNB takes the downlink of the
// session's default bearer (TS 29.274 §7.2.7: S1-U eNB F-TEID). The F-TEID
// carries no port: the gateway sends to 2152, or to the port the eNB's
// uplink T-PDUs come from.
func (c *Client) ModifyBearer(ctx context.Context, s *Session, enb netip.Addr, downlinkTEID uint32) error {
	bc := ie.NewBearerContext(ie.NewEPSBearerID(s.EBI), fteid(gtpv2.IFTypeS1UeNodeBGTPU, downlinkTEID, enb, 0))
	r, err := c.request(ctx, message.NewModifyBearerRequest(s.SGWControlTEID, 0, bc), message.MsgTypeModifyBearerResponse)
	if err != nil {
		return err
	}
	return checkCause("Modify Bearer Response", r.(*message.ModifyBearerResponse).Cause)
}

// DeleteSession ends the session (TS 29.274 §7.2.9).
func (c *Client) DeleteSession(ctx context.Context, s *Session) error {
	r, err := c.request(ctx, message.NewDeleteSessionRequest(s.SGWControlTEID, 0, ie.NewEPSBearerID(s.EBI)), message.MsgTypeDeleteSessionResponse)
	if err != nil {
		return err
	}
	return checkCause("Delete Session Response", r.(*message.DeleteSessionResponse).Cause)
}

func causeValue(c *ie.IE) (uint8, error) {
	if c == nil {
		return 0, errors.New("no Cause (TS 29.274 §8.4)")
	}
	return c.Cause()
}

func checkCause(msg string, c *ie.IE) error {
	v, err := causeValue(c)
	if err != nil {
		return fmt.Errorf("gw: %s: %w", msg, err)
	}
	if !accepted(v) {
		return &CauseError{Message: msg, Cause: v}
	}
	return nil
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
