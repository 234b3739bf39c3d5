package sim

import (
	"fmt"

	"github.com/imslab/imslab/internal/aka"
)

// SQN check in the USIM, TS 33.102 Annex C.2 (SEQ/IND scheme with an array of
// the highest accepted SEQ per IND).
const (
	// Delta bounds how far ahead of SEQ_MS a SEQ may jump: accepted only if
	// SEQ − SEQ_MS ≤ Δ (C.2.1, wrap-around protection). 2^28, as Annex C.3
	// suggests.
	Delta = 1 << 28
	// AgeLimit is the limit L of C.2.3: a SEQ is accepted only if
	// SEQ_MS − SEQ < L, however its array entry stands. 32 (imslab's choice:
	// one SEQ step per vector across the 32 INDs).
	AgeLimit = 1 << 5
)

// sqnArray is the card's SQN memory.
type sqnArray []uint64

// highest returns the highest SEQ accepted anywhere in the array (SEQ_MS)
// and the IND it was accepted with.
func (a sqnArray) highest() (seq uint64, ind int) {
	for i, s := range a {
		if s > seq {
			seq, ind = s, i
		}
	}
	return seq, ind
}

// check applies TS 33.102 Annex C.2 to a received SQN: the age limit L
// (C.2.3), the array entry of its IND (C.2.2) and Δ (C.2.1). It returns nil
// when the SQN is fresh, or an error saying why it is not.
func (a sqnArray) check(sqn uint64) error {
	seq, ind := aka.SEQ(sqn), aka.IND(sqn)
	max, _ := a.highest()
	switch {
	case seq <= a[ind]:
		return fmt.Errorf("SEQ %d not above SEQ_MS(%d)=%d: replayed or stale", seq, ind, a[ind])
	case seq > max && seq-max > Delta:
		return fmt.Errorf("SEQ %d is more than Δ=2^28 ahead of SEQ_MS %d", seq, max)
	case seq < max && max-seq >= AgeLimit:
		return fmt.Errorf("SEQ %d is L=%d or more behind SEQ_MS %d: too old", seq, AgeLimit, max)
	}
	return nil
}

// accept records SEQ as the highest accepted for its IND.
func (a sqnArray) accept(sqn uint64) { a[aka.IND(sqn)] = aka.SEQ(sqn) }

// sqnMS returns the SQN the card reports in AUTS on a sync failure: "the
// highest previously accepted sequence number anywhere in the array"
// (C.2.2), as SEQ_MS ‖ the IND it came with.
func (a sqnArray) sqnMS() uint64 {
	seq, ind := a.highest()
	return aka.MakeSQN(seq, ind)
}
