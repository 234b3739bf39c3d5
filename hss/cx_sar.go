package hss

import (
	"context"
	"errors"
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
)

// sar handles Server-Assignment-Request, TS 29.228 §6.1.2.1: it records
// which S-CSCF serves the implicit registration set of the public identity
// and in which state, and returns the user profile.
func (h *HSS) sar(ctx context.Context, c *peer.Conn, req *diam.Message) *diam.Message {
	impi := diameter.String(diameter.Find(req, "User-Name"))
	var impus []string
	for _, a := range diameter.FindAll(req, "Public-Identity") {
		impus = append(impus, diameter.String(a))
	}
	serverName := diameter.String(diameter.Find(req, "Server-Name"))
	sat := diameter.Uint32(diameter.Find(req, "Server-Assignment-Type"), satNoAssignment)
	udaa := diameter.Uint32(diameter.Find(req, "User-Data-Already-Available"), 0)
	h.rememberSCSCF(serverName, c.PeerHost)
	satName := fmt.Sprint(sat)
	if int(sat) < len(satNames) {
		satName = satNames[sat]
	}
	log := h.log.With("cmd", "SAR", "impi", impi, "impus", impus, "type", satName, "peer", c.PeerHost)

	var sub *store.Subscriber
	var err error
	switch {
	case len(impus) > 0:
		sub, err = h.store.ByIMPU(ctx, impus[0])
	case impi != "":
		sub, _, err = h.store.ByIMPI(ctx, impi)
	default:
		log.Info("SAR refused: neither Public-Identity nor User-Name", "result", "DIAMETER_MISSING_AVP")
		return h.answer(req, diameter.AppCx, diameter.ResultMissingAVP, false)
	}
	if errors.Is(err, store.ErrNotFound) {
		log.Info("SAR refused: identity unknown", "result", "DIAMETER_ERROR_USER_UNKNOWN")
		return h.answer(req, diameter.AppCx, diameter.ExpUserUnknown, true)
	}
	if err != nil {
		return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
	}
	if impi != "" {
		if !hasPrivate(sub, impi) {
			log.Info("SAR refused: User-Name and Public-Identity belong to different users", "result", "DIAMETER_ERROR_IDENTITIES_DONT_MATCH")
			return h.answer(req, diameter.AppCx, diameter.ExpIdentitiesDontMatch, true)
		}
	} else if len(sub.Private) > 0 {
		impi = sub.Private[0].IMPI
	}
	if len(impus) == 0 {
		for _, p := range sub.Private {
			if p.IMPI == impi && len(p.IMPUs) > 0 {
				impus = []string{p.IMPUs[0]}
			}
		}
	}
	if len(impus) == 0 {
		return h.answer(req, diameter.AppCx, diameter.ExpUserUnknown, true)
	}
	impu := impus[0]
	set := implicitSet(sub, impu)
	setState := func(st store.RegState, scscf string) error {
		for _, p := range set {
			if err := h.store.SetRegistration(ctx, store.Registration{IMPU: p.IMPU, IMPI: impi, SCSCF: scscf, State: st}); err != nil {
				return err
			}
		}
		return nil
	}
	reg, err := h.store.Registration(ctx, impu)
	if err != nil {
		return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
	}
	withProfile := false
	switch sat {
	case satRegistration, satReRegistration:
		err = setState(store.Registered, serverName)
		withProfile = !(sat == satReRegistration && udaa == 1)
	case satUnregisteredUser:
		if reg.State == store.NotRegistered || reg.SCSCF == serverName {
			err = setState(store.Unregistered, serverName)
		}
		withProfile = true
	case satTimeoutDereg, satUserDereg, satAdminDereg, satDeregTooMuchData:
		err = setState(store.NotRegistered, "")
	case satTimeoutDeregStore, satUserDeregStore:
		err = setState(store.Unregistered, serverName)
	case satAuthFailure, satAuthTimeout:
		// The registration that failed authentication leaves a registered
		// user as it was; nothing was stored for one not registered.
	case satNoAssignment, satAAAUserData:
		if reg.SCSCF != "" && reg.SCSCF != serverName {
			log.Info(fmt.Sprintf("SAR refused: %s is served by %s, not %s", impu, reg.SCSCF, serverName), "result", "DIAMETER_UNABLE_TO_COMPLY")
			return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
		}
		withProfile = true
	case satPGWUpdate, satRestoration:
	default:
		log.Info("SAR refused: unknown Server-Assignment-Type", "result", "DIAMETER_ERROR_IN_ASSIGNMENT_TYPE")
		return h.answer(req, diameter.AppCx, diameter.ExpInAssignmentType, true)
	}
	if err != nil {
		log.Error("SAR: storing the registration failed: " + err.Error())
		return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
	}
	a := h.answer(req, diameter.AppCx, diameter.ResultSuccess, false)
	a.AddAVP(h.cx("User-Name", datatype.UTF8String(impi)))
	if withProfile {
		ud, err := userData(sub, impi, impu)
		if err != nil {
			return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
		}
		a.AddAVP(h.cx("User-Data", datatype.OctetString(ud)))
	}
	var ids []string
	for _, p := range set {
		ids = append(ids, p.IMPU)
	}
	log.Info(fmt.Sprintf("SAR %s: %s via %s; implicit set %v now %s", satName, impi, serverName, ids, stateAfter(sat, reg.State)),
		"result", "DIAMETER_SUCCESS", "user_data", withProfile)
	return a
}

func stateAfter(sat uint32, before store.RegState) string {
	switch sat {
	case satRegistration, satReRegistration:
		return "registered"
	case satUnregisteredUser, satTimeoutDeregStore, satUserDeregStore:
		return "unregistered"
	case satTimeoutDereg, satUserDereg, satAdminDereg, satDeregTooMuchData:
		return "not registered"
	}
	return stateName(before)
}

func hasPrivate(sub *store.Subscriber, impi string) bool {
	for _, p := range sub.Private {
		if p.IMPI == impi {
			return true
		}
	}
	return false
}

// lir handles Location-Info-Request, TS 29.228 §6.1.4.1: which S-CSCF
// serves a public identity.
func (h *HSS) lir(ctx context.Context, c *peer.Conn, req *diam.Message) *diam.Message {
	impu := diameter.String(diameter.Find(req, "Public-Identity"))
	log := h.log.With("cmd", "LIR", "impu", impu, "peer", c.PeerHost)
	sub, err := h.store.ByIMPU(ctx, impu)
	if errors.Is(err, store.ErrNotFound) {
		log.Info("LIR: identity unknown", "result", "DIAMETER_ERROR_USER_UNKNOWN")
		return h.answer(req, diameter.AppCx, diameter.ExpUserUnknown, true)
	}
	if err != nil {
		return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
	}
	reg, err := h.store.Registration(ctx, impu)
	if err != nil {
		return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
	}
	var a *diam.Message
	switch {
	case reg.State != store.NotRegistered:
		a = h.answer(req, diameter.AppCx, diameter.ResultSuccess, false)
		a.AddAVP(h.cx("Server-Name", datatype.UTF8String(reg.SCSCF)))
	case len(sub.IFCs) > 0:
		// Services for the unregistered state (an iFC may apply to the
		// terminating-unregistered session case): an S-CSCF must serve it.
		a = h.answer(req, diameter.AppCx, diameter.ExpUnregisteredService, true)
		if reg.SCSCF != "" {
			a.AddAVP(h.cx("Server-Name", datatype.UTF8String(reg.SCSCF)))
		} else {
			a.AddAVP(h.capabilities())
		}
	default:
		a = h.answer(req, diameter.AppCx, diameter.ExpIdentityNotRegistered, true)
	}
	code, exp := peer.ResultCode(a)
	log.Info(fmt.Sprintf("LIR: %s is %s", impu, stateName(reg.State)), "result", diameter.ResultName(code, exp), "server_name", reg.SCSCF)
	return a
}

// Deregistration-Reason codes, TS 29.229 §6.3.17.
const (
	ReasonPermanentTermination = 0
	ReasonNewServerAssigned    = 1
	ReasonServerChange         = 2
	ReasonRemoveSCSCF          = 3
)

// cxPeerFor returns the Diameter connection to the S-CSCF with that
// Server-Name (or the only S-CSCF connected).
func (h *HSS) cxPeerFor(serverName string) (*peer.Conn, error) {
	h.mu.Lock()
	host, ok := h.scscfs[serverName]
	h.mu.Unlock()
	if ok {
		if c, ok := h.node.Peer(host); ok {
			return c, nil
		}
	}
	// Not heard from since the HSS started: the one Cx peer, if only one.
	if cs := h.node.PeersWith(diameter.AppCx); len(cs) == 1 {
		return cs[0], nil
	}
	return nil, fmt.Errorf("S-CSCF %s is not connected to the HSS (or several are, and it has not spoken since the HSS started)", serverName)
}

// Deregister sends a Registration-Termination-Request (administrative
// deregistration, TS 29.228 §6.2.1) for every registered public identity of
// a subscriber (given by IMSI, IMPI or IMPU) to the S-CSCF serving it, and
// marks them not registered.
func (h *HSS) Deregister(ctx context.Context, id string, reason uint32, info string) (int, error) {
	sub, err := h.findAny(ctx, id)
	if err != nil {
		return 0, err
	}
	regs, err := h.store.Registrations(ctx, sub.IMSI)
	if err != nil {
		return 0, err
	}
	byServer := map[string][]store.Registration{}
	for _, r := range regs {
		if r.State != store.NotRegistered {
			byServer[r.SCSCF] = append(byServer[r.SCSCF], r)
		}
	}
	if len(byServer) == 0 {
		return 0, fmt.Errorf("%s has no registered public identity", id)
	}
	n := 0
	for server, rs := range byServer {
		c, err := h.cxPeerFor(server)
		if err != nil {
			return n, err
		}
		m := h.requestTo(c, diameter.CmdRT)
		m.AddAVP(h.cx("User-Name", datatype.UTF8String(rs[0].IMPI)))
		for _, r := range rs {
			m.AddAVP(h.cx("Public-Identity", datatype.UTF8String(r.IMPU)))
		}
		reasonAVPs := []*diam.AVP{h.cx("Reason-Code", datatype.Enumerated(reason))}
		if info != "" {
			reasonAVPs = append(reasonAVPs, h.cx("Reason-Info", datatype.UTF8String(info)))
		}
		m.AddAVP(h.cx("Deregistration-Reason", diameter.Group(reasonAVPs...)))
		a, err := c.Request(ctx, m)
		if err != nil {
			return n, fmt.Errorf("RTR to %s: %w", c.PeerHost, err)
		}
		code, exp := peer.ResultCode(a)
		h.log.Info(fmt.Sprintf("RTR to %s for %s (%d identities): %s", c.PeerHost, rs[0].IMPI, len(rs), diameter.ResultName(code, exp)),
			"cmd", "RTR", "imsi", sub.IMSI, "reason", reason)
		if code != diameter.ResultSuccess || exp {
			return n, fmt.Errorf("the S-CSCF answered RTR with %s", diameter.ResultName(code, exp))
		}
		for _, r := range rs {
			if err := h.store.SetRegistration(ctx, store.Registration{IMPU: r.IMPU, State: store.NotRegistered}); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// PushProfile sends a Push-Profile-Request (TS 29.228 §6.2.2) with the
// current User-Data to the S-CSCF serving the subscriber, after a change.
func (h *HSS) PushProfile(ctx context.Context, id string) error {
	sub, err := h.findAny(ctx, id)
	if err != nil {
		return err
	}
	regs, err := h.store.Registrations(ctx, sub.IMSI)
	if err != nil {
		return err
	}
	sent := map[string]bool{}
	for _, r := range regs {
		if r.State == store.NotRegistered || sent[r.SCSCF+"|"+r.IMPI] {
			continue
		}
		sent[r.SCSCF+"|"+r.IMPI] = true
		c, err := h.cxPeerFor(r.SCSCF)
		if err != nil {
			return err
		}
		ud, err := userData(sub, r.IMPI, r.IMPU)
		if err != nil {
			return err
		}
		m := h.requestTo(c, diameter.CmdPP)
		m.AddAVP(h.cx("User-Name", datatype.UTF8String(r.IMPI)))
		m.AddAVP(h.cx("User-Data", datatype.OctetString(ud)))
		a, err := c.Request(ctx, m)
		if err != nil {
			return fmt.Errorf("PPR to %s: %w", c.PeerHost, err)
		}
		code, exp := peer.ResultCode(a)
		h.log.Info(fmt.Sprintf("PPR to %s for %s: %s", c.PeerHost, r.IMPI, diameter.ResultName(code, exp)), "cmd", "PPR", "imsi", sub.IMSI)
		if code != diameter.ResultSuccess || exp {
			return fmt.Errorf("the S-CSCF answered PPR with %s", diameter.ResultName(code, exp))
		}
	}
	if len(sent) == 0 {
		return fmt.Errorf("%s is not registered: nothing to push", id)
	}
	return nil
}

// requestTo starts a Cx request of the HSS to a connected S-CSCF
// (TS 29.229 §6.1.9, §6.1.11: Session-Id, Vendor-Specific-Application-Id,
// Auth-Session-State, Origin-*, Destination-Host and -Realm).
func (h *HSS) requestTo(c *peer.Conn, code uint32) *diam.Message {
	m := diam.NewRequest(code, diameter.AppCx, h.node.Dict())
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(h.newSession()))
	m.AddAVP(vsai(diameter.AppCx))
	m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(h.cfg.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(h.cfg.OriginRealm))
	m.NewAVP(avp.DestinationHost, avp.Mbit, 0, datatype.DiameterIdentity(c.PeerHost))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(c.PeerRealm))
	return m
}

// findAny finds a subscriber by IMSI, MSISDN, IMPI or IMPU.
func (h *HSS) findAny(ctx context.Context, id string) (*store.Subscriber, error) {
	sub, err := h.store.Find(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("no subscriber with IMSI, MSISDN, IMPI or IMPU %q: %w", id, err)
	}
	return sub, nil
}
