package ue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipdigest"
)

// icsiMMTel is the IMS communication service the UE registers for, as a
// feature tag value (TS 24.229 §5.1.1.2.1, TS 24.173 §5.1, RFC 3840).
const icsiMMTel = `"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"`

// maxChallenges bounds the 401s answered in one registration: the first
// challenge, one after a resynchronisation, one stale nonce.
const maxChallenges = 3

// Registration is what the network said in the 200 (OK) to REGISTER
// (TS 24.229 §5.1.1.2.2).
type Registration struct {
	IMPI  string `json:"impi"`
	IMPU  string `json:"impu"`
	PCSCF string `json:"pcscf"`
	// Contact is this UE's registered contact.
	Contact string `json:"contact"`
	// Expires is the expiry granted to this UE's contact.
	Expires time.Duration `json:"expires"`
	// ServiceRoute is the route to the S-CSCF for the requests the UE
	// originates (RFC 3608), each entry a name-addr.
	ServiceRoute []string `json:"service_route"`
	// AssociatedURIs are the IMPUs registered together (the implicit
	// registration set, P-Associated-URI, RFC 7315 §4.1).
	AssociatedURIs []string `json:"associated_uris"`
	// Contacts are all the contacts the registrar listed for the IMPU
	// (other devices of the same user too).
	Contacts []Contact `json:"contacts"`
	// Resynchronised: the card refused the network's SQN and the network
	// resynchronised from AUTS on the way.
	Resynchronised bool      `json:"resynchronised"`
	At             time.Time `json:"at"`
}

// Contact is one contact listed in a 200 (OK) to REGISTER.
type Contact struct {
	URI      string        `json:"uri"`
	Expires  time.Duration `json:"expires"`
	Instance string        `json:"instance,omitempty"`
	Ours     bool          `json:"ours"`
}

// String renders a registration for a person.
func (r *Registration) String() string {
	var sb strings.Builder
	line := func(k, format string, a ...any) { fmt.Fprintf(&sb, "%-17s "+format+"\n", append([]any{k}, a...)...) }
	line("registered", "%s (IMPI %s) via the P-CSCF %s", r.IMPU, r.IMPI, r.PCSCF)
	line("expires", "%s, granted to %s", secs(r.Expires), r.Contact)
	if len(r.ServiceRoute) == 0 {
		line("Service-Route", "(none)")
	}
	for _, s := range r.ServiceRoute {
		line("Service-Route", "%s", s)
	}
	for _, s := range r.AssociatedURIs {
		line("P-Associated-URI", "%s", s)
	}
	for _, c := range r.Contacts {
		mark := ""
		if c.Ours {
			mark = " (this UE)"
		}
		line("contact", "%s expires %s%s", c.URI, secs(c.Expires), mark)
	}
	if r.Resynchronised {
		line("note", "the card refused the SQN; the network resynchronised from AUTS")
	}
	return sb.String()
}

// Register boots the UE if needed and registers once: initial REGISTER,
// IMS-AKA with the card, 200 (OK) (TS 24.229 §5.1.1.2, §5.1.1.5). It does not
// refresh: Run does.
func (u *UE) Register(ctx context.Context) (*Registration, error) {
	if err := u.Boot(ctx); err != nil {
		return nil, err
	}
	reg, err := u.register(ctx, u.cfg.Expires, opRegister)
	if err != nil {
		u.emit(Event{Kind: RegistrationFailed, Err: err, Text: err.Error()})
		return nil, err
	}
	u.setRegistration(reg)
	u.emit(Event{Kind: Registered, PCSCFSource: u.pcscfWhy, Registration: reg,
		Text: fmt.Sprintf("registered %s for %s", reg.IMPU, secs(reg.Expires))})
	return reg, nil
}

func (u *UE) setRegistration(reg *Registration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reg = reg
}

// register runs one REGISTER exchange: a REGISTER without credentials,
// then an answer to each AKA challenge, until a final answer other than
// 401. Refreshes and de-registration (expires 0) run it too: every
// REGISTER starts with nonce="" and the S-CSCF challenges it.
func (u *UE) register(ctx context.Context, expires time.Duration, op string) (*Registration, error) {
	u.regMu.Lock()
	defer u.regMu.Unlock()
	uri := "sip:" + u.id.Domain
	// TS 24.229 §5.1.1.2.1: an Authorization header with the IMPI, the
	// home domain as realm, the Request-URI, and empty nonce and response.
	auth := &sipdigest.Credentials{Username: u.id.IMPI, Realm: u.id.Domain, URI: uri}
	var st authState
	for challenges := 0; ; {
		req := u.newRegister(expires, auth)
		res, err := u.send(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		switch {
		case res.StatusCode == 401:
			challenges++
			if challenges > maxChallenges {
				return nil, &RefusedError{Op: op, Code: res.StatusCode, Reason: res.Reason, Warning: header(res, "Warning"),
					Hint: "the network keeps challenging after the answers: it did not accept RES (wrong K or OPc in the card or the HSS?)"}
			}
			if auth, err = u.answerChallenge(ctx, res, uri, &st); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
		case res.StatusCode == 423 && expires > 0:
			// RFC 3261 §10.2.8: ask again for at least Min-Expires.
			minExp, err := strconv.Atoi(header(res, "Min-Expires"))
			if err != nil || time.Duration(minExp)*time.Second <= expires || challenges > maxChallenges {
				return nil, refused(op, res, &st)
			}
			challenges++
			expires = time.Duration(minExp) * time.Second
			auth = &sipdigest.Credentials{Username: u.id.IMPI, Realm: u.id.Domain, URI: uri}
		case res.IsSuccess():
			return u.learn(res, expires, &st)
		default:
			return nil, refused(op, res, &st)
		}
	}
}

// newRegister builds a REGISTER (TS 24.229 §5.1.1.2.1): Request-URI the home
// domain, From and To the IMPU, Contact with +sip.instance and the MMTel
// ICSI, Supported: path, the Authorization, and Expires.
func (u *UE) newRegister(expires time.Duration, auth *sipdigest.Credentials) *sip.Request {
	exp := strconv.Itoa(int(expires / time.Second))
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: u.id.Domain})
	from := &sip.FromHeader{Address: *u.impu.Clone()}
	from.Params.Add("tag", u.fromTag)
	u.cseq++
	callID := sip.CallIDHeader(u.callID)
	maxFwd := sip.MaxForwardsHeader(70)
	contact := &sip.ContactHeader{Address: *u.contact.Clone()}
	contact.Params.Add("+sip.instance", `"<`+u.instance+`>"`)
	contact.Params.Add("+g.3gpp.icsi-ref", icsiMMTel)
	contact.Params.Add("expires", exp)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: *u.impu.Clone()})
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: u.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(contact)
	req.AppendHeader(sip.NewHeader("Authorization", auth.String()))
	req.AppendHeader(sip.NewHeader("Expires", exp))
	req.AppendHeader(sip.NewHeader("Supported", "path"))
	req.AppendHeader(sip.NewHeader("Allow", "NOTIFY, OPTIONS"))
	req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
	req.SetBody(nil)
	return req
}

// learn reads the 200 (OK) to REGISTER (TS 24.229 §5.1.1.2.2): the expiry
// granted to this UE's contact (its expires parameter, else the Expires
// header), Service-Route, P-Associated-URI and the contacts.
func (u *UE) learn(res *sip.Response, asked time.Duration, st *authState) (*Registration, error) {
	reg := &Registration{IMPI: u.id.IMPI, IMPU: u.impu.String(), PCSCF: u.pcscf, Contact: u.contact.String(),
		Resynchronised: st.sentAUTS, At: time.Now(), Expires: -1}
	headerExpires := -1
	if v, err := strconv.Atoi(header(res, "Expires")); err == nil && v >= 0 {
		headerExpires = v
	}
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		exp := headerExpires
		if v, err := strconv.Atoi(c.Params.GetOr("expires", "")); err == nil && v >= 0 {
			exp = v
		}
		inst := strings.Trim(c.Params.GetOr("+sip.instance", ""), `"<>`)
		ours := inst == u.instance || sameContact(c.Address, u.contact)
		rc := Contact{URI: c.Address.String(), Instance: inst, Ours: ours, Expires: time.Duration(max(exp, 0)) * time.Second}
		reg.Contacts = append(reg.Contacts, rc)
		if ours && exp >= 0 {
			reg.Expires = rc.Expires
		}
	}
	if reg.Expires < 0 {
		switch {
		case headerExpires >= 0:
			reg.Expires = time.Duration(headerExpires) * time.Second
		default:
			reg.Expires = asked // RFC 3261 §10.2.4: the registrar should say; assume it granted what was asked
		}
		if asked > 0 {
			u.log.Warn("the 200 OK to REGISTER does not list this UE's contact", "contact", u.contact.String(), "assumed_expires", reg.Expires)
		}
	}
	reg.ServiceRoute = splitAddrList(res.GetHeaders("Service-Route"))
	for _, a := range splitAddrList(res.GetHeaders("P-Associated-URI")) {
		reg.AssociatedURIs = append(reg.AssociatedURIs, strings.Trim(a, "<>"))
	}
	if asked > 0 && reg.Expires <= 0 {
		return nil, fmt.Errorf("registration: the registrar answered 200 OK but granted this UE's contact %s no time (expires 0)", u.contact.String())
	}
	return reg, nil
}

// secs writes a SIP expiry as SIP does: whole seconds.
func secs(d time.Duration) string { return strconv.Itoa(int(d/time.Second)) + " s" }

// sameContact compares contact URIs by user, host and port (RFC 3261 §10.3
// compares URIs; the transport parameter is not changed by a registrar).
func sameContact(a, b sip.Uri) bool {
	return a.User == b.User && strings.EqualFold(a.Host, b.Host) && a.Port == b.Port
}

// header returns the value of the first header of that name, "" if none.
func header(m sip.Message, name string) string {
	if hs := m.GetHeaders(name); len(hs) > 0 {
		return strings.TrimSpace(hs[0].Value())
	}
	return ""
}

// splitAddrList splits header values that hold a comma-separated list of
// name-addrs (Service-Route, P-Associated-URI, Path), keeping commas that
// are inside <...> or quotes.
func splitAddrList(hs []sip.Header) []string {
	var out []string
	for _, h := range hs {
		v := h.Value()
		depth, quoted, start := 0, false, 0
		for i := 0; i <= len(v); i++ {
			if i < len(v) {
				switch c := v[i]; {
				case c == '"' && (i == 0 || v[i-1] != '\\'):
					quoted = !quoted
				case quoted:
				case c == '<':
					depth++
				case c == '>' && depth > 0:
					depth--
				}
				if v[i] != ',' || quoted || depth > 0 {
					continue
				}
			}
			if s := strings.TrimSpace(v[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	return out
}
