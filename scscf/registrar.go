package scscf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/cx"
	"github.com/imslab/imslab/internal/sipdigest"
)

// regRequest is a REGISTER as the registrar reads it.
type regRequest struct {
	req      *sip.Request
	tx       sip.ServerTransaction
	log      *slog.Logger
	impu     string // To (TS 24.229 §5.4.1.2.1)
	impi     string // Authorization username, else derived from the IMPU
	creds    *sipdigest.Credentials
	contacts []*Binding // requested, with Expires set (zero time: remove)
	wildcard bool       // Contact: * (RFC 3261 §10.2.2)
	path     []string
	visited  string
}

// dereg tells whether the REGISTER removes every contact it names
// (Expires 0: de-registration, TS 24.229 §5.4.1.4), or names none (a
// query of the bindings, RFC 3261 §10.2.3, answered the same way).
func (rq *regRequest) dereg() bool {
	for _, b := range rq.contacts {
		if !b.Expires.IsZero() {
			return false
		}
	}
	return true
}

// errBadRegister is a REGISTER the registrar cannot read (400).
var errBadRegister = errors.New("malformed REGISTER")

// parseRegister reads a REGISTER: identities, credentials, contacts with
// their expiry (RFC 3261 §10.3 steps 5-6), Path (RFC 3327).
func (r *registrar) parseRegister(req *sip.Request, now time.Time) (*regRequest, error) {
	cfg := &r.s.cfg
	rq := &regRequest{req: req}
	to := req.To()
	if to == nil || req.CallID() == nil || req.CSeq() == nil {
		return nil, fmt.Errorf("%w: To, Call-ID and CSeq are required", errBadRegister)
	}
	rq.impu = to.Address.String()
	if h := req.GetHeader("Authorization"); h != nil {
		c, err := sipdigest.ParseCredentials(h.Value())
		if err != nil {
			return nil, fmt.Errorf("%w: Authorization: %v", errBadRegister, err)
		}
		rq.creds, rq.impi = c, c.Username
	} else {
		// TS 24.229 §5.4.1.2.1A: without Authorization the private identity
		// is the public one without scheme, port and parameters.
		rq.impi = strings.TrimPrefix(strings.TrimPrefix(normIMPU(rq.impu), "sip:"), "sips:")
		rq.impi, _, _ = strings.Cut(rq.impi, ";")
	}
	defExp := cfg.DefaultExpires
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: Expires %q is not a number of seconds", errBadRegister, h.Value())
		}
		defExp = time.Duration(n) * time.Second
	}
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, fmt.Errorf("%w: unreadable Contact %q", errBadRegister, h.Value())
		}
		if c.Address.Wildcard {
			rq.wildcard = true
			continue
		}
		exp := defExp
		params := c.Params.Clone()
		if v, ok := params.Get("expires"); ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: Contact expires=%q is not a number of seconds", errBadRegister, v)
			}
			exp = time.Duration(n) * time.Second
			params.Remove("expires")
		}
		if exp > 0 && exp < cfg.MinExpires {
			return nil, &tooBrief{asked: exp}
		}
		b := &Binding{URI: c.Address.String(), Params: params.ToString(';'), CallID: req.CallID().Value(),
			CSeq: req.CSeq().SeqNo, Transport: req.Transport(), Source: req.Source()}
		if v, ok := params.Get("+sip.instance"); ok {
			b.Instance = strings.Trim(v, `"`)
		}
		if v, ok := params.Get("reg-id"); ok {
			b.RegID = v
		}
		if exp > 0 {
			b.Expires = now.Add(min(exp, cfg.MaxExpires))
		}
		rq.contacts = append(rq.contacts, b)
	}
	if rq.wildcard && (len(rq.contacts) > 0 || defExp != 0 || req.GetHeader("Expires") == nil) {
		// RFC 3261 §10.3 step 6.
		return nil, fmt.Errorf("%w: Contact: * needs Expires: 0 and no other Contact", errBadRegister)
	}
	rq.path = headerValues(req, "Path")
	rq.visited = cfg.Domain
	if v := headerValues(req, "P-Visited-Network-ID"); len(v) > 0 {
		if v := strings.Trim(v[0], `"`); v != "" {
			rq.visited = v
		}
	}
	return rq, nil
}

// remaining is the number of seconds until t, rounded up.
func remaining(t, now time.Time) int64 {
	return max(int64((t.Sub(now)+time.Second-1)/time.Second), 0)
}

// tooBrief is an expiry below MinExpires (423, RFC 3261 §10.3 step 7).
type tooBrief struct{ asked time.Duration }

func (e *tooBrief) Error() string { return fmt.Sprintf("expiry %s is too brief", e.asked) }

// onRegister is the registrar (TS 24.229 §5.4.1, RFC 3261 §10.3), with the
// I-CSCF's UAR in front (§5.3.1.2).
func (r *registrar) onRegister(ctx context.Context, req *sip.Request, tx sip.ServerTransaction) {
	now := time.Now()
	rq, err := r.parseRegister(req, now)
	if err != nil {
		log := r.log.With("method", "REGISTER", "source", req.Source())
		var tb *tooBrief
		if errors.As(err, &tb) {
			res := r.s.response(req, 423, "Interval Too Brief", err.Error())
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(r.s.cfg.MinExpires/time.Second))))
			log.Info("REGISTER refused (423): "+err.Error(), "outcome", 423)
			r.s.respond(tx, req, res)
			return
		}
		log.Info("REGISTER refused (400): "+err.Error(), "outcome", 400)
		r.s.respond(tx, req, r.s.response(req, 400, "Bad Request", err.Error()))
		return
	}
	rq.tx = tx
	rq.log = r.log.With("impi", rq.impi, "impu", rq.impu, "contact", contactList(rq))
	c, err := r.s.hss.client(ctx)
	if err != nil {
		r.refuse(rq, 480, "Temporarily Unavailable", "the HSS is not reachable", err.Error())
		return
	}
	// UAR, as the I-CSCF (TS 29.228 §6.1.1).
	uat := uint32(cx.AuthRegistration)
	if rq.wildcard || len(rq.contacts) > 0 && rq.dereg() {
		uat = cx.AuthDeregistration
	}
	uctx, cancel := context.WithTimeout(ctx, cxTimeout)
	uaa, err := c.UAR(uctx, rq.impi, rq.impu, rq.visited, uat)
	cancel()
	switch {
	case err != nil:
		r.refuse(rq, 480, "Temporarily Unavailable", "the HSS does not answer", "UAR: "+err.Error())
		return
	case uat == cx.AuthDeregistration && uaa.Experimental && uaa.Code == diameter.ExpIdentityNotRegistered:
		// Not registered at the HSS: the S-CSCF's own state decides.
	case !uaa.OK():
		r.refuse(rq, 403, "Forbidden", cxRefusal(uaa.Result, "UAR"), "UAA "+uaa.Result.String())
		return
	case uaa.ServerName != "" && uaa.ServerName != r.s.cfg.Name:
		rq.log.Info(fmt.Sprintf("the HSS names S-CSCF %s for this user; imslab has one S-CSCF, which takes it over", uaa.ServerName))
	}
	if !r.authenticate(ctx, rq) {
		return
	}
	if rq.dereg() {
		r.deregister(ctx, rq)
		return
	}
	r.register(ctx, rq)
}

func contactList(rq *regRequest) string {
	if rq.wildcard {
		return "*"
	}
	var s []string
	for _, b := range rq.contacts {
		s = append(s, b.URI)
	}
	return strings.Join(s, ", ")
}

// register stores the contacts of an authenticated REGISTER: SAR
// (REGISTRATION, or RE_REGISTRATION when the profile is already here),
// the bindings, and the 200 OK (TS 24.229 §5.4.1.2.2).
func (r *registrar) register(ctx context.Context, rq *regRequest) {
	r.mu.Lock()
	set := r.sets[normIMPU(rq.impu)]
	known := set != nil && set.Profile != ""
	if set != nil {
		if why := orderCheck(set, rq); why != "" {
			r.mu.Unlock()
			r.refuse(rq, 500, "Server Internal Error", why, "")
			return
		}
	}
	r.mu.Unlock()
	c, err := r.s.hss.client(ctx)
	if err != nil {
		r.refuse(rq, 480, "Temporarily Unavailable", "the HSS is not reachable", err.Error())
		return
	}
	assign := uint32(cx.AssignRegistration)
	if known {
		assign = cx.AssignReRegistration
	}
	sctx, cancel := context.WithTimeout(ctx, cxTimeout)
	saa, err := c.SAR(sctx, rq.impi, rq.impu, r.s.cfg.Name, assign, known)
	cancel()
	if err != nil {
		r.refuse(rq, 480, "Temporarily Unavailable", "the HSS does not answer", "SAR: "+err.Error())
		return
	}
	if !saa.OK() {
		r.refuse(rq, 403, "Forbidden", cxRefusal(saa.Result, "SAR"), "SAA "+saa.Result.String())
		return
	}
	var prof *profile
	if saa.UserData != "" {
		if prof, err = parseUserData(saa.UserData); err != nil {
			r.refuse(rq, 500, "Server Internal Error", "the HSS's profile is unusable", err.Error())
			return
		}
	} else if !known {
		r.refuse(rq, 500, "Server Internal Error", "the HSS sent no profile (User-Data) for a first registration", "")
		return
	}
	if prof != nil && containsIMPU(prof.barred, rq.impu) {
		// TS 24.229 §5.4.1.2.2: a barred identity cannot be registered.
		r.refuse(rq, 403, "Forbidden", "the public identity is barred", "")
		return
	}
	now := time.Now()
	r.mu.Lock()
	set = r.sets[normIMPU(rq.impu)]
	if set == nil && prof == nil {
		// The set expired during the SAR RE_REGISTRATION: register anew,
		// with the profile.
		r.mu.Unlock()
		r.register(ctx, rq)
		return
	}
	if set == nil {
		set = &regSet{Key: normIMPU(rq.impu), IMPUs: []string{rq.impu}}
	}
	if why := orderCheck(set, rq); why != "" {
		r.mu.Unlock()
		r.refuse(rq, 500, "Server Internal Error", why, "")
		return
	}
	if prof != nil {
		r.setProfileLocked(set, prof)
	}
	var gone []removed
	var events []string
	for _, b := range rq.contacts {
		b.IMPI, b.Path = rq.impi, rq.path
		old := set.contact(b.key())
		switch {
		case b.Expires.IsZero() && old != nil:
			gone = append(gone, removed{b: old, event: "unregistered"})
		case b.Expires.IsZero():
		case old == nil:
			b.Registered, b.Event = now, "registered"
			set.Contacts = append(set.Contacts, b)
		default:
			b.Registered, b.Event, b.timerAt = old.Registered, "refreshed", old.timerAt
			if b.Expires.Before(old.Expires) {
				b.Event = "shortened"
			}
			*old = *b
			b = old
		}
		if !b.Expires.IsZero() {
			r.scheduleContactLocked(set, b)
			events = append(events, b.Event)
		}
	}
	r.indexLocked(set)
	r.removeContactsLocked(set, gone, now, "noresource")
	gen := r.state.gen()
	res := r.okLocked(rq, set, now)
	n, assoc := len(set.Contacts), set.associated()
	r.mu.Unlock()
	r.state.wait(ctx, gen)
	rq.log.Info(fmt.Sprintf("REGISTER accepted (200): %s %s via SAR %s; %d contact(s) now, implicit set %v",
		rq.impu, strings.Join(events, ", "), assignName(assign), n, assoc), "outcome", 200)
	r.s.respond(rq.tx, rq.req, res)
}

// orderCheck applies RFC 3261 §10.3 step 7: a REGISTER of the same Call-ID
// with a CSeq not above the stored one is out of order.
func orderCheck(set *regSet, rq *regRequest) string {
	for _, b := range rq.contacts {
		if old := set.contact(b.key()); old != nil && old.CallID == b.CallID && b.CSeq <= old.CSeq {
			return fmt.Sprintf("out-of-order REGISTER: CSeq %d is not above %d of Call-ID %s (RFC 3261 §10.3)", b.CSeq, old.CSeq, b.CallID)
		}
	}
	return ""
}

// deregister removes the contacts of an authenticated REGISTER with
// expiry 0 (TS 24.229 §5.4.1.4); Contact: * removes every contact this
// private identity registered. The last one gone sends SAR
// USER_DEREGISTRATION.
func (r *registrar) deregister(ctx context.Context, rq *regRequest) {
	now := time.Now()
	r.mu.Lock()
	set := r.sets[normIMPU(rq.impu)]
	if set == nil {
		res := r.okLocked(rq, &regSet{IMPUs: []string{rq.impu}}, now)
		r.mu.Unlock()
		if len(rq.contacts) > 0 || rq.wildcard {
			// The HSS may still believe it registered (state lost here): align it.
			r.sarAfter(ctx, rq.impi, rq.impu, cx.AssignUserDereg)
		}
		rq.log.Info("REGISTER (de-registration) accepted (200): nothing was registered here", "outcome", 200)
		r.s.respond(rq.tx, rq.req, res)
		return
	}
	var gone []removed
	for _, b := range set.Contacts {
		if rq.wildcard && b.IMPI == rq.impi && !(b.CallID == rq.req.CallID().Value() && b.CSeq > rq.req.CSeq().SeqNo) {
			gone = append(gone, removed{b: b, event: "unregistered"})
		}
	}
	for _, c := range rq.contacts {
		if b := set.contact(c.key()); b != nil {
			gone = append(gone, removed{b: b, event: "unregistered"})
		}
	}
	primary := set.IMPUs[0]
	ended := r.removeContactsLocked(set, gone, now, "noresource")
	gen := r.state.gen()
	res := r.okLocked(rq, set, now)
	left := len(set.Contacts)
	r.mu.Unlock()
	if ended {
		r.sarAfter(ctx, rq.impi, primary, cx.AssignUserDereg)
	}
	r.state.wait(ctx, gen)
	msg := fmt.Sprintf("REGISTER (de-registration) accepted (200): %d contact(s) removed, %d left", len(gone), left)
	if ended {
		msg += "; the implicit set is de-registered (SAR USER_DEREGISTRATION)"
	}
	rq.log.Info(msg, "outcome", 200)
	r.s.respond(rq.tx, rq.req, res)
}

// okLocked builds the 200 OK of a REGISTER (TS 24.229 §5.4.1.2.2, RFC 3261
// §10.3 step 8): every current contact with its remaining expiry, the Path
// echoed (RFC 3327 §5.3), Service-Route (RFC 3608) and P-Associated-URI
// (RFC 3455 §4.1).
func (r *registrar) okLocked(rq *regRequest, set *regSet, now time.Time) *sip.Response {
	res := r.s.response(rq.req, 200, "OK", "")
	for _, b := range set.Contacts {
		v := "<" + b.URI + ">"
		if b.Params != "" {
			v += ";" + b.Params
		}
		v += ";expires=" + strconv.FormatInt(remaining(b.Expires, now), 10)
		res.AppendHeader(sip.NewHeader("Contact", v))
	}
	for _, p := range rq.path {
		res.AppendHeader(sip.NewHeader("Path", p))
	}
	if len(set.Contacts) > 0 {
		res.AppendHeader(sip.NewHeader("Service-Route", r.s.serviceRoute()))
		var pau []string
		for _, u := range set.associated() {
			pau = append(pau, "<"+u+">")
		}
		res.AppendHeader(sip.NewHeader("P-Associated-URI", strings.Join(pau, ", ")))
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"))) // RFC 3261 §20.17
	return res
}
