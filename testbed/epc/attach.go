package epc

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/imslab/imslab/internal/nas/eps"
	"github.com/imslab/imslab/internal/nas/nassec"
	"github.com/imslab/imslab/internal/s1lite"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/testbed/epc/gw"
)

// attach runs the EPS attach, TS 24.301 §5.5.1.2 (with TS 23.401 §5.3.2.1):
// Attach Request with a PDN Connectivity Request → AIR → Authentication
// (resync from AUTS once) → Security Mode → ULR → Create Session → Attach
// Accept with Activate Default EPS Bearer Context Request → the eNB's
// downlink endpoint → Modify Bearer → Attach Complete.
func (m *MME) attach(ctx context.Context, u *ueContext, log *slog.Logger) error {
	first, err := m.receive(u)
	if err != nil {
		return err
	}
	ar, ok := first.(*eps.AttachRequest)
	if !ok {
		return &attachError{cause: eps.EMMMessageTypeNonExistent, reject: true, why: "expected an Attach Request, got " + first.String()}
	}
	if ar.Identity.Type != eps.EPSIdentityIMSI {
		// imslab keeps no GUTI across attaches: ask for the IMSI (§5.4.4).
		if err := m.sendPlain(u, &eps.IdentityRequest{IdentityType: eps.IdentityIMSI}); err != nil {
			return err
		}
		msg, err := m.receive(u)
		if err != nil {
			return err
		}
		ir, ok := msg.(*eps.IdentityResponse)
		if !ok || ir.Identity.Type != eps.IdentityIMSI {
			return &attachError{cause: eps.EMMUEIdentityCannotBeDerived, reject: true, why: "no IMSI in the Identity Response"}
		}
		u.imsi = ir.Identity.Digits
	} else {
		u.imsi = ar.Identity.Digits
	}
	pdn, ok := ar.ESM.(*eps.PDNConnectivityRequest)
	if !ok {
		return &attachError{cause: eps.EMMESMFailure, reject: true, why: "the Attach Request carries no PDN Connectivity Request"}
	}
	u.pti = pdn.PTI
	log = log.With("imsi", u.imsi)
	log.Info(fmt.Sprintf("Attach Request from %s (APN %q)", u.imsi, pdn.APN))

	kasme, err := m.authenticate(ctx, u, log)
	if err != nil {
		return err
	}
	if err := m.securityMode(u, ar.UENetworkCapability, kasme, log); err != nil {
		return err
	}
	ula, err := m.hss.ULR(ctx, u.imsi, m.plmn)
	if err != nil || !ula.OK() {
		return &attachError{cause: eps.EMMNetworkFailure, reject: true, why: fmt.Sprintf("ULR: %v %v", ula, err)}
	}
	apn := pdn.APN
	if apn == "" && len(ula.APNs) > 0 {
		apn = ula.APNs[0] // the subscription's default APN, TS 23.401 §5.3.2.1
	}
	var pco []byte
	if pdn.PCO != nil {
		pco, _ = pdn.PCO.Marshal() // the same value in NAS and GTPv2 (TS 29.274 §8.13)
	}
	u.ebi = 5
	s, err := m.sgw.CreateSession(ctx, gw.CreateSessionParams{IMSI: u.imsi, MSISDN: ula.MSISDN, MCC: m.cfg.MCC, MNC: m.cfg.MNC,
		APN: apn, EBI: u.ebi, PCO: pco})
	if err != nil {
		return &attachError{cause: eps.EMMESMFailure, reject: true, why: "Create Session: " + err.Error()}
	}
	u.session = s
	log.Info(fmt.Sprintf("PDN connection on APN %s: UE address %s, P-CSCF %v", apn, s.UE, s.PCSCF))

	// The eNB side learns the SGW's uplink endpoint (S1AP Initial Context
	// Setup Request, TS 36.413 §8.3.1).
	if err := s1lite.Write(u.conn, s1lite.Frame{Type: s1lite.BearerSetup,
		Value: s1lite.Bearer{EBI: u.ebi, Endpoint: s.SGWUserPlane, TEID: s.UplinkTEID}.Encode()}); err != nil {
		return err
	}
	bearer := &eps.ActivateDefaultBearerRequest{ESMHeader: eps.ESMHeader{EBI: u.ebi, PTI: u.pti},
		QoS: eps.EPSQoS{QCI: gw.DefaultQCI}, APN: apn,
		PDNAddress: eps.PDNAddress{Type: eps.PDNTypeIPv4, IPv4: s.UE}}
	if len(s.PCO) > 0 {
		if p, err := eps.ParsePCO(s.PCO); err == nil {
			bearer.PCO = p
		}
	}
	accept := &eps.AttachAccept{Result: eps.AttachResultEPS, T3412: eps.NewGPRSTimer(54 * time.Minute),
		TAIList: eps.TAIList{{PLMN: eps.PLMN{MCC: m.cfg.MCC, MNC: m.cfg.MNC}, TAC: defaultTAC}}, ESM: bearer,
		GUTI: &eps.GUTI{PLMN: eps.PLMN{MCC: m.cfg.MCC, MNC: m.cfg.MNC}, MMEGroupID: 1, MMECode: 1, MTMSI: m.newTMSI()}}
	if err := m.sendProtected(u, accept, eps.IntegrityProtectedCiphered); err != nil {
		return err
	}
	// The eNB side's downlink endpoint (S1AP Initial Context Setup
	// Response), then Attach Complete.
	for gotBearer, complete := false, false; !gotBearer || !complete; {
		f, err := m.readFrame(u)
		if err != nil {
			return err
		}
		switch f.Type {
		case s1lite.BearerSetupResponse:
			b, err := s1lite.DecodeBearer(f.Value)
			if err != nil {
				return err
			}
			if err := m.sgw.ModifyBearer(ctx, s, b.Endpoint.Addr(), b.TEID); err != nil {
				return &attachError{cause: eps.EMMNetworkFailure, reject: false, why: "Modify Bearer: " + err.Error()}
			}
			gotBearer = true
		case s1lite.NAS:
			msg, err := m.decodeNAS(u, f.Value)
			if err != nil {
				return err
			}
			if _, ok := msg.(*eps.AttachComplete); !ok {
				return fmt.Errorf("expected Attach Complete, got %s", msg)
			}
			complete = true
		}
	}
	log.Info(fmt.Sprintf("%s attached: %s on APN %s", u.imsi, s.UE, apn))
	return nil
}

// authenticate runs EPS AKA (TS 33.401 §6.1, TS 24.301 §5.4.2) and returns
// K_ASME; a synchronisation failure is resolved once with the AUTS.
func (m *MME) authenticate(ctx context.Context, u *ueContext, log *slog.Logger) ([]byte, error) {
	var rndAUTS []byte
	for try := 0; try < 2; try++ {
		aia, err := m.hss.AIR(ctx, u.imsi, m.plmn, 1, rndAUTS)
		if err != nil {
			return nil, &attachError{cause: eps.EMMNetworkFailure, reject: true, why: "AIR: " + err.Error()}
		}
		if !aia.OK() || len(aia.Vectors) == 0 {
			return nil, &attachError{cause: eps.EMMIllegalUE, reject: true, why: "AIR: " + aia.Result.String()}
		}
		v := aia.Vectors[0]
		req := &eps.AuthenticationRequest{KSI: 0}
		copy(req.RAND[:], v.RAND)
		copy(req.AUTN[:], v.AUTN)
		if err := m.sendPlain(u, req); err != nil {
			return nil, err
		}
		msg, err := m.receive(u)
		if err != nil {
			return nil, err
		}
		switch r := msg.(type) {
		case *eps.AuthenticationResponse:
			if !bytes.Equal(r.RES, v.XRES) {
				_ = m.sendPlain(u, &eps.AuthenticationReject{})
				return nil, &attachError{why: "RES does not match XRES: the card's K is not the HSS's (Authentication Reject)"}
			}
			log.Info("EPS AKA: RES = XRES, the UE is authenticated")
			return v.KASME, nil
		case *eps.AuthenticationFailure:
			switch r.Cause {
			case eps.EMMSynchFailure:
				if try > 0 || len(r.AUTS) != 14 {
					_ = m.sendPlain(u, &eps.AuthenticationReject{})
					return nil, &attachError{why: "a second synch failure after resynchronisation (Authentication Reject)"}
				}
				log.Info("EPS AKA: synch failure, the card sent AUTS: AIR with RAND‖AUTS (the HSS resynchronises)")
				rndAUTS = append(append([]byte{}, v.RAND...), r.AUTS...)
				continue
			case eps.EMMMACFailure:
				_ = m.sendPlain(u, &eps.AuthenticationReject{})
				return nil, &attachError{why: "the card found the network's MAC wrong (EMM cause #20): its K is not the HSS's (Authentication Reject)"}
			default:
				return nil, &attachError{why: "Authentication Failure " + r.Cause.String()}
			}
		default:
			return nil, &attachError{cause: eps.EMMMessageTypeNonExistent, reject: true, why: "expected an authentication answer, got " + msg.String()}
		}
	}
	return nil, &attachError{why: "authentication failed"}
}

// securityMode takes the NAS security context into use (TS 24.301 §5.4.3):
// 128-EIA2, and the configured ciphering when the UE has it, else null
// ciphering (EIA2 is required).
func (m *MME) securityMode(u *ueContext, capab eps.UENetworkCapability, kasme []byte, log *slog.Logger) error {
	alg := eps.NASSecurityAlgorithms{EEA: m.cfg.Ciphering, EIA: nassec.EIA2}
	if !capab.SupportsEIA(nassec.EIA2) {
		return &attachError{cause: eps.EMMUESecurityCapabilityMismatch, reject: true, why: "the UE does not support 128-EIA2"}
	}
	if !capab.SupportsEEA(alg.EEA) {
		alg.EEA = nassec.EEA0
	}
	sec, err := eps.NewSecurityContext(kasme, alg)
	if err != nil {
		return err
	}
	u.sec = sec
	if err := m.sendProtected(u, &eps.SecurityModeCommand{Algorithms: alg, KSI: 0, ReplayedCapability: capab.Replayed()},
		eps.IntegrityProtectedNewContext); err != nil {
		return err
	}
	msg, err := m.receive(u)
	if err != nil {
		return err
	}
	if _, ok := msg.(*eps.SecurityModeComplete); !ok {
		return &attachError{cause: eps.EMMSecurityModeRejected, reject: true, why: "security mode: " + msg.String()}
	}
	log.Info(fmt.Sprintf("NAS security on: %v, %v (K_NASenc, K_NASint from K_ASME, TS 33.401 A.7)", alg.EEA, alg.EIA))
	return nil
}

// readFrame reads the next frame from the UE, within nasTimeout.
func (m *MME) readFrame(u *ueContext) (s1lite.Frame, error) {
	_ = u.conn.SetReadDeadline(time.Now().Add(nasTimeout))
	return s1lite.Read(u.conn)
}

// receive reads the next NAS message (unprotecting it once security is on),
// within the NAS timeout during the attach, without one once attached.
func (m *MME) receive(u *ueContext) (eps.Message, error) {
	for {
		var f s1lite.Frame
		var err error
		if u.sec != nil && u.session != nil {
			_ = u.conn.SetReadDeadline(time.Time{})
			f, err = s1lite.Read(u.conn)
		} else {
			f, err = m.readFrame(u)
		}
		if err != nil {
			return nil, err
		}
		if f.Type != s1lite.NAS {
			continue
		}
		return m.decodeNAS(u, f.Value)
	}
}

// decodeNAS decodes an uplink NAS PDU; with a security context, a protected
// one is checked and deciphered (TS 24.301 §4.4.4).
func (m *MME) decodeNAS(u *ueContext, pdu []byte) (eps.Message, error) {
	plain, prot := pdu, ""
	if len(pdu) > 0 && pdu[0]>>4 != uint8(eps.Plain) && pdu[0]&0x0F == uint8(eps.PDEMM) {
		if u.sec == nil {
			m.traceNAS(u, false, pdu, "protected NAS message (no security context)")
			return nil, fmt.Errorf("a protected NAS message before security mode")
		}
		un, err := u.sec.Unprotect(pdu, nassec.Uplink, u.ulCount)
		if err != nil {
			m.traceNAS(u, false, pdu, "protected NAS message (refused)")
			return nil, fmt.Errorf("uplink NAS message refused: %w", err)
		}
		u.ulCount = un.Count + 1
		plain, prot = un.Plain, un.Header.Type.Label()
	}
	msg, err := eps.Decode(plain)
	if err != nil {
		m.traceNAS(u, false, pdu, "NAS message (undecodable)")
		return nil, err
	}
	m.traceNAS(u, false, pdu, msg.String()+prot)
	return msg, nil
}

// sendPlain sends a plain NAS message (before security mode).
func (m *MME) sendPlain(u *ueContext, msg eps.Message) error {
	b, err := msg.Encode()
	if err != nil {
		return err
	}
	return m.writeNAS(u, b, msg.String())
}

// sendProtected sends a protected NAS message with the next downlink COUNT.
func (m *MME) sendProtected(u *ueContext, msg eps.Message, t eps.SecurityHeaderType) error {
	b, err := msg.Encode()
	if err != nil {
		return err
	}
	pdu, err := u.sec.Protect(b, t, u.dlCount, nassec.Downlink)
	if err != nil {
		return err
	}
	u.dlCount++
	return m.writeNAS(u, pdu, msg.String()+t.Label())
}

func (m *MME) writeNAS(u *ueContext, pdu []byte, label string) error {
	m.traceNAS(u, true, pdu, label)
	_ = u.conn.SetWriteDeadline(time.Now().Add(nasTimeout))
	return s1lite.Write(u.conn, s1lite.Frame{Type: s1lite.NAS, Value: pdu})
}

// traceNAS reports a NAS PDU between the ends of the UE's s1lite
// connection, without Network: a pcap carries NAS PDUs on a link type of
// their own (tshark's nas-eps), not as TCP.
func (m *MME) traceNAS(u *ueContext, sent bool, pdu []byte, label string) {
	if m.cfg.Trace == nil {
		return
	}
	l, _ := netip.ParseAddrPort(u.conn.LocalAddr().String())
	r, _ := netip.ParseAddrPort(u.conn.RemoteAddr().String())
	e := trace.Event{Time: time.Now(), Node: "MME", Protocol: "NAS-EPS", Sent: sent, Src: r, Dst: l, Summary: label, Raw: bytes.Clone(pdu)}
	if sent {
		e.Src, e.Dst = l, r
	}
	m.cfg.Trace(e)
}

// newTMSI returns an M-TMSI for the GUTI.
func (m *MME) newTMSI() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 0xC0000000|m.nextID)
	return binary.BigEndian.Uint32(b[:])
}
