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

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipproxy"
)

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

// addRecordRoute puts this S-CSCF first in the Record-Route list (RFC 3261
// §16.6 step 4).
func (s *SCSCF) addRecordRoute(fwd *sip.Request) {
	hs := []sip.Header{s.recordRoute()}
	for _, h := range fwd.GetHeaders("Record-Route") {
		hs = append(hs, sip.HeaderClone(h))
	}
	removeAll(fwd, "Record-Route")
	sipproxy.InsertAfterVias(fwd, hs...)
}

// setRoute replaces the Route set of a request (a preloaded route: the
// Path of a binding, RFC 3327 §5.3, or another S-CSCF, TS 24.229 §5.3.2.1).
func setRoute(fwd *sip.Request, route []sip.Uri) {
	removeAll(fwd, "Route")
	hs := make([]sip.Header, 0, len(route))
	for _, u := range route {
		hs = append(hs, &sip.RouteHeader{Address: *u.Clone()})
	}
	sipproxy.InsertAfterVias(fwd, hs...)
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

// send readies one copy for h (RFC 3261 §16.6 steps 7-8): this proxy's Via
// with branch on top, destination, and TCP instead of UDP when the request
// is too large for UDP (RFC 3261 §18.1.1; sipgo refuses it). It returns
// the hop actually used.
func (s *SCSCF) send(fwd *sip.Request, h sipproxy.Hop, branch string) sipproxy.Hop {
	h = sipproxy.PushVia(fwd, h, s.contact.Host, s.contact.Port, branch)
	fwd.Laddr = sip.Addr{}
	if h.Transport == "UDP" {
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

// forwardAck forwards an ACK for a 2xx statelessly (RFC 3261 §16.11,
// §13.2.2.4: it is a transaction of its own, end to end); its branch is
// derived from the incoming one, so that a retransmission gets the same.
func (s *SCSCF) forwardAck(req, fwd *sip.Request, log *slog.Logger) {
	h, err := sipproxy.NextHop(fwd, "udp")
	if err != nil {
		log.Warn("ACK dropped: " + err.Error())
		return
	}
	sipproxy.Stamp(req, fwd)
	in := ""
	if v := req.Via(); v != nil {
		in, _ = v.Params.Get("branch")
	}
	sum := sha256.Sum256([]byte("ack:" + in))
	h = s.send(fwd, h, "z9hG4bK"+hex.EncodeToString(sum[:10]))
	log.Info(fmt.Sprintf("ACK in dialog forwarded to %s", fwd.Recipient.String()), "dst", h.String())
	s.traceSIP(true, h.Transport, h.Addr, fwd.StartLine(), fwd)
	if err := s.client.WriteRequest(fwd, sipproxy.NoBuild); err != nil {
		log.Warn("could not forward ACK", "dst", h.String(), "err", err)
	}
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
