package ue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/nas/eps"
	"github.com/imslab/imslab/internal/nas/nassec"
	"github.com/imslab/imslab/internal/s1lite"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/internal/uplane"
	"github.com/imslab/imslab/sim"
)

// DefaultAPN is the APN a UE asks for: the IMS well-known APN (TS 23.003
// §9.2, GSMA IR.92 §4.3).
const DefaultAPN = "ims"

// ErrAttachRejected is wrapped by Attach when the network refused the UE.
var ErrAttachRejected = errors.New("attach rejected")

// AttachConfig configures an EPS attach (TS 24.301 §5.5.1).
type AttachConfig struct {
	// Card is the SIM: the USIM answers EPS AKA (TS 33.401 §6.1).
	Card sim.Transport
	PIN  string
	// MME is the EPC's s1lite address (imslab epc; default 127.0.0.1:36412).
	MME string
	// APN is asked in the PDN connectivity request (default "ims").
	APN string
	// GTPU is the local address of the eNB side's GTP-U socket (default
	// 127.0.0.1:0).
	GTPU   string
	Logger *slog.Logger
	// Trace gets every NAS PDU (Protocol "NAS-EPS") and GTP-U packet.
	Trace func(trace.Event)
}

// Attachment is an attached UE: its PDN connection on the APN and the user
// plane that carries its IP packets in GTP-U.
type Attachment struct {
	IMSI           string
	Addr           netip.Addr   // the PDN address the PGW gave
	PCSCF, DNS     []netip.Addr // from the PCO (TS 24.008 §10.5.6.3)
	APN            string
	Resynchronised bool // the card refused the first SQN (AUTS)
	Plane          *uplane.Plane

	conn    net.Conn
	sec     *eps.SecurityContext
	ulCount uint32
	dlCount uint32
	log     *slog.Logger
	trace   func(trace.Event)
}

// Attach attaches to the EPC with the card (TS 24.301 §5.5.1.2): Attach
// Request with a PDN Connectivity Request for the APN whose PCO asks for
// the P-CSCF; EPS AKA on the USIM (with AUTS when the card refuses the
// SQN; a network the card finds not genuine is refused); NAS security mode;
// Attach Accept with the default bearer (address, P-CSCF); the eNB side's
// GTP-U endpoint; Attach Complete. The user plane is up when it returns.
func Attach(ctx context.Context, cfg AttachConfig) (_ *Attachment, err error) {
	if cfg.Card == nil {
		return nil, errors.New("ue: attach: no card")
	}
	if cfg.MME == "" {
		cfg.MME = "127.0.0.1:36412"
	}
	if cfg.APN == "" {
		cfg.APN = DefaultAPN
	}
	if cfg.GTPU == "" {
		cfg.GTPU = "127.0.0.1:0"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := sim.NewReader(cfg.Card)
	r.SetPIN(cfg.PIN)
	id, err := r.ReadIdentities(ctx)
	if err != nil {
		return nil, fmt.Errorf("ue: attach: reading the card: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.MME)
	if err != nil {
		return nil, fmt.Errorf("ue: attach: the MME at %s: %w (is imslab epc running?)", cfg.MME, err)
	}
	a := &Attachment{IMSI: id.IMSI, APN: cfg.APN, conn: conn, log: log.With("imsi", id.IMSI), trace: cfg.Trace}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	pco := &eps.PCO{}
	pco.Add(eps.PCOPCSCFIPv4, nil) // TS 24.229 §9.2.1: ask for the P-CSCF
	pco.Add(eps.PCODNSIPv4, nil)
	req := &eps.AttachRequest{AttachType: eps.AttachEPS, KSI: eps.NoKeyAvailable,
		Identity: eps.EPSMobileIdentity{Type: eps.EPSIdentityIMSI, Digits: id.IMSI},
		// 128-EEA0/EEA2 and 128-EIA2, TS 24.301 §9.9.3.34 (bit 8 is algorithm 0).
		UENetworkCapability: eps.UENetworkCapability{EEA: 0x80 | 0x80>>nassec.EEA2, EIA: 0x80 >> nassec.EIA2},
		ESM: &eps.PDNConnectivityRequest{ESMHeader: eps.ESMHeader{PTI: 1}, PDNType: eps.PDNTypeIPv4, RequestType: 1,
			APN: cfg.APN, PCO: pco}}
	if err := a.send(req, eps.Plain); err != nil {
		return nil, err
	}
	// The serving network's PLMN (TS 24.008 §10.5.1.13), the K_ASME
	// derivation's SN id (TS 33.401 A.2): the UE attaches in its home network.
	plmn, err := eps.PLMN{MCC: id.MCC, MNC: id.MNC}.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ue: attach: the card's PLMN: %w", err)
	}
	var kasme []byte
	var sgw s1lite.Bearer
	for {
		f, err := s1lite.Read(conn)
		if err != nil {
			return nil, fmt.Errorf("ue: attach: the MME closed the connection: %w", err)
		}
		if f.Type == s1lite.BearerSetup {
			if sgw, err = s1lite.DecodeBearer(f.Value); err != nil {
				return nil, err
			}
			continue
		}
		msg, err := a.receive(f.Value, kasme)
		if err != nil {
			return nil, err
		}
		switch m := msg.(type) {
		case *eps.IdentityRequest:
			if err := a.send(&eps.IdentityResponse{Identity: eps.MobileIdentity{Type: eps.IdentityIMSI, Digits: id.IMSI}}, eps.Plain); err != nil {
				return nil, err
			}
		case *eps.AuthenticationRequest:
			out, err := r.Authenticate(ctx, sim.AppUSIM, m.RAND[:], m.AUTN[:])
			var syncErr *sim.SyncFailureError
			switch {
			case err == nil:
				// TS 33.401 A.2: K_ASME from CK, IK, the serving network and SQN⊕AK.
				if kasme, err = aka.KASME(out.CK, out.IK, plmn, m.AUTN[:6]); err != nil {
					return nil, err
				}
				a.log.Info("EPS AKA: the card authenticated the network")
				if err := a.send(&eps.AuthenticationResponse{RES: out.RES}, eps.Plain); err != nil {
					return nil, err
				}
			case errors.As(err, &syncErr):
				a.Resynchronised = true
				a.log.Info("EPS AKA: the card refused the SQN; AUTS sent (EMM cause #21)")
				if err := a.send(&eps.AuthenticationFailure{Cause: eps.EMMSynchFailure, AUTS: syncErr.AUTS}, eps.Plain); err != nil {
					return nil, err
				}
			case errors.Is(err, sim.ErrMACFailure):
				// TS 24.301 §5.4.2.6 c: the network is not genuine.
				_ = a.send(&eps.AuthenticationFailure{Cause: eps.EMMMACFailure}, eps.Plain)
				return nil, fmt.Errorf("%w: the card found the network's MAC wrong (EMM cause #20): this network does not know the card's K", ErrNetworkNotGenuine)
			default:
				return nil, fmt.Errorf("ue: attach: AUTHENTICATE: %w", err)
			}
		case *eps.AuthenticationReject:
			return nil, fmt.Errorf("%w: Authentication Reject (the network did not accept the card's RES)", ErrAttachRejected)
		case *eps.SecurityModeCommand:
			if err := a.send(&eps.SecurityModeComplete{}, eps.IntegrityProtectedCipheredNewContext); err != nil {
				return nil, err
			}
		case *eps.AttachReject:
			return nil, fmt.Errorf("%w: Attach Reject, EMM cause %v", ErrAttachRejected, m.Cause)
		case *eps.AttachAccept:
			return a, a.accepted(ctx, m, sgw, cfg)
		default:
			a.log.Info("ignored " + msg.String())
		}
	}
}

// accepted takes the default bearer (TS 24.301 §6.4.1.3): the address and
// the PCO; the eNB side opens its GTP-U socket and tells the MME where the
// downlink goes; Attach Complete with the bearer's acceptance.
func (a *Attachment) accepted(ctx context.Context, m *eps.AttachAccept, sgw s1lite.Bearer, cfg AttachConfig) error {
	bearer, ok := m.ESM.(*eps.ActivateDefaultBearerRequest)
	if !ok {
		return errors.New("ue: attach: the Attach Accept carries no default bearer")
	}
	if !sgw.Endpoint.IsValid() {
		return errors.New("ue: attach: the MME sent no bearer endpoint before the Attach Accept")
	}
	a.Addr = bearer.PDNAddress.IPv4
	if bearer.PCO != nil {
		a.PCSCF = bearer.PCO.IPv4(eps.PCOPCSCFIPv4)
		a.DNS = bearer.PCO.IPv4(eps.PCODNSIPv4)
	}
	if bearer.APN != "" {
		a.APN = bearer.APN
	}
	pc, err := net.ListenPacket("udp", cfg.GTPU)
	if err != nil {
		return fmt.Errorf("ue: attach: the GTP-U socket on %s: %w", cfg.GTPU, err)
	}
	teid := uplane.NewTEID()
	a.Plane, err = uplane.Open(context.WithoutCancel(ctx), uplane.Config{Addr: a.Addr, SGW: sgw.Endpoint, UplinkTEID: sgw.TEID,
		Conn: pc, DownlinkTEID: teid, Logger: a.log, Trace: cfg.Trace})
	if err != nil {
		pc.Close()
		return err
	}
	local, _ := netip.ParseAddrPort(pc.LocalAddr().String())
	if err := s1lite.Write(a.conn, s1lite.Frame{Type: s1lite.BearerSetupResponse,
		Value: s1lite.Bearer{EBI: bearer.EBI, Endpoint: local, TEID: teid}.Encode()}); err != nil {
		return err
	}
	complete := &eps.AttachComplete{ESM: &eps.ActivateDefaultBearerAccept{ESMHeader: eps.ESMHeader{EBI: bearer.EBI}}}
	if err := a.send(complete, eps.IntegrityProtectedCiphered); err != nil {
		return err
	}
	a.log.Info(fmt.Sprintf("attached: %s on APN %s, P-CSCF %v", a.Addr, a.APN, a.PCSCF))
	return nil
}

// receive decodes a downlink NAS PDU; a protected one is checked with the
// security context (the Security Mode Command creates it from K_ASME and
// the algorithms it names, TS 33.401 §7.2.4.4).
func (a *Attachment) receive(pdu, kasme []byte) (eps.Message, error) {
	msg, label, err := a.unprotect(pdu, kasme)
	if err != nil {
		label = "NAS message (refused: " + err.Error() + ")"
	}
	a.traceNAS(false, pdu, label)
	return msg, err
}

// unprotect decodes a downlink NAS PDU and labels it for the trace.
func (a *Attachment) unprotect(pdu, kasme []byte) (eps.Message, string, error) {
	if len(pdu) == 0 || pdu[0]>>4 == uint8(eps.Plain) || pdu[0]&0x0F != uint8(eps.PDEMM) {
		m, err := eps.Decode(pdu)
		if err != nil {
			return nil, "", err
		}
		return m, m.String(), nil
	}
	h, inner, err := eps.ParseProtected(pdu)
	if err != nil {
		return nil, "", err
	}
	if h.Type == eps.IntegrityProtectedNewContext {
		smc := &eps.SecurityModeCommand{}
		if err := smc.Decode(inner); err != nil {
			return nil, "", err
		}
		if kasme == nil {
			return nil, "", errors.New("ue: attach: a Security Mode Command before authentication")
		}
		if a.sec, err = eps.NewSecurityContext(kasme, smc.Algorithms); err != nil {
			return nil, "", err
		}
		a.dlCount, a.ulCount = 0, 0
	}
	if a.sec == nil {
		return nil, "", errors.New("ue: attach: a protected NAS message without a security context")
	}
	un, err := a.sec.Unprotect(pdu, nassec.Downlink, a.dlCount)
	if err != nil {
		return nil, "", fmt.Errorf("ue: attach: downlink NAS message refused: %w", err)
	}
	a.dlCount = un.Count + 1
	m, err := eps.Decode(un.Plain)
	if err != nil {
		return nil, "", err
	}
	return m, m.String() + h.Type.Label(), nil
}

// send sends a NAS message, protected with the next uplink COUNT unless t
// is Plain.
func (a *Attachment) send(m eps.Message, t eps.SecurityHeaderType) error {
	b, err := m.Encode()
	if err != nil {
		return err
	}
	if t != eps.Plain {
		if a.sec == nil {
			return errors.New("ue: attach: no NAS security context")
		}
		if b, err = a.sec.Protect(b, t, a.ulCount, nassec.Uplink); err != nil {
			return err
		}
		a.ulCount++
	}
	a.traceNAS(true, b, m.String()+t.Label())
	_ = a.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s1lite.Write(a.conn, s1lite.Frame{Type: s1lite.NAS, Value: b})
}

// traceNAS reports a NAS PDU between the UE's and the MME's ends of the
// s1lite connection (no Network: a pcap carries NAS PDUs on a link type of
// their own, not as TCP).
func (a *Attachment) traceNAS(sent bool, pdu []byte, label string) {
	if a.trace == nil {
		return
	}
	l, _ := netip.ParseAddrPort(a.conn.LocalAddr().String())
	r, _ := netip.ParseAddrPort(a.conn.RemoteAddr().String())
	e := trace.Event{Time: time.Now(), Node: "UE", Protocol: "NAS-EPS", Sent: sent, Src: r, Dst: l, Summary: label, Raw: bytes.Clone(pdu)}
	if sent {
		e.Src, e.Dst = l, r
	}
	a.trace(e)
}

// Detach detaches (TS 24.301 §5.5.2.2.1, not switch-off): Detach Request,
// Detach Accept, and the user plane closes.
func (a *Attachment) Detach(ctx context.Context) error {
	defer a.close()
	if err := a.send(&eps.DetachRequest{DetachType: eps.DetachEPS, KSI: 0,
		Identity: eps.EPSMobileIdentity{Type: eps.EPSIdentityIMSI, Digits: a.IMSI}}, eps.IntegrityProtectedCiphered); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = a.conn.SetReadDeadline(dl)
	} else {
		_ = a.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	for {
		f, err := s1lite.Read(a.conn)
		if err != nil {
			return fmt.Errorf("ue: detach: no Detach Accept: %w", err)
		}
		if f.Type != s1lite.NAS {
			continue
		}
		msg, err := a.receive(f.Value, nil)
		if err != nil {
			return err
		}
		if _, ok := msg.(*eps.DetachAccept); ok {
			a.log.Info("detached")
			return nil
		}
	}
}

func (a *Attachment) close() {
	if a.Plane != nil {
		_ = a.Plane.Close()
	}
	_ = a.conn.Close()
}
