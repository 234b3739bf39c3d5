package scscf

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// noBuild stops sipgo's client from adding headers: a proxy forwards the
// request it received, with only the changes of RFC 3261 §16.6.
func noBuild(*sipgo.Client, *sip.Request) error { return nil }

// hop is where a request goes next.
type hop struct {
	transport string // "UDP" or "TCP"
	addr      string // host:port
}

func (h hop) String() string { return strings.ToLower(h.transport) + ":" + h.addr }

// nextHop is the top Route, else the Request-URI (RFC 3261 §16.6 step 7,
// §16.12), with its transport parameter or UDP.
func nextHop(req *sip.Request) (hop, error) {
	u := req.Recipient
	if r := req.Route(); r != nil {
		u = r.Address
	}
	if (u.Scheme != "sip" && u.Scheme != "") || u.Host == "" {
		return hop{}, fmt.Errorf("next hop %s is not a SIP URI with a host", u.String())
	}
	tp := "UDP"
	if t, ok := u.UriParams.Get("transport"); ok && t != "" {
		tp = strings.ToUpper(t)
	}
	if tp != "UDP" && tp != "TCP" {
		return hop{}, fmt.Errorf("next hop %s: transport %s not supported (UDP, TCP)", u.String(), tp)
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return hop{transport: tp, addr: net.JoinHostPort(strings.Trim(u.Host, "[]"), strconv.Itoa(port))}, nil
}

// recordRoute is the S-CSCF's Record-Route entry (RFC 3261 §16.6 step 4,
// TS 24.229 §5.4.3.2, §5.4.3.3): sip:ADVERTISE;lr, without the user "orig"
// of the Service-Route, so that an in-dialog request is never taken for an
// originating one.
func (s *SCSCF) recordRoute() *sip.RecordRouteHeader {
	u := s.contact
	u.UriParams = sip.HeaderParams{{K: "lr"}}
	return &sip.RecordRouteHeader{Address: u}
}

// isUs tells whether a URI names this S-CSCF: its advertised or listening
// address, or its Server-Name.
func (s *SCSCF) isUs(u sip.Uri) bool {
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return false
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	host := strings.Trim(u.Host, "[]")
	if strings.EqualFold(host, strings.Trim(s.contact.Host, "[]")) && port == s.contact.Port {
		return true
	}
	if ap, err := netip.ParseAddrPort(s.udpAddr); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap() == ap.Addr().Unmap() && port == int(ap.Port()) {
			return true
		}
	}
	var name sip.Uri
	if sip.ParseUri(s.cfg.Name, &name) == nil {
		np := name.Port
		if np == 0 {
			np = 5060
		}
		return strings.EqualFold(host, strings.Trim(name.Host, "[]")) && port == np
	}
	return false
}

// isOwnName tells whether a Server-Name from the HSS is this S-CSCF.
func (s *SCSCF) isOwnName(name string) bool {
	if sameURI(name, s.cfg.Name) {
		return true
	}
	var u sip.Uri
	return sip.ParseUri(name, &u) == nil && s.isUs(u)
}

// popOwnRoutes removes the Route entries at the top that name this S-CSCF
// (RFC 3261 §16.4) and returns the first of them, nil if none: user
// "orig" is the Service-Route (TS 24.229 §5.4.3.2), no user the
// Record-Route or the Server-Name.
func (s *SCSCF) popOwnRoutes(fwd *sip.Request) *sip.Uri {
	var first *sip.Uri
	for r := fwd.Route(); r != nil && s.isUs(r.Address); r = fwd.Route() {
		if first == nil {
			first = r.Address.Clone()
		}
		fwd.RemoveHeader("Route")
	}
	return first
}

// removeAll removes every header of a name.
func removeAll(m interface{ RemoveHeader(string) bool }, name string) {
	for m.RemoveHeader(name) {
	}
}

// insertAfterVias puts headers, in order, right after the Vias (sipgo
// points Route() at the last one added: adding in reverse keeps it on the
// topmost).
func insertAfterVias(m *sip.Request, hs ...sip.Header) {
	for i := len(hs) - 1; i >= 0; i-- {
		m.AppendHeaderAfter(hs[i], "Via")
	}
}

// addRecordRoute puts this S-CSCF first in the Record-Route list (RFC 3261
// §16.6 step 4).
func (s *SCSCF) addRecordRoute(fwd *sip.Request) {
	hs := []sip.Header{s.recordRoute()}
	for _, h := range fwd.GetHeaders("Record-Route") {
		hs = append(hs, sip.HeaderClone(h))
	}
	removeAll(fwd, "Record-Route")
	insertAfterVias(fwd, hs...)
}

// setRoute replaces the Route set of a request (a preloaded route: the
// Path of a binding, RFC 3327 §5.3, or another S-CSCF, TS 24.229 §5.3.2.1).
func setRoute(fwd *sip.Request, route []sip.Uri) {
	removeAll(fwd, "Route")
	hs := make([]sip.Header, 0, len(route))
	for _, u := range route {
		hs = append(hs, &sip.RouteHeader{Address: *u.Clone()})
	}
	insertAfterVias(fwd, hs...)
}

// parseNameAddr reads "<uri>;params" (a Path entry) or a bare URI.
func parseNameAddr(v string) (sip.Uri, error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			v = v[i+1 : i+j]
		}
	}
	var u sip.Uri
	err := sip.ParseUri(v, &u)
	return u, err
}

// stamp applies RFC 3261 §16.6 step 3 to the forwarded copy, once for all
// branches: Max-Forwards decremented; and §18.2.1 / RFC 3581 §4: received
// and rport on the sender's Via, for responses sent back statelessly.
func stamp(req, fwd *sip.Request) {
	mf := sip.MaxForwardsHeader(70)
	if m := req.MaxForwards(); m != nil {
		mf = *m - 1
	}
	if fwd.MaxForwards() != nil {
		fwd.ReplaceHeader(&mf)
	} else {
		fwd.AppendHeader(&mf)
	}
	if v := fwd.Via(); v != nil {
		src, err := netip.ParseAddrPort(req.Source())
		if err != nil {
			return
		}
		if ip := src.Addr().Unmap().String(); !strings.EqualFold(strings.Trim(v.Host, "[]"), ip) {
			v.Params.Add("received", ip)
		}
		if v.Params.Has("rport") {
			v.Params.Add("rport", strconv.Itoa(int(src.Port())))
		}
	}
}

// send readies one copy for h (RFC 3261 §16.6 steps 7-8): this proxy's Via
// with branch on top, destination, and TCP instead of UDP when the request
// is too large for UDP (RFC 3261 §18.1.1; sipgo refuses it). It returns
// the hop actually used.
func (s *SCSCF) send(fwd *sip.Request, h hop, branch string) hop {
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: h.transport,
		Host: s.contact.Host, Port: s.contact.Port, Params: sip.NewParams()}
	via.Params.Add("branch", branch)
	if h.transport == "UDP" && len(fwd.String())+len(via.String())+7 > udpMaxMessage {
		h.transport, via.Transport = "TCP", "TCP"
	}
	fwd.PrependHeader(via)
	if cl := fwd.ContentLength(); cl != nil { // last, where a reader looks for it
		fwd.RemoveHeader("Content-Length")
		fwd.AppendHeader(cl)
	}
	fwd.SetTransport(h.transport)
	fwd.SetDestination(h.addr)
	fwd.Laddr = sip.Addr{}
	if h.transport == "UDP" {
		fwd.Laddr = s.udpLaddr() // from the listening socket, where the responses come back
	}
	return h
}

// udpLaddr is the listening UDP socket's address.
func (s *SCSCF) udpLaddr() sip.Addr {
	host, port, err := net.SplitHostPort(s.udpAddr)
	if err != nil {
		return sip.Addr{}
	}
	p, _ := strconv.Atoi(port)
	return sip.Addr{IP: net.ParseIP(host), Port: p}
}

// upstream turns a response from downstream into the one sent back (RFC
// 3261 §16.7 step 3): without this proxy's Via, to where the request came from.
func upstream(req *sip.Request, res *sip.Response) *sip.Response {
	out := res.Clone()
	out.RemoveHeader("Via")
	out.SetTransport(req.Transport())
	out.SetDestination(sip.NewResponseFromRequest(req, 100, "Trying", nil).Destination())
	return out
}

// forwardAck forwards an ACK for a 2xx statelessly (RFC 3261 §16.11,
// §13.2.2.4: it is a transaction of its own, end to end); its branch is
// derived from the incoming one, so that a retransmission gets the same.
func (s *SCSCF) forwardAck(req, fwd *sip.Request, log *slog.Logger) {
	h, err := nextHop(fwd)
	if err != nil {
		log.Warn("ACK dropped: " + err.Error())
		return
	}
	stamp(req, fwd)
	in := ""
	if v := req.Via(); v != nil {
		in, _ = v.Params.Get("branch")
	}
	sum := sha256.Sum256([]byte("ack:" + in))
	h = s.send(fwd, h, "z9hG4bK"+hex.EncodeToString(sum[:10]))
	log.Info(fmt.Sprintf("ACK in dialog forwarded to %s", fwd.Recipient.String()), "dst", h.String())
	s.traceSIP(true, h.transport, h.addr, fwd.StartLine(), fwd)
	if err := s.client.WriteRequest(fwd, noBuild); err != nil {
		log.Warn("could not forward ACK", "dst", h.String(), "err", err)
	}
}

// cancelFor builds the CANCEL of a forwarded INVITE (RFC 3261 §9.1), sent
// where the INVITE went, so that the next hop matches it to the INVITE.
func cancelFor(inv *sip.Request) *sip.Request {
	c := hopRequest(inv, sip.CANCEL, inv.To())
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	c.Laddr = inv.Laddr
	return c
}

// ackFor is the ACK the transaction layer sends for a non-2xx final
// response to a forwarded INVITE (RFC 3261 §17.1.1.3); built for the trace.
func ackFor(inv *sip.Request, res *sip.Response) *sip.Request {
	return hopRequest(inv, sip.ACK, res.To())
}

// hopRequest builds a request of the INVITE's own transaction: same
// Request-URI, Call-ID, From, CSeq number, Route and the one Via of the
// INVITE (RFC 3261 §9.1, §17.1.1.3).
func hopRequest(inv *sip.Request, method sip.RequestMethod, to *sip.ToHeader) *sip.Request {
	r := sip.NewRequest(method, *inv.Recipient.Clone())
	r.AppendHeader(inv.Via().Clone())
	for _, h := range inv.GetHeaders("Route") {
		r.AppendHeader(sip.HeaderClone(h))
	}
	mf := sip.MaxForwardsHeader(70)
	r.AppendHeader(&mf)
	for _, h := range []sip.Header{inv.From(), to, inv.CallID()} {
		if h != nil {
			r.AppendHeader(sip.HeaderClone(h))
		}
	}
	if cs := inv.CSeq(); cs != nil {
		r.AppendHeader(&sip.CSeqHeader{SeqNo: cs.SeqNo, MethodName: method})
	}
	r.SetBody(nil)
	return r
}

// toTag returns the To tag of a request: present in a dialog (RFC 3261 §12.2).
func toTag(req *sip.Request) (string, bool) {
	if to := req.To(); to != nil {
		if t, ok := to.Params.Get("tag"); ok && t != "" {
			return t, true
		}
	}
	return "", false
}

// callID is the Call-ID of a message, for the logs.
func callID(m interface{ CallID() *sip.CallIDHeader }) string {
	if c := m.CallID(); c != nil {
		return c.Value()
	}
	return ""
}
