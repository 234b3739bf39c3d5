package ue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipproxy"
)

// Dial places a call (TS 24.229 §5.1.3, RFC 3261 §13.2, RFC 3262, RFC
// 3264) and returns it once answered: INVITE with an SDP offer
// (RTP/SAVP, a=crypto) through the P-CSCF along the Service-Route; every
// reliable provisional response PRACKed; the first 2xx ACKed and its
// media started. A call that does not connect returns a *CallError. When
// ctx ends or RingTimeout passes before the answer, the UE sends CANCEL
// (RFC 3261 §9.1).
func (u *UE) Dial(ctx context.Context, opts CallOptions) (*Call, error) {
	if err := u.Boot(ctx); err != nil {
		return nil, err
	}
	target, err := parseTarget(opts.To)
	if err != nil {
		return nil, err
	}
	route, err := u.routeToPCSCF()
	if err != nil {
		return nil, err
	}
	leg, err := u.newMediaLeg(opts.Media)
	if err != nil {
		return nil, err
	}
	offer, err := leg.offer()
	if err != nil {
		leg.close()
		return nil, err
	}
	c := &Call{u: u, dir: Outgoing, callID: newTag() + "@" + u.contact.Host, peer: target.String(), start: time.Now(),
		localTag: newTag(), local: *u.impu.Clone(), remote: target, remoteTarget: target, routeSet: route,
		media: leg, done: make(chan struct{})}
	inv := c.newRequest(sip.INVITE)
	inv.RemoveHeader("User-Agent")
	contact := &sip.ContactHeader{Address: *u.contact.Clone(), Params: sip.NewParams()}
	contact.Params.Add("+g.3gpp.icsi-ref", icsiMMTel)
	inv.AppendHeader(contact)
	// TS 24.229 §5.1.3.1: the identity the UE wishes to use, the MMTel
	// service, and what the UE supports (RFC 3262 100rel).
	inv.AppendHeader(sip.NewHeader("P-Preferred-Identity", "<"+u.impu.String()+">"))
	inv.AppendHeader(sip.NewHeader("P-Preferred-Service", "urn:urn-7:3gpp-service.ims.icsi.mmtel"))
	inv.AppendHeader(sip.NewHeader("Accept-Contact", "*;+g.3gpp.icsi-ref="+icsiMMTel))
	inv.AppendHeader(sip.NewHeader("Supported", "100rel"))
	inv.AppendHeader(sip.NewHeader("Allow", allowCall))
	inv.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody(offer)
	u.addCall(c)
	u.emit(Event{Kind: CallDialing, Call: c, Text: "calling " + c.peer})

	if opts.RingTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.RingTimeout)
		defer cancel()
	}
	if err := u.invite(ctx, c, inv); err != nil {
		c.mu.Lock()
		c.ended = true
		c.mu.Unlock()
		leg.close()
		u.dropCall(c)
		close(c.done)
		u.emit(Event{Kind: CallFailed, Call: c, Err: err, Text: fmt.Sprintf("call to %s: %v", c.peer, err)})
		return nil, err
	}
	return c, nil
}

// allowCall is what a UE in a call accepts (RFC 3261 §20.5).
const allowCall = "INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, INFO, OPTIONS, NOTIFY"

// invite runs the INVITE client transaction until the call is answered or
// has failed.
func (u *UE) invite(ctx context.Context, c *Call, inv *sip.Request) error {
	u.stampVia(inv)
	u.traceSent(inv, describeRequest(inv))
	tx, err := u.stack.clientFor(inv).TransactionRequest(context.WithoutCancel(ctx), inv)
	if err != nil {
		return fmt.Errorf("sending INVITE to the P-CSCF %s: %w", u.pcscf, err)
	}
	defer tx.Terminate()
	var (
		ringing   bool
		answered  bool
		cancelled bool
		gaveUp    bool // ctx ended: cancel once a provisional response came
		gotProv   bool
		early     = map[string][]byte{} // SDP answers in reliable 18x, by To tag
		pracked   = map[string]uint32{} // last RSeq PRACKed per early dialog
	)
	// RFC 6026 §8.4 / RFC 3261 §13.2.2.4: a 2xx retransmitted, or a 2xx from
	// another fork, once the first was taken.
	tx.OnRetransmission(func(res *sip.Response) {
		if !res.IsSuccess() {
			return
		}
		u.traceRecv(res, describeResponse(res))
		tag := tagOf(res.To())
		c.mu.Lock()
		same := tag == c.remoteTag
		c.mu.Unlock()
		if same {
			u.sendAck(inv, res)
			return
		}
		u.goCall(func() { u.dropFork(inv, res) })
	})
	// After CANCEL, the 487 (or a 200 that crossed it) is awaited 64*T1 at
	// most (RFC 3261 §9.1, Timer B's span).
	var gaveUpTimer <-chan time.Time
	cancelReq := func() {
		if cancelled || answered {
			return
		}
		cancelled = true
		gaveUpTimer = time.After(64 * t1)
		u.goCall(func() { u.sendCancel(inv) })
	}
	ctxDone := ctx.Done()
	for {
		select {
		case res := <-tx.Responses():
			u.traceRecv(res, describeResponse(res))
			switch {
			case res.StatusCode == 100:
				gotProv = true
			case res.IsProvisional():
				gotProv = true
				tag := tagOf(res.To())
				if !ringing && res.StatusCode == 180 {
					ringing = true
					u.emit(Event{Kind: CallRinging, Call: c, Text: c.peer + " is ringing"})
				}
				if reliable(res) {
					rseq, _ := rseqOf(res)
					// RFC 3262 §4: PRACK each reliable response once, in order.
					if last, seen := pracked[tag]; !seen || rseq == last+1 {
						pracked[tag] = rseq
						if len(res.Body()) > 0 {
							early[tag] = res.Body()
						}
						u.goCall(func() { u.sendPrack(c, inv, res, rseq) })
					}
				}
			case res.IsSuccess():
				answered = true
				if err := u.answered(c, inv, res, early[tagOf(res.To())]); err != nil {
					return err
				}
				if cancelled {
					// The 200 crossed our CANCEL: the call exists; end it.
					u.goCall(func() { c.hangupQuietly() })
					return &CallError{Code: 487, Reason: "Request Terminated", Warning: "answered while being cancelled; hung up"}
				}
				return nil
			default:
				return &CallError{Code: res.StatusCode, Reason: res.Reason, Warning: warningText(res)}
			}
		case <-ctxDone:
			ctxDone, gaveUp = nil, true
		case <-gaveUpTimer:
			return &CallError{Code: 487, Reason: "Request Terminated", Warning: "cancelled; the network never confirmed"}
		case <-tx.Done():
			if errors.Is(tx.Err(), sip.ErrTransactionTimeout) {
				return &CallError{Code: 408, Reason: "Request Timeout", Warning: "no answer from the P-CSCF " + u.pcscf}
			}
			return fmt.Errorf("INVITE to the P-CSCF %s: %w", u.pcscf, tx.Err())
		}
		// RFC 3261 §9.1: CANCEL only once a provisional response came.
		if gaveUp && gotProv {
			cancelReq()
		}
	}
}

// answered takes the first 2xx (RFC 3261 §13.2.2.4): the dialog is set up
// from it, ACKed, and the media started with the SDP answer.
func (u *UE) answered(c *Call, inv *sip.Request, res *sip.Response, earlyAnswer []byte) error {
	target, ok := contactURI(res)
	if !ok {
		u.sendAck(inv, res)
		return &CallError{Code: 502, Reason: "Bad Gateway", Warning: "the 200 has no Contact"}
	}
	c.mu.Lock()
	c.remoteTag = tagOf(res.To())
	c.remoteTarget = target
	c.routeSet = reverseRecordRoute(res)
	c.remote = res.To().Address
	c.established = time.Now()
	c.setup = c.established.Sub(c.start).Round(time.Microsecond)
	leg := c.media
	c.mu.Unlock()
	u.sendAck(inv, res)
	answer := res.Body()
	if len(answer) == 0 {
		answer = earlyAnswer
	}
	if err := leg.accept(answer); err != nil {
		// RFC 3264 §5: an unusable answer ends the call.
		u.goCall(func() { c.hangupQuietly() })
		return fmt.Errorf("the SDP answer of %s: %w", c.peer, err)
	}
	leg.start(u.callCtx)
	n := leg.negotiated()
	u.emit(Event{Kind: CallEstablished, Call: c, Text: fmt.Sprintf("call with %s established in %s: %s", c.peer, c.setup.Round(time.Millisecond), n.Summary())})
	return nil
}

// sendAck sends the ACK for a 2xx (RFC 3261 §13.2.2.4): a new transaction
// of its own, along the route set of the response, with the INVITE's CSeq.
func (u *UE) sendAck(inv *sip.Request, res *sip.Response) {
	target, ok := contactURI(res)
	if !ok {
		target = inv.Recipient
	}
	ack := sip.NewRequest(sip.ACK, target)
	for _, r := range reverseRecordRoute(res) {
		ack.AppendHeader(&sip.RouteHeader{Address: r})
	}
	mf := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&mf)
	ack.AppendHeader(sip.HeaderClone(inv.From()))
	ack.AppendHeader(sip.HeaderClone(res.To()))
	ack.AppendHeader(sip.HeaderClone(inv.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetBody(nil)
	u.stampVia(ack)
	u.traceSent(ack, describeRequest(ack))
	if err := u.stack.clientFor(ack).WriteRequest(ack); err != nil {
		u.log.Warn("could not send ACK", "call_id", inv.CallID().Value(), "err", err)
	}
}

// dropFork ends the dialog of a second 2xx from another fork (RFC 3261
// §13.2.2.4: ACK it, then BYE).
func (u *UE) dropFork(inv *sip.Request, res *sip.Response) {
	u.sendAck(inv, res)
	target, ok := contactURI(res)
	if !ok {
		return
	}
	c := &Call{u: u, callID: inv.CallID().Value(), localTag: tagOf(inv.From()), remoteTag: tagOf(res.To()),
		local: inv.From().Address, remote: res.To().Address, remoteTarget: target, routeSet: reverseRecordRoute(res),
		cseq: inv.CSeq().SeqNo}
	bye := c.newRequest(sip.BYE)
	ctx, cancel := context.WithTimeout(u.callCtx, 10*time.Second)
	defer cancel()
	if _, err := u.send(ctx, bye); err != nil {
		u.log.Warn("could not end a second answer from another device", "call_id", c.callID, "err", err)
	}
}

// sendPrack acknowledges a reliable provisional response (RFC 3262 §7.2):
// in its early dialog, RAck = RSeq, CSeq and method of the INVITE.
func (u *UE) sendPrack(c *Call, inv *sip.Request, res *sip.Response, rseq uint32) {
	target, ok := contactURI(res)
	if !ok {
		u.log.Warn("reliable provisional response without Contact: no PRACK", "call_id", c.callID)
		return
	}
	// One CSeq space for the UAC's requests of the call (RFC 3261
	// §12.2.1.1), shared by its early dialogs.
	c.mu.Lock()
	c.cseq++
	early := &Call{u: u, callID: c.callID, localTag: c.localTag, remoteTag: tagOf(res.To()), local: c.local,
		remote: res.To().Address, remoteTarget: target, routeSet: reverseRecordRoute(res), cseq: c.cseq - 1}
	c.mu.Unlock()
	pr := early.newRequest(sip.PRACK)
	pr.AppendHeader(sip.NewHeader("RAck", fmt.Sprintf("%d %d INVITE", rseq, inv.CSeq().SeqNo)))
	ctx, cancel := context.WithTimeout(u.callCtx, 32*time.Second)
	defer cancel()
	res2, err := u.send(ctx, pr)
	if err != nil {
		u.log.Warn("PRACK failed", "call_id", c.callID, "err", err)
		return
	}
	if !res2.IsSuccess() {
		u.log.Warn("PRACK refused", "call_id", c.callID, "status", res2.StatusCode)
	}
}

// sendCancel cancels the INVITE (RFC 3261 §9.1): same Request-URI, Call-ID,
// From, To, CSeq number and top Via (branch) as the INVITE, and its Route.
func (u *UE) sendCancel(inv *sip.Request) {
	cr := sipproxy.Cancel(inv) // where the INVITE went, with its Via
	u.traceSent(cr, describeRequest(cr))
	ctx, cancel := context.WithTimeout(u.callCtx, 32*time.Second)
	defer cancel()
	tx, err := u.stack.clientFor(cr).TransactionRequest(ctx, cr)
	if err != nil {
		u.log.Warn("could not send CANCEL", "call_id", inv.CallID().Value(), "err", err)
		return
	}
	defer tx.Terminate()
	select {
	case res := <-tx.Responses():
		u.traceRecv(res, describeResponse(res))
	case <-tx.Done():
	case <-ctx.Done():
	}
}

// stampVia puts the UE's Via on a request and addresses it to the P-CSCF,
// the outbound proxy of every request (TS 24.229 §5.1.1.2.1). A request
// over 1300 bytes goes over TCP even when the UE uses UDP (RFC 3261
// §18.1.1, TS 24.229 §4.2A); its Via still names the UE's own port, where
// it listens on both.
func (u *UE) stampVia(req *sip.Request) {
	network := u.network
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: network,
		Host: u.contact.Host, Port: u.contact.Port, Params: sip.HeaderParams{{K: "branch", V: sip.GenerateBranchN(16)}}}
	req.PrependHeader(via)
	if network == "UDP" && len(req.String()) > sipproxy.UDPMax {
		network, via.Transport = "TCP", "TCP"
	}
	req.SetDestination(u.pcscf)
	req.SetTransport(network)
}

// itoa is strconv.Itoa for uint32.
func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
