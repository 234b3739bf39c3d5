package gw

import (
	"errors"
	"fmt"
	"github.com/imslab/imslab/internal/nas/eps"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/wmnsk/go-gtp/gtpv2"
	"github.com/wmnsk/go-gtp/gtpv2/ie"
	"github.com/wmnsk/go-gtp/gtpv2/message"
)

// PDN types (TS 29.274 §8.34).
const (
	pdnIPv4   = 1
	pdnIPv6   = 2
	pdnIPv4v6 = 3
)

// rejection is a request refused with a cause; offending names the IE at
// fault (TS 29.274 §8.4: type and instance in the Cause IE).
type rejection struct {
	cause     uint8
	offending *ie.IE
	why       string
}

func reject(cause uint8, ieType, instance uint8, format string, args ...any) *rejection {
	r := &rejection{cause: cause, why: fmt.Sprintf(format, args...)}
	if ieType != 0 {
		r.offending = ie.New(ieType, instance, nil)
	}
	return r
}

func (r *rejection) ie() *ie.IE { return ie.NewCause(r.cause, 0, 0, 0, r.offending) }

// csr is what the gateway keeps of a Create Session Request.
type csr struct {
	imsi, msisdn, apn string
	rat               uint8
	mmeTEID           uint32
	ebi               uint8
	cause             uint8 // 16, or 18 for an IPv4v6 request answered IPv4
	pco               *eps.PCO
	ambrUp, ambrDown  uint32
}

// parseCSR checks a Create Session Request's IEs (TS 29.274 §7.2.1, Table
// 7.2.1-1): IMSI, RAT Type, Sender F-TEID for Control Plane, APN and Bearer
// Contexts to be created (EBI, Bearer QoS) must be there and decode; PDN
// type IPv4 (IPv4v6 gets IPv4 with cause 18).
func (g *Gateway) parseCSR(m *message.CreateSessionRequest) (csr, *rejection) {
	r := csr{cause: CauseRequestAccepted, ambrUp: DefaultAMBR, ambrDown: DefaultAMBR}
	var err error
	if m.SenderFTEIDC == nil {
		return r, reject(CauseMandatoryIEMissing, ie.FullyQualifiedTEID, 0, "no Sender F-TEID for Control Plane")
	}
	if r.mmeTEID, err = m.SenderFTEIDC.TEID(); err != nil || r.mmeTEID == 0 {
		return r, reject(CauseMandatoryIEIncorrect, ie.FullyQualifiedTEID, 0, "Sender F-TEID for Control Plane unreadable or TEID 0")
	}
	if m.IMSI == nil {
		return r, reject(CauseMandatoryIEMissing, ie.IMSI, 0, "no IMSI")
	}
	if r.imsi, err = m.IMSI.IMSI(); err != nil || r.imsi == "" {
		return r, reject(CauseMandatoryIEIncorrect, ie.IMSI, 0, "IMSI unreadable")
	}
	if m.MSISDN != nil {
		r.msisdn, _ = m.MSISDN.MSISDN()
	}
	if m.RATType == nil {
		return r, reject(CauseMandatoryIEMissing, ie.RATType, 0, "no RAT Type")
	}
	if r.rat, err = m.RATType.RATType(); err != nil {
		return r, reject(CauseMandatoryIEIncorrect, ie.RATType, 0, "RAT Type unreadable")
	}
	if m.APN == nil {
		return r, reject(CauseMandatoryIEMissing, ie.AccessPointName, 0, "no APN")
	}
	if r.apn, err = m.APN.AccessPointName(); err != nil {
		return r, reject(CauseMandatoryIEIncorrect, ie.AccessPointName, 0, "APN unreadable")
	}
	if !g.servesAPN(r.apn) {
		return r, reject(CauseMissingOrUnknownAPN, 0, 0, "APN %q is not served (only %q)", r.apn, g.cfg.APN)
	}
	if m.PDNType != nil {
		switch t, _ := m.PDNType.PDNType(); t {
		case pdnIPv4:
		case pdnIPv4v6:
			r.cause = CauseNewPDNTypeNetworkPreference
		default:
			return r, reject(CausePreferredPDNTypeUnsupported, 0, 0, "PDN type %d asked, the lab gives IPv4 only", t)
		}
	}
	if len(m.BearerContextsToBeCreated) == 0 {
		return r, reject(CauseMandatoryIEMissing, ie.BearerContext, 0, "no Bearer Context to be created")
	}
	bc := m.BearerContextsToBeCreated[0]
	ebi := child(bc, ie.EPSBearerID, 0)
	if ebi == nil {
		return r, reject(CauseMandatoryIEMissing, ie.EPSBearerID, 0, "Bearer Context without EPS Bearer ID")
	}
	if r.ebi, err = ebi.EPSBearerID(); err != nil || r.ebi < 5 || r.ebi > 15 {
		return r, reject(CauseMandatoryIEIncorrect, ie.EPSBearerID, 0, "EPS Bearer ID %d outside 5-15 (TS 24.007 §11.2.3.1.5)", r.ebi)
	}
	if child(bc, ie.BearerQoS, 0) == nil {
		return r, reject(CauseMandatoryIEMissing, ie.BearerQoS, 0, "Bearer Context without Bearer QoS")
	}
	if m.AMBR != nil {
		if a, err := m.AMBR.AggregateMaximumBitRate(); err == nil {
			r.ambrUp, r.ambrDown = a.APNAMBRForUplink, a.APNAMBRForDownlink
		}
	}
	if m.PCO != nil {
		if p, err := eps.ParsePCO(m.PCO.Payload); err != nil {
			g.log.Warn("PCO from the UE ignored", "imsi", r.imsi, "err", err)
		} else {
			r.pco = p
		}
	}
	return r, nil
}

// servesAPN compares the APN's network identifier with Config.APN, case
// aside (TS 23.003 §9.1: "ims", or "ims.mnc001.mcc001.gprs").
func (g *Gateway) servesAPN(apn string) bool {
	ni, _, _ := strings.Cut(strings.ToLower(apn), ".mnc")
	return ni == strings.ToLower(g.cfg.APN)
}

// child finds an IE of a grouped IE (a Bearer Context).
func child(g *ie.IE, typ, instance uint8) *ie.IE {
	for _, c := range g.ChildIEs {
		if c.Type == typ && c.Instance() == instance {
			return c
		}
	}
	return nil
}

// createSession handles a Create Session Request (TS 29.274 §7.2.1): an
// address from the pool, an S11 and an S1-U TEID, the PCO answered; the
// Create Session Response (§7.2.2) says so.
func (g *Gateway) createSession(m *message.CreateSessionRequest, from netip.AddrPort) message.Message {
	r, rej := g.parseCSR(m)
	if rej != nil {
		g.log.Warn("Create Session rejected", "imsi", r.imsi, "from", from, "cause", CauseText(rej.cause), "reason", rej.why)
		return message.NewCreateSessionResponse(r.mmeTEID, m.Sequence(), rej.ie())
	}
	if old := g.sessions.find(r.imsi, r.apn); old != nil {
		g.release(old, "the UE attached again")
	}
	s := &session{imsi: r.imsi, msisdn: r.msisdn, apn: r.apn, ebi: r.ebi, mmeTEID: r.mmeTEID, mme: from,
		chargingID: g.charging.Add(1), created: time.Now()}
	if err := g.sessions.create(s); err != nil {
		cause := CauseNoResourcesAvailable
		if errors.Is(err, errPoolFull) {
			cause = CauseAllDynamicAddressesOccupied
		}
		g.log.Warn("Create Session rejected", "imsi", r.imsi, "cause", CauseText(cause),
			"reason", fmt.Sprintf("all %d addresses of pool %v are assigned", g.sessions.pool.size(), g.cfg.Pool))
		return message.NewCreateSessionResponse(r.mmeTEID, m.Sequence(), ie.NewCause(cause, 0, 0, 0, nil))
	}
	var pco []byte
	asked := "nothing"
	if r.pco != nil {
		pco = answerPCO(r.pco, g.cfg.PCSCF, g.cfg.DNS, g.cfg.MTU)
		asked = pcoAsked(r.pco)
	}
	ies := []*ie.IE{
		ie.NewCause(r.cause, 0, 0, 0, nil),
		fteid(gtpv2.IFTypeS11S4SGWGTPC, s.ctrlTEID, g.cAddr.Addr(), 0),
		fteid(gtpv2.IFTypeS5S8PGWGTPC, s.ctrlTEID, g.cAddr.Addr(), 1),
		ie.NewPDNAddressAllocation(s.ue.String()),
		ie.NewAPNRestriction(gtpv2.APNRestrictionNoExistingContextsorRestriction),
		ie.NewAggregateMaximumBitRate(r.ambrUp, r.ambrDown),
	}
	if pco != nil {
		ies = append(ies, ie.New(ie.ProtocolConfigurationOptions, 0, pco))
	}
	ies = append(ies, ie.NewBearerContext(
		ie.NewEPSBearerID(r.ebi),
		ie.NewCause(CauseRequestAccepted, 0, 0, 0, nil),
		fteid(gtpv2.IFTypeS1USGWGTPU, s.ulTEID, g.uAddr.Addr(), 0),
		ie.NewChargingID(s.chargingID),
	), ie.NewRecovery(g.cfg.RestartCounter))
	g.log.Info("session created", "imsi", r.imsi, "msisdn", r.msisdn, "apn", r.apn, "rat", ratName(r.rat), "ebi", r.ebi, "ue", s.ue,
		"pco_asked", asked, "pco_answer", pcoAnswer(pco), "s11_teid", teidString(s.ctrlTEID), "mme_teid", teidString(r.mmeTEID),
		"uplink_teid", teidString(s.ulTEID), "cause", CauseText(r.cause))
	return message.NewCreateSessionResponse(r.mmeTEID, m.Sequence(), ies...)
}

// fteid builds an F-TEID IE (TS 29.274 §8.22) for an IPv4 or IPv6
// address.
func fteid(ifType uint8, teid uint32, a netip.Addr, instance uint8) *ie.IE {
	var v4, v6 net.IP
	if a.Unmap().Is4() {
		v4 = net.IP(a.Unmap().AsSlice())
	} else {
		v6 = net.IP(a.AsSlice())
	}
	return ie.NewFullyQualifiedTEIDNetIP(ifType, teid, v4, v6).WithInstance(instance)
}

// pcoAsked names the containers a UE asked for: "P-CSCF IPv4, DNS IPv4".
func pcoAsked(p *eps.PCO) string {
	var names []string
	for _, c := range p.Items {
		names = append(names, pcoName(c.ID))
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

// pcoAnswer describes the answered PCO: "P-CSCF IPv4 127.0.0.1".
func pcoAnswer(b []byte) string {
	if b == nil {
		return "none"
	}
	p, err := eps.ParsePCO(b)
	if err != nil {
		return "invalid"
	}
	var parts []string
	for _, c := range p.Items {
		v := fmt.Sprintf("% x", c.Contents)
		if len(c.Contents) == 4 {
			v = netip.AddrFrom4([4]byte(c.Contents)).String()
		} else if len(c.Contents) == 2 {
			v = fmt.Sprint(int(c.Contents[0])<<8 | int(c.Contents[1]))
		}
		parts = append(parts, pcoName(c.ID)+" "+v)
	}
	return strings.Join(parts, ", ")
}

func pcoName(id uint16) string {
	switch id {
	case eps.PCOPCSCFIPv6:
		return "P-CSCF IPv6"
	case eps.PCOIMCNSignalling:
		return "IM CN subsystem signalling flag"
	case eps.PCODNSIPv6:
		return "DNS IPv6"
	case eps.PCOIPAddressViaNAS:
		return "IP address via NAS"
	case eps.PCOPCSCFIPv4:
		return "P-CSCF IPv4"
	case eps.PCODNSIPv4:
		return "DNS IPv4"
	case eps.PCOIPv4LinkMTU:
		return "IPv4 link MTU"
	}
	return fmt.Sprintf("%04XH", id)
}

// ratName names a RAT Type (TS 29.274 §8.17).
func ratName(r uint8) string {
	names := []string{1: "UTRAN", 2: "GERAN", 3: "WLAN", 4: "GAN", 5: "HSPA Evolution", 6: "EUTRAN", 7: "Virtual",
		8: "EUTRAN-NB-IoT", 9: "LTE-M", 10: "NR"}
	if int(r) < len(names) && names[r] != "" {
		return names[r]
	}
	return fmt.Sprint(r)
}

// teidString formats a TEID as Wireshark does: 0x0000002a.
func teidString(t uint32) string { return fmt.Sprintf("0x%08x", t) }
