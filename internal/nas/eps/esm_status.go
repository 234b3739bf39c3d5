package eps

// ESMStatus is the ESM status, TS 24.301 §8.3.15 (either direction).
type ESMStatus struct {
	ESMHeader
	Cause ESMCause
	Other []IE
}

// Type returns TypeESMStatus.
func (*ESMStatus) Type() MessageType { return TypeESMStatus }

func (*ESMStatus) String() string { return TypeESMStatus.String() }

// Encode encodes the message, TS 24.301 table 8.3.15.1.
func (m *ESMStatus) Encode() ([]byte, error) {
	return encodeESMCause(m.ESMHeader, TypeESMStatus, nil, m.Cause, nil, m.Other)
}

// Decode decodes the message, TS 24.301 table 8.3.15.1.
func (m *ESMStatus) Decode(b []byte) error {
	*m = ESMStatus{}
	return decodeESMCause(b, TypeESMStatus, nil, &m.ESMHeader, &m.Cause, nil, &m.Other)
}
