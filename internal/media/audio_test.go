package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestTone(t *testing.T) {
	tone := NewTone(1000, 0.5).Samples(8000)
	if !DetectTone(tone, 1000) {
		t.Error("1 kHz not detected in 1 kHz tone")
	}
	if DetectTone(tone, 2000) {
		t.Error("2 kHz detected in 1 kHz tone")
	}
	t2 := NewTone(2000, 0.3).Samples(8000)
	mix := make([]int16, len(tone))
	for i := range mix {
		mix[i] = tone[i]/2 + t2[i]/2
	}
	if !DetectTone(mix, 1000) || !DetectTone(mix, 2000) {
		t.Error("both tones not detected in mix")
	}
	if DetectTone(mix, 440) {
		t.Error("440 Hz detected in 1k+2k mix")
	}
	if DetectTone(make([]int16, 8000), 1000) || DetectTone(nil, 1000) {
		t.Error("tone detected in silence")
	}
}

func TestG711(t *testing.T) {
	tone := NewTone(440, 0.5).Samples(1600)
	for _, c := range []Codec{PCMU, PCMA} {
		enc := c.Encode(tone)
		if len(enc) != len(tone) {
			t.Fatalf("%s: %d bytes for %d samples", c.Name, len(enc), len(tone))
		}
		dec := c.Decode(enc)
		for i := range dec {
			d := int(dec[i]) - int(tone[i])
			if d < -600 || d > 600 {
				t.Fatalf("%s sample %d: %d vs %d", c.Name, i, dec[i], tone[i])
			}
		}
		if !DetectTone(dec, 440) {
			t.Fatalf("%s: 440 Hz lost in codec", c.Name)
		}
		if got, err := CodecByName(c.Name); err != nil || got != c {
			t.Fatal(err)
		}
		if got, err := CodecByPayloadType(c.PayloadType); err != nil || got != c {
			t.Fatal(err)
		}
	}
	if _, err := CodecByPayloadType(101); err == nil {
		t.Fatal("PT 101 accepted as audio")
	}
}

func TestWAV(t *testing.T) {
	pcm := NewTone(1000, 0.5).Samples(801)
	var b bytes.Buffer
	if err := WriteWAV(&b, pcm); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 44+2*len(pcm) {
		t.Fatalf("size %d", b.Len())
	}
	got, err := ReadWAV(bytes.NewReader(b.Bytes()))
	if err != nil || len(got) != len(pcm) {
		t.Fatalf("read %d samples: %v", len(got), err)
	}
	for i := range pcm {
		if got[i] != pcm[i] {
			t.Fatalf("sample %d differs", i)
		}
	}
	// 16 kHz stereo must be rejected with a clear error.
	bad := append([]byte(nil), b.Bytes()...)
	binary.LittleEndian.PutUint16(bad[22:], 2)
	binary.LittleEndian.PutUint32(bad[24:], 16000)
	if _, err := ReadWAV(bytes.NewReader(bad)); !errors.Is(err, ErrWAVFormat) {
		t.Fatalf("stereo 16k: %v", err)
	}
	if _, err := ReadWAV(bytes.NewReader([]byte("RIFX\x00\x00\x00\x00WAVE"))); !errors.Is(err, ErrWAVFormat) {
		t.Fatalf("RIFX: %v", err)
	}
	if _, err := ReadWAV(bytes.NewReader(b.Bytes()[:20])); err == nil {
		t.Fatal("truncated file accepted")
	}
}

func TestSources(t *testing.T) {
	s := NewSamples([]int16{1, 2, 3, 4, 5})
	buf := make([]int16, 3)
	if !s.Fill(buf) || buf[2] != 3 {
		t.Fatal(buf)
	}
	if !s.Fill(buf) || buf[0] != 4 || buf[1] != 5 || buf[2] != 0 {
		t.Fatal(buf)
	}
	if s.Fill(buf) {
		t.Fatal("exhausted source still filling")
	}
	buf[0] = 9
	if !(Silence{}).Fill(buf) || buf[0] != 0 {
		t.Fatal("silence")
	}
}
