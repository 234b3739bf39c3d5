package media

import "math"

// Tone generates a sine wave at Freq Hz with peak amplitude Level (0..1 of
// full scale) at 8 kHz. It keeps its phase between calls.
type Tone struct {
	Freq  float64
	Level float64
	n     int
}

// NewTone returns a tone generator; level is the peak as a fraction of full scale.
func NewTone(freq, level float64) *Tone { return &Tone{Freq: freq, Level: level} }

// Fill writes the next len(buf) samples; a tone never ends, so it returns true.
func (t *Tone) Fill(buf []int16) bool {
	for i := range buf {
		v := t.Level * 32767 * math.Sin(2*math.Pi*t.Freq*float64(t.n)/ClockRate)
		buf[i] = int16(math.Round(v))
		t.n++
	}
	return true
}

// Samples returns n samples of the tone.
func (t *Tone) Samples(n int) []int16 {
	b := make([]int16, n)
	t.Fill(b)
	return b
}

// GoertzelPower returns the normalised power of freq in pcm sampled at rate
// Hz: roughly (A/2)^2 for a sine of amplitude A (full scale = 1), so 0.25 for
// a full-scale tone at exactly freq.
func GoertzelPower(pcm []int16, freq, rate float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / rate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	n := float64(len(pcm))
	return p / (n * n)
}

// DetectTone reports whether freq is present in 8 kHz pcm: its Goertzel power
// must be at least -30 dBFS-ish (1e-3 of a full-scale tone) and hold at least
// 25% of the total signal energy, so noise or another tone do not count.
func DetectTone(pcm []int16, freq float64) bool {
	if len(pcm) == 0 {
		return false
	}
	p := GoertzelPower(pcm, freq, ClockRate)
	var e float64
	for _, x := range pcm {
		v := float64(x) / 32768
		e += v * v
	}
	e /= float64(len(pcm)) // mean power; a sine of amplitude A has A^2/2
	// Goertzel power of a sine is A^2/4, i.e. half of its mean power.
	return p >= 0.25e-3 && 2*p >= 0.25*e
}
