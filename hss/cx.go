package hss

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
)

// Cx commands, TS 29.229 §6.1.
const ()

// Cx result codes: base (RFC 6733 §7.1) and experimental (TS 29.229 §6.2).
const (
	userAuthRegistration    = 0
	userAuthDeregistration  = 1
	userAuthRegAndCapabilit = 2
)

// Server-Assignment-Type values, TS 29.229 §6.3.15.
const (
	satNoAssignment = iota
	satRegistration
	satReRegistration
	satUnregisteredUser
	satTimeoutDereg
	satUserDereg
	satTimeoutDeregStore
	satUserDeregStore
	satAdminDereg
	satAuthFailure
	satAuthTimeout
	satDeregTooMuchData
	satAAAUserData
	satPGWUpdate
	satRestoration
)

var satNames = []string{"NO_ASSIGNMENT", "REGISTRATION", "RE_REGISTRATION", "UNREGISTERED_USER", "TIMEOUT_DEREGISTRATION",
	"USER_DEREGISTRATION", "TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME", "USER_DEREGISTRATION_STORE_SERVER_NAME",
	"ADMINISTRATIVE_DEREGISTRATION", "AUTHENTICATION_FAILURE", "AUTHENTICATION_TIMEOUT", "DEREGISTRATION_TOO_MUCH_DATA",
	"AAA_USER_DATA_REQUEST", "PGW_UPDATE", "RESTORATION"}

func (h *HSS) registerCx() {
	h.node.Handle(diameter.AppCx, diameter.CmdUA, h.uar)
	h.node.Handle(diameter.AppCx, diameter.CmdMA, h.mar)
	h.node.Handle(diameter.AppCx, diameter.CmdSA, h.sar)
	h.node.Handle(diameter.AppCx, diameter.CmdLI, h.lir)
}

// answer starts an answer of the HSS: Session-Id, Vendor-Specific-
// Application-Id, the result (Result-Code, or Experimental-Result with the
// 3GPP Vendor-Id when experimental), Auth-Session-State NO_STATE_MAINTAINED,
// Origin-Host, Origin-Realm.
func (h *HSS) answer(req *diam.Message, app, code uint32, experimental bool) *diam.Message {
	var a *diam.Message
	if experimental {
		a = h.node.Answer(req, 0)
		a.InsertAVP(diameter.AVP(app, "Experimental-Result", diameter.Group(
			diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.Vendor3GPP)),
			diam.NewAVP(avp.ExperimentalResultCode, avp.Mbit, 0, datatype.Unsigned32(code)))))
		// Keep Session-Id first.
		if len(a.AVP) > 1 && a.AVP[1].Code == avp.SessionID {
			a.AVP[0], a.AVP[1] = a.AVP[1], a.AVP[0]
		}
	} else {
		a = h.node.Answer(req, code)
	}
	a.AddAVP(diam.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1)))
	if app == diameter.AppCx {
		a.AddAVP(vsai(app))
	}
	return a
}

func vsai(app uint32) *diam.AVP {
	return diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, diameter.Group(
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.Vendor3GPP)),
		diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(app))))
}

func (h *HSS) cx(name string, data datatype.Type) *diam.AVP {
	return diameter.AVP(diameter.AppCx, name, data)
}

// lookup finds the subscriber of a private identity and checks that it may
// register impu (TS 29.228 §6.1.1.1 steps 1-2, §6.3.1): DIAMETER_ERROR_
// USER_UNKNOWN when either is unknown, DIAMETER_ERROR_IDENTITIES_DONT_MATCH
// when they belong to different users.
func (h *HSS) lookup(ctx context.Context, impi, impu string) (*store.Subscriber, *store.PrivateID, uint32, error) {
	sub, priv, err := h.store.ByIMPI(ctx, impi)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, diameter.ExpUserUnknown, fmt.Errorf("private identity %s unknown", impi)
	}
	if err != nil {
		return nil, nil, diameter.ResultUnableToComply, err
	}
	if impu == "" {
		return sub, priv, 0, nil
	}
	if !slices.ContainsFunc(priv.IMPUs, func(u string) bool { return store.NormalizeIMPU(u) == store.NormalizeIMPU(impu) }) {
		_, err := h.store.ByIMPU(ctx, impu)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, diameter.ExpUserUnknown, fmt.Errorf("public identity %s unknown", impu)
		}
		if err != nil {
			return nil, nil, diameter.ResultUnableToComply, err
		}
		return nil, nil, diameter.ExpIdentitiesDontMatch, fmt.Errorf("%s may not register %s", impi, impu)
	}
	return sub, priv, 0, nil
}

// reject answers a failed lookup, base or experimental as the code is.
func (h *HSS) reject(req *diam.Message, code uint32) *diam.Message {
	return h.answer(req, diameter.AppCx, code, code != diameter.ResultUnableToComply && code != diameter.ResultAuthorizationRejected)
}

// uar handles User-Authorization-Request, TS 29.228 §6.1.1.1.
func (h *HSS) uar(ctx context.Context, c *peer.Conn, req *diam.Message) *diam.Message {
	impi, impu := diameter.String(diameter.Find(req, "User-Name")), diameter.String(diameter.Find(req, "Public-Identity"))
	uat := diameter.Uint32(diameter.Find(req, "User-Authorization-Type"), userAuthRegistration)
	log := h.log.With("cmd", "UAR", "impi", impi, "impu", impu, "peer", c.PeerHost)
	sub, _, code, err := h.lookup(ctx, impi, impu)
	if err != nil {
		log.Info("UAR refused: "+err.Error(), "result", diameter.ResultName(code, code != diameter.ResultUnableToComply))
		return h.reject(req, code)
	}
	if uat != userAuthDeregistration && (sub.Barred || allBarred(sub, impu)) {
		log.Info("UAR refused: the identity is barred", "result", "DIAMETER_AUTHORIZATION_REJECTED")
		return h.answer(req, diameter.AppCx, diameter.ResultAuthorizationRejected, false)
	}
	if visited := diameter.String(diameter.Find(req, "Visited-Network-Identifier")); uat != userAuthDeregistration && !h.roamingAllowed(visited, sub.Domain) {
		log.Info(fmt.Sprintf("UAR refused: %s may not register from visited network %q", impi, visited), "result", "DIAMETER_ERROR_ROAMING_NOT_ALLOWED")
		return h.answer(req, diameter.AppCx, diameter.ExpRoamingNotAllowed, true)
	}
	reg, err := h.store.Registration(ctx, impu)
	if err != nil {
		return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
	}
	var a *diam.Message
	switch {
	case uat == userAuthDeregistration && reg.State == store.NotRegistered:
		a = h.answer(req, diameter.AppCx, diameter.ExpIdentityNotRegistered, true)
	case uat == userAuthDeregistration:
		a = h.answer(req, diameter.AppCx, diameter.ResultSuccess, false)
		a.AddAVP(h.cx("Server-Name", datatype.UTF8String(reg.SCSCF)))
	case uat == userAuthRegAndCapabilit:
		a = h.answer(req, diameter.AppCx, diameter.ExpFirstRegistration, true)
		a.AddAVP(h.capabilities())
	case reg.State != store.NotRegistered:
		a = h.answer(req, diameter.AppCx, diameter.ExpSubsequentRegistration, true)
		a.AddAVP(h.cx("Server-Name", datatype.UTF8String(reg.SCSCF)))
	case reg.SCSCF != "":
		a = h.answer(req, diameter.AppCx, diameter.ExpFirstRegistration, true)
		a.AddAVP(h.cx("Server-Name", datatype.UTF8String(reg.SCSCF)))
	default:
		a = h.answer(req, diameter.AppCx, diameter.ExpFirstRegistration, true)
		if h.cfg.SCSCFName != "" {
			a.AddAVP(h.cx("Server-Name", datatype.UTF8String(h.cfg.SCSCFName)))
		} else {
			a.AddAVP(h.capabilities())
		}
	}
	code, exp := peer.ResultCode(a)
	log.Info(fmt.Sprintf("UAR %s for %s: %s is %s", uatName(uat), impi, impu, stateName(reg.State)),
		"result", diameter.ResultName(code, exp), "server_name", reg.SCSCF)
	return a
}

// roamingAllowed: the home network, and the visited networks configured.
func (h *HSS) roamingAllowed(visited, home string) bool {
	if visited == "" || strings.EqualFold(visited, home) {
		return true
	}
	for _, n := range h.cfg.RoamingAllowed {
		if n == "*" || strings.EqualFold(n, visited) {
			return true
		}
	}
	return false
}

// capabilities is an empty Server-Capabilities (no mandatory or optional
// capability: any S-CSCF will do), TS 29.228 §6.7.
func (h *HSS) capabilities() *diam.AVP {
	return h.cx("Server-Capabilities", diameter.Group())
}

func allBarred(sub *store.Subscriber, impu string) bool {
	set := implicitSet(sub, impu)
	for _, p := range set {
		if !p.Barred {
			return false
		}
	}
	return len(set) > 0
}

func uatName(u uint32) string {
	switch u {
	case userAuthDeregistration:
		return "DE_REGISTRATION"
	case userAuthRegAndCapabilit:
		return "REGISTRATION_AND_CAPABILITIES"
	}
	return "REGISTRATION"
}

func stateName(s store.RegState) string {
	switch s {
	case store.Registered:
		return "registered"
	case store.Unregistered:
		return "unregistered"
	}
	return "not registered"
}

// Authentication schemes, TS 29.229 §6.3.9.
const (
	schemeAKA     = "Digest-AKAv1-MD5"
	schemeDigest  = "SIP Digest"
	schemeUnknown = "Unknown"
)

// mar handles Multimedia-Auth-Request, TS 29.228 §6.3.1: N vectors of the
// private identity's scheme, after a resynchronisation when
// SIP-Authorization carries RAND‖AUTS.
func (h *HSS) mar(ctx context.Context, c *peer.Conn, req *diam.Message) *diam.Message {
	impi, impu := diameter.String(diameter.Find(req, "User-Name")), diameter.String(diameter.Find(req, "Public-Identity"))
	serverName := diameter.String(diameter.Find(req, "Server-Name"))
	h.rememberSCSCF(serverName, c.PeerHost)
	log := h.log.With("cmd", "MAR", "impi", impi, "impu", impu, "peer", c.PeerHost)
	sub, priv, code, err := h.lookup(ctx, impi, impu)
	if err != nil {
		log.Info("MAR refused: "+err.Error(), "result", diameter.ResultName(code, code != diameter.ResultUnableToComply))
		return h.reject(req, code)
	}
	n := int(diameter.Uint32(diameter.Find(req, "SIP-Number-Auth-Items"), 1))
	n = max(1, min(n, MaxVectors))
	item := diameter.Find(req, "SIP-Auth-Data-Item")
	scheme := schemeUnknown
	var authz []byte
	if item != nil {
		if a := diameter.Member(item, diameter.AppCx, "SIP-Authentication-Scheme"); a != nil {
			scheme = diameter.String(a)
		}
		authz = diameter.Bytes(diameter.Member(item, diameter.AppCx, "SIP-Authorization"))
	}
	own := schemeAKA
	if priv.Scheme == store.SchemeDigest {
		own = schemeDigest
	}
	if scheme != schemeUnknown && scheme != "" && !strings.EqualFold(scheme, own) {
		log.Info(fmt.Sprintf("MAR refused: %s asked for %q but %s uses %q", c.PeerHost, scheme, impi, own), "result", "DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED")
		return h.answer(req, diameter.AppCx, diameter.ExpAuthSchemeNotSupported, true)
	}
	a := h.answer(req, diameter.AppCx, diameter.ResultSuccess, false)
	a.AddAVP(h.cx("User-Name", datatype.UTF8String(impi)))
	a.AddAVP(h.cx("Public-Identity", datatype.UTF8String(impu)))
	if own == schemeDigest {
		realm := sub.Domain
		a.AddAVP(h.cx("SIP-Number-Auth-Items", datatype.Unsigned32(1)))
		a.AddAVP(h.cx("SIP-Auth-Data-Item", diameter.Group(
			h.cx("SIP-Item-Number", datatype.Unsigned32(1)),
			h.cx("SIP-Authentication-Scheme", datatype.UTF8String(schemeDigest)),
			h.cx("SIP-Digest-Authenticate", diameter.Group(
				h.cx("Digest-Realm", datatype.UTF8String(realm)),
				h.cx("Digest-Algorithm", datatype.UTF8String("MD5")),
				h.cx("Digest-QoP", datatype.UTF8String("auth")),
				h.cx("Digest-HA1", datatype.UTF8String(digestHA1(impi, realm, priv.Password))))))))
		log.Info(fmt.Sprintf("MAR: SIP Digest for %s: HA1 = MD5(%s:%s:password) sent to %s", impi, impi, realm, c.PeerHost), "result", "DIAMETER_SUCCESS")
		return a
	}
	if len(authz) > 0 {
		if len(authz) != 30 {
			log.Info(fmt.Sprintf("MAR refused: SIP-Authorization of %d bytes is not RAND‖AUTS (30)", len(authz)), "result", "DIAMETER_UNABLE_TO_COMPLY")
			return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
		}
		if err := h.resync(ctx, sub, authz[:16], authz[16:], "MAR"); err != nil {
			return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
		}
	}
	vecs, err := h.vectors(ctx, sub, n, 0, "MAR")
	if err != nil {
		log.Error("MAR: no vector: " + err.Error())
		return h.answer(req, diameter.AppCx, diameter.ResultUnableToComply, false)
	}
	a.AddAVP(h.cx("SIP-Number-Auth-Items", datatype.Unsigned32(len(vecs))))
	for i, v := range vecs {
		a.AddAVP(h.cx("SIP-Auth-Data-Item", diameter.Group(
			h.cx("SIP-Item-Number", datatype.Unsigned32(i+1)),
			h.cx("SIP-Authentication-Scheme", datatype.UTF8String(schemeAKA)),
			h.cx("SIP-Authenticate", datatype.OctetString(append(append([]byte(nil), v.RAND...), v.AUTN...))),
			h.cx("SIP-Authorization", datatype.OctetString(v.XRES)),
			h.cx("Confidentiality-Key", datatype.OctetString(v.CK)),
			h.cx("Integrity-Key", datatype.OctetString(v.IK)))))
	}
	log.Info(fmt.Sprintf("MAR: %d AKAv1-MD5 vector(s) for %s sent to %s", len(vecs), impi, c.PeerHost), "result", "DIAMETER_SUCCESS")
	return a
}

// rememberSCSCF maps an S-CSCF's SIP Server-Name to its Diameter
// Origin-Host, to reach it later with RTR and PPR.
func (h *HSS) rememberSCSCF(serverName, host string) {
	if serverName == "" || host == "" {
		return
	}
	h.mu.Lock()
	h.scscfs[serverName] = host
	h.mu.Unlock()
}

// newSession returns a Session-Id, RFC 6733 §8.8: <host>;<high>;<low>.
func (h *HSS) newSession() string {
	return fmt.Sprintf("%s;%d;%d", h.cfg.OriginHost, time.Now().Unix(), h.sessions.Add(1))
}
