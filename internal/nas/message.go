package nas

// Message is one plain NAS message of either system: an EPS EMM or ESM
// message (TS 24.301 §8) or a 5GS 5GMM or 5GSM message (TS 24.501 §8).
// Pointers to the message structs implement it.
type Message interface {
	// Encode returns the message's octets, header included.
	Encode() ([]byte, error)
	// Decode sets the message from its octets, header included. It fails if
	// the header is not this message's, if a mandatory IE is missing, or if
	// an IE is malformed; unknown optional IEs are skipped (TS 24.301 §7.6,
	// TS 24.501 §7.6).
	Decode(b []byte) error
	// String names the message as the specification does ("Attach request").
	String() string
}
