package ue

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/media"
)

// SIP timers (RFC 3261 §17.1.1.1, Table 4).
const (
	t1 = 500 * time.Millisecond
	t2 = 4 * time.Second
)

// supportedTags are the option tags a UE understands (RFC 3261 §8.2.2.3).
var supportedTags = []string{"100rel", "path"}

// onInvite handles an INVITE: a new call (TS 24.229 §5.1.4, RFC 3261
// §13.3), or a re-INVITE in a call (§14.2).
func (u *UE) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	u.traceRecv(req, describeRequest(req))
	if tagOf(req.To()) != "" {
		u.onReInvite(req, tx)
		return
	}
	// A CANCEL may come at any time before the final response (RFC 3261
	// §9.2): hook it first. sipgo answers it (200, then 487 to the INVITE).
	ringCtx, stopRing := context.WithCancel(u.callCtx)
	defer stopRing()
	cancelled := make(chan struct{})
	if !tx.OnCancel(func(cr *sip.Request) {
		u.traceCancel(req, cr)
		close(cancelled)
		stopRing()
	}) {
		return // cancelled already, or the transaction is over
	}
	// RFC 3261 §8.2.2.3: an extension we do not know is refused with 420.
	var unknown []string
	for _, t := range requires(req) {
		if !containsFold(supportedTags, t) {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		u.respond(req, tx, 420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(unknown, ", ")))
		return
	}
	u.respond(req, tx, 100, "Trying")
	pol := u.cfg.Answer
	switch pol.Mode {
	case AnswerBusy:
		u.respond(req, tx, 486, "Busy Here")
		u.emit(Event{Kind: CallFailed, Text: "incoming call from " + callerOf(req) + " refused: busy"})
		return
	case AnswerDecline:
		u.respond(req, tx, 603, "Decline")
		u.emit(Event{Kind: CallFailed, Text: "incoming call from " + callerOf(req) + " declined"})
		return
	}
	leg, err := u.newMediaLeg(pol.Media)
	if err != nil {
		u.respond(req, tx, 500, "Server Internal Error", warning(u, err.Error()))
		return
	}
	var answer []byte
	if len(req.Body()) > 0 {
		if answer, err = leg.answer(req.Body()); err != nil {
			leg.close()
			// RFC 3261 §21.4.26: nothing in the offer is acceptable; the
			// Warning's code says what (§20.43: 301-306).
			u.respond(req, tx, 488, "Not Acceptable Here", warningCode(u, media.WarnCode(err), err.Error()))
			u.emit(Event{Kind: CallFailed, Err: err, Text: "incoming call from " + callerOf(req) + " refused: " + err.Error()})
			return
		}
	} else if answer, err = leg.offer(); err != nil { // RFC 3261 §13.3.1: offer in the 200, answer in the ACK
		leg.close()
		u.respond(req, tx, 500, "Server Internal Error", warning(u, err.Error()))
		return
	}
	target, ok := contactURI(req)
	if !ok {
		leg.close()
		u.respond(req, tx, 400, "Bad Request", warning(u, "INVITE without Contact"))
		return
	}
	c := &Call{u: u, dir: Incoming, callID: req.CallID().Value(), peer: callerOf(req), start: time.Now(),
		localTag: newTag(), local: req.To().Address, remote: req.From().Address, remoteTag: tagOf(req.From()),
		remoteTarget: target, routeSet: recordRouteOf(req), cseq: randomCSeq(), media: leg,
		acked: make(chan struct{}), prack: make(chan uint32, 4), done: make(chan struct{}), cancelRing: stopRing}
	u.addCall(c)

	// 180 Ringing, reliable when the caller supports 100rel (RFC 3262 §3;
	// VoLTE phones do, TS 24.229 §5.1.4.1).
	ring := u.response(c, req, 180, "Ringing", nil)
	rel := supports(req, "100rel")
	var rseq uint32
	if rel {
		rseq = randomRSeq()
		ring.AppendHeader(sip.NewHeader("Require", "100rel"))
		ring.AppendHeader(sip.NewHeader("RSeq", itoa(rseq)))
	}
	u.sendResponse(req, tx, ring)
	u.emit(Event{Kind: CallRinging, Call: c, Text: "incoming call from " + c.peer + ": ringing"})
	if rel {
		u.goCall(func() { u.retransmitReliable(ringCtx, c, req, tx, ring, rseq) })
	}

	var wait <-chan time.Time
	if pol.Mode == AnswerAuto {
		t := time.NewTimer(pol.After)
		defer t.Stop()
		wait = t.C
	}
	select {
	case <-wait:
	case <-cancelled:
		c.endEarly("remote", "cancelled by the caller before answer (487)")
		return
	case <-ringCtx.Done():
		u.respond(req, tx, 480, "Temporarily Unavailable", warning(u, "the UE is shutting down"))
		c.endEarly("local", "the UE stopped")
		return
	}
	stopRing()

	ok200 := u.response(c, req, 200, "OK", answer)
	if err := u.sendResponse(req, tx, ok200); err != nil {
		if errors.Is(err, sip.ErrTransactionCanceled) {
			c.endEarly("remote", "cancelled by the caller as it was answered (487)")
			return
		}
		c.endEarly("local", "the 200 could not be sent: "+err.Error())
		return
	}
	c.mu.Lock()
	c.established = time.Now()
	c.mu.Unlock()
	if len(req.Body()) > 0 {
		leg.start(u.callCtx)
	}
	u.emit(Event{Kind: CallAnswered, Call: c, Text: "answered the call from " + c.peer})
	select {
	case u.incoming <- c:
	default: // nobody reads NextCall: the call goes on all the same
	}
	// RFC 3261 §13.3.1.4: the UAS core retransmits the 2xx until the ACK.
	u.goCall(func() { u.awaitAck(c, req, ok200) })
}

// NextCall waits for the next incoming call this UE answers (as
// Config.Answer says) and returns it, answered; its Done and Result tell
// when and how it ended.
func (u *UE) NextCall(ctx context.Context) (*Call, error) {
	select {
	case c := <-u.incoming:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-u.callCtx.Done():
		return nil, errors.New("ue: closed")
	}
}

// onReInvite answers a re-INVITE (RFC 3261 §14.2). imslab keeps its
// session as it is: the answer is its current SDP (RFC 3264 §8: an
// unchanged session keeps its version).
func (u *UE) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := u.findCall(req)
	if c == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock()
	leg := c.media
	c.mu.Unlock()
	res := u.response(c, req, 200, "OK", leg.localSDP())
	_ = u.sendResponse(req, tx, res)
}

// awaitAck waits for the ACK of the 200, retransmitting the 200 over UDP
// (T1 doubling up to T2) for 64*T1; without an ACK the call is ended
// with BYE (RFC 3261 §13.3.1.4).
func (u *UE) awaitAck(c *Call, req *sip.Request, ok200 *sip.Response) {
	interval := t1
	deadline := time.NewTimer(64 * t1)
	defer deadline.Stop()
	tick := time.NewTimer(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.acked:
			c.mu.Lock()
			c.setup = time.Since(c.start).Round(time.Microsecond)
			c.mu.Unlock()
			u.emit(Event{Kind: CallEstablished, Call: c, Text: fmt.Sprintf("call with %s established: %s", c.peer, c.Media().Summary())})
			if d := u.cfg.Answer.HangupAfter; d > 0 {
				u.hangupAfter(c, d)
			}
			return
		case <-c.done:
			return
		case <-u.callCtx.Done():
			return
		case <-tick.C:
			if strings.EqualFold(req.Transport(), "UDP") {
				u.traceSent(ok200, describeResponse(ok200)+" (again)")
				_ = u.stack.srv.WriteResponse(ok200)
			}
			interval = min(2*interval, t2)
			tick.Reset(interval)
		case <-deadline.C:
			u.log.Warn("no ACK for the 200: ending the call", "call_id", c.callID)
			_ = c.Hangup(u.callCtx)
			return
		}
	}
}

// hangupAfter ends an answered call after d, unless it ends first.
func (u *UE) hangupAfter(c *Call, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		ctx, cancel := context.WithTimeout(u.callCtx, 10*time.Second)
		defer cancel()
		if err := c.Hangup(ctx); err != nil {
			u.log.Warn("hang-up failed", "call_id", c.callID, "err", err)
		}
	case <-c.done:
	case <-u.callCtx.Done():
	}
}

// retransmitReliable resends a reliable provisional response until its
// PRACK (RFC 3262 §3: T1, doubling; give up after 64*T1).
func (u *UE) retransmitReliable(ctx context.Context, c *Call, req *sip.Request, tx sip.ServerTransaction, res *sip.Response, rseq uint32) {
	interval := t1
	deadline := time.Now().Add(64 * t1)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case n := <-c.prack:
			if n == rseq {
				return
			}
		case <-ctx.Done():
			return
		case <-t.C:
			if time.Now().After(deadline) {
				u.log.Warn("no PRACK for the reliable 180", "call_id", c.callID)
				return
			}
			u.traceSent(res, describeResponse(res)+" (again)")
			_ = tx.Respond(res)
			interval = min(2*interval, t2)
			t.Reset(interval)
		}
	}
}

// onPrack answers a PRACK (RFC 3262 §3): 200 when its RAck matches the
// reliable response sent, 481 otherwise.
func (u *UE) onPrack(req *sip.Request, tx sip.ServerTransaction) {
	u.traceRecv(req, describeRequest(req))
	c := u.findCall(req)
	if c == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	var rseq, cseq uint32
	var method string
	if _, err := fmt.Sscanf(header(req, "RAck"), "%d %d %s", &rseq, &cseq, &method); err != nil {
		u.respond(req, tx, 400, "Bad Request", warning(u, "RAck is not 'RSeq CSeq Method' (RFC 3262 §7.2)"))
		return
	}
	select {
	case c.prack <- rseq:
	default:
	}
	u.respond(req, tx, 200, "OK")
}

// onAck takes the ACK of a 2xx (RFC 3261 §13.3.1.4); with the SDP answer
// when the 200 carried the offer.
func (u *UE) onAck(req *sip.Request, _ sip.ServerTransaction) {
	u.traceRecv(req, describeRequest(req))
	c := u.findCall(req)
	if c == nil {
		return
	}
	c.ackOnce.Do(func() {
		c.mu.Lock()
		leg := c.media
		c.mu.Unlock()
		if body := req.Body(); len(body) > 0 {
			if err := leg.accept(body); err != nil {
				u.log.Warn("the SDP answer in the ACK is unusable: ending the call", "call_id", c.callID, "err", err)
				u.goCall(func() { c.hangupQuietly() })
				return
			}
			leg.start(u.callCtx)
		}
		if c.acked != nil {
			close(c.acked)
		}
	})
}

// onBye ends a call the peer hangs up (RFC 3261 §15.1.2).
func (u *UE) onBye(req *sip.Request, tx sip.ServerTransaction) {
	u.traceRecv(req, describeRequest(req))
	c := u.findCall(req)
	if c == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	u.respond(req, tx, 200, "OK")
	c.end("remote", "the other side hung up")
}

// onInDialog answers UPDATE and INFO in a call with 200 (RFC 3311, RFC
// 6086): imslab neither changes its session nor reads INFO packages.
func (u *UE) onInDialog(req *sip.Request, tx sip.ServerTransaction) {
	u.traceRecv(req, describeRequest(req))
	if u.findCall(req) == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	u.respond(req, tx, 200, "OK")
}

// endEarly ends an incoming call that never got to ACK.
func (c *Call) endEarly(by, reason string) {
	if c.cancelRing != nil {
		c.cancelRing()
	}
	c.end(by, reason)
}

// response builds a response of the UAS in a call: one To tag for all
// (RFC 3261 §8.2.6.2), Contact (§12.1.1), Record-Route copied by sipgo.
func (u *UE) response(c *Call, req *sip.Request, code int, reason string, sdp []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if to := res.To(); to != nil {
		to.Params.Add("tag", c.localTag) // replaces sipgo's random tag
	}
	if code > 100 && code < 300 {
		res.AppendHeader(&sip.ContactHeader{Address: *u.contact.Clone()})
		res.AppendHeader(sip.NewHeader("Allow", allowCall))
		res.AppendHeader(sip.NewHeader("Supported", strings.Join(supportedTags, ", ")))
	}
	res.AppendHeader(sip.NewHeader("Server", u.cfg.UserAgent))
	if len(sdp) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.SetBody(sdp)
	return res
}

// sendResponse sends a response in the INVITE's server transaction.
func (u *UE) sendResponse(req *sip.Request, tx sip.ServerTransaction, res *sip.Response) error {
	if err := tx.Respond(res); err != nil {
		u.log.Warn("could not answer the network", "method", req.Method, "status", res.StatusCode, "err", err)
		return err
	}
	u.traceSent(res, describeResponse(res))
	return nil
}

// traceCancel traces a CANCEL and the two responses sipgo sent by itself
// (RFC 3261 §9.2: 200 to the CANCEL, then 487 to the INVITE; rebuilt here
// for the trace, so the 487's To tag is not the one sent).
func (u *UE) traceCancel(inv, cr *sip.Request) {
	u.traceRecv(cr, describeRequest(cr))
	ok := sip.NewResponseFromRequest(cr, 200, "OK", nil)
	u.traceSent(ok, describeResponse(ok))
	rt := sip.NewResponseFromRequest(inv, 487, "Request Terminated", nil)
	u.traceSent(rt, describeResponse(rt))
}

// callerOf is the caller as the network asserted it (P-Asserted-Identity,
// RFC 3325), else From.
func callerOf(req *sip.Request) string {
	if pai := header(req, "P-Asserted-Identity"); pai != "" {
		return strings.Trim(addrOnly(splitAddrList(req.GetHeaders("P-Asserted-Identity"))[0]), "<>")
	}
	if f := req.From(); f != nil {
		return f.Address.String()
	}
	return "?"
}

// warning is a Warning header (RFC 3261 §20.43, code 399) naming the UE.
func warning(u *UE, text string) sip.Header { return warningCode(u, 399, text) }

// warningCode is a Warning header with a given warn-code.
func warningCode(u *UE, code int, text string) sip.Header {
	return sip.NewHeader("Warning", fmt.Sprintf(`%d %s "%s"`, code, u.contact.Host, strings.ReplaceAll(text, `"`, `'`)))
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, strings.TrimSpace(s)) {
			return true
		}
	}
	return false
}

// randomRSeq is the first RSeq, random in 1..2^31-1 (RFC 3262 §3).
func randomRSeq() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])&0x7fffffff | 1
}

// randomCSeq starts the UAS's own CSeq space (RFC 3261 §8.1.1.5: < 2^31).
func randomCSeq() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:]) & 0x0fffffff
}
