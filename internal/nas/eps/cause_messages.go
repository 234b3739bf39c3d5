package eps

// encodeEmpty encodes an EMM message without mandatory IEs.
func encodeEmpty(t MessageType, other []IE) ([]byte, error) {
	w := emmWriter(t)
	w.optional(nil, other)
	return w.bytes()
}

// decodeEmpty decodes an EMM message without mandatory IEs.
func decodeEmpty(b []byte, t MessageType) ([]IE, error) {
	r, err := emmReader(b, t)
	if err != nil {
		return nil, err
	}
	ies := r.optional(nil)
	return ies, r.err
}

// encodeEMMCause encodes an EMM message whose only mandatory IE is the EMM
// cause (V).
func encodeEMMCause(t MessageType, c EMMCause, other []IE) ([]byte, error) {
	w := emmWriter(t)
	w.u8(uint8(c))
	w.optional(nil, other)
	return w.bytes()
}

// decodeEMMCause decodes an EMM message whose only mandatory IE is the EMM
// cause.
func decodeEMMCause(b []byte, t MessageType) (EMMCause, []IE, error) {
	r, err := emmReader(b, t)
	if err != nil {
		return 0, nil, err
	}
	c := r.u8("EMM cause")
	ies := r.optional(nil)
	if r.err != nil {
		return 0, nil, r.err
	}
	return EMMCause(c), ies, nil
}

// encodeESMCause encodes an ESM message whose mandatory IE is the ESM
// cause (V) and whose only modelled optional IE is the PCO.
func encodeESMCause(h ESMHeader, t MessageType, specs []ieSpec, c ESMCause, pco *PCO, other []IE) ([]byte, error) {
	w := esmWriter(h, t)
	w.u8(uint8(c))
	w.optional(specs, append(w.pcoIE(pco), other...))
	return w.bytes()
}

// decodeESMCause decodes a message encoded by encodeESMCause; pco may be
// nil for a message without PCO.
func decodeESMCause(b []byte, t MessageType, specs []ieSpec, h *ESMHeader, c *ESMCause, pco **PCO, other *[]IE) error {
	r, hdr, err := esmReader(b, t)
	if err != nil {
		return err
	}
	cause := r.u8("ESM cause")
	ies := r.optional(specs)
	if r.err != nil {
		return r.err
	}
	*h, *c = hdr, ESMCause(cause)
	for _, ie := range ies {
		if ie.IEI == ieiPCO && pco != nil && r.decodePCOIE(ie, pco) {
			continue
		}
		*other = append(*other, ie)
	}
	return r.err
}
