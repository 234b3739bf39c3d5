package hss

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
)

// errResyncMAC: MAC-S in AUTS did not verify.
var errResyncMAC = errors.New("MAC-S in AUTS does not verify (AUTS not made with this subscriber's K/OPc, or for another RAND)")

// vectors generates n authentication vectors for a subscriber, TS 33.102
// §6.3.2: each with a fresh RAND and its own SQN, committed to the store
// before this returns (so no SQN is ever handed out twice, even across a
// crash). amfOverride, when non-zero, ORs bits into the AMF (the E-UTRAN
// separation bit, TS 33.401 §6.1.1).
func (h *HSS) vectors(ctx context.Context, sub *store.Subscriber, n int, amfOr uint16, who string) ([]*aka.Vector, error) {
	m, err := aka.New(sub.K, sub.OPc)
	if err != nil {
		return nil, fmt.Errorf("subscriber %s has unusable keys: %w", sub.IMSI, err)
	}
	sqns, err := h.store.NextSQN(ctx, sub.IMSI, n)
	if err != nil {
		return nil, fmt.Errorf("allocating SQN for %s: %w", sub.IMSI, err)
	}
	out := make([]*aka.Vector, 0, n)
	for i, sqn := range sqns {
		rnd := make([]byte, aka.RandLen)
		if h.cfg.Rand != nil {
			rnd = h.cfg.Rand(sub.IMSI, sqn)
		} else if _, err := rand.Read(rnd); err != nil {
			return nil, err
		}
		v, err := m.Vector(rnd, sqn, sub.AMF|amfOr)
		if err != nil {
			return nil, err
		}
		h.log.Info(fmt.Sprintf("%s: vector %d/%d for %s: SQN %s, AMF %04x, RAND %x", who, i+1, n, sub.IMSI, aka.FormatSQN(sqn), v.AMF, v.RAND),
			"imsi", sub.IMSI, "seq", aka.SEQ(sqn), "ind", aka.IND(sqn))
		out = append(out, v)
	}
	return out, nil
}

// resync processes a re-synchronisation request, TS 33.102 §6.3.5: it
// verifies MAC-S in AUTS (computed with AMF 0000), recovers SQN_MS and
// moves the subscriber's SQN so that the next vector is fresh for the card.
// The SEQ never goes back: SEQ_HE := max(SEQ_HE, SEQ_MS), so no SQN is ever
// reused (Annex C.3.4 lets the HE keep its own when it is ahead).
func (h *HSS) resync(ctx context.Context, sub *store.Subscriber, rnd, auts []byte, who string) error {
	m, err := aka.New(sub.K, sub.OPc)
	if err != nil {
		return err
	}
	sqnMS, err := m.VerifyAUTS(rnd, auts)
	if errors.Is(err, aka.ErrMACFailure) {
		h.log.Warn(fmt.Sprintf("%s: resync refused for %s: %v", who, sub.IMSI, errResyncMAC), "imsi", sub.IMSI)
		return errResyncMAC
	}
	if err != nil {
		return err
	}
	prev, adopted, err := h.store.ResyncSQN(ctx, sub.IMSI, sqnMS)
	if err != nil {
		return err
	}
	if !adopted {
		h.log.Info(fmt.Sprintf("%s: resync for %s: the card's SQN_MS %s is not ahead of the HSS's %s (a replayed or stale vector was refused); the HSS keeps its SEQ",
			who, sub.IMSI, aka.FormatSQN(sqnMS), aka.FormatSQN(prev)), "imsi", sub.IMSI)
		return nil
	}
	h.log.Info(fmt.Sprintf("%s: resync for %s: MAC-S verified; the card is at SQN_MS %s, the HSS was at %s; the HSS adopts SEQ %d, next vector SEQ %d",
		who, sub.IMSI, aka.FormatSQN(sqnMS), aka.FormatSQN(prev), aka.SEQ(sqnMS), aka.SEQ(sqnMS)+1), "imsi", sub.IMSI)
	return nil
}

// kasme derives K_ASME from CK, IK, the serving network identity (PLMN id,
// 3 bytes as in Visited-PLMN-Id) and SQN⊕AK, TS 33.401 Annex A.2 (aka.KASME).
func kasme(ck, ik, snID, sqnXorAK []byte) []byte {
	k, err := aka.KASME(ck, ik, snID, sqnXorAK)
	if err != nil {
		// Unreachable: the AIR handler checks that Visited-PLMN-Id is 3
		// octets, and CK, IK and AUTN come from aka.Vector.
		panic("hss: " + err.Error())
	}
	return k
}

// digestHA1 is H(A1) = MD5(username ":" realm ":" password), RFC 2617 §3.2.2.2,
// which the HSS sends to the S-CSCF in Digest-HA1 (TS 29.229 §6.3.37).
func digestHA1(user, realm, password string) string {
	sum := md5.Sum([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(sum[:])
}
