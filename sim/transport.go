package sim

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Transport carries command APDUs to a card and brings back its response
// (data ‖ SW1 SW2). It is the one interface behind which the three backends
// sit: the software card (SoftCard), a PC/SC reader (PCSC) and, on the other
// side of pcscd, the card served to the vpcd virtual reader.
type Transport interface {
	// Transmit sends one command APDU (ISO 7816-4 §5.1) and returns the
	// response APDU: response data followed by SW1 SW2.
	Transmit(ctx context.Context, apdu []byte) ([]byte, error)
	// ATR returns the card's Answer To Reset.
	ATR() []byte
	// Close releases the card (and, for a software card, saves its state).
	Close() error
}

// TraceTransport wraps a Transport and writes every APDU and its answer to W,
// one line each, with the command and status word named: what `--trace`
// prints.
type TraceTransport struct {
	Transport
	W  io.Writer
	mu sync.Mutex
}

// Transmit sends the APDU through the wrapped transport and traces both ways.
func (t *TraceTransport) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	resp, err := t.Transport.Transmit(ctx, apdu)
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.W, "-> %-52s %s\n", spaced(apdu), DescribeCommand(apdu))
	if err != nil {
		fmt.Fprintf(t.W, "<- error: %v\n", err)
		return nil, err
	}
	if len(resp) >= 2 {
		sw := SW(uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1]))
		data := resp[:len(resp)-2]
		if len(data) > 0 {
			fmt.Fprintf(t.W, "<- %s\n", spaced(data))
		}
		fmt.Fprintf(t.W, "<- %04X %s\n", uint16(sw), sw)
	} else {
		fmt.Fprintf(t.W, "<- %s (short response)\n", spaced(resp))
	}
	return resp, nil
}

func spaced(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02X", c)
	}
	return sb.String()
}

// Resetter is implemented by cards that can be power-cycled (the software
// card): a reset clears the current selection and the PIN verification state,
// as a real card's does, and returns the ATR.
type Resetter interface {
	Reset() []byte
}
