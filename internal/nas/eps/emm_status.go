package eps

// EMMStatus is the EMM status, TS 24.301 §8.2.14 (either direction).
type EMMStatus struct {
	Cause EMMCause
	Other []IE
}

// Type returns TypeEMMStatus.
func (*EMMStatus) Type() MessageType { return TypeEMMStatus }

func (*EMMStatus) String() string { return TypeEMMStatus.String() }

// Encode encodes the message, TS 24.301 table 8.2.14.1.
func (m *EMMStatus) Encode() ([]byte, error) {
	return encodeEMMCause(TypeEMMStatus, m.Cause, m.Other)
}

// Decode decodes the message, TS 24.301 table 8.2.14.1.
func (m *EMMStatus) Decode(b []byte) error {
	c, ies, err := decodeEMMCause(b, TypeEMMStatus)
	*m = EMMStatus{Cause: c, Other: ies}
	return err
}
