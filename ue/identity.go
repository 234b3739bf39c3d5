package ue

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/sim"
)

// pcscfPort is the SIP port used with an EF_PCSCF address, which has none.
const pcscfPort = "5060"

// card is the UE's card: one APDU exchange at a time.
type card struct {
	mu sync.Mutex
	r  *sim.Reader
}

// authenticate runs AUTHENTICATE in the chosen application.
func (c *card) authenticate(ctx context.Context, app sim.App, rand, autn []byte) (*sim.AuthResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.r.Authenticate(ctx, app, rand, autn)
}

// readCard reads the identities as a phone does at power-on and derives
// what the registration needs (TS 24.229 §5.1.1.1A).
func (u *UE) readCard(ctx context.Context) error {
	r := sim.NewReader(u.cfg.Card)
	r.SetPIN(u.cfg.PIN)
	id, err := r.ReadIdentities(ctx)
	if err != nil {
		return explainCardError(err)
	}
	app, err := pickApp(u.cfg.App, id.HasISIM)
	if err != nil {
		return err
	}
	impu, err := pickIMPU(id.IMPUs)
	if err != nil {
		return err
	}
	var fromPCO []netip.Addr
	if u.attachment != nil {
		fromPCO = u.attachment.PCSCF
	}
	pcscf, source := pickPCSCF(u.cfg.PCSCF, fromPCO, id)
	u.pcscfWhy = source
	u.log.Info("P-CSCF chosen", "pcscf", pcscf, "why", source)
	u.card = &card{r: r}
	u.id, u.app, u.impu, u.pcscf = id, app, impu, pcscf
	u.instance = u.cfg.InstanceID
	if u.instance == "" {
		u.instance = instanceID(id.ICCID, id.IMSI)
	}
	u.callID = newTag() + "@" + id.Domain
	u.fromTag = newTag()
	return nil
}

// explainCardError says what to do about a card that cannot be read.
func explainCardError(err error) error {
	var wrong *sim.WrongPINError
	switch {
	case errors.Is(err, sim.ErrPINRequired):
		return fmt.Errorf("reading the card: %w", err)
	case errors.As(err, &wrong):
		return fmt.Errorf("reading the card: %w (check --pin)", err)
	}
	return fmt.Errorf("reading the card's identities: %w", err)
}

// pickApp chooses the application that runs IMS AKA: the ISIM when the card
// has one, else the USIM (TS 33.203 §6.1, TS 24.229 §5.1.1.1A).
func pickApp(choice string, hasISIM bool) (sim.App, error) {
	switch choice {
	case "isim":
		if !hasISIM {
			return 0, errors.New("the ISIM was asked for but the card has none: leave the application unset to use the USIM")
		}
		return sim.AppISIM, nil
	case "usim":
		return sim.AppUSIM, nil
	}
	if hasISIM {
		return sim.AppISIM, nil
	}
	return sim.AppUSIM, nil
}

// pickIMPU returns the public user identity to register: the first SIP URI
// of the list (the ISIM's first EF_IMPU record, or the temporary IMPU
// derived from the IMSI, TS 24.229 §5.1.1.1A); a tel URI cannot be the
// address-of-record of a REGISTER (RFC 3261 §10.2).
func pickIMPU(impus []string) (sip.Uri, error) {
	for _, s := range impus {
		if !strings.HasPrefix(strings.ToLower(s), "sip:") {
			continue
		}
		var u sip.Uri
		if err := sip.ParseUri(s, &u); err != nil {
			return sip.Uri{}, fmt.Errorf("the card's IMPU %q is not a valid SIP URI: %w", s, err)
		}
		if u.User == "" || u.Host == "" {
			return sip.Uri{}, fmt.Errorf("the card's IMPU %q needs a user and a domain", s)
		}
		return u, nil
	}
	return sip.Uri{}, fmt.Errorf("the card has no SIP public identity to register (IMPUs: %v)", impus)
}

// pickPCSCF chooses the P-CSCF and says why (TS 24.229 §9.2.1, P-CSCF
// discovery): the configured one (a flag overrides everything), else the
// first the network gave in the PCO at attach, else the ISIM's EF_PCSCF
// (TS 31.103 §4.2.8), else the lab's default.
func pickPCSCF(configured string, fromPCO []netip.Addr, id *sim.Identities) (addr, why string) {
	if configured != "" {
		return configured, "given (flag or configuration)"
	}
	// TS 24.229 §9.2.1: the P-CSCF discovered at PDN connection
	// establishment (the PCO of the default bearer) comes before the one
	// provisioned on the ISIM (§B.2.2.1).
	if len(fromPCO) > 0 {
		return netip.AddrPortFrom(fromPCO[0], 5060).String(), "from the PCO of the default bearer (attach), port " + pcscfPort
	}
	if len(id.PCSCF) > 0 && id.PCSCFSource == sim.FromISIM {
		return withPort(id.PCSCF[0], pcscfPort), "from the ISIM's EF_PCSCF, port " + pcscfPort
	}
	return DefaultPCSCF, "none given and none on the card: the local lab's default"
}

// withPort adds a port to a host (or IP literal) that has none.
func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// instanceID derives a stable +sip.instance from the card (RFC 5626 §4.1):
// a name-based UUID (RFC 9562 §5.5, SHA-1) of the ICCID and IMSI, so that
// the same card always registers as the same device.
func instanceID(iccid, imsi string) string {
	// imslab's UUID namespace (3f0c9a52-6d1e-4b7a-9c2e-51d0a8e7b6f4),
	// chosen once: any fixed UUID would do.
	ns := [16]byte{0x3f, 0x0c, 0x9a, 0x52, 0x6d, 0x1e, 0x4b, 0x7a, 0x9c, 0x2e, 0x51, 0xd0, 0xa8, 0xe7, 0xb6, 0xf4}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte("imslab-ue:" + iccid + ":" + imsi))
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5
	b[8] = b[8]&0x3f | 0x80 // variant RFC 9562
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
