// Package sipproxy holds what the SIP elements of imslab that forward
// requests share (RFC 3261 §16: the P-CSCF and the S-CSCF), and the
// requests that belong to an INVITE's own transaction (CANCEL, ACK for a
// non-2xx: RFC 3261 §9.1, §17.1.1.3), which the UE builds too. It knows no
// service.
package sipproxy

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// UDPMax is the largest request sent over UDP when the path MTU is unknown
// (RFC 3261 §18.1.1: 1300 bytes; sipgo refuses larger ones); a larger one
// goes over TCP.
const UDPMax = 1300

// NoBuild stops sipgo's client from adding headers: a proxy forwards the
// request it received with only the changes of RFC 3261 §16.6.
func NoBuild(*sipgo.Client, *sip.Request) error { return nil }

// Hop is where a request goes next.
type Hop struct {
	Transport string // "UDP" or "TCP"
	Addr      string // host:port
}

func (h Hop) String() string { return strings.ToLower(h.Transport) + ":" + h.Addr }

// NextHop is the top Route, else the Request-URI (RFC 3261 §16.6 step 7,
// §16.12), over its transport parameter, else def ("udp" or "tcp").
func NextHop(req *sip.Request, def string) (Hop, error) {
	u := req.Recipient
	if r := req.Route(); r != nil {
		u = r.Address
	}
	if (u.Scheme != "sip" && u.Scheme != "sips" && u.Scheme != "") || u.Host == "" {
		return Hop{}, fmt.Errorf("next hop %s is not a SIP URI with a host", u.String())
	}
	tp := def
	if t, ok := u.UriParams.Get("transport"); ok && t != "" {
		tp = t
	}
	tp = strings.ToUpper(tp)
	if tp != "UDP" && tp != "TCP" {
		return Hop{}, fmt.Errorf("next hop %s: transport %s not supported (UDP, TCP)", u.String(), tp)
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return Hop{Transport: tp, Addr: net.JoinHostPort(strings.Trim(u.Host, "[]"), strconv.Itoa(port))}, nil
}

// InsertAfterVias puts headers, in order, right after the Vias (sipgo
// points Route() at the last one added: adding in reverse keeps the first
// on top).
func InsertAfterVias(m *sip.Request, hs ...sip.Header) {
	for i := len(hs) - 1; i >= 0; i-- {
		m.AppendHeaderAfter(hs[i], "Via")
	}
}

// Stamp applies RFC 3261 §16.6 step 3 to fwd, the copy of req to forward:
// Max-Forwards decremented (70 when absent); and §18.2.1 / RFC 3581 §4:
// received and rport on the sender's Via, where the responses go back.
func Stamp(req, fwd *sip.Request) {
	mf := sip.MaxForwardsHeader(70)
	if m := req.MaxForwards(); m != nil {
		mf = *m - 1
	}
	if fwd.MaxForwards() != nil {
		fwd.ReplaceHeader(&mf)
	} else {
		fwd.AppendHeader(&mf)
	}
	v := fwd.Via()
	src, err := netip.ParseAddrPort(req.Source())
	if v == nil || err != nil {
		return
	}
	if ip := src.Addr().Unmap().String(); !strings.EqualFold(strings.Trim(v.Host, "[]"), ip) {
		v.Params.Add("received", ip)
	}
	if v.Params.Has("rport") {
		v.Params.Add("rport", strconv.Itoa(int(src.Port())))
	}
}

// PushVia puts this element's Via (host:port, branch) on top of fwd
// (RFC 3261 §16.6 step 8) and addresses it to h (step 7); a request too
// large for UDP goes over TCP to the same address (§18.1.1). It returns
// the hop used. Content-Length is moved last, where a reader looks for it.
func PushVia(fwd *sip.Request, h Hop, host string, port int, branch string) Hop {
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: h.Transport,
		Host: host, Port: port, Params: sip.NewParams()}
	via.Params.Add("branch", branch)
	if h.Transport == "UDP" && len(fwd.String())+len(via.String())+7 > UDPMax {
		h.Transport, via.Transport = "TCP", "TCP"
	}
	fwd.PrependHeader(via)
	if cl := fwd.ContentLength(); cl != nil {
		fwd.RemoveHeader("Content-Length")
		fwd.AppendHeader(cl)
	}
	fwd.SetTransport(h.Transport)
	fwd.SetDestination(h.Addr)
	return h
}

// Upstream turns a response from downstream into the one sent back (RFC
// 3261 §16.7 step 3): without this element's Via, to where req came from.
func Upstream(req *sip.Request, res *sip.Response) *sip.Response {
	out := res.Clone()
	out.RemoveHeader("Via")
	out.SetTransport(req.Transport())
	out.SetDestination(sip.NewResponseFromRequest(req, 100, "Trying", nil).Destination())
	return out
}

// Cancel builds the CANCEL of an INVITE (RFC 3261 §9.1): same
// Request-URI, Call-ID, From, To, CSeq number, Route and top Via, sent
// where the INVITE went, so that the next hop matches it to the INVITE.
func Cancel(inv *sip.Request) *sip.Request {
	c := TransactionRequest(inv, sip.CANCEL, inv.To())
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	c.Laddr = inv.Laddr
	return c
}

// TransactionRequest builds a request of the INVITE's own transaction
// (CANCEL, or the ACK of a non-2xx final response, RFC 3261 §17.1.1.3):
// the INVITE's Request-URI, top Via, Route, Call-ID, From and CSeq number,
// with the method and the To given.
func TransactionRequest(inv *sip.Request, method sip.RequestMethod, to *sip.ToHeader) *sip.Request {
	r := sip.NewRequest(method, *inv.Recipient.Clone())
	if v := inv.Via(); v != nil {
		r.AppendHeader(v.Clone())
	}
	for _, h := range inv.GetHeaders("Route") {
		r.AppendHeader(sip.HeaderClone(h))
	}
	mf := sip.MaxForwardsHeader(70)
	r.AppendHeader(&mf)
	for _, h := range []sip.Header{inv.From(), to, inv.CallID()} {
		if h != nil && !isNilHeader(h) {
			r.AppendHeader(sip.HeaderClone(h))
		}
	}
	if cs := inv.CSeq(); cs != nil {
		r.AppendHeader(&sip.CSeqHeader{SeqNo: cs.SeqNo, MethodName: method})
	}
	r.SetBody(nil)
	return r
}

// isNilHeader tells a typed nil header (a missing From, To or Call-ID)
// from a real one.
func isNilHeader(h sip.Header) bool {
	switch v := h.(type) {
	case *sip.FromHeader:
		return v == nil
	case *sip.ToHeader:
		return v == nil
	case *sip.CallIDHeader:
		return v == nil
	}
	return false
}
