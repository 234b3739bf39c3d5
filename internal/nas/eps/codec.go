package eps

import (
	"fmt"
	"slices"
)

// IE is one optional IE of a message's non-imperative part as it was
// received: its IEI and value (TS 24.007 §11.2.1). For a type 1 IE (a
// half-octet IEI such as "C-") IEI is the high nibble (0xC0) and Value the
// low nibble as one octet; a type 2 IE (IEI only) has no Value; for the
// other types Value is what follows the IEI and the length octets.
type IE struct {
	IEI   uint8
	Value []byte
}

// format is an IE format of TS 24.007 §11.2.1.1.
type format uint8

const (
	fmtTV1  format = iota + 1 // type 1: half-octet IEI, half-octet value
	fmtT                      // type 2: IEI only
	fmtTV                     // type 3: IEI and a fixed-length value
	fmtTLV                    // type 4: IEI, one length octet, value
	fmtTLVE                   // type 6: IEI, two length octets, value
)

// ieSpec is a row of a message's IE table (TS 24.301 §8): an optional IE
// the message lists, in the order the table lists them.
type ieSpec struct {
	iei  uint8
	f    format
	n    int // value octets of a type 3 IE
	name string
}

// lookup finds the IE table row for the octet t that starts an IE, and
// its index in the table (-1 if the table does not list it).
func lookup(specs []ieSpec, t uint8) (ieSpec, int) {
	for i, s := range specs {
		if s.f == fmtTV1 && t&0x80 != 0 && t&0xF0 == s.iei || s.f != fmtTV1 && t == s.iei {
			return s, i
		}
	}
	return ieSpec{iei: t, f: unknownFormat(t), name: fmt.Sprintf("IE %#02x", t)}, -1
}

// first is the octet that starts ie once encoded.
func (ie IE) first() uint8 {
	if ie.IEI&0x8F == 0x80 && len(ie.Value) == 1 && ie.Value[0] <= 0x0F {
		return ie.IEI | ie.Value[0]
	}
	return ie.IEI
}

// unknownFormat is the format of an IEI the message does not list, TS
// 24.301 §9.9.1: one octet if bit 8 is set, else type 4 (length octet).
// IEIs 7xH are taken as type 6 (two length octets), the IEI range of every
// TLV-E IE of TS 24.301 (78H, 79H, 7AH, 7BH, 7CH). IEIs 0xH are
// "comprehension required" (TS 24.007 §11.2.4, TS 24.301 §7.6.1): 0.
func unknownFormat(t uint8) format {
	switch {
	case t&0x80 != 0:
		return fmtTV1
	case t>>4 == 0:
		return 0
	case t>>4 == 7:
		return fmtTLVE
	}
	return fmtTLV
}

// reader reads a message's IEs in order. Its first error sticks: later
// reads return zero values, and Decode checks err once.
type reader struct {
	b   []byte
	off int
	msg string
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = fmt.Errorf("eps: decoding %s: %w", r.msg, err)
	}
}

// invalid records that IE ie is not valid.
func (r *reader) invalid(ie string, err error) {
	r.fail(fmt.Errorf("%w: %s: %v", ErrInvalidIE, ie, err))
}

// take returns the first n octets of IE ie: the IE is missing if the
// message ends before it, invalid if it ends inside it.
func (r *reader) take(ie string, n int) []byte {
	if r.err == nil && r.off == len(r.b) && n > 0 {
		r.fail(fmt.Errorf("%w: %s (the message ends at octet %d)", ErrMissingIE, ie, r.off))
	}
	return r.more(ie, n)
}

// more returns the next n octets of an IE already begun: it is invalid if
// the message ends inside it.
func (r *reader) more(ie string, n int) []byte {
	if r.err != nil {
		return nil
	}
	left := len(r.b) - r.off
	if n > left {
		r.invalid(ie, fmt.Errorf("needs %d octets, %d left in the message", n, left))
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// u8 reads a one-octet V IE (or two half-octet ones).
func (r *reader) u8(ie string) uint8 {
	v := r.take(ie, 1)
	if v == nil {
		return 0
	}
	return v[0]
}

// lv reads an LV IE's value, TS 24.007 §11.2.1.1.
func (r *reader) lv(ie string) []byte {
	n := int(r.u8(ie))
	if r.err != nil {
		return nil
	}
	return clone(r.more(ie, n))
}

// lve reads an LV-E IE's value (two length octets).
func (r *reader) lve(ie string) []byte {
	l := r.take(ie, 2)
	if r.err != nil {
		return nil
	}
	return clone(r.more(ie, int(l[0])<<8|int(l[1])))
}

// optional reads the non-imperative part: the optional IEs up to the end of
// the message, each by its format from specs, or for an IEI not listed
// there by the rule of unknownFormat (TS 24.301 §7.6.1, §9.9.1). They are
// returned in the order of the table (unknown IEs last), as the writer
// writes them: IEs received out of sequence are accepted (§7.6.2) and the
// first of repeated ones stays first (§7.6.3).
func (r *reader) optional(specs []ieSpec) []IE {
	var out []IE
	for r.err == nil && r.off < len(r.b) {
		t := r.b[r.off]
		s, _ := lookup(specs, t)
		switch s.f {
		case 0:
			r.invalid(s.name, fmt.Errorf("unknown IEI encoded as comprehension required (TS 24.301 §7.6.1)"))
		case fmtTV1:
			r.off++
			out = append(out, IE{IEI: t & 0xF0, Value: []byte{t & 0x0F}})
		case fmtT:
			r.off++
			out = append(out, IE{IEI: t})
		case fmtTV:
			if v := r.more(s.name, 1+s.n); v != nil {
				out = append(out, IE{IEI: t, Value: clone(v[1:])})
			}
		case fmtTLV:
			if h := r.more(s.name, 2); h != nil {
				out = append(out, IE{IEI: t, Value: clone(r.more(s.name, int(h[1])))})
			}
		case fmtTLVE:
			if h := r.more(s.name, 3); h != nil {
				out = append(out, IE{IEI: t, Value: clone(r.more(s.name, int(h[1])<<8|int(h[2])))})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b IE) int { return position(specs, a) - position(specs, b) })
	return out
}

// position is the rank of ie in the message's IE table; IEs the table does
// not list rank last.
func position(specs []ieSpec, ie IE) int {
	if _, i := lookup(specs, ie.first()); i >= 0 {
		return i
	}
	return len(specs)
}

// writer appends a message's IEs. Its first error sticks.
type writer struct {
	b   []byte
	msg string
	err error
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// check keeps the error of an IE encoder and passes its value on.
func (w *writer) check(v []byte, err error) []byte {
	if err != nil {
		w.fail(err)
	}
	return v
}

func (w *writer) u8(v uint8) { w.b = append(w.b, v) }

func (w *writer) raw(v []byte) { w.b = append(w.b, v...) }

// lv appends an LV IE whose value may be at most max octets long.
func (w *writer) lv(ie string, v []byte, max int) {
	if len(v) > max {
		w.fail(fmt.Errorf("%w: %s is %d octets, at most %d fit", ErrInvalidIE, ie, len(v), max))
		return
	}
	w.b = append(w.b, byte(len(v)))
	w.b = append(w.b, v...)
}

// lve appends an LV-E IE.
func (w *writer) lve(ie string, v []byte) {
	if len(v) > 0xFFFF {
		w.fail(fmt.Errorf("%w: %s is %d octets, at most 65535 fit", ErrInvalidIE, ie, len(v)))
		return
	}
	w.b = append(w.b, byte(len(v)>>8), byte(len(v)))
	w.b = append(w.b, v...)
}

// optional appends the optional IEs in the order of the message's IE table
// (TS 24.301 §8: the order of appearance); IEs the table does not list
// come last, in the order given.
func (w *writer) optional(specs []ieSpec, ies []IE) {
	sorted := slices.Clone(ies)
	slices.SortStableFunc(sorted, func(a, b IE) int { return position(specs, a) - position(specs, b) })
	for _, ie := range sorted {
		w.ie(specs, ie)
	}
}

// ie appends one optional IE in its format.
func (w *writer) ie(specs []ieSpec, ie IE) {
	s, _ := lookup(specs, ie.first())
	bad := func(why string) { w.fail(fmt.Errorf("%w: %s: %s", ErrInvalidIE, s.name, why)) }
	switch s.f {
	case 0:
		bad("IEIs 01H-0FH are comprehension required and cannot be optional")
	case fmtTV1:
		if ie.IEI&0x0F != 0 || len(ie.Value) != 1 || ie.Value[0] > 0x0F {
			bad("a type 1 IE is a high-nibble IEI and one half-octet value")
			return
		}
		w.u8(ie.IEI | ie.Value[0])
	case fmtT:
		if len(ie.Value) != 0 {
			bad("a type 2 IE has no value")
			return
		}
		w.u8(ie.IEI)
	case fmtTV:
		if len(ie.Value) != s.n {
			bad(fmt.Sprintf("value of %d octets, the IE has %d", len(ie.Value), s.n))
			return
		}
		w.u8(ie.IEI)
		w.raw(ie.Value)
	case fmtTLV:
		w.u8(ie.IEI)
		w.lv(s.name, ie.Value, 0xFF)
	case fmtTLVE:
		w.u8(ie.IEI)
		w.lve(s.name, ie.Value)
	}
}

// bytes returns the encoded message or the first error.
func (w *writer) bytes() ([]byte, error) {
	if w.err != nil {
		return nil, fmt.Errorf("eps: encoding %s: %w", w.msg, w.err)
	}
	return w.b, nil
}

// emmWriter starts a plain EMM message, TS 24.301 §9.2-§9.8.
func emmWriter(t MessageType) *writer {
	return &writer{b: []byte{byte(PDEMM), byte(t)}, msg: t.String()}
}

// esmWriter starts an ESM message, TS 24.301 §9.2-§9.8.
func esmWriter(h ESMHeader, t MessageType) *writer {
	w := &writer{b: []byte{h.EBI<<4 | byte(PDESM), h.PTI, byte(t)}, msg: t.String()}
	if h.EBI > 15 {
		w.fail(fmt.Errorf("%w: EPS bearer identity %d does not fit 4 bits", ErrInvalidIE, h.EBI))
	}
	return w
}

// emmReader checks a plain EMM message's header and type and returns a
// reader for its IEs.
func emmReader(b []byte, t MessageType) (*reader, error) {
	if err := checkEMMHeader(b); err != nil {
		return nil, fmt.Errorf("eps: decoding %v: %w", t, err)
	}
	if got := MessageType(b[1]); got != t {
		return nil, fmt.Errorf("eps: decoding %v: %w: the message is a %v", t, ErrUnknownMessage, got)
	}
	return &reader{b: b, off: 2, msg: t.String()}, nil
}

// esmReader checks an ESM message's header and type and returns a reader
// for its IEs and the header.
func esmReader(b []byte, t MessageType) (*reader, ESMHeader, error) {
	if len(b) < 3 {
		return nil, ESMHeader{}, fmt.Errorf("eps: decoding %v: %w: ESM header needs 3 octets, got %d", t, ErrMissingIE, len(b))
	}
	if pd := ProtocolDiscriminator(b[0] & 0x0F); pd != PDESM {
		return nil, ESMHeader{}, fmt.Errorf("eps: decoding %v: %w: protocol discriminator %d is not ESM", t, ErrUnknownMessage, pd)
	}
	if got := MessageType(b[2]); got != t {
		return nil, ESMHeader{}, fmt.Errorf("eps: decoding %v: %w: the message is a %v", t, ErrUnknownMessage, got)
	}
	return &reader{b: b, off: 3, msg: t.String()}, ESMHeader{EBI: b[0] >> 4, PTI: b[1]}, nil
}

// clone copies b; an empty b gives nil, so that decoded values compare
// equal whatever buffer they came from.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
