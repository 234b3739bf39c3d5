package media

// Source produces 8 kHz 16-bit PCM for a Session to send.
type Source interface {
	// Fill writes the next len(buf) samples into buf and reports whether
	// it produced audio; false means the source is exhausted and the
	// Session stops sending (it keeps receiving until its context ends).
	Fill(buf []int16) bool
}

// Silence is a Source of endless digital silence.
type Silence struct{}

// Fill zeroes buf.
func (Silence) Fill(buf []int16) bool {
	clear(buf)
	return true
}

// Samples is a Source that plays a fixed buffer (e.g. from ReadWAV) once;
// the last partial frame is padded with silence.
type Samples struct {
	PCM []int16
	pos int
}

// NewSamples returns a Source playing pcm once.
func NewSamples(pcm []int16) *Samples { return &Samples{PCM: pcm} }

// Fill copies the next samples into buf; it returns false once all samples were played.
func (s *Samples) Fill(buf []int16) bool {
	if s.pos >= len(s.PCM) {
		return false
	}
	n := copy(buf, s.PCM[s.pos:])
	clear(buf[n:])
	s.pos += n
	return true
}
