// Package s1lite is imslab's stand-in for the radio and S1AP between a UE
// (with its eNB) and the MME: a TCP connection carrying frames. It moves
// the NAS PDUs untouched (they are bit-exact TS 24.301) and the two facts
// S1AP would carry for the default bearer's user plane (TS 36.413 §8.3.1,
// Initial Context Setup): where the SGW takes the uplink GTP-U, and where
// the eNB takes the downlink. docs/attach.md describes it.
//
// A frame is: type (1 byte) | length of value (2 bytes, big-endian) | value.
package s1lite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// Frame types.
const (
	// NAS carries one NAS PDU, either way.
	NAS byte = 1
	// BearerSetup, MME → UE: the SGW's S1-U endpoint and the uplink TEID of
	// a bearer (S1AP E-RAB To Be Setup: transport layer address, GTP-TEID).
	BearerSetup byte = 2
	// BearerSetupResponse, UE → MME: the eNB's S1-U endpoint and the
	// downlink TEID of the bearer (S1AP E-RAB Setup).
	BearerSetupResponse byte = 3
)

// MaxValue bounds a frame's value (a NAS PDU is far smaller).
const MaxValue = 8192

// Frame is one frame.
type Frame struct {
	Type  byte
	Value []byte
}

// Bearer is the value of BearerSetup and BearerSetupResponse: a GTP-U
// endpoint (IPv4 or IPv6 with its UDP port) and a TEID for one EPS bearer.
type Bearer struct {
	EBI      uint8
	Endpoint netip.AddrPort
	TEID     uint32
}

// Encode writes the bearer as EBI (1) | TEID (4) | port (2) | address (4 or 16).
func (b Bearer) Encode() []byte {
	addr := b.Endpoint.Addr().Unmap().AsSlice()
	out := make([]byte, 7, 7+len(addr))
	out[0] = b.EBI
	binary.BigEndian.PutUint32(out[1:5], b.TEID)
	binary.BigEndian.PutUint16(out[5:7], b.Endpoint.Port())
	return append(out, addr...)
}

// DecodeBearer reads a Bearer.
func DecodeBearer(v []byte) (Bearer, error) {
	if len(v) != 11 && len(v) != 23 {
		return Bearer{}, fmt.Errorf("s1lite: bearer of %d bytes, want 11 (IPv4) or 23 (IPv6)", len(v))
	}
	addr, _ := netip.AddrFromSlice(v[7:])
	addr = addr.Unmap() // an IPv4-mapped IPv6 address is the IPv4 address
	return Bearer{EBI: v[0], TEID: binary.BigEndian.Uint32(v[1:5]),
		Endpoint: netip.AddrPortFrom(addr, binary.BigEndian.Uint16(v[5:7]))}, nil
}

// Write sends one frame.
func Write(w io.Writer, f Frame) error {
	if len(f.Value) > MaxValue {
		return fmt.Errorf("s1lite: value of %d bytes is over %d", len(f.Value), MaxValue)
	}
	b := make([]byte, 3+len(f.Value))
	b[0] = f.Type
	binary.BigEndian.PutUint16(b[1:3], uint16(len(f.Value)))
	copy(b[3:], f.Value)
	_, err := w.Write(b)
	return err
}

// ErrFrame is wrapped by Read for a frame that is not one.
var ErrFrame = errors.New("s1lite: bad frame")

// Read reads one frame.
func Read(r io.Reader) (Frame, error) {
	var h [3]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	n := int(binary.BigEndian.Uint16(h[1:3]))
	if n > MaxValue {
		return Frame{}, fmt.Errorf("%w: value of %d bytes is over %d", ErrFrame, n, MaxValue)
	}
	if h[0] < NAS || h[0] > BearerSetupResponse {
		return Frame{}, fmt.Errorf("%w: unknown type %d", ErrFrame, h[0])
	}
	f := Frame{Type: h[0], Value: make([]byte, n)}
	if _, err := io.ReadFull(r, f.Value); err != nil {
		return Frame{}, fmt.Errorf("%w: %d-byte value cut short: %w", ErrFrame, n, err)
	}
	return f, nil
}
