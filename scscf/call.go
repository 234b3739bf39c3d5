package scscf

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/ident"
)

// onRequest handles every request but REGISTER and SUBSCRIBE (the
// registrar's): requests in a dialog follow their route set, an initial
// INVITE is routed as an originating and/or terminating request; other
// methods outside a dialog get 501.
func (s *SCSCF) onRequest(ctx context.Context, req *sip.Request, tx sip.ServerTransaction) {
	log := s.log.With("method", req.Method.String(), "call_id", callID(req))
	if mf := req.MaxForwards(); mf != nil && *mf == 0 { // RFC 3261 §16.3 step 3
		s.refuse(req, tx, log, 483, "Too Many Hops", "Max-Forwards is 0: the request loops or its path is too long")
		return
	}
	_, inDialog := toTag(req)
	switch {
	case req.IsCancel(): // sipgo matched no INVITE transaction (RFC 3261 §9.2)
		s.refuse(req, tx, log, 481, "Call/Transaction Does Not Exist", "CANCEL matches no INVITE in progress at the S-CSCF")
	case inDialog:
		s.inDialog(req, tx, log)
	case req.IsAck():
		log.Debug("ACK outside a dialog, matching no transaction: dropped")
	case req.IsInvite():
		s.initialInvite(ctx, req, tx, log)
	default:
		s.notImplemented(ctx, req, tx)
	}
}

// refuse answers a request with an error that says why (Warning 399).
func (s *SCSCF) refuse(req *sip.Request, tx sip.ServerTransaction, log *slog.Logger, code int, reason, why string) {
	log.Info(fmt.Sprintf("%s %s refused (%d): %s", req.Method, req.Recipient.String(), code, why), "source", req.Source())
	if req.IsAck() {
		return
	}
	s.respond(tx, req, s.response(req, code, reason, why))
	s.watchAck(req, tx)
}

// inDialog routes a request of a dialog this S-CSCF record-routed: its
// Route entry is removed (RFC 3261 §16.4), the next Route or else the
// Request-URI is the next hop (§16.12). An ACK for a 2xx goes statelessly,
// any other request (BYE, PRACK, UPDATE, INFO, re-INVITE) in a transaction.
func (s *SCSCF) inDialog(req *sip.Request, tx sip.ServerTransaction, log *slog.Logger) {
	fwd := req.Clone()
	first := s.popOwnRoutes(fwd)
	switch {
	case first != nil && first.User == "orig" && req.IsAck():
		// The ACK of a non-2xx final response whose transaction has ended
		// (RFC 3261 §17.1.1.3: hop by hop, it ends here).
		log.Debug("ACK for a final response of the S-CSCF: absorbed")
		return
	case first != nil && first.User == "orig":
		s.refuse(req, tx, log, 403, "Forbidden", "an in-dialog request follows the dialog's route set, not the Service-Route (RFC 3608 §6)")
		return
	case first == nil && req.Route() == nil && s.isUs(req.Recipient), first != nil && fwd.Route() == nil && s.isUs(fwd.Recipient):
		s.refuse(req, tx, log, 481, "Call/Transaction Does Not Exist", "the S-CSCF is not a party of this dialog (RFC 3261 §12.2.2)")
		return
	case first == nil:
		top := "none"
		if r := req.Route(); r != nil {
			top = r.Address.String()
		}
		s.refuse(req, tx, log, 403, "Forbidden", fmt.Sprintf("in-dialog %s not routed through the S-CSCF (top Route: %s): it relays only the dialogs it record-routed", req.Method, top))
		return
	}
	if req.IsAck() {
		s.forwardAck(req, fwd, log)
		return
	}
	var cancelled <-chan struct{}
	if req.IsInvite() {
		cancelled = s.watchCancel(req, tx)
		s.respond(tx, req, s.response(req, 100, "Trying", "")) // RFC 3261 §17.2.1
	}
	log.Info(fmt.Sprintf("%s in dialog forwarded to %s", req.Method, fwd.Recipient.String()))
	s.proxy(req, tx, fwd, []target{{label: fwd.Recipient.String()}}, cancelled, proxyOpts{log: log})
}

// call is an initial INVITE being routed.
type call struct {
	req       *sip.Request
	tx        sip.ServerTransaction
	log       *slog.Logger
	caller    string
	cancelled <-chan struct{}
}

// refuse ends the call with an error that says why.
func (c *call) refuse(s *SCSCF, code int, reason, why string) {
	c.log.Info(fmt.Sprintf("INVITE from %s to %s refused (%d): %s", c.caller, c.req.Recipient.String(), code, why), "source", c.req.Source())
	s.respond(c.tx, c.req, s.response(c.req, code, reason, why))
	s.watchAck(c.req, c.tx)
}

// initialInvite routes a dialog-creating INVITE. Sent to the Service-Route
// ("orig") it is the served user's (TS 24.229 §5.4.3.2); then, or when
// another node sends it here, it goes to the callee (§5.4.3.3). The
// S-CSCF record-routes itself so that the dialog's requests pass it.
func (s *SCSCF) initialInvite(ctx context.Context, req *sip.Request, tx sip.ServerTransaction, log *slog.Logger) {
	c := &call{req: req, tx: tx, log: log, caller: uriOf(req.From()), cancelled: s.watchCancel(req, tx)}
	s.respond(tx, req, s.response(req, 100, "Trying", "")) // RFC 3261 §17.2.1: routing may ask the HSS
	fwd := req.Clone()
	first := s.popOwnRoutes(fwd)
	if first == nil && req.Route() != nil {
		c.refuse(s, 403, "Forbidden", fmt.Sprintf("the top Route %s is not this S-CSCF; it routes only requests sent to it", req.Route().Address.String()))
		return
	}
	// The S-CSCF chooses the route; whatever was preloaded after it goes.
	removeAll(fwd, "Route")
	if first != nil && first.User == "orig" {
		if !s.originating(c, fwd) {
			return
		}
	} else if pai := headerValues(req, "P-Asserted-Identity"); len(pai) > 0 {
		c.caller = normIMPU(pai[0])
	}
	d := s.terminating(ctx, req.Recipient)
	if d.code != 0 {
		c.refuse(s, d.code, d.reason, d.why)
		return
	}
	select {
	case <-c.cancelled:
		log.Info(fmt.Sprintf("INVITE from %s to %s cancelled by the caller before it was forwarded (487)", c.caller, req.Recipient.String()))
		s.watchAck(req, tx)
		return
	default:
	}
	s.addRecordRoute(fwd)
	if d.scscf == "" {
		// TS 24.229 §5.4.3.3: the Request-URI becomes the contact; the
		// identity called stays in P-Called-Party-ID (RFC 3455 §4.2).
		fwd.AppendHeader(sip.NewHeader("P-Called-Party-ID", "<"+req.Recipient.String()+">"))
		log.Info(fmt.Sprintf("INVITE from %s to %s forked to %d contact(s) of %s", c.caller, req.Recipient.String(), len(d.targets), d.callee),
			"caller", c.caller, "callee", d.callee)
	} else {
		log.Info(fmt.Sprintf("INVITE from %s to %s forwarded to S-CSCF %s, which serves it (LIR)", c.caller, req.Recipient.String(), d.scscf),
			"caller", c.caller, "callee", d.callee)
	}
	s.proxy(req, tx, fwd, d.targets, c.cancelled, proxyOpts{noAnswer: s.cfg.NoAnswerTimeout, callee: d.callee, log: log})
}

// originating identifies the caller, TS 24.229 §5.4.3.2: the identity the
// P-CSCF asserted (never From), registered here and not barred. A tel URI
// of the caller is added as a second P-Asserted-Identity.
func (s *SCSCF) originating(c *call, fwd *sip.Request) bool {
	pais := headerValues(c.req, "P-Asserted-Identity")
	if len(pais) == 0 {
		c.refuse(s, 403, "Forbidden", "no P-Asserted-Identity: originating requests must come through a P-CSCF that asserts the caller (TS 24.229 §5.4.3.2)")
		return false
	}
	r := s.reg
	r.mu.Lock()
	var set *regSet
	id := normIMPU(pais[0])
	for _, p := range pais {
		if set = r.sets[normIMPU(p)]; set != nil {
			id = normIMPU(p)
			break
		}
	}
	var barred bool
	var tel string
	if set != nil {
		barred = isBarred(set, id)
		if i := slices.IndexFunc(set.associated(), func(u string) bool { return strings.HasPrefix(normIMPU(u), "tel:") }); i >= 0 {
			tel = set.associated()[i]
		}
	}
	r.mu.Unlock()
	c.caller = id
	switch {
	case set == nil:
		c.refuse(s, 403, "Forbidden", fmt.Sprintf("originating user not registered: %s has no registration at this S-CSCF", id))
		return false
	case barred:
		c.refuse(s, 403, "Forbidden", fmt.Sprintf("%s is a barred identity: it may not originate requests (TS 24.229 §5.4.3.2)", id))
		return false
	}
	if tel != "" && !slices.ContainsFunc(pais, func(p string) bool { return strings.HasPrefix(normIMPU(p), "tel:") }) {
		fwd.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<"+tel+">"))
	}
	return true
}

func isBarred(set *regSet, id string) bool {
	return slices.ContainsFunc(set.Barred, func(b string) bool { return normIMPU(b) == id })
}

// decision is where an initial request goes, or why it does not.
type decision struct {
	targets     []target
	callee      string // the identity found
	scscf       string // another S-CSCF serves it (LIR)
	code        int    // refused
	reason, why string
}

func refusal(code int, reason, why string) decision {
	return decision{code: code, reason: reason, why: why}
}

// terminating finds the callee's contacts (TS 24.229 §5.4.3.3), else asks
// the HSS where the callee is (LIR, TS 29.228 §6.1.4: the I-CSCF's query,
// TS 24.229 §5.3.2.1, since imslab has no I-CSCF).
func (s *SCSCF) terminating(ctx context.Context, ruri sip.Uri) decision {
	if ruri.Scheme != "sip" && ruri.Scheme != "tel" {
		return refusal(416, "Unsupported URI Scheme", fmt.Sprintf("the S-CSCF routes sip: and tel: URIs, not %s:", ruri.Scheme))
	}
	forms, ok := s.identityForms(ruri)
	if !ok {
		return refusal(404, "Not Found", fmt.Sprintf("imslab routes only to its home domain %s and to tel: numbers; %s is elsewhere", s.cfg.Domain, ruri.String()))
	}
	if d, found := s.localTargets(forms); found {
		return d
	}
	return s.locate(ctx, forms)
}

// identityForms lists what a Request-URI may be provisioned as: itself and,
// for a global number, its tel URI and the home domain's SIP URIs with and
// without user=phone (RFC 3261 §19.1.6; the HSS provisions sip:+N@domain
// and tel:+N, hss/store/import.go). ok is false outside the home domain.
func (s *SCSCF) identityForms(ruri sip.Uri) (forms []string, ok bool) {
	id := ident.NormalizeIMPU(ruri.String())
	var number string
	switch ruri.Scheme {
	case "tel":
		number = strings.TrimPrefix(id, "tel:")
	default:
		if !strings.EqualFold(ruri.Host, s.cfg.Domain) {
			return nil, false
		}
		number = strings.Map(func(r rune) rune {
			if strings.ContainsRune("-.()", r) {
				return -1
			}
			return r
		}, ruri.User)
	}
	forms = []string{id}
	if len(number) > 1 && number[0] == '+' && strings.Trim(number[1:], "0123456789") == "" {
		for _, f := range []string{"tel:" + number, "sip:" + number + "@" + s.cfg.Domain + ";user=phone", "sip:" + number + "@" + s.cfg.Domain} {
			if f = ident.NormalizeIMPU(f); !slices.Contains(forms, f) {
				forms = append(forms, f)
			}
		}
	}
	return forms, true
}

// localTargets looks the identity up in the registrations: every contact
// of its implicit set is a branch (parallel forking), through the Path the
// device registered with (RFC 3327 §5.3).
func (s *SCSCF) localTargets(forms []string) (decision, bool) {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range forms {
		set := r.sets[f]
		if set == nil {
			continue
		}
		if isBarred(set, f) {
			return refusal(404, "Not Found", fmt.Sprintf("%s is a barred identity: it cannot be called (TS 24.229 §5.4.3.3)", f)), true
		}
		d := decision{callee: f}
		for _, b := range set.Contacts {
			var u sip.Uri
			if err := sip.ParseUri(b.URI, &u); err != nil {
				r.log.Warn("registered contact unreadable, not tried", "contact", b.URI, "err", err)
				continue
			}
			t := target{ruri: &u, route: []sip.Uri{}, label: b.URI}
			for _, p := range b.Path {
				pu, err := parseNameAddr(p)
				if err != nil {
					r.log.Warn("Path entry unreadable, left out", "contact", b.URI, "path", p, "err", err)
					continue
				}
				t.route = append(t.route, pu)
			}
			d.targets = append(d.targets, t)
		}
		if len(d.targets) == 0 {
			return refusal(480, "Temporarily Unavailable", fmt.Sprintf("%s has no registered contact to ring", f)), true
		}
		return d, true
	}
	return decision{}, false
}

// locate asks the HSS which S-CSCF serves an identity (LIR, TS 29.228
// §6.1.4; answers TS 29.229 §6.2) and decides as an I-CSCF would (TS
// 24.229 §5.3.2.1): unknown → 404, not registered → 480 (imslab has no
// services for unregistered users), another S-CSCF → the request goes there.
func (s *SCSCF) locate(ctx context.Context, forms []string) decision {
	c, err := s.hss.client(ctx)
	if err != nil {
		return refusal(504, "Server Time-out", fmt.Sprintf("cannot ask the HSS where %s is: %v", forms[0], err))
	}
	for _, f := range forms {
		lctx, cancel := context.WithTimeout(ctx, cxTimeout)
		lia, err := c.LIR(lctx, f)
		cancel()
		if err != nil {
			return refusal(504, "Server Time-out", fmt.Sprintf("no answer from the HSS to LIR for %s: %v", f, err))
		}
		res := lia.Result
		switch {
		case res.Experimental && res.Code == diameter.ExpUserUnknown:
			continue // maybe provisioned in another form
		case res.Experimental && res.Code == diameter.ExpIdentityNotRegistered:
			return refusal(480, "Temporarily Unavailable", fmt.Sprintf("%s is not registered (HSS: %s)", f, res))
		case res.OK() && (lia.ServerName == "" || s.isOwnName(lia.ServerName)):
			return refusal(480, "Temporarily Unavailable", fmt.Sprintf("%s has no registered contact (HSS: %s; imslab has no services for unregistered users)", f, res))
		case res.OK():
			u, err := parseNameAddr(lia.ServerName)
			if err != nil || u.Host == "" {
				return refusal(500, "Server Internal Error", fmt.Sprintf("the HSS names S-CSCF %q for %s, which is not a SIP URI", lia.ServerName, f))
			}
			u.UriParams.Add("lr", "")
			return decision{targets: []target{{route: []sip.Uri{u}, label: "S-CSCF " + lia.ServerName}}, callee: f, scscf: lia.ServerName}
		default:
			return refusal(500, "Server Internal Error", fmt.Sprintf("the HSS answered LIR for %s with %s", f, res))
		}
	}
	return refusal(404, "Not Found", fmt.Sprintf("%s is not a subscriber of %s (HSS: DIAMETER_ERROR_USER_UNKNOWN)", forms[0], s.cfg.Domain))
}
