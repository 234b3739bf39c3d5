package media

import (
	"fmt"

	"github.com/zaf/g711"
)

// Codec is a G.711 payload format (RFC 3551 §4.5.14, static payload types §6).
type Codec struct {
	Name        string
	PayloadType uint8
}

// Static payload types of RFC 3551 Table 4 (8 kHz, 1 channel).
var (
	PCMU = Codec{Name: "PCMU", PayloadType: 0}
	PCMA = Codec{Name: "PCMA", PayloadType: 8}
)

// ClockRate is the G.711 RTP clock rate (RFC 3551 §4.5.14).
const ClockRate = 8000

// SamplesPerPacket is the number of samples in a 20 ms packet (RFC 3551 §4.5: default ptime 20 ms).
const SamplesPerPacket = ClockRate / 50

// CodecByName returns PCMU or PCMA by its rtpmap encoding name.
func CodecByName(name string) (Codec, error) {
	switch name {
	case "PCMU", "pcmu":
		return PCMU, nil
	case "PCMA", "pcma":
		return PCMA, nil
	}
	return Codec{}, fmt.Errorf("media: unsupported codec %q (want PCMU or PCMA)", name)
}

// CodecByPayloadType returns PCMU (0) or PCMA (8).
func CodecByPayloadType(pt uint8) (Codec, error) {
	switch pt {
	case 0:
		return PCMU, nil
	case 8:
		return PCMA, nil
	}
	return Codec{}, fmt.Errorf("media: unsupported payload type %d (want 0 PCMU or 8 PCMA)", pt)
}

// Encode converts 16-bit linear PCM to G.711, one byte per sample.
func (c Codec) Encode(pcm []int16) []byte {
	out := make([]byte, len(pcm))
	for i, s := range pcm {
		if c.PayloadType == PCMA.PayloadType {
			out[i] = g711.EncodeAlawFrame(s)
		} else {
			out[i] = g711.EncodeUlawFrame(s)
		}
	}
	return out
}

// Decode converts G.711 bytes to 16-bit linear PCM.
func (c Codec) Decode(b []byte) []int16 {
	out := make([]int16, len(b))
	for i, v := range b {
		if c.PayloadType == PCMA.PayloadType {
			out[i] = g711.DecodeAlawFrame(v)
		} else {
			out[i] = g711.DecodeUlawFrame(v)
		}
	}
	return out
}
