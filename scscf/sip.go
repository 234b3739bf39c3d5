package scscf

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipproxy"
)

// tracker counts running goroutines (SIP handlers, NOTIFY senders,
// background Cx requests) and refuses new ones once closed, so that Run
// returns only when all have ended.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// start runs f in a goroutine unless the tracker is closed.
func (t *tracker) start(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

// enter counts the calling goroutine in; leave with t.wg.Done.
func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// sipHandler handles one request in a server transaction.
type sipHandler func(ctx context.Context, req *sip.Request, tx sip.ServerTransaction)

// handler wraps a request handler: trace, the trusted-source check, and
// tracking of the goroutine sipgo runs it in.
func (s *SCSCF) handler(h sipHandler) func(*sip.Request, sip.ServerTransaction) {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !s.tasks.enter() {
			return
		}
		defer s.tasks.wg.Done()
		s.traceSIP(false, req.Transport(), req.Source(), req.StartLine(), req)
		if !s.trustedSource(req.Source()) {
			// TS 24.229 §5.4.1.1: the S-CSCF serves only its home network's
			// P-CSCFs (imslab: a configured list).
			s.log.Warn(fmt.Sprintf("%s refused (403): source %s is not a trusted P-CSCF (trusted: %s)", req.Method, req.Source(), strings.Join(s.cfg.TrustedPCSCF, ", ")),
				"method", req.Method.String(), "source", req.Source(), "from", uriOf(req.From()))
			if req.Method != sip.ACK {
				s.respond(tx, req, s.response(req, 403, "Forbidden", "untrusted source; requests must come through a P-CSCF"))
			}
			return
		}
		ctx, cancel := context.WithTimeout(s.runCtx, 3*cxTimeout)
		defer cancel()
		h(ctx, req, tx)
	}
}

// trustedSource tells whether a request's source address is a trusted P-CSCF.
func (s *SCSCF) trustedSource(src string) bool {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		host, _, err2 := net.SplitHostPort(src)
		a, err3 := netip.ParseAddr(host)
		if err2 != nil || err3 != nil {
			return false
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// allowed are the methods the S-CSCF handles (RFC 3261 §20.5); in a
// dialog it record-routed, it relays any method.
const allowed = "INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, INFO, REGISTER, SUBSCRIBE"

// notImplemented refuses a method the S-CSCF does not route outside a
// dialog (MESSAGE, OPTIONS, PUBLISH, ...).
func (s *SCSCF) notImplemented(_ context.Context, req *sip.Request, tx sip.ServerTransaction) {
	why := fmt.Sprintf("outside a dialog the S-CSCF handles REGISTER, SUBSCRIBE (reg event) and INVITE, not %s", req.Method)
	s.log.Info(fmt.Sprintf("%s refused (501): %s", req.Method, why), "method", req.Method.String(), "source", req.Source())
	res := s.response(req, 501, "Not Implemented", why)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	s.respond(tx, req, res)
}

// response builds a response; warning, if set, goes in a Warning header
// (RFC 3261 §20.43, code 399) so that the UE can tell why.
func (s *SCSCF) response(req *sip.Request, code int, reason, warning string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", "imslab-scscf"))
	if warning != "" {
		res.AppendHeader(sip.NewHeader("Warning", fmt.Sprintf(`399 %s "%s"`, s.contact.Host, strings.ReplaceAll(warning, `"`, `'`))))
	}
	return res
}

// respond sends a response in the server transaction.
func (s *SCSCF) respond(tx sip.ServerTransaction, req *sip.Request, res *sip.Response) {
	res.RemoveHeader("Content-Length") // last, where a reader looks for it
	res.SetBody(res.Body())
	s.traceSIP(true, res.Transport(), req.Source(), res.StartLine(), res)
	if err := tx.Respond(res); err != nil {
		size := len(res.String())
		if strings.EqualFold(res.Transport(), "udp") && size > sipproxy.UDPMax {
			s.log.Error(fmt.Sprintf("%d response of %d bytes not sent over UDP (RFC 3261 §18.1.1 limit %d): let the P-CSCF use TCP towards the S-CSCF", res.StatusCode, size, sipproxy.UDPMax),
				"to", req.Source(), "err", err)
			return
		}
		s.log.Warn("response not sent", "status", res.StatusCode, "to", req.Source(), "err", err)
	}
}

// traceSIP reports a SIP message to the Trace hook.
func (s *SCSCF) traceSIP(out bool, network, remote, summary string, m sip.Message) {
	if s.cfg.Trace == nil {
		return
	}
	local := s.udpAddr
	if s.addr != nil && !strings.EqualFold(network, "udp") {
		local = s.addr.String()
	}
	s.cfg.Trace(Event{Time: time.Now(), Protocol: "SIP", Out: out, Network: strings.ToLower(network),
		Local: local, Remote: remote, Summary: summary, Raw: []byte(m.String())})
}

// uriOf returns the address of a From/To header, "" if absent.
func uriOf(h any) string {
	switch v := h.(type) {
	case *sip.FromHeader:
		if v == nil {
			return ""
		}
		return v.Address.String()
	case *sip.ToHeader:
		if v == nil {
			return ""
		}
		return v.Address.String()
	}
	return ""
}

// headerValues returns every value of a header, comma-separated lists
// split (RFC 3261 §7.3.1) outside quotes and angle brackets.
func headerValues(m sip.Message, name string) []string {
	var out []string
	for _, h := range m.GetHeaders(name) {
		out = append(out, splitList(h.Value())...)
	}
	return out
}

// splitList splits a header value at commas that are outside quotes and <>.
func splitList(v string) []string { return splitOutside(v, ',') }

// splitParams splits header parameters at semicolons outside quotes and <>.
func splitParams(v string) []string { return splitOutside(v, ';') }

// splitOutside splits v at sep where it is outside quoted strings and
// angle brackets (RFC 3261 §7.3.1, §25.1), trimming and dropping empty parts.
func splitOutside(v string, sep byte) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted && depth > 0:
			depth--
		case c == sep && !quoted && depth == 0:
			if p := strings.TrimSpace(v[start:i]); p != "" {
				out = append(out, p)
			}
			start = i + 1
		}
	}
	if start < len(v) {
		if p := strings.TrimSpace(v[start:]); p != "" {
			out = append(out, p)
		}
	}
	return out
}
