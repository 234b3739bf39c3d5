package scscf

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/cx"
	"github.com/imslab/imslab/internal/diameter/peer"
)

// cxPeer is the S-CSCF's Diameter side: one connection to the HSS, dialled
// at start and again whenever it drops, that carries UAR/MAR/SAR out and
// RTR/PPR in (TS 29.228 §6.1, §6.2).
type cxPeer struct {
	s    *SCSCF
	node *peer.Node

	mu     sync.Mutex
	cl     *cx.Client
	ready  chan struct{} // closed while cl is set
	lapsed []lapsed      // sets that expired while the S-CSCF was down
}

func newCxPeer(s *SCSCF, lapsed []lapsed) *cxPeer {
	p := &cxPeer{s: s, ready: make(chan struct{}), lapsed: lapsed}
	var trace func(peer.Event)
	if s.cfg.Trace != nil {
		trace = p.trace
	}
	node, err := peer.New(peer.Config{OriginHost: s.cfg.OriginHost, OriginRealm: s.cfg.OriginRealm, ProductName: "imslab-scscf",
		Apps: []peer.App{{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP}}, Dict: diameter.Dictionary(),
		Logger: s.log.With("layer", "diameter"), Trace: trace})
	if err != nil {
		// Origin-Host and Origin-Realm have defaults, the dictionary is built in.
		panic(err)
	}
	node.Handle(diameter.AppCx, diameter.CmdRT, p.rtr)
	node.Handle(diameter.AppCx, diameter.CmdPP, p.ppr)
	p.node = node
	return p
}

// client returns the Cx client, waiting a little for a connection.
func (p *cxPeer) client(ctx context.Context) (*cx.Client, error) {
	p.mu.Lock()
	cl, ready := p.cl, p.ready
	p.mu.Unlock()
	if cl != nil {
		return cl, nil
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ready:
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.cl != nil {
			return p.cl, nil
		}
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, fmt.Errorf("no Diameter connection to the HSS at %s (is `imslab hss` running there?)", p.s.cfg.HSS)
}

// run keeps the connection to the HSS until ctx ends, then disconnects
// (DPR) and waits for the connection's goroutines.
func (p *cxPeer) run(ctx context.Context) {
	log := p.s.log
	backoff, failures := 100*time.Millisecond, 0
	for ctx.Err() == nil {
		conn, err := p.node.Dial(ctx, "tcp", p.s.cfg.HSS)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if failures%20 == 0 {
				log.Warn(fmt.Sprintf("waiting for the HSS at %s: %v (start it with `imslab hss`, or point --hss at it; retrying)", p.s.cfg.HSS, err))
			}
			failures++
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff, failures = 100*time.Millisecond, 0
		p.mu.Lock()
		p.cl = cx.New(p.node, conn, conn.PeerRealm)
		close(p.ready)
		lapsed := p.lapsed
		p.lapsed = nil
		p.mu.Unlock()
		log.Info("connected to the HSS", "hss", p.s.cfg.HSS, "peer", conn.PeerHost, "realm", conn.PeerRealm)
		for _, l := range lapsed {
			p.s.tasks.start(func() { p.s.reg.sarAfter(ctx, l.impi, l.impu, cx.AssignTimeoutDereg) })
		}
		select {
		case <-conn.Done():
			if ctx.Err() == nil {
				log.Warn(fmt.Sprintf("lost the Diameter connection to the HSS at %s (%v); reconnecting", p.s.cfg.HSS, conn.Err()))
			}
		case <-ctx.Done():
			conn.Close()
		}
		p.mu.Lock()
		p.cl = nil
		p.ready = make(chan struct{})
		p.mu.Unlock()
	}
	p.node.Wait()
}

// answer starts a Cx answer (TS 29.229 §6.1.9/§6.1.11): Session-Id, the
// result (experimental ones in Experimental-Result), Vendor-Specific-
// Application-Id, Auth-Session-State NO_STATE_MAINTAINED.
func (p *cxPeer) answer(req *diam.Message, code uint32, experimental bool) *diam.Message {
	var a *diam.Message
	if experimental {
		a = p.node.Answer(req, 0)
		a.AddAVP(diameter.AVP(diameter.AppCx, "Experimental-Result", diameter.Group(
			diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.Vendor3GPP)),
			diam.NewAVP(avp.ExperimentalResultCode, avp.Mbit, 0, datatype.Unsigned32(code)))))
	} else {
		a = p.node.Answer(req, code)
	}
	a.AddAVP(diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, diameter.Group(
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.Vendor3GPP)),
		diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(diameter.AppCx)))))
	a.AddAVP(diam.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1)))
	return a
}

// Deregistration-Reason Reason-Code values, TS 29.229 §6.3.17.
const (
	reasonPermanentTermination = 0
	reasonNewServerAssigned    = 1
	reasonServerChange         = 2
	reasonRemoveSCSCF          = 3
)

// rtr handles a Registration-Termination-Request (TS 29.228 §6.2.1,
// TS 24.229 §5.4.1.5): the bindings go, the subscribers hear "rejected"
// when the user should not register again (PERMANENT_TERMINATION), else
// "deactivated".
func (p *cxPeer) rtr(_ context.Context, _ *peer.Conn, req *diam.Message) *diam.Message {
	impi := diameter.String(diameter.Find(req, "User-Name"))
	var impus []string
	for _, a := range diameter.FindAll(req, "Public-Identity") {
		impus = append(impus, diameter.String(a))
	}
	code := diameter.Uint32(diameter.Find(req, "Deregistration-Reason", "Reason-Code"), reasonPermanentTermination)
	info := diameter.String(diameter.Find(req, "Deregistration-Reason", "Reason-Info"))
	event, why := "deactivated", reasonName(code)
	if code == reasonPermanentTermination {
		event = "rejected"
	}
	if info != "" {
		why += ": " + info
	}
	n := p.s.reg.networkDeregister(impi, impus, event, "RTR from the HSS, "+why)
	p.s.log.Info(fmt.Sprintf("RTR from the HSS for %s: %d contact(s) removed (%s); answering DIAMETER_SUCCESS", impi, n, why),
		"cmd", "RTR", "impi", impi, "impus", impus, "reason", why)
	return p.answer(req, diameter.ResultSuccess, false)
}

func reasonName(code uint32) string {
	switch code {
	case reasonPermanentTermination:
		return "PERMANENT_TERMINATION"
	case reasonNewServerAssigned:
		return "NEW_SERVER_ASSIGNED"
	case reasonServerChange:
		return "SERVER_CHANGE"
	case reasonRemoveSCSCF:
		return "REMOVE_S-CSCF"
	}
	return fmt.Sprintf("reason %d", code)
}

// ppr handles a Push-Profile-Request (TS 29.228 §6.2.2): the new profile
// replaces the old one of the sets it names.
func (p *cxPeer) ppr(_ context.Context, _ *peer.Conn, req *diam.Message) *diam.Message {
	impi := diameter.String(diameter.Find(req, "User-Name"))
	ud := diameter.String(diameter.Find(req, "User-Data"))
	log := p.s.log.With("cmd", "PPR", "impi", impi)
	if ud == "" {
		log.Info("PPR without User-Data: nothing to store; answering DIAMETER_SUCCESS")
		return p.answer(req, diameter.ResultSuccess, false)
	}
	prof, err := parseUserData(ud)
	if err != nil {
		log.Warn("PPR refused: " + err.Error())
		return p.answer(req, diameter.ExpNotSupportedUserData, true)
	}
	if n := p.s.reg.pushProfile(impi, prof); n == 0 {
		log.Info("PPR refused: no registration of this user here", "result", "DIAMETER_ERROR_USER_UNKNOWN")
		return p.answer(req, diameter.ExpUserUnknown, true)
	}
	log.Info(fmt.Sprintf("PPR: new profile stored; implicit set now %v", prof.impus))
	return p.answer(req, diameter.ResultSuccess, false)
}

// pushProfile installs a profile in the sets sharing an identity with it
// (else those impi registered) and notifies when the set changed.
func (r *registrar) pushProfile(impi string, prof *profile) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sets []*regSet
	for _, u := range prof.impus {
		if set := r.sets[normIMPU(u)]; set != nil && !slices.Contains(sets, set) {
			sets = append(sets, set)
		}
	}
	if len(sets) == 0 {
		for k, set := range r.sets {
			if k == set.Key && slices.ContainsFunc(set.Contacts, func(b *Binding) bool { return b.IMPI == impi }) {
				sets = append(sets, set)
			}
		}
	}
	now := time.Now()
	for _, set := range sets {
		before := strings.Join(set.associated(), " ")
		r.setProfileLocked(set, prof)
		r.state.appendLocked(record{Set: set})
		if strings.Join(set.associated(), " ") != before {
			r.notifySetLocked(set, nil, false, "", now)
		}
	}
	return len(sets)
}

// trace reports a Diameter message to the Trace hook.
func (p *cxPeer) trace(e peer.Event) {
	sum := "Diameter"
	if e.Msg != nil {
		sum = cmdAbbrev(e.Msg.Header.CommandCode, e.Msg.Header.CommandFlags&diam.RequestFlag != 0)
		if e.Msg.Header.CommandFlags&diam.RequestFlag == 0 {
			if code, _ := peer.ResultCode(e.Msg); code != 0 {
				sum += fmt.Sprintf(" %d", code)
			}
		}
	}
	p.s.cfg.Trace(Event{Time: e.Time, Protocol: "Diameter", Out: e.Dir == peer.Out, Network: e.Network,
		Local: addrString(e.Local), Remote: addrString(e.Remote), Summary: sum, Raw: e.Raw})
}

func addrString(a interface{ String() string }) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// cmdAbbrev names a Diameter command as the specifications abbreviate it.
func cmdAbbrev(code uint32, request bool) string {
	names := map[uint32]string{diameter.CmdCE: "CE", diameter.CmdDW: "DW", diameter.CmdDP: "DP", diameter.CmdUA: "UA",
		diameter.CmdSA: "SA", diameter.CmdLI: "LI", diameter.CmdMA: "MA", diameter.CmdRT: "RT", diameter.CmdPP: "PP"}
	n, ok := names[code]
	if !ok {
		return fmt.Sprintf("command %d", code)
	}
	if request {
		return n + "R"
	}
	return n + "A"
}
