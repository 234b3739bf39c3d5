package hss

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
)

// S6a commands, TS 29.272 §7.2.
const ()

// The APN every subscriber gets: the IMS well-known APN, TS 23.003 §9.
const imsAPN = "ims"

func (h *HSS) registerS6a() {
	h.node.Handle(diameter.AppS6a, diameter.CmdAI, h.air)
	h.node.Handle(diameter.AppS6a, diameter.CmdUL, h.ulr)
	h.node.Handle(diameter.AppS6a, diameter.CmdPU, h.pur)
}

func (h *HSS) s6a(name string, data datatype.Type) *diam.AVP {
	return diameter.AVP(diameter.AppS6a, name, data)
}

// s6aSubscriber finds the subscriber of User-Name (the IMSI).
func (h *HSS) s6aSubscriber(ctx context.Context, req *diam.Message, cmd string) (*store.Subscriber, *diam.Message) {
	imsi := diameter.String(diameter.Find(req, "User-Name"))
	sub, err := h.store.Get(ctx, imsi)
	if errors.Is(err, store.ErrNotFound) {
		h.log.Info(cmd+": IMSI unknown", "cmd", cmd, "imsi", imsi, "result", "DIAMETER_ERROR_USER_UNKNOWN")
		return nil, h.answer(req, diameter.AppS6a, diameter.ExpUserUnknown, true)
	}
	if err != nil {
		return nil, h.answer(req, diameter.AppS6a, diameter.ResultUnableToComply, false)
	}
	return sub, nil
}

// air handles Authentication-Information-Request, TS 29.272 §5.2.3.1.3:
// E-UTRAN vectors (RAND, XRES, AUTN, KASME) with the AMF separation bit
// set, after a resynchronisation when Re-Synchronization-Info carries
// RAND‖AUTS. The SQN is the same one Cx uses: one subscriber, one SQN.
func (h *HSS) air(ctx context.Context, c *peer.Conn, req *diam.Message) *diam.Message {
	sub, fail := h.s6aSubscriber(ctx, req, "AIR")
	if fail != nil {
		return fail
	}
	log := h.log.With("cmd", "AIR", "imsi", sub.IMSI, "peer", c.PeerHost)
	plmn := diameter.Bytes(diameter.Find(req, "Visited-PLMN-Id"))
	if len(plmn) != 3 {
		log.Info("AIR refused: Visited-PLMN-Id must be 3 bytes", "result", "DIAMETER_INVALID_AVP_VALUE")
		return h.answer(req, diameter.AppS6a, diameter.ResultInvalidAVPValue, false)
	}
	eutran := diameter.Find(req, "Requested-EUTRAN-Authentication-Info")
	if eutran == nil {
		log.Info("AIR: no Requested-EUTRAN-Authentication-Info (only E-UTRAN vectors are served)", "result", "DIAMETER_AUTHENTICATION_DATA_UNAVAILABLE")
		return h.answer(req, diameter.AppS6a, diameter.ExpAuthenticationDataUnavailable, true)
	}
	n := int(diameter.Uint32(diameter.Member(eutran, diameter.AppS6a, "Number-Of-Requested-Vectors"), 1))
	n = max(1, min(n, MaxVectors))
	if rs := diameter.Bytes(diameter.Member(eutran, diameter.AppS6a, "Re-synchronization-Info")); len(rs) > 0 {
		if len(rs) != 30 {
			log.Info(fmt.Sprintf("AIR refused: Re-Synchronization-Info of %d bytes is not RAND‖AUTS (30)", len(rs)), "result", "DIAMETER_AUTHENTICATION_DATA_UNAVAILABLE")
			return h.answer(req, diameter.AppS6a, diameter.ExpAuthenticationDataUnavailable, true)
		}
		if err := h.resync(ctx, sub, rs[:16], rs[16:], "AIR"); err != nil {
			return h.answer(req, diameter.AppS6a, diameter.ExpAuthenticationDataUnavailable, true)
		}
	}
	vecs, err := h.vectors(ctx, sub, n, 0x8000, "AIR")
	if err != nil {
		log.Error("AIR: no vector: " + err.Error())
		return h.answer(req, diameter.AppS6a, diameter.ResultUnableToComply, false)
	}
	var items []*diam.AVP
	for i, v := range vecs {
		items = append(items, h.s6a("E-UTRAN-Vector", diameter.Group(
			h.s6a("Item-Number", datatype.Unsigned32(i+1)),
			h.s6a("RAND", datatype.OctetString(v.RAND)),
			h.s6a("XRES", datatype.OctetString(v.XRES)),
			h.s6a("AUTN", datatype.OctetString(v.AUTN)),
			h.s6a("KASME", datatype.OctetString(kasme(v.CK, v.IK, plmn, v.AUTN[:6]))))))
	}
	a := h.answer(req, diameter.AppS6a, diameter.ResultSuccess, false)
	a.AddAVP(h.s6a("Authentication-Info", diameter.Group(items...)))
	log.Info(fmt.Sprintf("AIR: %d E-UTRAN vector(s) for %s (serving network %s), KASME per TS 33.401 A.2", len(vecs), sub.IMSI, plmnString(plmn)),
		"result", "DIAMETER_SUCCESS")
	return a
}

// ulr handles Update-Location-Request, TS 29.272 §5.2.1.1.3: the MME is
// stored as serving the IMSI, and gets the subscription with the ims APN.
func (h *HSS) ulr(ctx context.Context, c *peer.Conn, req *diam.Message) *diam.Message {
	sub, fail := h.s6aSubscriber(ctx, req, "ULR")
	if fail != nil {
		return fail
	}
	mmeHost, mmeRealm := diameter.String(diameter.Find(req, "Origin-Host")), diameter.String(diameter.Find(req, "Origin-Realm"))
	if err := h.store.SetMME(ctx, sub.IMSI, mmeHost, mmeRealm); err != nil {
		return h.answer(req, diameter.AppS6a, diameter.ResultUnableToComply, false)
	}
	if sub.Barred {
		h.log.Info("ULR: subscriber barred", "cmd", "ULR", "imsi", sub.IMSI, "result", "DIAMETER_ERROR_UNKNOWN_EPS_SUBSCRIPTION")
		return h.answer(req, diameter.AppS6a, diameter.ExpUnknownEPSSubscription, true)
	}
	ambr := func() *diam.AVP {
		return h.s6a("AMBR", diameter.Group(
			h.s6a("Max-Requested-Bandwidth-UL", datatype.Unsigned32(50_000_000)),
			h.s6a("Max-Requested-Bandwidth-DL", datatype.Unsigned32(100_000_000))))
	}
	apn := h.s6a("APN-Configuration", diameter.Group(
		h.s6a("Context-Identifier", datatype.Unsigned32(1)),
		h.s6a("PDN-Type", datatype.Enumerated(0)), // IPv4
		h.s6a("Service-Selection", datatype.UTF8String(imsAPN)),
		h.s6a("EPS-Subscribed-QoS-Profile", diameter.Group(
			h.s6a("QoS-Class-Identifier", datatype.Enumerated(5)), // QCI 5: IMS signalling, TS 23.203 Table 6.1.7
			h.s6a("Allocation-Retention-Priority", diameter.Group(
				h.s6a("Priority-Level", datatype.Unsigned32(1)),
				h.s6a("Pre-emption-Capability", datatype.Enumerated(1)),
				h.s6a("Pre-emption-Vulnerability", datatype.Enumerated(1)))))),
		ambr()))
	data := []*diam.AVP{}
	if sub.MSISDN != "" {
		data = append(data, h.s6a("MSISDN", datatype.OctetString(tbcd(strings.TrimPrefix(sub.MSISDN, "+")))))
	}
	data = append(data,
		h.s6a("Subscriber-Status", datatype.Enumerated(0)),   // SERVICE_GRANTED
		h.s6a("Network-Access-Mode", datatype.Enumerated(2)), // ONLY_PACKET
		ambr(),
		h.s6a("APN-Configuration-Profile", diameter.Group(
			h.s6a("Context-Identifier", datatype.Unsigned32(1)),
			h.s6a("All-APN-Configurations-Included-Indicator", datatype.Enumerated(0)),
			apn)))
	a := h.answer(req, diameter.AppS6a, diameter.ResultSuccess, false)
	a.AddAVP(h.s6a("ULA-Flags", datatype.Unsigned32(1))) // Separation Indication
	a.AddAVP(h.s6a("Subscription-Data", diameter.Group(data...)))
	h.log.Info(fmt.Sprintf("ULR: %s now served by MME %s; subscription with APN %q sent", sub.IMSI, mmeHost, imsAPN),
		"cmd", "ULR", "imsi", sub.IMSI, "peer", c.PeerHost, "result", "DIAMETER_SUCCESS")
	return a
}

// pur handles Purge-UE-Request, TS 29.272 §5.2.2.1.3: the MME no longer
// serves the IMSI.
func (h *HSS) pur(ctx context.Context, c *peer.Conn, req *diam.Message) *diam.Message {
	sub, fail := h.s6aSubscriber(ctx, req, "PUR")
	if fail != nil {
		return fail
	}
	host, _, err := h.store.MME(ctx, sub.IMSI)
	if err != nil {
		return h.answer(req, diameter.AppS6a, diameter.ResultUnableToComply, false)
	}
	if host == diameter.String(diameter.Find(req, "Origin-Host")) {
		if err := h.store.SetMME(ctx, sub.IMSI, "", ""); err != nil {
			return h.answer(req, diameter.AppS6a, diameter.ResultUnableToComply, false)
		}
	}
	a := h.answer(req, diameter.AppS6a, diameter.ResultSuccess, false)
	a.AddAVP(h.s6a("PUA-Flags", datatype.Unsigned32(0)))
	h.log.Info(fmt.Sprintf("PUR: %s purged by MME %s", sub.IMSI, c.PeerHost), "cmd", "PUR", "imsi", sub.IMSI, "result", "DIAMETER_SUCCESS")
	return a
}

// tbcd encodes digits as TBCD (TS 29.002 §17.7.8): swapped nibbles, 'F' filler.
func tbcd(digits string) []byte {
	out := make([]byte, (len(digits)+1)/2)
	for i := range out {
		out[i] = 0xFF
	}
	for i, c := range []byte(digits) {
		d := c - '0'
		if i%2 == 0 {
			out[i/2] = 0xF0 | d
		} else {
			out[i/2] = out[i/2]&0x0F | d<<4
		}
	}
	return out
}

// plmnString renders a PLMN id (TS 24.008 §10.5.1.13 layout) as MCC/MNC.
func plmnString(b []byte) string {
	if len(b) != 3 {
		return fmt.Sprintf("%x", b)
	}
	mcc := fmt.Sprintf("%d%d%d", b[0]&0x0F, b[0]>>4, b[1]&0x0F)
	mnc := fmt.Sprintf("%d%d", b[2]&0x0F, b[2]>>4)
	if b[1]>>4 != 0x0F {
		mnc += fmt.Sprintf("%d", b[1]>>4)
	}
	return mcc + "/" + mnc
}
