package aka

import "fmt"

// SQN structure, TS 33.102 Annex C.1.1: SQN (48 bits) = SEQ ‖ IND, with IND
// the IndBits least significant bits. imslab uses a 5-bit IND (32 entries in
// the card's array), the value Annex C.3.2 suggests.
const (
	IndBits = 5
	IndSize = 1 << IndBits
	MaxSQN  = 1<<48 - 1
	MaxSEQ  = 1<<(48-IndBits) - 1
)

// SEQ returns the SEQ part of sqn.
func SEQ(sqn uint64) uint64 { return sqn >> IndBits }

// IND returns the IND part of sqn.
func IND(sqn uint64) int { return int(sqn & (IndSize - 1)) }

// MakeSQN joins SEQ and IND into an SQN.
func MakeSQN(seq uint64, ind int) uint64 {
	return (seq&MaxSEQ)<<IndBits | uint64(ind)&(IndSize-1)
}

// FormatSQN renders an SQN the way a student reads it:
// "0x000000000021 (SEQ 1, IND 1)".
func FormatSQN(sqn uint64) string {
	return fmt.Sprintf("0x%012x (SEQ %d, IND %d)", sqn, SEQ(sqn), IND(sqn))
}
