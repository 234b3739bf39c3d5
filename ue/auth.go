package ue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipdigest"
	"github.com/imslab/imslab/sim"
)

// authState is what one REGISTER exchange has done so far, for the hints a
// refusal gets.
type authState struct {
	sentRES  bool // a response computed from RES was sent
	sentAUTS bool // a synchronisation failure was reported
	syncs    int
}

// answerChallenge answers a 401 (TS 24.229 §5.1.1.5.1, RFC 3310 §3): it
// takes the AKAv1-MD5 challenge, runs AUTHENTICATE on the card with RAND
// and AUTN from the nonce, and returns the Authorization for the next
// REGISTER: the digest of RES, or AUTS after a synchronisation failure.
// After a MAC failure it returns ErrNetworkNotGenuine and nothing is sent.
func (u *UE) answerChallenge(ctx context.Context, res *sip.Response, uri string, st *authState) (*sipdigest.Credentials, error) {
	ch, err := akaChallenge(res)
	if err != nil {
		return nil, err
	}
	rnd, autn, err := sipdigest.ParseAKANonce(ch.Nonce)
	if err != nil {
		return nil, fmt.Errorf("the 401 challenge's nonce is not RAND‖AUTN: %w", err)
	}
	u.traceCard(true, fmt.Sprintf("AUTHENTICATE %s RAND AUTN", u.app))
	out, err := u.card.authenticate(ctx, u.app, rnd, autn)
	var syncErr *sim.SyncFailureError
	switch {
	case err == nil:
		u.traceCard(false, "RES CK IK")
		u.log.Info("card authenticated the network", "impi", u.id.IMPI, "rand", hex.EncodeToString(rnd), "res_len", len(out.RES))
		st.sentRES = true
		// RFC 3310 §3.1: RES, raw bytes, is the digest password.
		return u.digest(ch, uri, out.RES, ""), nil
	case errors.As(err, &syncErr):
		u.traceCard(false, "AUTS (SQN not fresh)")
		st.syncs++
		if st.syncs > 1 {
			return nil, errors.New("the card refused the SQN again after a resynchronisation: the network did not resynchronise from AUTS (does the HSS handle AUTS?)")
		}
		u.log.Info("card refused the SQN: asking the network to resynchronise", "impi", u.id.IMPI, "auts", hex.EncodeToString(syncErr.AUTS))
		st.sentAUTS = true
		// RFC 3310 §3.4: auts carries AUTS and the response is computed
		// with an empty password; TS 33.203 §6.3.3.
		return u.digest(ch, uri, nil, sipdigest.EncodeAUTS(syncErr.AUTS)), nil
	case errors.Is(err, sim.ErrMACFailure):
		u.traceCard(false, "MAC failure: network not genuine")
		// A challenge the card finds forged is not answered: the UE stops
		// (TS 33.102 §6.3.3). TS 24.229 §5.1.1.5.3 also has the UE tell the
		// S-CSCF with a REGISTER whose response is empty; imslab does not.
		return nil, fmt.Errorf("%w: the card found the MAC in AUTN wrong, so the challenge was not made with this card's K/OPc; the UE does not answer it (TS 33.102 §6.3.3)", ErrNetworkNotGenuine)
	}
	u.traceCard(false, "error")
	return nil, fmt.Errorf("card AUTHENTICATE (%s): %w", u.app, explainCardError(err))
}

// akaChallenge picks the AKAv1-MD5 challenge among the WWW-Authenticate
// headers of a 401.
func akaChallenge(res *sip.Response) (*sipdigest.Challenge, error) {
	hs := res.GetHeaders("WWW-Authenticate")
	if len(hs) == 0 {
		return nil, errors.New("the network answered 401 without a WWW-Authenticate challenge")
	}
	var algs []string
	for _, h := range hs {
		ch, err := sipdigest.ParseChallenge(h.Value())
		if err != nil {
			algs = append(algs, "unreadable ("+err.Error()+")")
			continue
		}
		if strings.EqualFold(ch.Algorithm, sipdigest.AKAv1MD5) {
			if len(ch.QOP) > 0 && !hasQOPAuth(ch.QOP) {
				return nil, fmt.Errorf("the AKAv1-MD5 challenge offers qop %v; this UE does qop=auth only", ch.QOP)
			}
			return ch, nil
		}
		alg := ch.Algorithm
		if alg == "" {
			alg = "MD5 (no algorithm given)"
		}
		algs = append(algs, alg)
	}
	return nil, fmt.Errorf("the network challenged with %s, not AKAv1-MD5: this UE authenticates with its SIM only (IMS-AKA, TS 33.203)", strings.Join(algs, ", "))
}

func hasQOPAuth(q []string) bool {
	for _, v := range q {
		if strings.EqualFold(v, sipdigest.QOPAuth) {
			return true
		}
	}
	return false
}

// digest builds the Authorization answering a challenge with password
// (RES, or empty with auts), RFC 2617 §3.2.2 with qop=auth when offered.
func (u *UE) digest(ch *sipdigest.Challenge, uri string, password []byte, auts string) *sipdigest.Credentials {
	c := &sipdigest.Credentials{Username: u.id.IMPI, Realm: ch.Realm, Nonce: ch.Nonce, URI: uri,
		Algorithm: ch.Algorithm, Opaque: ch.Opaque, AUTS: auts}
	if len(ch.QOP) > 0 {
		c.QOP, c.NC, c.CNonce = sipdigest.QOPAuth, "00000001", cnonce()
	}
	c.Response = sipdigest.Response(sipdigest.HA1(c.Username, c.Realm, password), string(sip.REGISTER), uri, c.Nonce, c.QOP, c.NC, c.CNonce)
	return c
}

// cnonce returns a fresh client nonce.
func cnonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
