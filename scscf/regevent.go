package scscf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipproxy"
)

// subscription is a reg-event subscription dialog (RFC 6665, RFC 3680,
// TS 24.229 §5.4.2.1) where the S-CSCF is the notifier.
type subscription struct {
	ID           string    `json:"id"`         // Call-ID;remote tag;local tag
	Target       string    `json:"target"`     // the watched public identity
	Subscriber   string    `json:"subscriber"` // P-Asserted-Identity, else From
	CallID       string    `json:"call_id"`
	LocalTag     string    `json:"local_tag"`
	RemoteTag    string    `json:"remote_tag"`
	LocalURI     string    `json:"local_uri"`     // To of the SUBSCRIBE, From of the NOTIFYs
	RemoteURI    string    `json:"remote_uri"`    // From of the SUBSCRIBE, To of the NOTIFYs
	RemoteTarget string    `json:"remote_target"` // Contact of the SUBSCRIBE: Request-URI of the NOTIFYs
	RouteSet     []string  `json:"route_set,omitempty"`
	EventID      string    `json:"event_id,omitempty"`
	Expires      time.Time `json:"expires"`
	CSeq         uint32    `json:"cseq"`    // last CSeq sent
	Version      uint32    `json:"version"` // next reginfo version (RFC 3680 §5.3)

	timerAt time.Time // its pending expiry timer

	queue   []*notifyJob // NOTIFYs waiting to be sent, in CSeq order
	sending bool
}

type notifyJob struct {
	cseq     uint32
	body     []byte
	subState string // Subscription-State value
}

func dialogID(callID, remoteTag, localTag string) string {
	return callID + ";" + remoteTag + ";" + localTag
}

func (r *registrar) addSubLocked(sub *subscription) {
	r.subs[sub.ID] = sub
	k := normIMPU(sub.Target)
	r.subsByIMPU[k] = append(r.subsByIMPU[k], sub)
	r.scheduleSubLocked(sub)
}

func (r *registrar) dropSubLocked(sub *subscription) {
	delete(r.subs, sub.ID)
	k := normIMPU(sub.Target)
	r.subsByIMPU[k] = slices.DeleteFunc(r.subsByIMPU[k], func(s *subscription) bool { return s == sub })
	if len(r.subsByIMPU[k]) == 0 {
		delete(r.subsByIMPU, k)
	}
	r.state.appendLocked(record{DelSub: sub.ID})
}

// onSubscribe handles SUBSCRIBE for the reg event package (TS 24.229
// §5.4.2.1.1): a new subscription, a refresh, or an un-SUBSCRIBE (Expires 0).
func (r *registrar) onSubscribe(_ context.Context, req *sip.Request, tx sip.ServerTransaction) {
	log := r.log.With("method", "SUBSCRIBE", "source", req.Source(), "impu", req.Recipient.String())
	refuse := func(code int, reason, why string) {
		res := r.s.response(req, code, reason, why)
		if code == 489 {
			res.AppendHeader(sip.NewHeader("Allow-Events", "reg"))
		}
		log.Info(fmt.Sprintf("SUBSCRIBE refused (%d): %s", code, why))
		r.s.respond(tx, req, res)
	}
	ev := req.GetHeader("Event")
	if ev == nil {
		refuse(489, "Bad Event", "no Event header; the S-CSCF serves the reg event package only")
		return
	}
	pkg, params, _ := strings.Cut(ev.Value(), ";")
	if !strings.EqualFold(strings.TrimSpace(pkg), "reg") {
		refuse(489, "Bad Event", fmt.Sprintf("event package %q; the S-CSCF serves reg only", strings.TrimSpace(pkg)))
		return
	}
	from, to := req.From(), req.To()
	fromTag := ""
	if from != nil {
		fromTag, _ = from.Params.Get("tag")
	}
	if from == nil || to == nil || req.CSeq() == nil || req.CallID() == nil || fromTag == "" || req.Contact() == nil {
		refuse(400, "Bad Request", "SUBSCRIBE needs From with a tag, To, Call-ID, CSeq and Contact")
		return
	}
	expires := defaultSubExpires
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			refuse(400, "Bad Request", fmt.Sprintf("Expires %q is not a number of seconds", h.Value()))
			return
		}
		expires = min(time.Duration(n)*time.Second, r.s.cfg.MaxExpires)
	}
	now := time.Now()
	if toTag, ok := to.Params.Get("tag"); ok && toTag != "" {
		r.refreshSub(req, tx, dialogID(req.CallID().Value(), fromTag, toTag), expires, now, refuse)
		return
	}
	target := req.Recipient.String()
	subscriber := from.Address.String()
	if pai := headerValues(req, "P-Asserted-Identity"); len(pai) > 0 {
		subscriber = normIMPU(pai[0])
	}
	r.mu.Lock()
	set := r.sets[normIMPU(target)]
	if set == nil {
		if set = r.sets[normIMPU(to.Address.String())]; set != nil {
			target = to.Address.String()
		}
	}
	switch {
	case set == nil:
		r.mu.Unlock()
		refuse(480, "Temporarily Unavailable", fmt.Sprintf("%s is not registered at this S-CSCF", target))
		return
	case !subscriberAllowed(set, subscriber):
		r.mu.Unlock()
		refuse(403, "Forbidden", fmt.Sprintf("%s may not watch the registration of %s (only the user's own identities and network nodes may)", subscriber, target))
		return
	}
	res := r.s.response(req, 200, "OK", "")
	localTag, _ := res.To().Params.Get("tag")
	sub := &subscription{ID: dialogID(req.CallID().Value(), fromTag, localTag), Target: target, Subscriber: subscriber,
		CallID: req.CallID().Value(), LocalTag: localTag, RemoteTag: fromTag, LocalURI: to.Address.String(),
		RemoteURI: from.Address.String(), RemoteTarget: req.Contact().Address.String(),
		Expires: now.Add(expires), CSeq: 0}
	sub.RouteSet = headerValues(req, "Record-Route") // RFC 3261 §12.1.1: the UAS keeps their order
	if v, ok := strings.CutPrefix(strings.TrimSpace(params), "id="); ok {
		sub.EventID = v
	}
	r.completeSubLocked(sub, set, res, expires, now)
	r.mu.Unlock()
	log.Info(fmt.Sprintf("SUBSCRIBE accepted (200): %s watches the registration of %s for %s", subscriber, target, expires),
		"subscriber", subscriber, "call_id", sub.CallID)
	r.s.respond(tx, req, res)
	r.kick(sub)
}

// subscriberAllowed: the user itself (any identity of the implicit set) or
// a network node (a URI without user part: a P-CSCF or an AS), TS 24.229
// §5.4.2.1.1.
func subscriberAllowed(set *regSet, subscriber string) bool {
	if containsIMPU(set.IMPUs, subscriber) {
		return true
	}
	u := normIMPU(subscriber)
	return strings.HasPrefix(u, "sip:") && !strings.Contains(u, "@")
}

// completeSubLocked answers a new or refreshed subscription: Expires and
// Contact in the 200, then a NOTIFY with the full state (RFC 6665 §4.2.1).
// An expiry of 0 is a fetch or un-SUBSCRIBE: one last NOTIFY, terminated.
func (r *registrar) completeSubLocked(sub *subscription, set *regSet, res *sip.Response, expires time.Duration, now time.Time) {
	e := sip.ExpiresHeader(uint32(expires / time.Second))
	res.AppendHeader(&e)
	res.AppendHeader(&sip.ContactHeader{Address: r.s.contact})
	_, known := r.subs[sub.ID]
	if !known && expires > 0 {
		r.addSubLocked(sub)
	}
	if expires == 0 {
		r.queueNotifyLocked(sub, set, nil, false, "terminated;reason=timeout", now)
		if known {
			r.dropSubLocked(sub)
		}
		return
	}
	if known {
		r.scheduleSubLocked(sub)
	}
	r.queueNotifyLocked(sub, set, nil, false, "", now)
}

// refreshSub handles a SUBSCRIBE inside an existing dialog (RFC 6665 §4.2.1.2).
func (r *registrar) refreshSub(req *sip.Request, tx sip.ServerTransaction, id string, expires time.Duration, now time.Time, refuse func(int, string, string)) {
	r.mu.Lock()
	sub := r.subs[id]
	if sub == nil {
		r.mu.Unlock()
		refuse(481, "Call/Transaction Does Not Exist", "no such reg-event subscription (expired, terminated, or unknown)")
		return
	}
	sub.Expires = now.Add(expires)
	if c := req.Contact(); c != nil {
		sub.RemoteTarget = c.Address.String()
	}
	res := r.s.response(req, 200, "OK", "")
	r.completeSubLocked(sub, r.sets[normIMPU(sub.Target)], res, expires, now)
	r.mu.Unlock()
	what := "refreshed"
	if expires == 0 {
		what = "ended (un-SUBSCRIBE)"
	}
	r.log.Info(fmt.Sprintf("SUBSCRIBE accepted (200): reg-event subscription of %s to %s %s", sub.Subscriber, sub.Target, what), "call_id", sub.CallID)
	r.s.respond(tx, req, res)
	r.kick(sub)
}

// queueNotifyLocked prepares a NOTIFY with the set's full state (RFC 3680
// §5.4, TS 24.229 §5.4.2.1.2); subState empty means active. It does not
// send: kick does, after r.mu is released.
func (r *registrar) queueNotifyLocked(sub *subscription, set *regSet, gone []removed, ended bool, subState string, now time.Time) {
	if subState == "" {
		subState = fmt.Sprintf("active;expires=%d", max(int64(sub.Expires.Sub(now)/time.Second), 0))
	}
	sub.CSeq++
	body := regInfo(set, sub.Target, gone, ended, sub.Version, now)
	sub.Version++
	sub.queue = append(sub.queue, &notifyJob{cseq: sub.CSeq, body: body, subState: subState})
	if _, live := r.subs[sub.ID]; live {
		r.state.appendLocked(record{Sub: sub})
	}
}

// notifySetLocked notifies every subscriber to an identity of the set of
// a change; when the set ended, their subscriptions end too.
func (r *registrar) notifySetLocked(set *regSet, gone []removed, ended bool, reason string, now time.Time) {
	var subs []*subscription
	for _, u := range append([]string{set.Key}, set.IMPUs...) {
		for _, sub := range r.subsByIMPU[normIMPU(u)] {
			if !slices.Contains(subs, sub) {
				subs = append(subs, sub)
			}
		}
	}
	for _, sub := range subs {
		state := ""
		if ended {
			state = "terminated;reason=" + reason
		}
		r.queueNotifyLocked(sub, set, gone, ended, state, now)
		if ended {
			r.dropSubLocked(sub)
		}
		r.kickLocked(sub)
	}
}

// endSubscriptionLocked ends a subscription with a last NOTIFY.
func (r *registrar) endSubscriptionLocked(sub *subscription, reason string, now time.Time) {
	r.queueNotifyLocked(sub, r.sets[normIMPU(sub.Target)], nil, false, "terminated;reason="+reason, now)
	r.dropSubLocked(sub)
	r.kickLocked(sub)
}

func (r *registrar) kick(sub *subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kickLocked(sub)
}

// kickLocked starts the subscription's sender unless it runs.
func (r *registrar) kickLocked(sub *subscription) {
	if sub.sending || len(sub.queue) == 0 {
		return
	}
	sub.sending = r.s.tasks.start(func() { r.sendQueue(sub) })
}

// sendQueue sends a subscription's NOTIFYs one after the other; a NOTIFY
// that fails (481, timeout) ends the subscription (RFC 6665 §4.2.2).
func (r *registrar) sendQueue(sub *subscription) {
	for {
		r.mu.Lock()
		if len(sub.queue) == 0 || r.s.runCtx.Err() != nil {
			sub.sending = false
			r.mu.Unlock()
			return
		}
		job := sub.queue[0]
		sub.queue = sub.queue[1:]
		d := *sub
		d.RouteSet = slices.Clone(sub.RouteSet)
		if len(d.RouteSet) == 0 {
			d.RouteSet = r.pathToLocked(sub)
		}
		r.mu.Unlock()
		code, err := r.s.sendNotify(&d, job)
		if err == nil && code < 300 {
			continue
		}
		if r.s.runCtx.Err() != nil {
			continue // shutting down: the subscription stays, saved
		}
		why := fmt.Sprintf("answered %d", code)
		if err != nil {
			why = err.Error()
		}
		r.log.Warn(fmt.Sprintf("NOTIFY to %s failed (%s): subscription ended", d.RemoteTarget, why), "subscriber", d.Subscriber, "impu", d.Target, "call_id", d.CallID)
		if code == 481 || code == 408 || code >= 500 || err != nil || strings.HasPrefix(job.subState, "terminated") {
			r.mu.Lock()
			if r.subs[sub.ID] == sub {
				r.dropSubLocked(sub)
			}
			sub.queue = nil
			r.mu.Unlock()
		}
	}
}

// pathToLocked is the route to a subscriber whose SUBSCRIBE had no
// Record-Route: the Path of the binding with its contact (RFC 3327 §5.4).
func (r *registrar) pathToLocked(sub *subscription) []string {
	if set := r.sets[normIMPU(sub.Target)]; set != nil {
		for _, b := range set.Contacts {
			if sameURI(b.URI, sub.RemoteTarget) {
				return slices.Clone(b.Path)
			}
		}
	}
	return nil
}

// sameURI compares two URIs by scheme, user, host and port.
func sameURI(a, b string) bool {
	var ua, ub sip.Uri
	if sip.ParseUri(a, &ua) != nil || sip.ParseUri(b, &ub) != nil {
		return a == b
	}
	return ua.Scheme == ub.Scheme && ua.User == ub.User && strings.EqualFold(ua.Host, ub.Host) && ua.Port == ub.Port
}

// sendNotify sends one NOTIFY in the dialog (RFC 3261 §12.2.1.1) and waits
// for its final response.
func (s *SCSCF) sendNotify(d *subscription, job *notifyJob) (int, error) {
	var target sip.Uri
	if err := sip.ParseUri(d.RemoteTarget, &target); err != nil {
		return 0, fmt.Errorf("remote target %q: %w", d.RemoteTarget, err)
	}
	req := sip.NewRequest(sip.NOTIFY, target)
	for _, rt := range d.RouteSet {
		req.AppendHeader(sip.NewHeader("Route", rt))
	}
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := &sip.FromHeader{Params: sip.NewParams()}
	to := &sip.ToHeader{Params: sip.NewParams()}
	if err := sip.ParseUri(d.LocalURI, &from.Address); err != nil {
		return 0, fmt.Errorf("local URI %q: %w", d.LocalURI, err)
	}
	if err := sip.ParseUri(d.RemoteURI, &to.Address); err != nil {
		return 0, fmt.Errorf("remote URI %q: %w", d.RemoteURI, err)
	}
	from.Params.Add("tag", d.LocalTag)
	to.Params.Add("tag", d.RemoteTag)
	callID := sip.CallIDHeader(d.CallID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: job.cseq, MethodName: sip.NOTIFY})
	req.AppendHeader(&sip.ContactHeader{Address: s.contact})
	event := "reg"
	if d.EventID != "" {
		event += ";id=" + d.EventID
	}
	req.AppendHeader(sip.NewHeader("Event", event))
	req.AppendHeader(sip.NewHeader("Subscription-State", job.subState))
	ct := sip.ContentTypeHeader("application/reginfo+xml")
	req.AppendHeader(&ct)
	req.SetBody(job.body)
	next := target // no route: straight to the remote target (RFC 3261 §12.2.1.1)
	if rt := req.Route(); rt != nil {
		next = rt.Address
	}
	transport := "UDP"
	if tp, ok := next.UriParams.Get("transport"); ok && tp != "" {
		transport = strings.ToUpper(tp)
	}
	if transport == "UDP" && len(req.String()) > sipproxy.UDPMax-100 {
		transport = "TCP" // RFC 3261 §18.1.1: too large for UDP
	}
	req.SetTransport(transport)
	if transport == "UDP" {
		if host, port, err := net.SplitHostPort(s.udpAddr); err == nil {
			p, _ := strconv.Atoi(port)
			req.Laddr = sip.Addr{IP: net.ParseIP(host), Port: p}
		}
	}
	ctx, cancel := context.WithTimeout(s.runCtx, notifyTimeout)
	defer cancel()
	s.traceSIP(true, transport, req.Destination(), req.StartLine(), req)
	tx, err := s.client.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil && req.Laddr.IP != nil {
		// The UDP listener is not serving yet (just started): any socket will do.
		req.Laddr = sip.Addr{}
		req.RemoveHeader("Via")
		tx, err = s.client.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
	}
	if err != nil {
		return 0, fmt.Errorf("sending: %w", err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			s.traceSIP(false, transport, req.Destination(), res.StartLine(), res)
			return res.StatusCode, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return 0, err
			}
			return 0, errors.New("transaction ended without a response")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
