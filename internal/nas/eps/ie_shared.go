package eps

import (
	"fmt"
	"reflect"
)

// nibbles appends an octet made of two half-octet IEs, TS 24.301 §8.1: the
// first IE of the table in bits 1-4, the second in bits 5-8; masks are the
// bits each IE may use.
func (w *writer) nibbles(ie string, lo, loMask, hi, hiMask uint8) {
	if lo&^loMask != 0 || hi&^hiMask != 0 {
		w.fail(fmt.Errorf("%w: %s: values %d and %d do not fit their bits", ErrInvalidIE, ie, lo, hi))
		return
	}
	w.u8(hi<<4 | lo)
}

// encodeESM encodes the plain ESM message of an ESM message container, TS
// 24.301 §9.9.3.15.
func encodeESM(m ESMMessage) ([]byte, error) {
	if m == nil || reflect.ValueOf(m).IsNil() {
		return nil, fmt.Errorf("%w: ESM message container: no ESM message", ErrInvalidIE)
	}
	return m.Encode()
}

// esm decodes the ESM message of an ESM message container.
func (r *reader) esm(b []byte) ESMMessage {
	if r.err != nil {
		return nil
	}
	m, err := DecodeESM(b)
	if err != nil {
		r.invalid("ESM message container", err)
	}
	return m
}

// causeIE is the optional cause IE (TV, one octet value) of a message.
func causeIE(iei uint8, c *uint8) []IE {
	if c == nil {
		return nil
	}
	return []IE{{IEI: iei, Value: []byte{*c}}}
}

// pcoIE is the optional PCO IE (27H) of an ESM message.
func (w *writer) pcoIE(p *PCO) []IE {
	if p == nil {
		return nil
	}
	return []IE{{IEI: ieiPCO, Value: w.check(p.encode())}}
}

// IEIs of the optional IEs this package models.
const (
	ieiPCO            = 0x27 // protocol configuration options, ESM messages
	ieiAPN            = 0x28 // access point name, PDN connectivity request
	ieiESMCause       = 0x58 // activate default EPS bearer context request
	ieiAPNAMBR        = 0x5E
	ieiEMMCause       = 0x53 // attach accept, detach request (network)
	ieiGUTI           = 0x50
	ieiT3402          = 0x17 // attach accept
	ieiNetFeatures    = 0x64 // EPS network feature support
	ieiLastVisitedTAI = 0x52
	ieiAUTS           = 0x30 // authentication failure parameter
	ieiIMEISVRequest  = 0xC0
	ieiIMEISV         = 0x23
	ieiESMInfoFlag    = 0xD0
	ieiESMContainer   = 0x78 // attach reject
)

// pcoTable is the optional IEs of the ESM accept and reject messages that
// carry only PCOs, TS 24.301 §8.3.4, §8.3.5.
var pcoTable = []ieSpec{
	{ieiPCO, fmtTLV, 0, "Protocol configuration options"},
	{0x7B, fmtTLVE, 0, "Extended protocol configuration options"},
}

// decodePCOIE sets *p from a PCO IE unless one was already read (TS 24.301
// §7.6.3: only the first occurrence of an IE counts); it reports whether
// the IE was taken.
func (r *reader) decodePCOIE(ie IE, p **PCO) bool {
	if *p != nil {
		return false
	}
	v, err := decodePCO(ie.Value)
	if err != nil {
		r.invalid("Protocol configuration options", err)
		return true
	}
	*p = v
	return true
}
