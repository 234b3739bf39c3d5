package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/ebfe/scard"
)

// Errors of the PC/SC backend; the errors returned wrap one of them (and the
// pcsc-lite error behind it) with text that tells the user what to do.
var (
	// ErrNoPCSCD: pcscd cannot be reached (SCARD_E_NO_SERVICE).
	ErrNoPCSCD = errors.New("pcscd is not reachable")
	// ErrNoReader: pcscd knows no reader, or none matches the one asked for.
	ErrNoReader = errors.New("no such PC/SC reader")
	// ErrNoCard: the reader has no card (or the card was removed).
	ErrNoCard = errors.New("no card in the reader")
)

// PCSC is a card in a PC/SC reader, reached through pcscd with the PC/SC API
// (PC/SC Workgroup spec part 5, as pcsc-lite implements it).
type PCSC struct {
	mu     sync.Mutex
	sctx   *scard.Context
	card   *scard.Card
	reader string
	atr    []byte
}

var _ Transport = (*PCSC)(nil)

// ListReaders returns the names of the PC/SC readers pcscd knows, in pcscd's
// order (the index OpenPCSC accepts); none is not an error.
func ListReaders(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sctx, err := establish()
	if err != nil {
		return nil, err
	}
	defer sctx.Release()
	return listReaders(sctx)
}

// OpenPCSC connects to the card in a PC/SC reader: reader is "" for the first
// reader holding a card, a decimal index into ListReaders ("0", "1", ...), a
// reader name, or a substring that names exactly one reader.
func OpenPCSC(ctx context.Context, reader string) (*PCSC, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sctx, err := establish()
	if err != nil {
		return nil, err
	}
	p, err := openOn(ctx, sctx, reader)
	if err != nil {
		sctx.Release()
		return nil, err
	}
	return p, nil
}

func openOn(ctx context.Context, sctx *scard.Context, reader string) (*PCSC, error) {
	readers, err := listReaders(sctx)
	if err != nil {
		return nil, err
	}
	if len(readers) == 0 {
		return nil, fmt.Errorf("pcscd reports no reader: plug one in (check with `pcsc_scan -r`) "+
			"or serve a card to the vpcd virtual reader (Debian package vsmartcard-vpcd): %w", ErrNoReader)
	}
	name, err := pickReader(sctx, readers, reader)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	card, err := sctx.Connect(name, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return nil, connectError(name, err)
	}
	st, err := card.Status()
	if err != nil {
		_ = card.Disconnect(scard.LeaveCard)
		return nil, fmt.Errorf("reading the status of the card in %q: %w", name, mapErr(err))
	}
	return &PCSC{sctx: sctx, card: card, reader: name, atr: append([]byte(nil), st.Atr...)}, nil
}

// pickReader resolves the reader argument of OpenPCSC to one reader name.
func pickReader(sctx *scard.Context, readers []string, reader string) (string, error) {
	if reader == "" {
		states := make([]scard.ReaderState, len(readers))
		for i, r := range readers {
			states[i] = scard.ReaderState{Reader: r, CurrentState: scard.StateUnaware}
		}
		if err := sctx.GetStatusChange(states, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
			return "", fmt.Errorf("asking pcscd which readers hold a card: %w", mapErr(err))
		}
		for _, s := range states {
			if s.EventState&scard.StatePresent != 0 && s.EventState&scard.StateMute == 0 {
				return s.Reader, nil
			}
		}
		return "", fmt.Errorf("no reader holds a card (readers: %s): insert a card, "+
			"or name the reader with pcsc:N: %w", numbered(readers), ErrNoCard)
	}
	if isDecimal(reader) {
		i, err := strconv.Atoi(reader)
		if err != nil || i >= len(readers) {
			return "", fmt.Errorf("reader index %s out of range: pcscd has %d reader(s): %s: %w",
				reader, len(readers), numbered(readers), ErrNoReader)
		}
		return readers[i], nil
	}
	for _, r := range readers {
		if r == reader {
			return r, nil
		}
	}
	var matches []string
	for _, r := range readers {
		if strings.Contains(strings.ToLower(r), strings.ToLower(reader)) {
			matches = append(matches, r)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", fmt.Errorf("no reader named %q; readers: %s: %w", reader, numbered(readers), ErrNoReader)
	}
	return "", fmt.Errorf("%q matches %d readers (%s): give the full name or an index: %w",
		reader, len(matches), strings.Join(matches, ", "), ErrNoReader)
}

// Transmit sends one command APDU and returns the raw response (data ‖ SW1
// SW2). It does not follow 61xx/6Cxx (ISO 7816-4 §5.3.4): the caller sends
// GET RESPONSE or repeats the command.
func (p *PCSC) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.card == nil {
		return nil, fmt.Errorf("PC/SC reader %q: card already closed", p.reader)
	}
	resp, err := p.card.Transmit(apdu)
	if err != nil {
		return nil, fmt.Errorf("transmitting to the card in %q: %w", p.reader, transmitError(err))
	}
	return resp, nil
}

// ATR returns the card's Answer To Reset (ISO 7816-3 §8), as pcscd reported it
// when the card was opened.
func (p *PCSC) ATR() []byte { return append([]byte(nil), p.atr...) }

// Reader returns the name of the reader the card sits in.
func (p *PCSC) Reader() string { return p.reader }

// Close disconnects, leaving the card as it is (SCARD_LEAVE_CARD), and
// releases the PC/SC context. Closing twice is harmless.
func (p *PCSC) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.card == nil {
		return nil
	}
	errD := p.card.Disconnect(scard.LeaveCard)
	errR := p.sctx.Release()
	p.card, p.sctx = nil, nil
	if errD != nil {
		return fmt.Errorf("disconnecting from %q: %w", p.reader, errD)
	}
	if errR != nil {
		return fmt.Errorf("releasing the PC/SC context: %w", errR)
	}
	return nil
}

func establish() (*scard.Context, error) {
	sctx, err := scard.EstablishContext()
	if err != nil {
		return nil, fmt.Errorf("connecting to pcscd: %w", mapErr(err))
	}
	return sctx, nil
}

func listReaders(sctx *scard.Context) ([]string, error) {
	readers, err := sctx.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the PC/SC readers: %w", mapErr(err))
	}
	return readers, nil
}

// mapErr adds the user's way out to the pcsc-lite errors that have one.
func mapErr(err error) error {
	switch {
	case errors.Is(err, scard.ErrNoService), errors.Is(err, scard.ErrServiceStopped):
		return fmt.Errorf("%w: is pcscd running? start it with `pcscd -f` (or `systemctl start pcscd.socket`); "+
			"PCSCLITE_CSOCK_NAME, if set, must name its socket (%w)", ErrNoPCSCD, err)
	case errors.Is(err, scard.ErrNoReadersAvailable):
		return fmt.Errorf("%w: plug a reader in, or start the vpcd virtual reader (%w)", ErrNoReader, err)
	}
	return err
}

func connectError(name string, err error) error {
	switch {
	case errors.Is(err, scard.ErrNoSmartcard), errors.Is(err, scard.ErrRemovedCard):
		return fmt.Errorf("reader %q holds no card: insert one (or start the virtual card for vpcd): %w (%w)",
			name, ErrNoCard, err)
	case errors.Is(err, scard.ErrUnresponsiveCard), errors.Is(err, scard.ErrUnpoweredCard):
		return fmt.Errorf("the card in %q does not answer: reinsert it: %w", name, err)
	case errors.Is(err, scard.ErrSharingViolation):
		return fmt.Errorf("another program holds the card in %q exclusively: close it and retry: %w", name, err)
	case errors.Is(err, scard.ErrUnknownReader), errors.Is(err, scard.ErrReaderUnavailable):
		return fmt.Errorf("reader %q went away: check `pcsc_scan -r`: %w (%w)", name, ErrNoReader, err)
	}
	return fmt.Errorf("connecting to the card in %q: %w", name, mapErr(err))
}

func transmitError(err error) error {
	switch {
	case errors.Is(err, scard.ErrRemovedCard), errors.Is(err, scard.ErrNoSmartcard):
		return fmt.Errorf("the card was removed: reinsert it and reopen: %w (%w)", ErrNoCard, err)
	case errors.Is(err, scard.ErrResetCard):
		return fmt.Errorf("another program reset the card (its selection is lost): reopen and retry: %w", err)
	}
	return mapErr(err)
}

func isDecimal(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// numbered renders readers as `0: "A", 1: "B"`, the indexes pcsc:N takes.
func numbered(readers []string) string {
	if len(readers) == 0 {
		return "none"
	}
	parts := make([]string, len(readers))
	for i, r := range readers {
		parts[i] = fmt.Sprintf("%d: %q", i, r)
	}
	return strings.Join(parts, ", ")
}
