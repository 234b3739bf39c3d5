package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrWAVFormat is wrapped when a WAV file is not 16-bit mono 8 kHz PCM.
var ErrWAVFormat = errors.New("wav: unsupported format")

// WriteWAV writes pcm as a 16-bit mono 8 kHz RIFF/WAVE file.
func WriteWAV(w io.Writer, pcm []int16) error {
	dataLen := uint32(len(pcm) * 2)
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, 36+dataLen)
	b.WriteString("WAVEfmt ")
	_ = binary.Write(&b, binary.LittleEndian, struct {
		Size          uint32
		Format        uint16
		Channels      uint16
		Rate          uint32
		ByteRate      uint32
		BlockAlign    uint16
		BitsPerSample uint16
	}{16, 1, 1, ClockRate, ClockRate * 2, 2, 16})
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, dataLen)
	_ = binary.Write(&b, binary.LittleEndian, pcm)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("wav: writing: %w", err)
	}
	return nil
}

// ReadWAV reads a 16-bit mono 8 kHz PCM WAV file; anything else returns an
// error wrapping ErrWAVFormat that says what was found. Unknown chunks
// (LIST, fact, ...) are skipped.
func ReadWAV(r io.Reader) ([]int16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("wav: reading RIFF header: %w", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF/WAVE file", ErrWAVFormat)
	}
	gotFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, fmt.Errorf("wav: no data chunk found: %w", err)
		}
		id := string(ch[0:4])
		size := binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 1<<16 {
				return nil, fmt.Errorf("%w: fmt chunk size %d", ErrWAVFormat, size)
			}
			buf := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, fmt.Errorf("wav: reading fmt chunk: %w", err)
			}
			format := binary.LittleEndian.Uint16(buf[0:2])
			channels := binary.LittleEndian.Uint16(buf[2:4])
			rate := binary.LittleEndian.Uint32(buf[4:8])
			bits := binary.LittleEndian.Uint16(buf[14:16])
			if format != 1 || channels != 1 || rate != ClockRate || bits != 16 {
				return nil, fmt.Errorf("%w: format=%d channels=%d rate=%d bits=%d; need PCM(1) mono 8000 Hz 16-bit (convert with e.g. `sox in.wav -r 8000 -c 1 -b 16 out.wav`)",
					ErrWAVFormat, format, channels, rate, bits)
			}
			gotFmt = true
		case "data":
			if !gotFmt {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrWAVFormat)
			}
			data, err := io.ReadAll(io.LimitReader(r, int64(size)))
			if err != nil {
				return nil, fmt.Errorf("wav: reading data: %w", err)
			}
			pcm := make([]int16, len(data)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
			}
			return pcm, nil
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size%2)); err != nil {
				return nil, fmt.Errorf("wav: skipping %q chunk: %w", id, err)
			}
		}
	}
}
