package ue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// subscription is the UE's reg-event subscription dialog (RFC 3680, RFC 6665,
// TS 24.229 §5.1.1.3). Guarded by UE.mu.
type subscription struct {
	callID, localTag, remoteTag string
	cseq                        uint32
	target                      sip.Uri   // Request-URI of in-dialog requests
	routes                      []sip.Uri // route set
	dialog                      bool      // a 2xx or a NOTIFY has set the dialog up
	expires                     time.Duration
	refreshAt                   time.Time
	version                     int // last reginfo version seen, -1 before any
	ending                      bool
}

// action is what a NOTIFY asks Run to do.
type action struct {
	reRegister  bool // start an initial registration (after delay)
	resubscribe bool // subscribe again
	delay       time.Duration
	stop        error // stop Run with this error
}

// subscribe starts the reg-event subscription (TS 24.229 §5.1.1.3): SUBSCRIBE
// to the registered IMPU with Event: reg and Accept: application/reginfo+xml,
// through the P-CSCF with the preloaded route set (the P-CSCF, then the
// Service-Route, TS 24.229 §5.1.2A.1.1).
func (u *UE) subscribe(ctx context.Context) (granted time.Duration, refreshAt time.Time, err error) {
	u.mu.Lock()
	reg := u.reg
	if reg == nil {
		u.mu.Unlock()
		return 0, time.Time{}, fmt.Errorf("reg-event SUBSCRIBE: not registered")
	}
	s := &subscription{callID: newTag() + "@" + u.id.Domain, localTag: newTag(), target: *u.impu.Clone(), version: -1}
	s.routes = append(s.routes, sip.Uri{Scheme: "sip", Host: hostOf(u.pcscf), Port: portOf(u.pcscf),
		UriParams: sip.HeaderParams{{K: "lr", V: ""}}})
	for _, r := range reg.ServiceRoute {
		var uri sip.Uri
		if _, err := sip.ParseAddressValue(r, &uri, nil); err == nil {
			s.routes = append(s.routes, uri)
		}
	}
	u.sub = s
	u.mu.Unlock()
	return u.sendSubscribe(ctx, s, u.cfg.SubscribeExpires)
}

// sendSubscribe sends SUBSCRIBE in (or setting up) the subscription's
// dialog; expires 0 ends it (RFC 6665 §4.1.2.3). It returns the expiry
// granted and when to refresh.
func (u *UE) sendSubscribe(ctx context.Context, s *subscription, expires time.Duration) (time.Duration, time.Time, error) {
	u.mu.Lock()
	req := u.newSubscribe(s, expires)
	u.mu.Unlock()
	res, err := u.send(ctx, req)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("reg-event SUBSCRIBE: %w", err)
	}
	if !res.IsSuccess() {
		return 0, time.Time{}, fmt.Errorf("reg-event SUBSCRIBE refused: %d %s", res.StatusCode, res.Reason)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !s.dialog {
		// RFC 3261 §12.1.2: remote tag from To, target from Contact, route
		// set from Record-Route in reverse order.
		if to := res.To(); to != nil {
			s.remoteTag, _ = to.Params.Get("tag")
		}
		s.setDialog(res.Contact(), res.GetHeaders("Record-Route"), true)
	}
	granted := expires
	if v, err := strconv.Atoi(header(res, "Expires")); err == nil && v >= 0 {
		granted = time.Duration(v) * time.Second
	}
	s.expires = granted
	s.refreshAt = time.Now().Add(refreshIn(granted))
	return s.expires, s.refreshAt, nil
}

// setDialog fixes the remote target and the route set (RFC 3261 §12.1).
func (s *subscription) setDialog(contact *sip.ContactHeader, rr []sip.Header, reverse bool) {
	if contact != nil {
		s.target = *contact.Address.Clone()
	}
	var routes []sip.Uri
	for _, h := range rr {
		if r, ok := h.(*sip.RecordRouteHeader); ok {
			routes = append(routes, *r.Address.Clone())
		}
	}
	if reverse {
		for i, j := 0, len(routes)-1; i < j; i, j = i+1, j-1 {
			routes[i], routes[j] = routes[j], routes[i]
		}
	}
	s.routes = routes
	s.dialog = true
}

// newSubscribe builds a SUBSCRIBE for the reg event package (RFC 3680 §4,
// TS 24.229 §5.1.1.3). Called with u.mu held.
func (u *UE) newSubscribe(s *subscription, expires time.Duration) *sip.Request {
	exp := strconv.Itoa(int(expires / time.Second))
	req := sip.NewRequest(sip.SUBSCRIBE, *s.target.Clone())
	for _, r := range s.routes {
		req.AppendHeader(&sip.RouteHeader{Address: *r.Clone()})
	}
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	from := &sip.FromHeader{Address: *u.impu.Clone()}
	from.Params.Add("tag", s.localTag)
	to := &sip.ToHeader{Address: *u.impu.Clone()}
	if s.remoteTag != "" {
		to.Params.Add("tag", s.remoteTag)
	}
	s.cseq++
	callID := sip.CallIDHeader(s.callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: s.cseq, MethodName: sip.SUBSCRIBE})
	req.AppendHeader(&sip.ContactHeader{Address: *u.contact.Clone()})
	req.AppendHeader(sip.NewHeader("Event", "reg"))
	req.AppendHeader(sip.NewHeader("Accept", "application/reginfo+xml"))
	req.AppendHeader(sip.NewHeader("Expires", exp))
	req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
	req.SetBody(nil)
	return req
}

// unsubscribe ends the subscription: SUBSCRIBE with Expires: 0 in its
// dialog (RFC 6665 §4.1.2.3). The final NOTIFY that follows is answered.
func (u *UE) unsubscribe(ctx context.Context) error {
	u.mu.Lock()
	s := u.sub
	if s == nil || s.ending {
		u.mu.Unlock()
		return nil
	}
	s.ending = true
	u.mu.Unlock()
	_, _, err := u.sendSubscribe(ctx, s, 0)
	return err
}

// onNotify handles a NOTIFY of the reg event (RFC 3680 §5, RFC 6665 §4.1.3):
// it matches the subscription dialog, answers, reads the reginfo body and
// acts on a network-initiated de-registration (TS 24.229 §5.1.1.7).
func (u *UE) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	var fromTag, toTag string
	if f := req.From(); f != nil {
		fromTag, _ = f.Params.Get("tag")
	}
	if t := req.To(); t != nil {
		toTag, _ = t.Params.Get("tag")
	}
	callID := ""
	if c := req.CallID(); c != nil {
		callID = c.Value()
	}
	label := "NOTIFY " + header(req, "Subscription-State")
	u.mu.Lock()
	s := u.sub
	if s == nil || callID != s.callID || toTag != s.localTag || (s.remoteTag != "" && fromTag != s.remoteTag) {
		u.mu.Unlock()
		u.traceRecv(req, label+" (unknown subscription)")
		u.respond(req, tx, 481, "Subscription Does Not Exist")
		return
	}
	if !s.dialog {
		// The NOTIFY came before the 2xx (RFC 6665 §4.1.2.4): it sets the
		// dialog up; the route set is its Record-Route in order.
		s.remoteTag = fromTag
		s.setDialog(req.Contact(), req.GetHeaders("Record-Route"), false)
	}
	var ri *Reginfo
	var perr error
	if len(req.Body()) > 0 {
		ri, perr = ParseReginfo(req.Body())
	}
	// RFC 3680 §5.2: a version not above the last one is old news; a
	// partial document that skips versions means some were lost, and a
	// refresh brings the full state.
	stale, gap := false, false
	if ri != nil {
		stale = ri.Version <= s.version
		gap = !stale && ri.State == "partial" && ri.Version > s.version+1
		if !stale {
			s.version = ri.Version
		}
	}
	subState := strings.ToLower(header(req, "Subscription-State"))
	ending := s.ending
	if strings.HasPrefix(subState, "terminated") && u.sub == s {
		u.sub = nil
	}
	u.mu.Unlock()

	if ri != nil {
		label += " " + ri.Summary()
	}
	u.traceRecv(req, label)
	if perr != nil {
		u.respond(req, tx, 400, "Bad Request", sip.NewHeader("Warning", `399 imslab-ue "`+strings.ReplaceAll(perr.Error(), `"`, `'`)+`"`))
		u.log.Warn("reg-event NOTIFY with an unreadable body", "err", perr)
		return
	}
	u.respond(req, tx, 200, "OK")
	if stale {
		u.log.Info("reg-event NOTIFY with an old version: ignored (RFC 3680 §5.2)", "version", ri.Version)
		return
	}
	if gap {
		u.log.Info("reg-event versions skipped: refreshing the subscription for the full state (RFC 3680 §5.2)", "version", ri.Version)
		u.act(action{resubscribe: true})
	}
	if ri != nil {
		u.emit(Event{Kind: RegState, Reginfo: ri, Text: "reg event: " + ri.Summary()})
	}
	if ending {
		return
	}
	if a, ok := u.judge(ri, subState); ok {
		u.act(a)
	}
}

// act hands an action to Run.
func (u *UE) act(a action) {
	select {
	case u.actions <- a:
	default:
		u.log.Warn("reg-event action dropped: Run is not keeping up")
	}
}

// judge decides what a NOTIFY means for this UE (TS 24.229 §5.1.1.7): its
// contact terminated with event "rejected" ends the registration for good;
// "deactivated", "probation", "expired" or "unregistered" call for a new
// initial registration; a terminated subscription is renewed
// (TS 24.229 §5.1.1.3, RFC 6665 §4.1.3).
func (u *UE) judge(ri *Reginfo, subState string) (action, bool) {
	u.mu.Lock()
	registered := u.reg != nil && !u.deregistering
	u.mu.Unlock()
	if !registered {
		return action{}, false
	}
	if ri != nil {
		for _, r := range ri.Registrations {
			if !sameAOR(r.AOR, u.impu.String()) {
				continue
			}
			c, found := u.ourContact(r)
			if r.State != "terminated" && (!found || c.State != "terminated") {
				continue
			}
			event := "deactivated" // the whole registration ended, no contact detail
			if found {
				event = c.Event
			}
			err := fmt.Errorf("%w: reg event says %s is %s (contact event %q, TS 24.229 §5.1.1.7)",
				ErrNetworkDeregistered, r.AOR, r.State, event)
			u.setRegistration(nil)
			u.emit(Event{Kind: NetworkDeregistered, Reginfo: ri, Err: err, Text: err.Error()})
			if event == "rejected" {
				return action{stop: fmt.Errorf("%w; it will not register again by itself", err)}, true
			}
			return action{reRegister: true, delay: c.RetryAfter}, true
		}
	}
	if strings.HasPrefix(subState, "terminated") {
		return action{resubscribe: true}, true
	}
	return action{}, false
}

// ourContact finds this UE's contact in a registration.
func (u *UE) ourContact(r RegEntry) (RegContact, bool) {
	for _, c := range r.Contacts {
		if c.Instance != "" && c.Instance == u.instance {
			return c, true
		}
		var uri sip.Uri
		if sip.ParseUri(c.URI, &uri) == nil && sameContact(uri, u.contact) {
			return c, true
		}
	}
	return RegContact{}, false
}

// sameAOR compares two address-of-record URIs, ignoring case of the scheme
// and host.
func sameAOR(a, b string) bool {
	var ua, ub sip.Uri
	if sip.ParseUri(a, &ua) != nil || sip.ParseUri(b, &ub) != nil {
		return strings.EqualFold(a, b)
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && ua.User == ub.User && strings.EqualFold(ua.Host, ub.Host)
}
