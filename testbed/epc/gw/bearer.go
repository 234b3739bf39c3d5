package gw

import (
	"net/netip"

	"github.com/wmnsk/go-gtp/gtpv2"
	"github.com/wmnsk/go-gtp/gtpv2/ie"
	"github.com/wmnsk/go-gtp/gtpv2/message"
)

// modifyBearer handles a Modify Bearer Request (TS 29.274 §7.2.7): the
// eNB's S1-U F-TEID of the default bearer says where downlink GTP-U goes.
// The Modify Bearer Response (§7.2.8) confirms the bearer with the SGW's
// S1-U F-TEID.
func (g *Gateway) modifyBearer(m *message.ModifyBearerRequest) message.Message {
	s := g.sessions.byControl(m.TEID())
	if s == nil {
		g.log.Warn("Modify Bearer rejected", "s11_teid", teidString(m.TEID()), "cause", CauseText(CauseContextNotFound),
			"reason", "no session has this S11 TEID")
		return message.NewModifyBearerResponse(0, m.Sequence(), ie.NewCause(CauseContextNotFound, 0, 0, 0, nil))
	}
	fail := func(r *rejection) message.Message {
		g.log.Warn("Modify Bearer rejected", "imsi", s.imsi, "cause", CauseText(r.cause), "reason", r.why)
		return message.NewModifyBearerResponse(s.mmeTEID, m.Sequence(), r.ie())
	}
	var modified []*ie.IE
	for _, bc := range m.BearerContextsToBeModified {
		e := child(bc, ie.EPSBearerID, 0)
		if e == nil {
			return fail(reject(CauseMandatoryIEMissing, ie.EPSBearerID, 0, "Bearer Context without EPS Bearer ID"))
		}
		ebi, err := e.EPSBearerID()
		if err != nil || ebi != s.ebi {
			return fail(reject(CauseContextNotFound, 0, 0, "no bearer %d in the session (its bearer is %d)", ebi, s.ebi))
		}
		if f := child(bc, ie.FullyQualifiedTEID, 0); f != nil {
			addr, teid, ok := readFTEID(f)
			if !ok {
				return fail(reject(CauseMandatoryIEIncorrect, ie.FullyQualifiedTEID, 0, "S1-U eNB F-TEID unreadable, without address or with TEID 0"))
			}
			s.setDownlink(addr, teid)
			g.log.Info("bearer modified", "imsi", s.imsi, "ue", s.ue, "ebi", ebi, "enb", addr, "downlink_teid", teidString(teid))
			for _, ip := range s.takePending() {
				g.downlink(s, ip)
			}
		}
		modified = append(modified, ie.NewBearerContext(ie.NewEPSBearerID(ebi), ie.NewCause(CauseRequestAccepted, 0, 0, 0, nil),
			fteid(gtpv2.IFTypeS1USGWGTPU, s.ulTEID, g.uAddr.Addr(), 0)))
	}
	return message.NewModifyBearerResponse(s.mmeTEID, m.Sequence(),
		append([]*ie.IE{ie.NewCause(CauseRequestAccepted, 0, 0, 0, nil)}, modified...)...)
}

// readFTEID reads an F-TEID's address (IPv4 first) and TEID.
func readFTEID(f *ie.IE) (netip.Addr, uint32, bool) {
	v, err := f.FullyQualifiedTEID()
	if err != nil || v.TEIDGREKey == 0 {
		return netip.Addr{}, 0, false
	}
	a, ok := netip.AddrFromSlice(v.IPv4Address)
	if !ok {
		a, ok = netip.AddrFromSlice(v.IPv6Address)
	}
	return a.Unmap(), v.TEIDGREKey, ok
}

// deleteSession handles a Delete Session Request (TS 29.274 §7.2.9): the
// address goes back to the pool, the tunnel and the SGi sockets are torn
// down; the Delete Session Response (§7.2.10) says so.
func (g *Gateway) deleteSession(m *message.DeleteSessionRequest) message.Message {
	s := g.sessions.byControl(m.TEID())
	if s == nil {
		g.log.Warn("Delete Session rejected", "s11_teid", teidString(m.TEID()), "cause", CauseText(CauseContextNotFound),
			"reason", "no session has this S11 TEID")
		return message.NewDeleteSessionResponse(0, m.Sequence(), ie.NewCause(CauseContextNotFound, 0, 0, 0, nil))
	}
	if m.LinkedEBI != nil {
		if ebi, err := m.LinkedEBI.EPSBearerID(); err != nil || ebi != s.ebi {
			g.log.Warn("Delete Session rejected", "imsi", s.imsi, "cause", CauseText(CauseContextNotFound),
				"reason", "Linked EPS Bearer ID is not the session's default bearer")
			return message.NewDeleteSessionResponse(s.mmeTEID, m.Sequence(), ie.NewCause(CauseContextNotFound, 0, 0, 0, nil))
		}
	}
	g.release(s, "Delete Session Request")
	return message.NewDeleteSessionResponse(s.mmeTEID, m.Sequence(), ie.NewCause(CauseRequestAccepted, 0, 0, 0, nil))
}
