package gw

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/wmnsk/go-gtp/gtpv2/ie"
	"github.com/wmnsk/go-gtp/gtpv2/message"

	"github.com/imslab/imslab/internal/trace"
)

// responseKeep is how long a response is kept to answer a retransmitted
// request (TS 29.274 §7.6: longer than T3-RESPONSE times N3-REQUESTS).
const responseKeep = 30 * time.Second

// serveControl reads GTPv2-C messages until the socket closes.
func (g *Gateway) serveControl() {
	buf := make([]byte, 65536)
	for {
		n, from, err := g.cConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			g.log.Warn("GTPv2-C read", "err", err)
			continue
		}
		g.handleControl(append([]byte(nil), buf[:n]...), unmapAP(from))
	}
}

// handleControl answers one GTPv2-C message: Echo (TS 29.274 §7.1), Create
// Session, Modify Bearer, Delete Session (§7.2); a retransmitted request
// gets the response already sent (§7.6).
func (g *Gateway) handleControl(b []byte, from netip.AddrPort) {
	g.traceControl(false, from, g.cAddr, b)
	if len(b) < 8 {
		g.log.Warn("GTPv2-C message dropped: too short", "from", from, "bytes", len(b))
		return
	}
	if v := b[0] >> 5; v != 2 {
		g.log.Warn("GTP message of another version: Version Not Supported Indication sent (TS 29.274 §7.1.3)", "from", from, "version", v)
		g.send(from, versionNotSupported(b))
		return
	}
	h, err := message.ParseHeader(b)
	if err != nil {
		g.log.Warn("GTPv2-C message dropped: bad header", "from", from, "err", err)
		return
	}
	if r := g.cache.get(from, h.MessageType(), h.Sequence()); r != nil {
		g.log.Info("retransmitted request: same response sent again (TS 29.274 §7.6)", "from", from, "type", h.MessageType(), "seq", h.Sequence())
		g.send(from, r)
		return
	}
	m, err := message.Parse(b)
	if err != nil {
		g.log.Warn("GTPv2-C message malformed", "from", from, "type", h.MessageType(), "err", err)
		if resp := malformedResponse(h); resp != nil {
			g.respond(from, resp)
		}
		return
	}
	var resp message.Message
	switch m := m.(type) {
	case *message.EchoRequest:
		resp = message.NewEchoResponse(m.Sequence(), ie.NewRecovery(g.cfg.RestartCounter))
	case *message.EchoResponse:
		return
	case *message.CreateSessionRequest:
		resp = g.createSession(m, from)
	case *message.ModifyBearerRequest:
		resp = g.modifyBearer(m)
	case *message.DeleteSessionRequest:
		resp = g.deleteSession(m)
	default:
		g.log.Warn("GTPv2-C message not handled by the lab gateway", "from", from, "type", m.MessageTypeName())
		return
	}
	g.respond(from, resp)
}

// respond sends a response and keeps it for retransmitted requests (the
// request type is the response's minus one, TS 29.274 §6.1).
func (g *Gateway) respond(to netip.AddrPort, m message.Message) {
	b, err := message.Marshal(m)
	if err != nil {
		g.log.Error("GTPv2-C response not encoded", "type", m.MessageTypeName(), "err", err)
		return
	}
	if m.MessageType() != message.MsgTypeEchoResponse {
		g.cache.put(to, m.MessageType()-1, m.Sequence(), b)
	}
	g.send(to, b)
}

func (g *Gateway) send(to netip.AddrPort, b []byte) {
	if _, err := g.cConn.WriteToUDPAddrPort(b, to); err != nil {
		g.log.Warn("GTPv2-C send", "to", to, "err", err)
		return
	}
	g.traceControl(true, g.cAddr, to, b)
}

// malformedResponse answers a request whose IEs do not decode with cause
// Invalid Message Format (TS 29.274 §7.7.2), nil for other messages.
func malformedResponse(h *message.Header) message.Message {
	c := ie.NewCause(CauseInvalidMessageFormat, 0, 0, 0, nil)
	switch h.MessageType() {
	case message.MsgTypeCreateSessionRequest:
		return message.NewCreateSessionResponse(0, h.Sequence(), c)
	case message.MsgTypeModifyBearerRequest:
		return message.NewModifyBearerResponse(0, h.Sequence(), c)
	case message.MsgTypeDeleteSessionRequest:
		return message.NewDeleteSessionResponse(0, h.Sequence(), c)
	}
	return nil
}

// versionNotSupported is the Version Not Supported Indication (TS 29.274
// §7.1.3) to a message of another GTP version: no TEID, the request's
// sequence number when it has one where GTPv2 puts it.
func versionNotSupported(req []byte) []byte {
	var seq uint32
	if len(req) >= 8 {
		seq = uint32(req[4])<<16 | uint32(req[5])<<8 | uint32(req[6])
	}
	h := message.NewHeader(message.NewHeaderFlags(2, 0, 0), message.MsgTypeVersionNotSupportedIndication, 0, seq, nil)
	b, _ := h.Marshal()
	return b
}

// traceControl reports one GTPv2-C message to the Trace hook.
func (g *Gateway) traceControl(sent bool, src, dst netip.AddrPort, raw []byte) {
	if g.cfg.Trace == nil {
		return
	}
	g.cfg.Trace(trace.Event{Time: time.Now(), Node: Node, Protocol: "GTPv2", Sent: sent, Network: "udp",
		Src: src, Dst: dst, Summary: SummarizeGTPv2(raw), Raw: append([]byte(nil), raw...)})
}

// SummarizeGTPv2 labels a GTPv2-C message for ladders: "Create Session
// Request", "Create Session Response 16".
func SummarizeGTPv2(raw []byte) string {
	m, err := message.Parse(raw)
	if err != nil {
		return "GTPv2 (undecodable)"
	}
	name := m.MessageTypeName()
	if c := causeOf(m); c != nil {
		if v, err := c.Cause(); err == nil {
			return fmt.Sprintf("%s %d", name, v)
		}
	}
	return name
}

// causeOf returns the Cause IE of the responses the lab uses.
func causeOf(m message.Message) *ie.IE {
	switch m := m.(type) {
	case *message.CreateSessionResponse:
		return m.Cause
	case *message.ModifyBearerResponse:
		return m.Cause
	case *message.DeleteSessionResponse:
		return m.Cause
	}
	return nil
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// responseCache keeps the responses sent, by peer, request type and
// sequence number.
type responseCache struct {
	mu     sync.Mutex
	m      map[cacheKey]cached
	pruned time.Time
}

type cacheKey struct {
	peer  netip.AddrPort
	rtype uint8
	seq   uint32
}

type cached struct {
	b  []byte
	at time.Time
}

func (c *responseCache) get(peer netip.AddrPort, rtype uint8, seq uint32) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[cacheKey{peer, rtype, seq}]
	if !ok || time.Since(e.at) > responseKeep {
		return nil
	}
	return e.b
}

func (c *responseCache) put(peer netip.AddrPort, rtype uint8, seq uint32, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[cacheKey]cached{}
	}
	now := time.Now()
	if now.Sub(c.pruned) > time.Second {
		c.pruned = now
		for k, e := range c.m {
			if now.Sub(e.at) > responseKeep {
				delete(c.m, k)
			}
		}
	}
	c.m[cacheKey{peer, rtype, seq}] = cached{b, now}
}
