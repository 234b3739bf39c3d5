package peer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/imslab/imslab/internal/diameter"
)

// Conn is one transport connection to a Diameter peer.
type Conn struct {
	n      *Node
	nc     net.Conn
	client bool

	// PeerHost and PeerRealm are the peer's Origin-Host and Origin-Realm
	// from its CER or CEA; PeerApps the applications it advertised.
	PeerHost, PeerRealm string
	PeerApps            []uint32

	ready     chan struct{} // closed when the capabilities exchange succeeded
	readyOnce sync.Once
	done      chan struct{} // closed when the connection is gone
	doneOnce  sync.Once
	err       error

	wmu     sync.Mutex
	mu      sync.Mutex
	pending map[uint32]chan *diam.Message
	hbh     atomic.Uint32
	lastRx  atomic.Int64
	dwrOut  atomic.Bool
	hwg     sync.WaitGroup // request handlers
}

var errGarbage = errors.New("not a Diameter message")

func (n *Node) newConn(ctx context.Context, nc net.Conn, client bool) *Conn {
	c := &Conn{n: n, nc: nc, client: client, ready: make(chan struct{}), done: make(chan struct{}),
		pending: map[uint32]chan *diam.Message{}}
	c.hbh.Store(uint32(time.Now().UnixNano()))
	c.lastRx.Store(time.Now().UnixNano())
	n.track(c, true)
	return c
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended (nil while it is open or after a clean close).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// RemoteAddr is the peer's transport address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr is our transport address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Node returns the node the connection belongs to.
func (c *Conn) Node() *Node { return c.n }

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.nc.Close()
}

// Abort closes the connection without a DPR.
func (c *Conn) Abort() { c.fail(nil) }

// Close disconnects politely: DPR (Disconnect-Cause REBOOTING), then closes
// on the DPA or after 2 seconds (RFC 6733 §5.4).
func (c *Conn) Close() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	m := diam.NewRequest(cmdDP, 0, c.n.cfg.Dict)
	c.n.addOrigin(m)
	m.NewAVP(avp.DisconnectCause, avp.Mbit, 0, datatype.Enumerated(0))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := c.Request(ctx, m)
	c.Abort()
	<-c.done
	return err
}

func (c *Conn) run(ctx context.Context) {
	log := c.n.log.With("remote", c.nc.RemoteAddr().String())
	stop := context.AfterFunc(ctx, c.Abort)
	defer stop()
	wdCtx, wdCancel := context.WithCancel(ctx)
	watchdogDone := make(chan struct{})
	go func() {
		defer close(watchdogDone)
		c.watchdog(wdCtx)
	}()
	defer func() {
		wdCancel()
		<-watchdogDone
		c.nc.Close()
		c.hwg.Wait()
		c.n.track(c, false)
		c.mu.Lock()
		for h, ch := range c.pending {
			close(ch)
			delete(c.pending, h)
		}
		c.mu.Unlock()
		c.doneOnce.Do(func() { close(c.done) })
		if err := c.Err(); err != nil {
			log.Info("diameter: connection closed", "peer", c.PeerHost, "reason", err)
		} else {
			log.Debug("diameter: connection closed", "peer", c.PeerHost)
		}
	}()
	if c.client {
		if err := c.write(c.n.capabilities(diam.NewRequest(cmdCE, 0, c.n.cfg.Dict), c.nc.LocalAddr())); err != nil {
			c.fail(fmt.Errorf("sending CER: %w", err))
			return
		}
	}
	for {
		raw, err := readFrame(c.nc)
		if err != nil {
			if errors.Is(err, errGarbage) {
				log.Warn("diameter: garbage on the connection, closing it", "err", err)
				c.fail(err)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.fail(err)
			}
			return
		}
		c.lastRx.Store(time.Now().UnixNano())
		if !c.receive(ctx, raw) {
			return
		}
	}
}

// readFrame reads one message: the header gives its length (RFC 6733 §3).
func readFrame(r io.Reader) ([]byte, error) {
	hdr := make([]byte, diam.HeaderLength)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	if err := checkHeader(hdr); err != nil {
		return nil, err
	}
	l := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	raw := make([]byte, l)
	copy(raw, hdr)
	if _, err := io.ReadFull(r, raw[diam.HeaderLength:]); err != nil {
		return nil, err
	}
	return raw, nil
}

// checkHeader rejects what cannot be a Diameter message: a wrong version or
// an impossible length (the stream cannot be resynchronised after it).
func checkHeader(hdr []byte) error {
	if hdr[0] != 1 {
		return fmt.Errorf("%w: version %d", errGarbage, hdr[0])
	}
	l := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if l < diam.HeaderLength || l > maxMessage || l%4 != 0 {
		return fmt.Errorf("%w: message length %d", errGarbage, l)
	}
	return nil
}

// Decode decodes one whole message. For a request that cannot be decoded it
// returns the Result-Code to answer with (RFC 6733 §7.1), and the error.
func Decode(raw []byte, n *Node) (*diam.Message, uint32, error) {
	if len(raw) < diam.HeaderLength {
		return nil, 0, errGarbage
	}
	if err := checkHeader(raw); err != nil {
		return nil, 0, err
	}
	if len(raw) != int(raw[1])<<16|int(raw[2])<<8|int(raw[3]) {
		return nil, 0, fmt.Errorf("%w: length field and size differ", errGarbage)
	}
	h, err := diam.DecodeHeader(raw[:diam.HeaderLength])
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", errGarbage, err)
	}
	req := h.CommandFlags&diam.RequestFlag != 0
	if h.CommandFlags&0x0F != 0 || req && h.CommandFlags&diam.ErrorFlag != 0 {
		return nil, diameter.ResultInvalidHdrBits, fmt.Errorf("invalid header flags %02x", h.CommandFlags)
	}
	if _, err := n.cfg.Dict.FindCommand(h.ApplicationID, h.CommandCode); err != nil {
		if _, aerr := n.cfg.Dict.App(h.ApplicationID); aerr != nil && h.ApplicationID != 0 {
			return nil, diameter.ResultApplicationUnsupported, fmt.Errorf("application %d not supported", h.ApplicationID)
		}
		return nil, diameter.ResultCommandUnsupported, fmt.Errorf("command %d of application %d not supported", h.CommandCode, h.ApplicationID)
	}
	if err := checkAVPs(raw[diam.HeaderLength:]); err != nil {
		return nil, diameter.ResultInvalidAVPLength, fmt.Errorf("decoding %s: %w", cmdName(h.CommandCode), err)
	}
	m, err := readMessage(raw, n)
	if err != nil {
		code := uint32(diameter.ResultInvalidAVPValue)
		switch s := err.Error(); {
		case strings.Contains(s, "Not enough data"), strings.Contains(s, "length"):
			code = diameter.ResultInvalidAVPLength
		case strings.Contains(s, "not found"), strings.Contains(s, "Could not find"):
			code = diameter.ResultAVPUnsupported
		}
		return nil, code, fmt.Errorf("decoding %s: %w", cmdName(h.CommandCode), err)
	}
	return m, 0, nil
}

// checkAVPs walks the top-level AVPs: each length covers at least its header
// (8 bytes, 12 with the V bit, RFC 6733 §4.1) and stays inside the message.
func checkAVPs(b []byte) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("%d trailing bytes are not an AVP", len(b))
		}
		l := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		hdr := 8
		if b[4]&0x80 != 0 {
			hdr = 12
		}
		if l < hdr || l > len(b) {
			return fmt.Errorf("AVP %d has length %d (header %d, %d bytes left)", binary.BigEndian.Uint32(b), l, hdr, len(b))
		}
		b = b[min(len(b), (l+3)&^3):]
	}
	return nil
}

// readMessage decodes with go-diameter, turning a panic of its decoder (v4.0.4
// indexes past a grouped AVP's short inner AVP) into an error.
func readMessage(raw []byte, n *Node) (m *diam.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("AVP length inconsistent (decoder panic: %v)", r)
		}
	}()
	return diam.ReadMessage(bytes.NewReader(raw), n.cfg.Dict)
}

// receive handles one message; false ends the connection.
func (c *Conn) receive(ctx context.Context, raw []byte) bool {
	log := c.n.log.With("peer", c.PeerHost, "remote", c.nc.RemoteAddr().String())
	m, code, err := Decode(raw, c.n)
	c.n.trace(c, In, raw, m)
	if err != nil {
		h, herr := diam.DecodeHeader(raw[:diam.HeaderLength])
		if herr != nil || h.CommandFlags&diam.RequestFlag == 0 || code == 0 {
			log.Warn("diameter: undecodable message dropped", "err", err)
			return !errors.Is(err, errGarbage)
		}
		log.Warn("diameter: answering an undecodable request with an error", "err", err, "result", code)
		_ = c.write(c.n.errorAnswer(h, raw, code))
		return true
	}
	isReq := m.Header.CommandFlags&diam.RequestFlag != 0
	if !isReq {
		c.mu.Lock()
		ch, ok := c.pending[m.Header.HopByHopID]
		delete(c.pending, m.Header.HopByHopID)
		c.mu.Unlock()
		if m.Header.CommandCode == cmdCE && c.client {
			return c.gotCEA(m)
		}
		if !ok {
			log.Warn("diameter: answer to no request of ours dropped", "command", cmdName(m.Header.CommandCode), "hop_by_hop", m.Header.HopByHopID)
			return true
		}
		ch <- m
		return true
	}
	switch m.Header.CommandCode {
	case cmdCE:
		if c.client || c.isReady() {
			_ = c.write(c.n.answer(m, diameter.ResultCommandUnsupported))
			return true
		}
		return c.gotCER(m)
	case cmdDW:
		_ = c.write(c.n.answer(m, diameter.ResultSuccess))
		return true
	case cmdDP:
		_ = c.write(c.n.answer(m, diameter.ResultSuccess))
		log.Info("diameter: peer disconnects (DPR)")
		return false
	}
	if !c.isReady() {
		log.Warn("diameter: request before the capabilities exchange, closing", "command", cmdName(m.Header.CommandCode))
		c.fail(errors.New("request before CER"))
		return false
	}
	h, ok := c.n.handlers[[2]uint32{m.Header.ApplicationID, m.Header.CommandCode}]
	if !ok {
		code := uint32(diameter.ResultCommandUnsupported)
		if !c.n.supports(m.Header.ApplicationID) {
			code = diameter.ResultApplicationUnsupported
		}
		_ = c.write(c.n.answer(m, code))
		return true
	}
	c.hwg.Add(1)
	go func() {
		defer c.hwg.Done()
		defer func() {
			// A handler's bug answers DIAMETER_UNABLE_TO_COMPLY; the node goes on.
			if r := recover(); r != nil {
				log.Error("diameter: handler failed", "command", cmdName(m.Header.CommandCode), "panic", r)
				_ = c.write(c.n.answer(m, diameter.ResultUnableToComply))
			}
		}()
		if a := h(ctx, c, m); a != nil {
			if err := c.write(a); err != nil {
				log.Warn("diameter: answer not sent", "err", err)
			}
		}
	}()
	return true
}

func (c *Conn) isReady() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// gotCER checks a peer's CER (RFC 6733 §5.3): a known Origin-Host
// (else DIAMETER_UNKNOWN_PEER) and an application in common (else
// DIAMETER_NO_COMMON_APPLICATION); either failure closes the connection.
func (c *Conn) gotCER(m *diam.Message) bool {
	host, realm := avpString(m, avp.OriginHost), avpString(m, avp.OriginRealm)
	log := c.n.log.With("remote", c.nc.RemoteAddr().String(), "peer", host)
	code := uint32(diameter.ResultSuccess)
	switch {
	case host == "" || realm == "":
		code = diameter.ResultMissingAVP
	case len(c.n.allow) > 0 && !c.n.allow[host]:
		code = diameter.ResultUnknownPeer
		log.Warn("diameter: CER from a peer not in the allow-list: DIAMETER_UNKNOWN_PEER, disconnecting")
	case !c.n.commonApp(m):
		code = diameter.ResultNoCommonApplication
		log.Warn("diameter: CER with no application in common: DIAMETER_NO_COMMON_APPLICATION, disconnecting")
	}
	a := c.n.capabilities(c.n.answer(m, code), c.nc.LocalAddr())
	_ = c.write(a)
	if code != diameter.ResultSuccess {
		c.fail(fmt.Errorf("CER refused with Result-Code %d", code))
		return false
	}
	c.PeerHost, c.PeerRealm, c.PeerApps = host, realm, appsOf(m)
	c.n.register(c)
	c.readyOnce.Do(func() { close(c.ready) })
	log.Info("diameter: peer connected", "realm", realm)
	return true
}

// gotCEA completes the client's capabilities exchange.
func (c *Conn) gotCEA(m *diam.Message) bool {
	code, _ := ResultCode(m)
	if code != diameter.ResultSuccess {
		c.fail(fmt.Errorf("the peer answered CER with Result-Code %d (%s)", code, diameter.ResultName(code, false)))
		return false
	}
	c.PeerHost, c.PeerRealm, c.PeerApps = avpString(m, avp.OriginHost), avpString(m, avp.OriginRealm), appsOf(m)
	c.n.register(c)
	c.readyOnce.Do(func() { close(c.ready) })
	c.n.log.Info("diameter: connected", "peer", c.PeerHost, "remote", c.nc.RemoteAddr().String())
	return true
}

// Request sends a request and waits for its answer (matched by the
// hop-by-hop identifier, RFC 6733 §6.2).
func (c *Conn) Request(ctx context.Context, m *diam.Message) (*diam.Message, error) {
	h := c.hbh.Add(1)
	m.Header.HopByHopID = h
	if m.Header.EndToEndID == 0 {
		m.Header.EndToEndID = h ^ c.n.stateID<<20
	}
	ch := make(chan *diam.Message, 1)
	c.mu.Lock()
	c.pending[h] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, h)
		c.mu.Unlock()
	}()
	if err := c.write(m); err != nil {
		return nil, err
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("diameter: connection to %s closed before the answer", c.PeerHost)
		}
		return a, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("diameter: no answer from %s: %w", c.PeerHost, ctx.Err())
	case <-c.done:
		// The answer may have arrived just before the connection closed
		// (a DPA, then the peer hangs up): it wins.
		select {
		case a, ok := <-ch:
			if ok {
				return a, nil
			}
		default:
		}
		return nil, fmt.Errorf("diameter: connection to %s closed before the answer", c.PeerHost)
	}
}

func (c *Conn) write(m *diam.Message) error {
	raw, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("diameter: encoding %s: %w", cmdName(m.Header.CommandCode), err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.n.trace(c, Out, raw, m)
	if _, err := c.nc.Write(raw); err != nil {
		return fmt.Errorf("diameter: sending %s: %w", cmdName(m.Header.CommandCode), err)
	}
	return nil
}

// watchdog sends DWR after Tw of silence and drops a peer that did not
// answer the previous one (RFC 3539 §3.4).
func (c *Conn) watchdog(ctx context.Context) {
	tw := c.n.cfg.Watchdog
	t := time.NewTicker(tw / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
		if !c.isReady() || time.Since(time.Unix(0, c.lastRx.Load())) < tw {
			continue
		}
		if c.dwrOut.Load() {
			c.fail(fmt.Errorf("no answer to DWR within %s", tw))
			return
		}
		c.dwrOut.Store(true)
		m := diam.NewRequest(cmdDW, 0, c.n.cfg.Dict)
		c.n.addOrigin(m)
		go func() {
			rctx, cancel := context.WithTimeout(ctx, tw)
			defer cancel()
			if _, err := c.Request(rctx, m); err == nil {
				c.dwrOut.Store(false)
			}
		}()
	}
}
