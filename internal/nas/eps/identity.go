package eps

// IdentityRequest is the Identity request, TS 24.301 §8.2.18 (network to
// UE).
type IdentityRequest struct {
	IdentityType IdentityType // identity type 2, TS 24.301 §9.9.3.17
	Other        []IE
}

// Type returns TypeIdentityRequest.
func (*IdentityRequest) Type() MessageType { return TypeIdentityRequest }

func (*IdentityRequest) String() string { return TypeIdentityRequest.String() }

// Encode encodes the message, TS 24.301 table 8.2.18.1.
func (m *IdentityRequest) Encode() ([]byte, error) {
	w := emmWriter(TypeIdentityRequest)
	w.nibbles("Identity type", uint8(m.IdentityType), 7, 0, 0)
	w.optional(nil, m.Other)
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.18.1.
func (m *IdentityRequest) Decode(b []byte) error {
	r, err := emmReader(b, TypeIdentityRequest)
	if err != nil {
		return err
	}
	o := r.u8("Identity type")
	ies := r.optional(nil)
	if r.err != nil {
		return r.err
	}
	*m = IdentityRequest{IdentityType: IdentityType(o & 7), Other: ies}
	return nil
}

// IdentityResponse is the Identity response, TS 24.301 §8.2.19 (UE to
// network).
type IdentityResponse struct {
	Identity MobileIdentity
	Other    []IE
}

// Type returns TypeIdentityResponse.
func (*IdentityResponse) Type() MessageType { return TypeIdentityResponse }

func (*IdentityResponse) String() string { return TypeIdentityResponse.String() }

// Encode encodes the message, TS 24.301 table 8.2.19.1.
func (m *IdentityResponse) Encode() ([]byte, error) {
	w := emmWriter(TypeIdentityResponse)
	w.lv("Mobile identity", w.check(m.Identity.encode()), 9)
	w.optional(nil, m.Other)
	return w.bytes()
}

// Decode decodes the message, TS 24.301 table 8.2.19.1.
func (m *IdentityResponse) Decode(b []byte) error {
	r, err := emmReader(b, TypeIdentityResponse)
	if err != nil {
		return err
	}
	id := r.lv("Mobile identity")
	ies := r.optional(nil)
	if r.err != nil {
		return r.err
	}
	*m = IdentityResponse{Other: ies}
	if m.Identity, err = decodeMobileIdentity(id); err != nil {
		r.invalid("Mobile identity", err)
	}
	return r.err
}
