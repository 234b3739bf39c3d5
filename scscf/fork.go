package scscf

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipproxy"
)

// target is one destination of a proxied request (RFC 3261 §16.5): a
// registered contact (Request-URI the contact, Route its Path), another
// S-CSCF (Request-URI kept, Route that S-CSCF) or the next hop of an
// in-dialog request (both kept).
type target struct {
	ruri  *sip.Uri  // the branch's Request-URI; nil: unchanged
	route []sip.Uri // the branch's Route set; nil: unchanged
	label string    // what the logs call it
}

// proxyOpts tunes one proxied request.
type proxyOpts struct {
	noAnswer time.Duration // INVITE: cancel every branch after this (0: never)
	callee   string        // the identity called, for the final Warning ("" in a dialog)
	log      *slog.Logger
}

// branch is one client transaction of a proxied request (RFC 3261 §16.7).
type branch struct {
	target
	req       *sip.Request
	hop       sipproxy.Hop
	tx        sip.ClientTransaction
	ringing   bool // a provisional response came: a CANCEL may go (RFC 3261 §9.1)
	cancelDue bool // a CANCEL waits for the first provisional response
	cancelled bool
	final     *sip.Response
	made      bool // final made by the S-CSCF (timeout, transport error), not received
	order     int  // when final came
}

type branchEvent struct {
	b   *branch
	res *sip.Response
	err error // the transaction ended without a final response
}

// fork is the response context of one proxied request (RFC 3261 §16.7).
type fork struct {
	s        *SCSCF
	req      *sip.Request
	tx       sip.ServerTransaction
	o        proxyOpts
	branches []*branch
	events   chan branchEvent
	done     chan struct{}
	upCancel <-chan struct{}
	giveUp   <-chan time.Time
	finals   int

	answered, cancelled, timedOut bool
}

// proxy forwards a request statefully to every target in parallel and
// relays the responses (RFC 3261 §16.6-§16.10): provisional ones as they
// come (100 excepted), every 2xx at once (the first cancels the other
// branches), else the best final response once every branch has one.
// upCancel closes when the caller CANCELs (nil: not an INVITE).
func (s *SCSCF) proxy(req *sip.Request, tx sip.ServerTransaction, fwd *sip.Request, targets []target, upCancel <-chan struct{}, o proxyOpts) {
	f := &fork{s: s, req: req, tx: tx, o: o, upCancel: upCancel,
		events: make(chan branchEvent, 4*len(targets)), done: make(chan struct{})}
	defer close(f.done)
	sipproxy.Stamp(req, fwd)
	for _, t := range targets {
		f.start(fwd, t)
	}
	f.run()
}

// start sends one branch (RFC 3261 §16.6: a copy with its own Request-URI,
// Route and Via).
func (f *fork) start(base *sip.Request, t target) {
	b := &branch{target: t, req: base.Clone()}
	f.branches = append(f.branches, b)
	if t.ruri != nil {
		b.req.Recipient = *t.ruri.Clone()
	}
	if t.route != nil {
		setRoute(b.req, t.route)
	}
	h, err := sipproxy.NextHop(b.req, "udp")
	if err != nil {
		f.made(b, 503, "Service Unavailable", fmt.Sprintf("%s: %v", t.label, err))
		return
	}
	b.hop = f.s.send(b.req, h, sip.GenerateBranch())
	f.s.traceSIP(true, b.hop.Transport, b.hop.Addr, b.req.StartLine(), b.req)
	tx, err := f.s.client.TransactionRequest(f.s.runCtx, b.req, sipproxy.NoBuild)
	if err != nil {
		f.made(b, 503, "Service Unavailable", fmt.Sprintf("cannot reach %s at %s: %v", t.label, b.hop, err))
		return
	}
	b.tx = tx
	if f.req.IsInvite() {
		// RFC 6026 §8.5 (RFC 3261 §16.7 step 5): retransmitted 2xx go upstream too.
		tx.OnRetransmission(func(res *sip.Response) { f.s.relayUp(f.req, f.tx, sipproxy.Upstream(f.req, res), f.o.log) })
	}
	if !f.s.tasks.start(func() { f.read(b) }) {
		tx.Terminate()
	}
}

// read passes a branch's responses to the fork until its final one.
func (f *fork) read(b *branch) {
	for {
		select {
		case res := <-b.tx.Responses():
			select {
			case f.events <- branchEvent{b: b, res: res}:
			case <-f.done:
				return
			}
			if res.StatusCode >= 200 {
				return
			}
		case <-b.tx.Done():
			select {
			case f.events <- branchEvent{b: b, err: b.tx.Err()}:
			case <-f.done:
			}
			return
		case <-f.done:
			return
		}
	}
}

// run waits for every branch's final response, the caller's CANCEL or the
// no-answer timer, then sends the best response if no 2xx went.
func (f *fork) run() {
	var noAnswer <-chan time.Time
	if f.o.noAnswer > 0 {
		t := time.NewTimer(f.o.noAnswer)
		defer t.Stop()
		noAnswer = t.C
	}
	for f.finals < len(f.branches) {
		select {
		case e := <-f.events:
			f.handle(e)
		case <-noAnswer:
			noAnswer = nil
			if !f.answered && !f.cancelled {
				f.timedOut = true
				f.o.log.Info(fmt.Sprintf("INVITE to %s: no answer within %s; cancelling %d branch(es)", f.o.callee, f.o.noAnswer, len(f.branches)-f.finals))
				f.cancelAll()
			}
		case <-f.upCancel:
			f.upCancel = nil
			f.cancelled = true
			f.o.log.Info(fmt.Sprintf("%s cancelled by the caller (487); cancelling %d branch(es)", f.req.Method, len(f.branches)-f.finals))
			f.s.watchAck(f.req, f.tx)
			f.cancelAll()
		case <-f.giveUp:
			// RFC 3261 §9.1: no final response 64*T1 after the CANCEL: the branch is over.
			for _, b := range f.branches {
				if b.final == nil {
					b.tx.Terminate()
					f.made(b, 408, "Request Timeout", fmt.Sprintf("%s did not answer the CANCEL", b.label))
				}
			}
		case <-f.s.runCtx.Done():
			for _, b := range f.branches {
				if b.tx != nil {
					b.tx.Terminate()
				}
			}
			return
		}
	}
	if !f.answered && !f.cancelled {
		f.sendBest()
	}
}

// handle processes one response (RFC 3261 §16.7) or a branch's failure.
func (f *fork) handle(e branchEvent) {
	b := e.b
	if b.final != nil {
		return
	}
	if e.res == nil {
		code, reason, why := 503, "Service Unavailable", fmt.Sprintf("%s unreachable at %s: %v", b.label, b.hop, e.err)
		if errors.Is(e.err, sip.ErrTransactionTimeout) {
			code, reason, why = 408, "Request Timeout", fmt.Sprintf("no response from %s at %s", b.label, b.hop)
		}
		f.made(b, code, reason, why)
		return
	}
	res := e.res
	f.s.traceSIP(false, b.hop.Transport, b.hop.Addr, res.StartLine(), res)
	switch {
	case res.StatusCode < 200:
		b.ringing = true
		if b.cancelDue {
			f.cancel(b)
		}
		if res.StatusCode > 100 && !f.answered && !f.cancelled && !f.timedOut { // 100 is hop by hop (step 5)
			f.s.relayUp(f.req, f.tx, sipproxy.Upstream(f.req, res), f.o.log)
		}
	case res.StatusCode < 300:
		f.final(b, res)
		f.s.relayUp(f.req, f.tx, sipproxy.Upstream(f.req, res), f.o.log) // step 5: every 2xx, at once
		if f.answered {
			f.o.log.Info(fmt.Sprintf("%s: another %d %s, from %s, relayed too (RFC 3261 §16.7 step 5)", f.req.Method, res.StatusCode, res.Reason, b.label))
			return
		}
		f.answered = true
		msg := fmt.Sprintf("%s answered %d by %s", f.req.Method, res.StatusCode, b.label)
		if pending := len(f.branches) - f.finals; pending > 0 {
			msg += fmt.Sprintf("; cancelling %d other branch(es)", pending)
		}
		if f.req.IsInvite() {
			f.o.log.Info(msg)
		} else {
			f.o.log.Debug(msg) // in a dialog: "forwarded" said it
		}
		f.cancelAll() // step 10
	default:
		f.final(b, res)
		if f.req.IsInvite() {
			a := sipproxy.TransactionRequest(b.req, sip.ACK, res.To())
			f.s.traceSIP(true, b.hop.Transport, b.hop.Addr, a.StartLine(), a)
		}
		f.o.log.Debug(fmt.Sprintf("branch to %s ended: %d %s", b.label, res.StatusCode, res.Reason))
		if res.StatusCode >= 600 && !f.answered {
			f.cancelAll() // step 5 for 6xx: no other branch may answer
		}
	}
}

func (f *fork) final(b *branch, res *sip.Response) {
	b.final = res
	b.order = f.finals
	f.finals++
}

// made ends a branch with a response of the S-CSCF's own.
func (f *fork) made(b *branch, code int, reason, why string) {
	f.o.log.Info(fmt.Sprintf("branch to %s failed, counted as %d: %s", b.label, code, why))
	b.made = true
	f.final(b, f.s.response(f.req, code, reason, why))
}

// cancelAll cancels every pending branch (RFC 3261 §16.10) and gives them
// 64*T1 to end.
func (f *fork) cancelAll() {
	if !f.req.IsInvite() {
		return
	}
	for _, b := range f.branches {
		f.cancel(b)
	}
	if f.giveUp == nil {
		f.giveUp = time.After(sip.Timer_B)
	}
}

// cancel sends CANCEL for one branch, once it had a provisional response
// (RFC 3261 §9.1).
func (f *fork) cancel(b *branch) {
	if b.final != nil || b.cancelled || b.tx == nil {
		return
	}
	if !b.ringing {
		b.cancelDue = true
		return
	}
	b.cancelled, b.cancelDue = true, false
	c := sipproxy.Cancel(b.req)
	f.s.tasks.start(func() { f.s.sendCancel(c, b.label, f.o.log) })
}

// sendBest sends the best final response when no branch answered 2xx
// (RFC 3261 §16.7 step 6): a 6xx if any, else one of the lowest class,
// one received before one the S-CSCF made; a 503 becomes 500.
func (f *fork) sendBest() {
	if len(f.branches) == 0 {
		return
	}
	best := slices.MinFunc(f.branches, func(a, b *branch) int {
		return cmp.Or(cmp.Compare(rank(a.final), rank(b.final)), cmp.Compare(btoi(a.made), btoi(b.made)), cmp.Compare(a.order, b.order))
	})
	res := best.final
	var out *sip.Response
	switch {
	case f.timedOut && (res.StatusCode == 487 || best.made):
		// RFC 3261 §16.8: a branch Timer C ended counts as 408.
		out = f.s.response(f.req, 408, "Request Timeout", fmt.Sprintf("no answer from %s within %s (%d device(s) tried)", f.o.callee, f.o.noAnswer, len(f.branches)))
	case res.StatusCode == 503:
		why := fmt.Sprintf("%s answered 503 Service Unavailable", best.label)
		if best.made {
			why = warningText(res)
		}
		out = f.s.response(f.req, 500, "Server Internal Error", why)
	case best.made:
		out = res
	default:
		out = sipproxy.Upstream(f.req, res)
		if f.o.callee != "" {
			out.AppendHeader(sip.NewHeader("Warning", fmt.Sprintf(`399 %s "%s"`, f.s.contact.Host, f.summary())))
		}
	}
	out.RemoveHeader("Content-Length") // last, after the Warning
	out.SetBody(out.Body())
	f.o.log.Info(fmt.Sprintf("%s to %s ended: %d %s (best of %d branch(es): %s)", f.req.Method, cmp.Or(f.o.callee, f.req.Recipient.String()),
		out.StatusCode, out.Reason, len(f.branches), f.summary()))
	f.s.relayUp(f.req, f.tx, out, f.o.log)
	f.s.watchAck(f.req, f.tx)
}

// rank orders response classes for step 6: 6xx first, then 3xx, 4xx, 5xx.
func rank(r *sip.Response) int {
	if r.StatusCode >= 600 {
		return 0
	}
	return r.StatusCode / 100
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// summary says what each branch answered, for the final Warning and log.
func (f *fork) summary() string {
	parts := make([]string, 0, len(f.branches))
	for _, b := range f.branches {
		parts = append(parts, fmt.Sprintf("%s: %d %s", b.label, b.final.StatusCode, b.final.Reason))
	}
	return strings.Join(parts, "; ")
}

// warningText is the text of a response's own Warning.
func warningText(res *sip.Response) string {
	if w := res.GetHeader("Warning"); w != nil {
		if _, text, ok := strings.Cut(w.Value(), `"`); ok {
			return strings.TrimSuffix(text, `"`)
		}
	}
	return res.Reason
}

// relayUp sends a response upstream in the server transaction (RFC 3261
// §16.7 step 9). A 2xx that comes after the caller's CANCEL was answered
// (487) still goes, statelessly (§16.10).
func (s *SCSCF) relayUp(req *sip.Request, tx sip.ServerTransaction, out *sip.Response, log *slog.Logger) {
	s.traceSIP(true, out.Transport(), req.Source(), out.StartLine(), out)
	err := tx.Respond(out)
	if errors.Is(err, sip.ErrTransactionCanceled) || errors.Is(err, sip.ErrTransactionTerminated) {
		if out.IsSuccess() {
			err = s.server.WriteResponse(out)
		} else {
			err = nil // the caller has its 487
		}
	}
	if err != nil {
		log.Warn(fmt.Sprintf("could not relay %d %s upstream", out.StatusCode, out.Reason), "to", req.Source(), "err", err)
	}
}

// sendCancel sends a CANCEL for a forwarded INVITE (RFC 3261 §16.10) and
// waits for its response.
func (s *SCSCF) sendCancel(c *sip.Request, label string, log *slog.Logger) {
	s.traceSIP(true, c.Transport(), c.Destination(), c.StartLine(), c)
	ctx, cancel := context.WithTimeout(s.runCtx, sip.Timer_B)
	defer cancel()
	tx, err := s.client.TransactionRequest(ctx, c, sipproxy.NoBuild)
	if err != nil {
		log.Warn(fmt.Sprintf("could not send CANCEL to %s", label), "dst", c.Destination(), "err", err)
		return
	}
	defer tx.Terminate()
	log.Debug(fmt.Sprintf("CANCEL sent to %s", label), "dst", c.Destination())
	for {
		select {
		case res := <-tx.Responses():
			s.traceSIP(false, c.Transport(), c.Destination(), res.StartLine(), res)
			if res.StatusCode >= 200 {
				return
			}
		case <-tx.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

// watchCancel reports the caller's CANCEL of an INVITE. sipgo's
// transaction layer answers it (200, then 487 to the INVITE, RFC 3261
// §9.2); the S-CSCF then cancels its branches (§16.10). The returned
// channel closes on the CANCEL.
func (s *SCSCF) watchCancel(req *sip.Request, tx sip.ServerTransaction) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	fire := func() { once.Do(func() { close(ch) }) }
	if !tx.OnCancel(func(c *sip.Request) {
		s.traceSIP(false, c.Transport(), c.Source(), c.StartLine(), c)
		ok := sip.NewResponseFromRequest(c, 200, "OK", nil)
		s.traceSIP(true, ok.Transport(), c.Source(), ok.StartLine(), ok)
		t := sip.NewResponseFromRequest(req, 487, "Request Terminated", nil) // as the transaction sends it
		s.traceSIP(true, t.Transport(), req.Source(), t.StartLine(), t)
		fire()
	}) {
		fire()
	}
	return ch
}

// watchAck traces the ACK for a non-2xx final response to an INVITE,
// which the server transaction absorbs (RFC 3261 §17.2.1).
func (s *SCSCF) watchAck(req *sip.Request, tx sip.ServerTransaction) {
	if !req.IsInvite() {
		return
	}
	s.tasks.start(func() {
		select {
		case a := <-tx.Acks():
			s.traceSIP(false, a.Transport(), a.Source(), a.StartLine(), a)
		case <-tx.Done():
		case <-s.runCtx.Done():
		}
	})
}
