package eps

// AttachComplete is the Attach complete, TS 24.301 §8.2.2 (UE to network).
type AttachComplete struct {
	// ESM is the ESM message container's message: the Activate default EPS
	// bearer context accept.
	ESM   ESMMessage
	Other []IE
}

// Type returns TypeAttachComplete.
func (*AttachComplete) Type() MessageType { return TypeAttachComplete }

func (*AttachComplete) String() string { return TypeAttachComplete.String() }

// Encode encodes the message, TS 24.301 table 8.2.2.1.
func (m *AttachComplete) Encode() ([]byte, error) {
	w := emmWriter(TypeAttachComplete)
	w.lve("ESM message container", w.check(encodeESM(m.ESM)))
	w.optional(nil, m.Other)
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.2.1.
func (m *AttachComplete) Decode(b []byte) error {
	r, err := emmReader(b, TypeAttachComplete)
	if err != nil {
		return err
	}
	esm := r.lve("ESM message container")
	ies := r.optional(nil)
	if r.err != nil {
		return r.err
	}
	*m = AttachComplete{ESM: r.esm(esm), Other: ies}
	return r.err
}
