package scscf

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/cx"
	"github.com/imslab/imslab/internal/sipdigest"
)

// challenge is an outstanding authentication challenge: its nonce is
// bound to the private identity (and the public identity) it was issued
// for, usable once, until reg-await-auth expires (TS 24.229 §5.4.1.2.1).
type challenge struct {
	nonce, impi, impu string
	realm, algorithm  string
	xres              []byte // AKA: the digest password is RES (RFC 3310 §3.1)
	ha1               string // SIP Digest: H(A1) from the HSS (TS 29.229 §6.3.37)
	rand              []byte
	expires           time.Time
}

// addChallengeLocked stores a challenge; an IMPI keeps a few outstanding
// (one per device registering at once), the oldest dropped first.
func (r *registrar) addChallengeLocked(c *challenge) {
	r.challenges[c.nonce] = c
	r.byIMPI[c.impi] = append(r.byIMPI[c.impi], c.nonce)
	for list := r.byIMPI[c.impi]; len(list) > maxChallengesPerIMPI; list = r.byIMPI[c.impi] {
		if old, ok := r.challenges[list[0]]; ok {
			r.dropChallengeLocked(old, "superseded by newer challenges")
		} else {
			r.byIMPI[c.impi] = list[1:]
		}
	}
	r.schedule(timerEntry{at: c.expires, kind: timerChallenge, key: c.nonce})
}

// dropChallengeLocked forgets a challenge and remembers why its nonce is
// spent, for the log of a later attempt with it.
func (r *registrar) dropChallengeLocked(c *challenge, why string) {
	delete(r.challenges, c.nonce)
	r.byIMPI[c.impi] = slices.DeleteFunc(r.byIMPI[c.impi], func(n string) bool { return n == c.nonce })
	if len(r.byIMPI[c.impi]) == 0 {
		delete(r.byIMPI, c.impi)
	}
	r.spent[c.nonce] = why
	r.schedule(timerEntry{at: time.Now().Add(2*r.s.cfg.AuthTimeout + time.Minute), kind: timerSpent, key: c.nonce})
}

// takeChallenge consumes the challenge a nonce names, if it was issued to
// impi for impu; otherwise it says why the nonce is not usable.
func (r *registrar) takeChallenge(nonce, impi, impu string) (*challenge, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.challenges[nonce]
	switch {
	case !ok && r.spent[nonce] != "":
		return nil, "nonce " + r.spent[nonce]
	case !ok:
		return nil, "unknown nonce (never issued by this S-CSCF, or from before a restart)"
	case !c.expires.After(time.Now()):
		r.dropChallengeLocked(c, "expired: reg-await-auth ran out before the UE answered")
		return nil, "stale nonce: reg-await-auth ran out"
	case c.impi != impi:
		return nil, fmt.Sprintf("nonce was issued to %s, not to %s", c.impi, impi)
	case normIMPU(c.impu) != normIMPU(impu):
		return nil, fmt.Sprintf("nonce was issued for %s, not for %s", c.impu, impu)
	}
	r.dropChallengeLocked(c, "already used: a replayed Authorization")
	return c, ""
}

// verify checks the response of credentials against a challenge (RFC 2617
// §3.2.2.1; for AKA with RES as the password, RFC 3310 §3.2).
func (c *challenge) verify(cr *sipdigest.Credentials) (bool, string) {
	if !strings.EqualFold(cr.Realm, c.realm) {
		return false, fmt.Sprintf("realm %q, the challenge was for %q", cr.Realm, c.realm)
	}
	if cr.QOP != "" && (cr.QOP != sipdigest.QOPAuth || cr.NC == "" || cr.CNonce == "") {
		return false, fmt.Sprintf("qop %q without nc and cnonce, or not \"auth\"", cr.QOP)
	}
	ha1 := c.ha1
	if c.algorithm == sipdigest.AKAv1MD5 {
		ha1 = sipdigest.HA1(cr.Username, c.realm, c.xres)
	}
	want := sipdigest.Response(ha1, "REGISTER", cr.URI, c.nonce, cr.QOP, cr.NC, cr.CNonce)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(cr.Response)), []byte(want)) != 1 {
		if c.algorithm == sipdigest.AKAv1MD5 {
			return false, "wrong response: the RES it was computed with is not the XRES of the vector (wrong K/OPc on the card?)"
		}
		return false, "wrong response: wrong password"
	}
	return true, ""
}

// sendChallenge fetches a vector (MAR) and answers 401 with it (TS 24.229
// §5.4.1.2.1). rndAUTS, when set, is RAND‖AUTS for a resynchronisation
// (§5.4.1.2.3).
func (r *registrar) sendChallenge(ctx context.Context, rq *regRequest, rndAUTS []byte, why string) {
	log := rq.log
	c, err := r.s.hss.client(ctx)
	if err != nil {
		r.refuse(rq, 480, "Temporarily Unavailable", "the HSS is not reachable", err.Error())
		return
	}
	scheme := cx.SchemeUnknown
	if rq.creds != nil && strings.EqualFold(rq.creds.Algorithm, sipdigest.AKAv1MD5) {
		scheme = cx.SchemeAKAv1
	}
	mctx, cancel := context.WithTimeout(ctx, cxTimeout)
	defer cancel()
	maa, err := c.MAR(mctx, rq.impi, rq.impu, r.s.cfg.Name, scheme, 1, rndAUTS)
	if err != nil {
		r.refuse(rq, 480, "Temporarily Unavailable", "the HSS does not answer", "MAR: "+err.Error())
		return
	}
	if !maa.OK() || len(maa.Items) == 0 {
		reason := cxRefusal(maa.Result, "MAR")
		if rndAUTS != nil && maa.Code == diameter.ResultUnableToComply {
			reason = "resynchronisation refused by the HSS (AUTS does not verify: MAC-S wrong)"
		}
		r.refuse(rq, 403, "Forbidden", reason, "MAA "+maa.Result.String())
		return
	}
	it := maa.Items[0]
	ch := &challenge{impi: rq.impi, impu: rq.impu, expires: time.Now().Add(r.s.cfg.AuthTimeout)}
	wa := &sipdigest.Challenge{QOP: []string{sipdigest.QOPAuth}}
	switch it.Scheme {
	case cx.SchemeAKAv1:
		if len(it.RAND) != 16 || len(it.AUTN) != 16 || len(it.XRES) == 0 {
			r.refuse(rq, 500, "Server Internal Error", "the HSS sent an unusable AKA vector", fmt.Sprintf("RAND %d, AUTN %d, XRES %d bytes", len(it.RAND), len(it.AUTN), len(it.XRES)))
			return
		}
		ch.realm, ch.algorithm, ch.xres, ch.rand = r.s.cfg.Domain, sipdigest.AKAv1MD5, it.XRES, it.RAND
		ch.nonce = sipdigest.AKANonce(it.RAND, it.AUTN, nil)
		// CK and IK travel to the P-CSCF, which removes them (TS 24.229 §5.4.1.2.1, §5.2.2.1).
		wa.CK, wa.IK = hex.EncodeToString(it.CK), hex.EncodeToString(it.IK)
	case cx.SchemeDigest:
		if it.HA1 == "" {
			r.refuse(rq, 500, "Server Internal Error", "the HSS sent no Digest-HA1", "")
			return
		}
		ch.realm, ch.algorithm, ch.ha1 = it.Realm, sipdigest.MD5, strings.ToLower(it.HA1)
		if ch.realm == "" {
			ch.realm = r.s.cfg.Domain
		}
		ch.nonce = randomNonce()
	default:
		r.refuse(rq, 403, "Forbidden", fmt.Sprintf("the HSS offers authentication scheme %q, which the S-CSCF does not support", it.Scheme), "")
		return
	}
	wa.Realm, wa.Nonce, wa.Algorithm = ch.realm, ch.nonce, ch.algorithm
	r.mu.Lock()
	r.addChallengeLocked(ch)
	r.mu.Unlock()
	res := r.s.response(rq.req, 401, "Unauthorized", "")
	res.AppendHeader(sip.NewHeader("WWW-Authenticate", wa.String()))
	log.Info(fmt.Sprintf("REGISTER challenged (401, %s): %s", ch.algorithm, why), "outcome", 401, "reason", why)
	r.s.respond(rq.tx, rq.req, res)
}

// randomNonce is a SIP Digest nonce: 18 random bytes, base64.
func randomNonce() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(b)
}

// authenticate checks a REGISTER's credentials (TS 24.229 §5.4.1.2.2,
// §5.4.1.2.3). Without an IPsec or TLS association every REGISTER is
// unprotected, so the S-CSCF authenticates every one: it returns true only
// for a correct response to an outstanding challenge; otherwise it has
// answered 401 (a new challenge) or 403.
func (r *registrar) authenticate(ctx context.Context, rq *regRequest) bool {
	cr := rq.creds
	switch {
	case cr == nil:
		r.sendChallenge(ctx, rq, nil, "no Authorization yet")
		return false
	case cr.AUTS != "":
		r.resync(ctx, rq)
		return false
	case cr.Nonce == "" || cr.Response == "":
		r.sendChallenge(ctx, rq, nil, "initial REGISTER, no response yet")
		return false
	}
	ch, why := r.takeChallenge(cr.Nonce, rq.impi, rq.impu)
	if ch == nil {
		// A nonce not outstanding never registers: a new challenge.
		r.sendChallenge(ctx, rq, nil, why)
		return false
	}
	if ok, why := ch.verify(cr); !ok {
		// TS 24.229 §5.4.1.2.3: 403, the registration state unchanged;
		// the HSS is told (SAR AUTHENTICATION_FAILURE, TS 29.228 §6.1.2).
		r.sarAfter(ctx, rq.impi, rq.impu, cx.AssignAuthFailure)
		r.refuse(rq, 403, "Forbidden", why, "")
		return false
	}
	return true
}

// resync handles auts= (TS 24.229 §5.4.1.2.3, TS 33.203 §6.1.2): MAR with
// RAND‖AUTS so that the HSS resynchronises SQN, and a new 401.
func (r *registrar) resync(ctx context.Context, rq *regRequest) {
	auts, err := sipdigest.DecodeAUTS(rq.creds.AUTS)
	if err != nil {
		r.refuse(rq, 400, "Bad Request", "auts is not 14 bytes of base64 (RFC 3310 §3.4)", "")
		return
	}
	var rnd []byte
	if ch, _ := r.takeChallenge(rq.creds.Nonce, rq.impi, rq.impu); ch != nil {
		rnd = ch.rand
	} else if rnd, _, err = sipdigest.ParseAKANonce(rq.creds.Nonce); err != nil {
		r.refuse(rq, 400, "Bad Request", "auts with a nonce that is not an AKA nonce (base64 of RAND‖AUTN)", "")
		return
	}
	rq.log.Info("REGISTER reports a synchronisation failure (auts): asking the HSS to resynchronise", "impi", rq.impi)
	r.sendChallenge(ctx, rq, append(append([]byte(nil), rnd...), auts...), "resynchronised: the card's SQN was ahead, a fresh vector from the HSS")
}

// cxRefusal explains a Cx error for a student.
func cxRefusal(res cx.Result, cmd string) string {
	if res.Experimental {
		switch res.Code {
		case diameter.ExpUserUnknown:
			return "unknown user: the HSS knows no such private or public identity"
		case diameter.ExpIdentitiesDontMatch:
			return "the private identity may not register this public identity"
		case diameter.ExpRoamingNotAllowed:
			return "roaming not allowed from this visited network"
		case diameter.ExpAuthSchemeNotSupported:
			return "the authentication scheme asked for is not the one provisioned for this identity"
		case diameter.ExpIdentityNotRegistered:
			return "the identity is not registered"
		}
	}
	if res.Code == diameter.ResultAuthorizationRejected {
		return "the HSS refuses the registration (the identity is barred)"
	}
	return fmt.Sprintf("the HSS answered %s with %s", cmd, res.String())
}

// refuse answers a REGISTER with an error and logs the outcome.
func (r *registrar) refuse(rq *regRequest, code int, reason, why, detail string) {
	attrs := []any{"outcome", code, "reason", why}
	if detail != "" {
		attrs = append(attrs, "detail", detail)
	}
	lvl := slog.LevelInfo
	if code >= 500 {
		lvl = slog.LevelWarn
	}
	rq.log.Log(context.Background(), lvl, fmt.Sprintf("REGISTER refused (%d): %s", code, why), attrs...)
	r.s.respond(rq.tx, rq.req, r.s.response(rq.req, code, reason, why))
}
