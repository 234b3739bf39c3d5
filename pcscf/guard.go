package pcscf

// The guard sits between the P-CSCF's sockets and sipgo. sipgo drops a UDP
// datagram it cannot parse without answering, closes a TCP connection on a
// framing or parse error, and hands requests that lack From/To/Call-ID to
// the handlers. The guard parses every message first, answers what it can
// (RFC 3261 §8.2.2, §16.3: 400, 505, 416), drops the rest, and only passes
// messages sipgo parses and the proxy can work with. A parser panic is
// recovered here, before sipgo's own parse of the same bytes could crash
// the process.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

const (
	// maxMessage bounds one message on a stream (headers and body).
	maxMessage = 64 << 10
	// maxHeaders bounds the header part on a stream.
	maxHeaders = 16 << 10
)

var (
	errFraming = errors.New("stream framing")
	// canonical names the headers a stateless response copies, compact
	// forms included (RFC 3261 §7.3.3).
	canonical = map[string]string{"v": "via", "via": "via", "f": "from", "from": "from",
		"t": "to", "to": "to", "i": "call-id", "call-id": "call-id", "cseq": "cseq"}
	crlf = []byte("\r\n")
)

type guard struct {
	parser *sip.Parser
	log    *slog.Logger
	agent  string // warn-agent of our Warning headers: the advertised host:port
	trace  func(TraceEvent)
}

// check decides on one message: pass it to sipgo (ok), or answer it with
// resp (nil: drop it); why says what is wrong.
func (g *guard) check(data []byte) (ok bool, resp []byte, why string) {
	msg, err := g.parse(data)
	if err != nil {
		why = "unparsable: " + err.Error()
		return false, rejectRaw(data, 400, "Bad Request", why, g.agent), why
	}
	switch m := msg.(type) {
	case *sip.Request:
		code, reason, why := validateRequest(m)
		if code == 0 {
			return true, nil, ""
		}
		return false, rejectRaw(data, code, reason, why, g.agent), why
	case *sip.Response:
		if m.Via() == nil || m.CSeq() == nil || m.CallID() == nil {
			return false, nil, "response without Via, CSeq or Call-ID"
		}
		return true, nil, ""
	}
	return false, nil, "neither request nor response"
}

func (g *guard) parse(data []byte) (msg sip.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("sipgo parser panic: %v", r)
		}
	}()
	return g.parser.ParseSIP(data)
}

// validateRequest checks what a proxy needs before any processing (RFC
// 3261 §16.3 step 1, §8.1.1: the mandatory headers, one of each; §8.2.2.1
// URI scheme; §8.1.1.5 CSeq method; RFC 3261 §18.3 Content-Length).
func validateRequest(r *sip.Request) (code int, reason, why string) {
	if r.SipVersion != "SIP/2.0" {
		return 505, "Version Not Supported", "SIP version " + r.SipVersion
	}
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		if r.GetHeader(h) == nil {
			return 400, "Bad Request", "missing " + h
		}
	}
	for _, h := range []string{"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length"} {
		if n := len(r.GetHeaders(h)); n > 1 {
			return 400, "Bad Request", fmt.Sprintf("%d %s headers", n, h)
		}
	}
	// sipgo upper-cases the request line's method but not CSeq's (RFC
	// 4475 §3.1.1.4 intmeth): compare without case.
	if !strings.EqualFold(string(r.CSeq().MethodName), string(r.Method)) {
		return 400, "Bad Request", fmt.Sprintf("CSeq method %s differs from %s", r.CSeq().MethodName, r.Method)
	}
	if s := r.Recipient.Scheme; s != "sip" && s != "sips" && s != "tel" {
		return 416, "Unsupported URI Scheme", "Request-URI scheme " + s
	}
	if b, _ := r.Via().Params.Get("branch"); !strings.HasPrefix(b, "z9hG4bK") {
		if _, ok := r.From().Params.Get("tag"); !ok {
			// RFC 3261 §17.2.3: without the magic cookie the transaction
			// is matched on the From tag.
			return 400, "Bad Request", "RFC 2543 request without a From tag"
		}
	}
	if cl := r.ContentLength(); cl != nil && int(*cl) != len(r.Body()) {
		return 400, "Bad Request", "Content-Length differs from the body"
	}
	return 0, "", ""
}

// rejectRaw builds a stateless response from the raw bytes of a request
// that sipgo cannot take (RFC 3261 §8.2.6): the request's Via, From, To,
// Call-ID and CSeq lines copied as they came, a To tag, and a Warning
// (RFC 3261 §20.43) with the reason. It returns nil when no response can
// be built: a response, an ACK (never answered, §17.2.1), or no Via.
func rejectRaw(data []byte, code int, reason, why, agent string) []byte {
	head := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		head = data[:i]
	} else if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
		head = data[:i]
	}
	lines := unfold(head)
	if len(lines) < 2 {
		return nil
	}
	method, _, _ := strings.Cut(lines[0], " ")
	if method == "" || method == "ACK" || strings.HasPrefix(method, "SIP/") {
		return nil
	}
	var vias []string
	one := map[string]string{}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = canonical[strings.ToLower(strings.TrimSpace(name))]
		value = cleanValue(value)
		switch {
		case name == "" || value == "":
		case name == "via":
			if len(vias) < 16 {
				vias = append(vias, value)
			}
		default:
			if _, seen := one[name]; !seen {
				one[name] = value
			}
		}
	}
	if len(vias) == 0 {
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, v := range vias {
		fmt.Fprintf(&b, "Via: %s\r\n", v)
	}
	for _, h := range []struct{ key, name string }{{"from", "From"}, {"to", "To"}, {"call-id", "Call-ID"}, {"cseq", "CSeq"}} {
		v, ok := one[h.key]
		if !ok {
			continue
		}
		if h.key == "to" && !strings.Contains(strings.ToLower(v), "tag=") {
			v += ";tag=" + randomHex(8)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, v)
	}
	fmt.Fprintf(&b, "Warning: 399 %s \"%s\"\r\nContent-Length: 0\r\n\r\n", agent, sanitize(why, 160))
	return b.Bytes()
}

// unfold splits a header block into lines, joining continuation lines
// (RFC 3261 §7.3.1) and accepting bare LF line ends.
func unfold(head []byte) []string {
	var out []string
	for _, l := range strings.Split(string(head), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if len(out) > 1 && l != "" && (l[0] == ' ' || l[0] == '\t') {
			out[len(out)-1] += " " + strings.TrimSpace(l)
			continue
		}
		out = append(out, l)
	}
	return out
}

// cleanValue trims a header value and removes control characters so that a
// copied value can never split our response into more lines.
func cleanValue(v string) string {
	v = strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, v)
	if len(v) > 512 {
		v = v[:512]
	}
	return strings.TrimSpace(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func isKeepalive(data []byte) bool {
	return len(bytes.Trim(data, "\r\n\x00")) == 0
}

func (g *guard) refused(network string, src net.Addr, data []byte, answered bool, why string) {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	action := "dropped"
	if answered {
		action = "answered"
	}
	g.log.Warn("malformed SIP "+action, "network", network, "src", src.String(), "why", why,
		"first_line", sanitize(strings.TrimSpace(string(first)), 100))
}

// emit traces a message; at is when it was read, or when its write began
// (the peer may have it before the write returns).
func (g *guard) emit(at time.Time, sent bool, network string, local, remote net.Addr, raw []byte) {
	if g.trace == nil {
		return
	}
	g.trace(TraceEvent{Time: at, Sent: sent, Network: network,
		Local: addrPort(local), Remote: addrPort(remote), Raw: bytes.Clone(raw)})
}

func addrPort(a net.Addr) netip.AddrPort {
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// guardPacketConn is the UDP socket as sipgo sees it.
type guardPacketConn struct {
	net.PacketConn
	g     *guard
	ready func() // called when sipgo first reads: the socket is in its pool
}

func (c *guardPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.ready()
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		data := p[:n]
		if isKeepalive(data) { // RFC 5626 §4.4.1 keep-alives: nothing to do
			continue
		}
		c.g.emit(time.Now(), false, "udp", c.LocalAddr(), addr, data)
		ok, resp, why := c.g.check(data)
		if ok {
			return n, addr, nil
		}
		c.g.refused("udp", addr, data, resp != nil, why)
		if resp != nil {
			// To the source: the Via may be what is broken (RFC 3581 §4 spirit).
			_, _ = c.WriteTo(resp, addr)
		}
	}
}

func (c *guardPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	at := time.Now()
	n, err := c.PacketConn.WriteTo(p, addr)
	if err == nil {
		c.g.emit(at, true, "udp", c.LocalAddr(), addr, p[:n])
	}
	return n, err
}

// guardListener hands sipgo guarded TCP connections.
type guardListener struct {
	net.Listener
	g     *guard
	ready func() // called when sipgo first accepts
}

func (l *guardListener) Accept() (net.Conn, error) {
	l.ready()
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, g: l.g}, nil
}

// guardConn frames the stream itself (RFC 3261 §18.3: by Content-Length)
// and gives sipgo only whole messages that passed the check.
type guardConn struct {
	net.Conn
	g   *guard
	in  []byte // received, not yet framed
	out []byte // checked, not yet read by sipgo
	err error
	buf []byte
	wmu sync.Mutex
}

func (c *guardConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		c.err = c.fill()
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// fill reads once from the connection and frames what it can.
func (c *guardConn) fill() error {
	if c.buf == nil {
		c.buf = make([]byte, 32<<10)
	}
	n, err := c.Conn.Read(c.buf)
	c.in = append(c.in, c.buf[:n]...)
	for {
		// RFC 5626 §3.5.1: CRLF keep-alives between messages; a double
		// CRLF ping gets a CRLF pong.
		for bytes.HasPrefix(c.in, crlf) {
			if bytes.HasPrefix(c.in, []byte("\r\n\r\n")) {
				_, _ = c.Write(crlf)
				c.in = c.in[4:]
				continue
			}
			c.in = c.in[2:]
		}
		size, ferr := frame(c.in)
		if ferr != nil {
			resp := rejectRaw(c.in, 400, "Bad Request", ferr.Error(), c.g.agent)
			c.g.emit(time.Now(), false, "tcp", c.LocalAddr(), c.RemoteAddr(), c.in)
			c.g.refused("tcp", c.RemoteAddr(), c.in, resp != nil, ferr.Error()+"; connection closed")
			if resp != nil {
				_, _ = c.Write(resp)
			}
			c.in = nil
			return io.EOF // no message boundary left to resynchronise on
		}
		if size == 0 {
			break
		}
		msg := c.in[:size]
		c.g.emit(time.Now(), false, "tcp", c.LocalAddr(), c.RemoteAddr(), msg)
		if ok, resp, why := c.g.check(msg); ok {
			c.out = append(c.out, msg...)
		} else {
			c.g.refused("tcp", c.RemoteAddr(), msg, resp != nil, why)
			if resp != nil {
				_, _ = c.Write(resp)
			}
		}
		c.in = c.in[size:]
	}
	if len(c.in) == 0 {
		c.in = nil // let a long-lived connection release its buffer
	}
	return err
}

func (c *guardConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	at := time.Now()
	n, err := c.Conn.Write(p)
	c.wmu.Unlock()
	if err == nil && !bytes.Equal(p, crlf) {
		c.g.emit(at, true, "tcp", c.LocalAddr(), c.RemoteAddr(), p[:n])
	}
	return n, err
}

// frame returns the size of the first whole message in buf, 0 if more
// bytes are needed. On a stream Content-Length is mandatory (RFC 3261
// §18.3, §20.14); without it, or with a bad one, there is no boundary.
func frame(buf []byte) (int, error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > maxHeaders {
			return 0, fmt.Errorf("%w: no end of headers in %d bytes", errFraming, len(buf))
		}
		return 0, nil
	}
	if end > maxHeaders {
		return 0, fmt.Errorf("%w: headers over %d bytes", errFraming, maxHeaders)
	}
	cl := -1
	for _, l := range unfold(buf[:end]) {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "content-length" && name != "l" {
			continue
		}
		v := strings.TrimSpace(value)
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || len(v) > 7 || strings.ContainsAny(v, "+-") {
			return 0, fmt.Errorf("%w: Content-Length %q", errFraming, sanitize(v, 20))
		}
		if cl >= 0 && cl != n {
			return 0, fmt.Errorf("%w: two Content-Length values", errFraming)
		}
		cl = n
	}
	if cl < 0 {
		return 0, fmt.Errorf("%w: no Content-Length on a stream", errFraming)
	}
	total := end + 4 + cl
	if total > maxMessage {
		return 0, fmt.Errorf("%w: message of %d bytes, limit %d", errFraming, total, maxMessage)
	}
	if len(buf) < total {
		return 0, nil
	}
	return total, nil
}
