package pcscf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipproxy"
)

// leg describes one proxied transaction, for the logs and for the
// processing of its responses.
type leg struct {
	toCore   bool
	flow     FlowKey
	impi     string
	identity string // what the log names: the asserted identity, the target contact, the AOR
	label    string // its log field name
	// onResponse edits a response before it goes back upstream.
	onResponse func(res *sip.Response)
}

// onRequest handles every request but REGISTER. A request from a
// registered flow is the UE's (TS 24.229 §5.2.6.3); a request from the
// core routed to this P-CSCF goes to a UE (§5.2.6.4, §5.2.7); anything
// else is refused: only registered UEs may use the P-CSCF.
func (p *PCSCF) onRequest(req *sip.Request, tx sip.ServerTransaction) {
	if !p.validate(req, tx) {
		return
	}
	key := flowKeyOf(req)
	if f := p.flows.get(key, p.now()); f != nil {
		p.fromUE(req, tx, f)
		return
	}
	if f := p.udpFlowOverTCP(req, key); f != nil {
		p.fromUE(req, tx, f)
		return
	}
	if p.isCore(key.Addr.Addr()) {
		if r := req.Route(); r != nil && p.isUs(r.Address) {
			p.toUE(req, tx)
			return
		}
	}
	if req.IsAck() {
		p.log.Warn("dropped ACK from an unregistered source", reqAttrs(req)...)
		return
	}
	if req.IsCancel() { // sipgo matched no INVITE transaction (RFC 3261 §9.2)
		p.refuse(req, tx, 481, "Call/Transaction Does Not Exist", "CANCEL matches no INVITE in progress")
		return
	}
	p.refuse(req, tx, 403, "Forbidden", "source is not a registered flow (REGISTER first)", "flow", key.String())
}

// udpFlowOverTCP finds the UDP flow of a UE that sent a request over TCP
// because it was too large for UDP (RFC 3261 §18.1.1, TS 24.229 §4.2A): a
// TCP connection comes from another port, so the flow is the UDP one at
// the connection's IP and the port of the request's Via sent-by (the UE's
// own address, RFC 3261 §18.2.2), when that flow is registered.
func (p *PCSCF) udpFlowOverTCP(req *sip.Request, key FlowKey) *flow {
	v := req.Via()
	if key.Transport != "tcp" || v == nil {
		return nil
	}
	ip, err := netip.ParseAddr(strings.Trim(v.Host, "[]"))
	if err != nil || ip.Unmap() != key.Addr.Addr() {
		return nil // the Via must name the IP the connection came from
	}
	port := v.Port
	if port == 0 {
		port = 5060
	}
	return p.flows.get(FlowKey{Transport: "udp", Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port))}, p.now())
}

// validate is RFC 3261 §16.3 steps 3 and 5 (step 1 was the guard's):
// Max-Forwards and Proxy-Require.
func (p *PCSCF) validate(req *sip.Request, tx sip.ServerTransaction) bool {
	if mf := req.MaxForwards(); mf != nil && *mf == 0 {
		p.refuse(req, tx, 483, "Too Many Hops", "Max-Forwards is 0")
		return false
	}
	var unsupported []string
	for _, t := range optionTags(req, hProxyReq) {
		if t != "sec-agree" { // TS 24.229 §5.2.2.1: sec-agree is ours to remove
			unsupported = append(unsupported, t)
		}
	}
	if len(unsupported) > 0 {
		p.log.Warn("refused: unsupported Proxy-Require", append([]any{"tags", unsupported}, reqAttrs(req)...)...)
		if !req.IsAck() {
			res := sip.NewResponseFromRequest(req, 420, "Bad Extension", nil)
			res.AppendHeader(sip.NewHeader(hUnsupport, strings.Join(unsupported, ", ")))
			_ = p.respond(tx, res)
		}
		return false
	}
	return true
}

// fromUE proxies a request of a registered UE towards the core, with its
// identity asserted (TS 24.229 §5.2.6.3).
func (p *PCSCF) fromUE(req *sip.Request, tx sip.ServerTransaction, f *flow) {
	id, b, code, why := p.assert(req, f)
	if code != 0 {
		p.refuse(req, tx, code, reasonOf(code), why, "flow", f.key.String(), "impi", f.impi)
		return
	}
	fwd := req.Clone()
	setAssertedIdentity(fwd, id)
	removeHeaders(fwd, hPCV)
	_, inDialog := toTag(req)
	if req.IsCancel() { // sipgo matched no INVITE transaction (RFC 3261 §9.2)
		p.refuse(req, tx, 481, "Call/Transaction Does Not Exist", "CANCEL matches no INVITE in progress", "flow", f.key.String())
		return
	}
	p.popOwnRoutes(fwd)
	if inDialog && fwd.Route() == nil {
		// Without dialog state, at least no shortcut from a UE straight to
		// another UE past the S-CSCF (the route set of a real dialog
		// goes through it).
		if _, _, ok := p.flows.byContact(fwd.Recipient, p.now()); ok {
			p.refuse(req, tx, 403, "Forbidden", "in-dialog request straight to a UE's contact, past the S-CSCF", "flow", f.key.String(), "impi", f.impi)
			return
		}
	}
	if !inDialog {
		// §5.2.6.3.3: the route is the Service-Route of the registration,
		// whatever the UE put after this P-CSCF; the P-CSCF stays on the
		// path of the dialog (RFC 3261 §16.6 step 4).
		removeHeaders(fwd, "Route")
		hs := []sip.Header{p.recordRoute()}
		for _, r := range b.serviceRoute {
			hs = append(hs, &sip.RouteHeader{Address: *r.URI.Clone()})
		}
		if len(b.serviceRoute) == 0 { // no Service-Route: the S-CSCF it registered with
			hs = append(hs, &sip.RouteHeader{Address: p.scscfURI()})
		}
		sipproxy.InsertAfterVias(fwd, hs...)
		fwd.AppendHeader(p.chargingVector())
	}
	h, err := sipproxy.NextHop(fwd, p.cfg.SCSCFTransport)
	if err != nil {
		p.refuse(req, tx, 502, "Bad Gateway", err.Error(), "flow", f.key.String())
		return
	}
	l := leg{toCore: true, flow: f.key, impi: f.impi, identity: id.URI.String(), label: "asserted"}
	if req.IsAck() {
		p.forwardAck(req, fwd, h, l)
		return
	}
	p.proxy(req, tx, fwd, h, l)
}

// toUE delivers a request from the core to the flow its target contact
// was registered from (TS 24.229 §5.2.7: the Path brought it here, the
// Request-URI is the contact), removing this P-CSCF's Route entry.
func (p *PCSCF) toUE(req *sip.Request, tx sip.ServerTransaction) {
	fwd := req.Clone()
	p.popOwnRoutes(fwd)
	_, inDialog := toTag(req)
	key, recent, ok := p.flows.byContact(fwd.Recipient, p.now())
	if !ok || (recent && !inDialog) {
		p.refuse(req, tx, 480, "Temporarily Unavailable", "no registered flow for "+fwd.Recipient.String())
		return
	}
	if !inDialog {
		sipproxy.InsertAfterVias(fwd, p.recordRoute())
	}
	if strings.Contains(strings.ToLower(strings.Join(headerValues(fwd, hPrivacy), ",")), "id") {
		removeHeaders(fwd, hPAI) // RFC 3325 §9.3: privacy "id" ends at the trust domain
	}
	h := sipproxy.Hop{Transport: strings.ToUpper(key.Transport), Addr: key.Addr.String()}
	l := leg{flow: key, identity: fwd.Recipient.String(), label: "target"}
	if req.IsAck() {
		p.forwardAck(req, fwd, h, l)
		return
	}
	p.proxy(req, tx, fwd, h, l)
}

// proxy forwards a request statefully and relays its responses (RFC 3261
// §16.6, §16.7), until a final response or the end of the transaction.
func (p *PCSCF) proxy(req *sip.Request, tx sip.ServerTransaction, fwd *sip.Request, h sipproxy.Hop, l leg) {
	h = p.prepare(req, fwd, h)
	p.log.Info(fmt.Sprintf("→ %s forwarded %s", req.Method, direction(l)), append(p.legAttrs(l), "dst", h.String(), "call_id", callID(req))...)
	ctr, err := p.cli.TransactionRequest(p.ctx, fwd, sipproxy.NoBuild)
	if err != nil {
		why := fmt.Sprintf("cannot reach %s: %v", h, err)
		if !l.toCore && l.flow.Transport == "udp" && h.Transport == "TCP" {
			why += fmt.Sprintf(" (a UE registered over UDP must accept TCP on the same port for requests over %d bytes, TS 24.229 §4.2A)", sipproxy.UDPMax)
		}
		p.refuse(req, tx, 503, "Service Unavailable", why, p.legAttrs(l)...)
		return
	}
	if req.IsInvite() {
		// RFC 3261 §16.10: a CANCEL from upstream is forwarded downstream.
		tx.OnCancel(func(*sip.Request) { go p.cancel(fwd) })
		// RFC 6026: retransmitted 2xx go upstream too.
		ctr.OnRetransmission(func(res *sip.Response) { _ = p.srv.WriteResponse(sipproxy.Upstream(req, res)) })
	}
	for {
		select {
		case res := <-ctr.Responses():
			if res.StatusCode == 100 { // hop by hop (RFC 3261 §16.7 step 5)
				continue
			}
			out := sipproxy.Upstream(req, res)
			if l.onResponse != nil {
				l.onResponse(out)
			}
			if l.toCore {
				p.stripAKAKeys(out, l)
			} else {
				p.assertResponse(out, l.flow)
			}
			p.log.Info(fmt.Sprintf("← %d %s relayed %s", res.StatusCode, res.Reason, back(l)), append(p.legAttrs(l), "call_id", callID(req))...)
			if err := p.respond(tx, out); errors.Is(err, sip.ErrTransactionCanceled) {
				p.log.Debug("response after CANCEL not relayed: the P-CSCF answered 487 already", "status", res.StatusCode, "call_id", callID(req))
			} else if err != nil {
				p.log.Warn("could not relay a response", "status", res.StatusCode, "error", err, "call_id", callID(req))
			}
			if res.StatusCode >= 200 {
				return
			}
		case <-ctr.Done():
			code, reason := 503, "Service Unavailable"
			if errors.Is(ctr.Err(), sip.ErrTransactionTimeout) {
				code, reason = 408, "Request Timeout"
			}
			p.refuse(req, tx, code, reason, fmt.Sprintf("no final response from %s: %v", h, ctr.Err()), p.legAttrs(l)...)
			return
		case <-p.ctx.Done():
			return
		}
	}
}

// prepare applies RFC 3261 §16.6 to the copy of a request: Max-Forwards
// decremented (step 3), received/rport on the sender's Via (§18.2.1, RFC
// 3581 §4), this proxy's Via (step 8), and the destination (step 7). A
// request too large for UDP goes over TCP to the same address (RFC 3261
// §18.1.1, TS 24.229 §4.2A): the hop it returns says which.
func (p *PCSCF) prepare(req, fwd *sip.Request, h sipproxy.Hop) sipproxy.Hop {
	sipproxy.Stamp(req, fwd)
	h = sipproxy.PushVia(fwd, h, p.advHost, p.advPort, sip.GenerateBranch())
	if h.Transport == "UDP" {
		fwd.Laddr = p.laddr // from the listening socket: replies and NAT-less UEs expect it
	} else {
		fwd.Laddr = sip.Addr{}
	}
	return h
}

// forwardAck forwards an ACK for a 2xx statelessly (RFC 3261 §16.6, §13.2.2.4:
// it is its own transaction, end to end).
func (p *PCSCF) forwardAck(req, fwd *sip.Request, h sipproxy.Hop, l leg) {
	h = p.prepare(req, fwd, h)
	p.log.Info("→ ACK forwarded "+direction(l), append(p.legAttrs(l), "dst", h.String(), "call_id", callID(req))...)
	if err := p.cli.WriteRequest(fwd, sipproxy.NoBuild); err != nil {
		p.log.Warn("could not forward ACK", append(p.legAttrs(l), "dst", h.String(), "error", err)...)
	}
}

// cancel sends CANCEL for a forwarded INVITE (RFC 3261 §9.1, §16.10).
func (p *PCSCF) cancel(inv *sip.Request) {
	c := sipproxy.Cancel(inv)
	ctr, err := p.cli.TransactionRequest(p.ctx, c, sipproxy.NoBuild)
	if err != nil {
		p.log.Warn("could not forward CANCEL", "error", err, "call_id", callID(inv))
		return
	}
	defer ctr.Terminate()
	p.log.Info("→ CANCEL forwarded", "dst", inv.Destination(), "call_id", callID(inv))
	for {
		select {
		case res := <-ctr.Responses():
			if res.StatusCode >= 200 {
				return
			}
		case <-ctr.Done():
			return
		case <-p.ctx.Done():
			return
		}
	}
}

// onStrayResponse forwards a response that matches no transaction any
// more (a retransmitted 2xx to INVITE) statelessly, if it carries this
// proxy's Via on top (RFC 3261 §16.11); anything else is dropped.
func (p *PCSCF) onStrayResponse(res *sip.Response) {
	v := res.Via()
	if v == nil || !strings.EqualFold(v.Host, p.advHost) || v.Port != p.advPort {
		return
	}
	out := res.Clone()
	out.RemoveHeader("Via")
	next := out.Via()
	if next == nil {
		return
	}
	out.SetTransport(next.Transport)
	out.SetDestination("") // from the Via (received, rport)
	out.SetDestination(out.Destination())
	if err := p.srv.WriteResponse(out); err != nil {
		p.log.Debug("stray response not forwarded", "status", res.StatusCode, "error", err)
	}
}

// popOwnRoutes removes the Route entries that name this P-CSCF (RFC 3261
// §16.4: a loose router removes itself).
func (p *PCSCF) popOwnRoutes(fwd *sip.Request) {
	for r := fwd.Route(); r != nil && p.isUs(r.Address); r = fwd.Route() {
		fwd.RemoveHeader("Route")
	}
}

// isUs tells whether a URI names this P-CSCF.
func (p *PCSCF) isUs(u sip.Uri) bool {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	host := strings.Trim(u.Host, "[]")
	if port != p.advPort && port != p.laddr.Port {
		return false
	}
	if strings.EqualFold(host, p.advHost) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && p.laddr.IP != nil && ip.Unmap().String() == p.laddr.IP.String()
}

func (p *PCSCF) isCore(ip netip.Addr) bool {
	for _, pfx := range p.core {
		if pfx.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// pathValue is <sip:term@ADVERTISE;lr>, the Path entry (RFC 3327 §4): the
// S-CSCF routes requests for the UE through it.
func (p *PCSCF) pathValue() string {
	u := sip.Uri{Scheme: "sip", User: "term", Host: p.advHost, Port: p.advPort, UriParams: sip.HeaderParams{{K: "lr"}}}
	return "<" + u.String() + ">"
}

// scscfURI is the configured S-CSCF as a loose route.
func (p *PCSCF) scscfURI() sip.Uri {
	host, port, _ := net.SplitHostPort(p.cfg.SCSCF)
	n, _ := strconv.Atoi(port)
	u := sip.Uri{Scheme: "sip", Host: host, Port: n, UriParams: sip.HeaderParams{{K: "lr"}}}
	if p.cfg.SCSCFTransport != "udp" {
		u.UriParams.Add("transport", p.cfg.SCSCFTransport)
	}
	if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	}
	return u
}

// recordRoute keeps this P-CSCF on the path of the dialog (RFC 3261 §16.6
// step 4; TS 24.229 §5.2.6.3.3, §5.2.6.4.3).
func (p *PCSCF) recordRoute() *sip.RecordRouteHeader {
	return &sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", Host: p.advHost, Port: p.advPort, UriParams: sip.HeaderParams{{K: "lr"}}}}
}

func toTag(req *sip.Request) (string, bool) {
	if to := req.To(); to != nil {
		if t, ok := to.Params.Get("tag"); ok && t != "" {
			return t, true
		}
	}
	return "", false
}
