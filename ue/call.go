package ue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Direction says who placed a call.
type Direction int

// The two directions of a call (TS 24.229: mobile originating, mobile
// terminating).
const (
	Outgoing Direction = iota + 1 // MO: this UE called
	Incoming                      // MT: this UE was called
)

func (d Direction) String() string {
	if d == Outgoing {
		return "outgoing"
	}
	return "incoming"
}

// CallOptions configure an outgoing call.
type CallOptions struct {
	// To is the callee: tel:+15550001, sip:+15550001@domain;user=phone or
	// sip:user@domain. A bare "+15550001" is taken as a tel URI.
	To string
	// Media is what this UE sends and accepts.
	Media MediaOptions
	// RingTimeout gives up with CANCEL when nobody answers within it
	// (0: wait for the network's answer or ctx).
	RingTimeout time.Duration
}

// AnswerMode says what a UE does with an incoming call.
type AnswerMode int

// Answer modes.
const (
	// AnswerAuto rings for AnswerPolicy.After, then answers (the default).
	AnswerAuto AnswerMode = iota
	// AnswerBusy refuses every call with 486 Busy Here.
	AnswerBusy
	// AnswerNever rings until the caller gives up.
	AnswerNever
	// AnswerDecline refuses every call with 603 Decline.
	AnswerDecline
)

// AnswerPolicy is how a UE handles incoming calls.
type AnswerPolicy struct {
	Mode AnswerMode
	// After is how long the UE rings before answering (AnswerAuto).
	After time.Duration
	// Media is what the UE sends and accepts on incoming calls.
	Media MediaOptions
	// HangupAfter, when set, ends an answered call with BYE after that
	// long (the callee hangs up first).
	HangupAfter time.Duration
}

// CallError is a call that did not connect: the final response, in words.
type CallError struct {
	Code    int
	Reason  string
	Warning string // the Warning header's text, if any
}

func (e *CallError) Error() string {
	s := fmt.Sprintf("call failed: %d %s", e.Code, e.Reason)
	if e.Warning != "" {
		s += " (" + e.Warning + ")"
	}
	if m := callMeaning[e.Code]; m != "" {
		s += ": " + m
	}
	return s
}

// callMeaning explains the final responses a caller meets most (RFC 3261 §21).
var callMeaning = map[int]string{
	403: "the network refused the call (is this UE registered?)",
	404: "no such subscriber",
	408: "nobody answered in time",
	480: "the callee is not reachable now (not registered)",
	486: "the callee is busy",
	487: "the call was cancelled before it was answered",
	488: "the callee accepts none of the offered media (codec or SRTP suite)",
	500: "the network failed",
	503: "the network is unavailable",
	603: "the callee declined the call",
}

// Call is one call of this UE: its dialog and its media. It is safe for
// concurrent use.
type Call struct {
	u      *UE
	dir    Direction
	callID string
	peer   string // the other party, as a URI
	start  time.Time

	mu           sync.Mutex
	localTag     string
	remoteTag    string
	local        sip.Uri // our address in From (MO) or To (MT)
	remote       sip.Uri // the other party's address in To (MO) or From (MT)
	remoteTarget sip.Uri // the peer's Contact (RFC 3261 §12.1)
	routeSet     []sip.Uri
	cseq         uint32 // our last CSeq in the dialog
	media        *mediaLeg
	established  time.Time
	setup        time.Duration
	ended        bool
	endedBy      string
	endReason    string
	result       *CallResult
	acked        chan struct{} // MT: closed when the ACK arrived
	ackOnce      sync.Once
	prack        chan uint32 // MT: RSeq values PRACKed
	done         chan struct{}
	cancelRing   func() // MT: stops ringing (CANCEL arrived)
}

// CallResult is what a call did, once it ended.
type CallResult struct {
	CallID    string        `json:"call_id"`
	Direction string        `json:"direction"`
	Peer      string        `json:"peer"`
	Setup     time.Duration `json:"setup"` // INVITE → 200 (MO), INVITE → ACK (MT)
	Duration  time.Duration `json:"duration"`
	EndedBy   string        `json:"ended_by"` // "local" or "remote"
	Reason    string        `json:"reason"`
	Media     MediaResult   `json:"media"`
}

// ID returns the call's Call-ID.
func (c *Call) ID() string { return c.callID }

// Direction says who placed the call.
func (c *Call) Direction() Direction { return c.dir }

// Peer is the other party's URI.
func (c *Call) Peer() string { return c.peer }

// Setup is how long the call took to set up: INVITE sent → 200 received
// (outgoing), INVITE received → ACK received (incoming); 0 before.
func (c *Call) Setup() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.setup
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// Result returns what the call did; nil until Done is closed.
func (c *Call) Result() *CallResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.result
}

// Media returns what was negotiated for the call's media (zero before the
// SDP answer).
func (c *Call) Media() Negotiated {
	c.mu.Lock()
	m := c.media
	c.mu.Unlock()
	if m == nil {
		return Negotiated{}
	}
	return m.negotiated()
}

// Received returns the audio received so far (8 kHz, 16-bit).
func (c *Call) Received() []int16 {
	c.mu.Lock()
	m := c.media
	c.mu.Unlock()
	if m == nil {
		return nil
	}
	return m.received()
}

// Hangup ends an established call with BYE (RFC 3261 §15.1.1) and waits
// for its answer.
func (c *Call) Hangup(ctx context.Context) error {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return nil
	}
	if c.established.IsZero() {
		c.mu.Unlock()
		return errors.New("the call is not answered yet: nothing to hang up (an unanswered call is cancelled)")
	}
	c.mu.Unlock()
	bye := c.newRequest(sip.BYE)
	c.end("local", "hung up")
	res, err := c.u.send(ctx, bye)
	if err != nil {
		return fmt.Errorf("BYE: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("BYE answered %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// hangupQuietly hangs up in the background (bounded by the UE's life),
// logging a failure.
func (c *Call) hangupQuietly() {
	ctx, cancel := context.WithTimeout(c.u.callCtx, 10*time.Second)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		c.u.log.Warn("hang-up failed", "call_id", c.callID, "err", err)
	}
}

// goCall runs f in a goroutine that Close waits for; f must end when
// u.callCtx does.
func (u *UE) goCall(f func()) {
	u.callWG.Add(1)
	go func() {
		defer u.callWG.Done()
		f()
	}()
}

// end stops the media and records the result, once.
func (c *Call) end(by, reason string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.endedBy, c.endReason = by, reason
	m := c.media
	c.mu.Unlock()
	var mr MediaResult
	if m != nil {
		mr = m.stop()
	}
	c.mu.Lock()
	r := &CallResult{CallID: c.callID, Direction: c.dir.String(), Peer: c.peer, Setup: c.setup,
		EndedBy: by, Reason: reason, Media: mr}
	if !c.established.IsZero() {
		r.Duration = time.Since(c.established).Round(time.Millisecond)
	}
	c.result = r
	c.mu.Unlock()
	c.u.dropCall(c)
	close(c.done)
	text := fmt.Sprintf("call %s %s ended by the %s side: %s", c.dir, c.peer, by, reason)
	if m != nil {
		text += "; " + mr.Summary()
	}
	c.u.emit(Event{Kind: CallEnded, Call: c, Text: text})
}

// newRequest builds an in-dialog request (RFC 3261 §12.2.1.1): the
// Request-URI is the remote target, the Route the route set, the tags and
// Call-ID the dialog's, CSeq one more than the last.
func (c *Call) newRequest(method sip.RequestMethod) *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	req := sip.NewRequest(method, *c.remoteTarget.Clone())
	for _, r := range c.routeSet {
		req.AppendHeader(&sip.RouteHeader{Address: *r.Clone()})
	}
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := &sip.FromHeader{Address: *c.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", c.localTag)
	to := &sip.ToHeader{Address: *c.remote.Clone(), Params: sip.NewParams()}
	if c.remoteTag != "" {
		to.Params.Add("tag", c.remoteTag)
	}
	req.AppendHeader(from)
	req.AppendHeader(to)
	cid := sip.CallIDHeader(c.callID)
	req.AppendHeader(&cid)
	c.cseq++
	req.AppendHeader(&sip.CSeqHeader{SeqNo: c.cseq, MethodName: method})
	req.AppendHeader(sip.NewHeader("User-Agent", c.u.cfg.UserAgent))
	req.SetBody(nil)
	return req
}

// Calls lists the calls in progress.
func (u *UE) Calls() []*Call {
	u.callMu.Lock()
	defer u.callMu.Unlock()
	out := make([]*Call, 0, len(u.calls))
	for _, c := range u.calls {
		out = append(out, c)
	}
	return out
}

func (u *UE) addCall(c *Call) {
	u.callMu.Lock()
	defer u.callMu.Unlock()
	if u.calls == nil {
		u.calls = map[string]*Call{}
	}
	u.calls[c.callID] = c
}

func (u *UE) dropCall(c *Call) {
	u.callMu.Lock()
	defer u.callMu.Unlock()
	if u.calls[c.callID] == c {
		delete(u.calls, c.callID)
	}
}

// findCall finds the call an in-dialog request belongs to (RFC 3261
// §12.2.2: Call-ID, and the tags: our tag is the request's To tag).
func (u *UE) findCall(req *sip.Request) *Call {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	u.callMu.Lock()
	c := u.calls[cid.Value()]
	u.callMu.Unlock()
	if c == nil {
		return nil
	}
	toTag, fromTag := tagOf(req.To()), tagOf(req.From())
	c.mu.Lock()
	defer c.mu.Unlock()
	if toTag != c.localTag || (c.remoteTag != "" && fromTag != c.remoteTag) {
		return nil
	}
	return c
}

// tagOf returns the tag parameter of a From or To header.
func tagOf(h interface{ Value() string }) string {
	switch v := h.(type) {
	case *sip.FromHeader:
		if v != nil {
			t, _ := v.Params.Get("tag")
			return t
		}
	case *sip.ToHeader:
		if v != nil {
			t, _ := v.Params.Get("tag")
			return t
		}
	}
	return ""
}

// parseTarget reads the callee: a tel URI (RFC 3966), a SIP URI, or a
// bare global number taken as tel.
func parseTarget(s string) (sip.Uri, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "+") {
		s = "tel:" + s
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return u, fmt.Errorf("callee %q: %w (want tel:+15550001 or sip:user@domain)", s, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "sip", "sips":
		if u.Host == "" {
			return u, fmt.Errorf("callee %q has no host (want sip:user@domain)", s)
		}
	case "tel":
		// sipgo keeps a tel URI (RFC 3966) whole, unparsed.
		if n := strings.TrimPrefix(u.String(), "tel:"); n == "" || strings.IndexAny(n[:1], "+0123456789") != 0 {
			return u, fmt.Errorf("callee %q has no number (want tel:+15550001)", s)
		}
	default:
		return u, fmt.Errorf("callee %q: scheme %q not supported (tel or sip)", s, u.Scheme)
	}
	return u, nil
}

// routeToPCSCF is the route of an initial request (TS 24.229 §5.1.2A.1.1):
// the P-CSCF, then the Service-Route learnt at registration.
func (u *UE) routeToPCSCF() ([]sip.Uri, error) {
	reg := u.Registration()
	if reg == nil {
		return nil, errors.New("not registered: register first (TS 24.229 §5.1.2A.1.1: a UE originates requests only once registered)")
	}
	route := []sip.Uri{{Scheme: "sip", Host: hostOf(u.pcscf), Port: portOf(u.pcscf), UriParams: sip.HeaderParams{{K: "lr"}}}}
	for _, sr := range reg.ServiceRoute {
		var r sip.Uri
		if err := sip.ParseUri(strings.Trim(strings.TrimSpace(sr), "<>"), &r); err != nil {
			return nil, fmt.Errorf("Service-Route %q: %w", sr, err)
		}
		route = append(route, r)
	}
	return route, nil
}

// supports tells whether a request's Supported or Require lists an option tag.
func supports(m sip.Message, tag string) bool {
	for _, name := range []string{"Supported", "Require", "k"} {
		for _, h := range m.GetHeaders(name) {
			for _, t := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(t), tag) {
					return true
				}
			}
		}
	}
	return false
}

// requires lists a message's Require option tags.
func requires(m sip.Message) []string {
	var out []string
	for _, h := range m.GetHeaders("Require") {
		for _, t := range strings.Split(h.Value(), ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// warningText is the text of a Warning header (RFC 3261 §20.43).
func warningText(res *sip.Response) string {
	w := header(res, "Warning")
	if i := strings.IndexByte(w, '"'); i >= 0 {
		if j := strings.LastIndexByte(w, '"'); j > i {
			return w[i+1 : j]
		}
	}
	return w
}

// rseqOf reads RSeq (RFC 3262 §7.1).
func rseqOf(res *sip.Response) (uint32, bool) {
	v := header(res, "RSeq")
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	return uint32(n), err == nil && n > 0
}

// reliable tells whether a provisional response must be PRACKed (RFC 3262
// §4: Require: 100rel and an RSeq).
func reliable(res *sip.Response) bool {
	if res.StatusCode <= 100 || res.StatusCode >= 200 {
		return false
	}
	for _, t := range requires(res) {
		if strings.EqualFold(t, "100rel") {
			_, ok := rseqOf(res)
			return ok
		}
	}
	return false
}

// reverseRecordRoute is a UAC's route set (RFC 3261 §12.1.2): the
// Record-Route of the response, reversed.
func reverseRecordRoute(res *sip.Response) []sip.Uri {
	rr := routeURIs(res.GetHeaders("Record-Route"))
	for i, j := 0, len(rr)-1; i < j; i, j = i+1, j-1 {
		rr[i], rr[j] = rr[j], rr[i]
	}
	return rr
}

// recordRouteOf is a UAS's route set (RFC 3261 §12.1.1): the Record-Route
// of the request, in order.
func recordRouteOf(req *sip.Request) []sip.Uri { return routeURIs(req.GetHeaders("Record-Route")) }

// routeURIs reads the URIs of Record-Route headers, in order.
func routeURIs(hs []sip.Header) []sip.Uri {
	var rr []sip.Uri
	for _, v := range splitAddrList(hs) {
		var u sip.Uri
		if err := sip.ParseUri(strings.Trim(addrOnly(v), "<>"), &u); err == nil {
			rr = append(rr, u)
		}
	}
	return rr
}

// addrOnly keeps the <URI> of a name-addr (its parameters dropped).
func addrOnly(p string) string {
	if i := strings.IndexByte(p, '<'); i >= 0 {
		if j := strings.IndexByte(p[i:], '>'); j > 0 {
			return p[i : i+j+1]
		}
	}
	if i := strings.IndexByte(p, ';'); i >= 0 {
		return p[:i]
	}
	return p
}

// contactURI is the Contact of a message, the remote target of a dialog.
func contactURI(m sip.Message) (sip.Uri, bool) {
	hs := m.GetHeaders("Contact")
	if len(hs) == 0 {
		return sip.Uri{}, false
	}
	h := hs[0]
	if c, ok := h.(*sip.ContactHeader); ok {
		return *c.Address.Clone(), true
	}
	var u sip.Uri
	err := sip.ParseUri(strings.Trim(addrOnly(h.Value()), "<>"), &u)
	return u, err == nil
}
