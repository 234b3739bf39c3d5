package sim

import (
	"fmt"

	"github.com/imslab/imslab/internal/aka"
)

// SQN check in the USIM, TS 33.102 Annex C.2 (SEQ/IND scheme with an array of
// the highest accepted SEQ per IND).
const (
	// Delta bounds how far ahead of SEQ_MS a SEQ may jump (C.2.2, wrap-around
	// protection); the value Annex C.3.1 recommends is 2^28.
	Delta = 1 << 28
	// AgeLimit is L of C.2.2: a SEQ more than L behind the highest accepted
	// SEQ_MS is refused even if its array entry would allow it.
	AgeLimit = 1 << 5
)

// sqnArray is the card's SQN memory.
type sqnArray []uint64

// highest returns SQN_MS: the highest SEQ accepted so far with its IND.
func (a sqnArray) highest() (seq uint64, ind int) {
	for i, s := range a {
		if s > seq {
			seq, ind = s, i
		}
	}
	return seq, ind
}

// check applies TS 33.102 Annex C.2.2 to a received SQN; it returns nil when
// the SQN is fresh, or an error saying why it is not.
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

// sqnMS returns the SQN the card reports in AUTS on a sync failure: its
// highest accepted SEQ with the IND it came with (C.3.4... see Annex C.2.3).
func (a sqnArray) sqnMS() uint64 {
	seq, ind := a.highest()
	return aka.MakeSQN(seq, ind)
}
