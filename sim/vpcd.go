package sim

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"
)

// DefaultVPCDAddr is where vsmartcard's vpcd driver listens for the virtual
// card of its first reader (CHANNELID 0x8C7B in /etc/reader.conf.d/vpcd).
const DefaultVPCDAddr = "127.0.0.1:35963"

// vpcd control messages: a 1-byte payload from vpcd (vsmartcard vpcd.h).
const (
	vpcdPowerOff = 0x00
	vpcdPowerOn  = 0x01
	vpcdReset    = 0x02
	vpcdGetATR   = 0x04
)

// errEmptyFrame: vpcd never sends a zero-length payload; one means the stream
// is out of step.
var errEmptyFrame = errors.New("vpcd frame of length 0")

// VPCD serves Card as the virtual card of vsmartcard's vpcd reader: pcscd
// (with the vpcd driver) then shows Card in a PC/SC reader to any program.
type VPCD struct {
	Addr          string        // vpcd host:port; default DefaultVPCDAddr
	Card          Transport     // the card served; reset on power on/off/reset when it is a Resetter
	Log           *slog.Logger  // nil: no logging; APDUs are logged at Debug
	RetryInterval time.Duration // between connection attempts; default 500ms
}

// Run connects to vpcd (retrying until it is up), serves the card, reconnects
// when the connection drops, and returns nil once ctx ends.
func (v *VPCD) Run(ctx context.Context) error {
	if v.Card == nil {
		return errors.New("vpcd: no card to serve (VPCD.Card is nil)")
	}
	addr := v.Addr
	if addr == "" {
		addr = DefaultVPCDAddr
	}
	retry := v.RetryInterval
	if retry <= 0 {
		retry = 500 * time.Millisecond
	}
	log := v.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("vpcd", addr)

	var d net.Dialer
	waiting := false
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !waiting {
				log.Info(fmt.Sprintf("waiting for vpcd at %s (is pcscd running with the vpcd driver?)", addr),
					"err", err)
				waiting = true
			} else {
				log.Debug("vpcd not up yet", "err", err)
			}
			if !sleepCtx(ctx, retry) {
				return nil
			}
			continue
		}
		waiting = false
		log.Info("connected to vpcd: the card is in the reader")
		err = v.serveConn(ctx, conn, log)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
			log.Warn("vpcd closed the connection (pcscd stopped or restarted?); reconnecting", "err", err)
		default:
			log.Warn("dropping the vpcd connection; reconnecting", "err", err)
		}
		if !sleepCtx(ctx, retry) {
			return nil
		}
	}
}

// serveConn serves one vpcd connection until it fails or ctx ends; the
// connection is closed on return.
func (v *VPCD) serveConn(ctx context.Context, conn net.Conn, log *slog.Logger) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	return v.serve(ctx, bufio.NewReader(conn), conn, log)
}

// serve reads vpcd frames from r and writes the answers to w until an error.
func (v *VPCD) serve(ctx context.Context, r io.Reader, w io.Writer, log *slog.Logger) error {
	resetter, _ := v.Card.(Resetter)
	for {
		msg, err := readVPCDFrame(r)
		if err != nil {
			return err
		}
		if len(msg) == 1 {
			switch msg[0] {
			case vpcdPowerOff, vpcdPowerOn, vpcdReset:
				log.Debug("vpcd control", "op", [...]string{"power off", "power on", "reset"}[msg[0]])
				if resetter != nil {
					resetter.Reset()
				}
			case vpcdGetATR:
				atr := v.Card.ATR()
				log.Debug("vpcd get ATR", "atr", hex.EncodeToString(atr))
				if err := writeVPCDFrame(w, atr); err != nil {
					return err
				}
			default:
				log.Warn("unknown vpcd control byte, ignored", "byte", fmt.Sprintf("%02X", msg[0]))
			}
			continue
		}
		resp, err := v.Card.Transmit(ctx, msg)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// vpcd waits for an answer: give it "technical problem".
			log.Warn("card failed the APDU; answering 6F00", "apdu", hex.EncodeToString(msg), "err", err)
			resp = []byte{0x6F, 0x00}
		}
		if len(resp) > 0xFFFF {
			log.Warn("card answer too long for vpcd; answering 6F00", "len", len(resp))
			resp = []byte{0x6F, 0x00}
		}
		log.Debug("vpcd APDU", "cmd", hex.EncodeToString(msg), "resp", hex.EncodeToString(resp))
		if err := writeVPCDFrame(w, resp); err != nil {
			return err
		}
	}
}

// readVPCDFrame reads one vpcd frame: a 2-byte big-endian length, then that
// many bytes (length 0 is refused).
func readVPCDFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint16(hdr[:])
	if n == 0 {
		return nil, errEmptyFrame
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("vpcd frame of %d bytes cut short: %w", n, err)
	}
	return buf, nil
}

// appendVPCDFrame appends payload to dst as one vpcd frame.
func appendVPCDFrame(dst, payload []byte) ([]byte, error) {
	if len(payload) > 0xFFFF {
		return dst, fmt.Errorf("vpcd frame of %d bytes exceeds 65535", len(payload))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	return append(dst, payload...), nil
}

// writeVPCDFrame writes payload as one frame, in a single Write.
func writeVPCDFrame(w io.Writer, payload []byte) error {
	frame, err := appendVPCDFrame(make([]byte, 0, 2+len(payload)), payload)
	if err != nil {
		return err
	}
	_, err = w.Write(frame)
	return err
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
