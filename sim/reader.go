package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/imslab/imslab/internal/aka"
)

// Errors the phone side branches on.
var (
	// ErrMACFailure: the card found the MAC in AUTN wrong: the network is not
	// genuine (or does not hold this card's K/OPc). TS 33.102 §6.3.3.
	ErrMACFailure = errors.New("the network failed authentication: the card says the MAC in AUTN is wrong (the challenge was not made with this card's K/OPc)")
	// ErrPINRequired: the card wants PIN1 verified first.
	ErrPINRequired = errors.New("the card is PIN-protected: give the PIN (--pin)")
	// ErrPINBlocked: no PIN tries are left.
	ErrPINBlocked = errors.New("the PIN is blocked (no tries left): a real card needs its PUK")
	// ErrNoApplication: the card has no such application.
	ErrNoApplication = errors.New("application not on the card")
)

// SyncFailureError is a synchronisation failure: the card found SQN not
// fresh and answered AUTS for the network to resynchronise (TS 33.102 §6.3.3).
type SyncFailureError struct{ AUTS []byte }

func (e *SyncFailureError) Error() string {
	return fmt.Sprintf("synchronisation failure: the card refused the SQN as not fresh and answered AUTS %X", e.AUTS)
}

// WrongPINError says a PIN was wrong and how many tries remain.
type WrongPINError struct{ TriesLeft int }

func (e *WrongPINError) Error() string {
	return fmt.Sprintf("wrong PIN: %d tries left before the PIN blocks", e.TriesLeft)
}

// SWError is a status word the reader did not expect.
type SWError struct {
	Op string
	SW SW
}

func (e *SWError) Error() string {
	return fmt.Sprintf("%s: card answered %04X (%s)", e.Op, uint16(e.SW), e.SW)
}

// App names the applications the phone uses.
type App int

// The applications.
const (
	AppUSIM App = iota
	AppISIM
)

func (a App) String() string {
	if a == AppISIM {
		return "ISIM"
	}
	return "USIM"
}

// Reader is the phone side of the card: it selects applications, reads the
// files a phone reads, verifies the PIN and runs AUTHENTICATE, over any
// Transport.
type Reader struct {
	t    Transport
	apps map[App][]byte // AIDs from EF_DIR
	pin  string
}

// NewReader returns a phone-side reader over t.
func NewReader(t Transport) *Reader { return &Reader{t: t} }

// SetPIN gives the PIN to verify when the card asks for it.
func (r *Reader) SetPIN(pin string) { r.pin = pin }

// transmit sends an APDU, fetching data announced by 61xx with GET RESPONSE
// and repeating a command with the Le a 6Cxx asks for (T=0, TS 102 221 §7.3.1).
func (r *Reader) transmit(ctx context.Context, c Command) ([]byte, SW, error) {
	var data []byte
	for range 16 {
		resp, err := r.t.Transmit(ctx, c.Bytes())
		if err != nil {
			return nil, 0, err
		}
		if len(resp) < 2 {
			return nil, 0, fmt.Errorf("card answered %d bytes, no status word", len(resp))
		}
		sw := SW(uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1]))
		data = append(data, resp[:len(resp)-2]...)
		switch sw >> 8 {
		case 0x61, 0x9F:
			c = Command{CLA: 0x00, INS: InsGetResponse, Le: leValue(byte(sw)), HasLe: true}
			continue
		case 0x6C:
			c.Le, c.HasLe = leValue(byte(sw)), true
			continue
		}
		return data, sw, nil
	}
	return nil, 0, errors.New("card keeps asking for GET RESPONSE")
}

func (r *Reader) expectOK(ctx context.Context, op string, c Command) ([]byte, error) {
	data, sw, err := r.transmit(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	switch sw {
	case SWOK:
		return data, nil
	case SWSecurityNotSatisfy:
		if r.pin != "" {
			if err := r.VerifyPIN(ctx, r.pin); err != nil {
				return nil, err
			}
			return r.expectOK(ctx, op, c)
		}
		return nil, ErrPINRequired
	case SWPINBlocked:
		return nil, ErrPINBlocked
	}
	if sw>>8 == 0x91 { // proactive command pending: the data is fine
		return data, nil
	}
	return nil, &SWError{Op: op, SW: sw}
}

// selectFID selects a file by FID and returns its FCP.
func (r *Reader) selectFID(ctx context.Context, fid uint16) (*FCP, error) {
	data, err := r.expectOK(ctx, "SELECT "+fileName(fid),
		Command{CLA: 0x00, INS: InsSelect, P1: 0x00, P2: 0x04, Data: []byte{byte(fid >> 8), byte(fid)}})
	if err != nil {
		return nil, err
	}
	return ParseFCP(data)
}

// SelectApp selects an application by its AID from EF_DIR, TS 102 221 §8.5.
func (r *Reader) SelectApp(ctx context.Context, app App) error {
	if r.apps == nil {
		if _, err := r.Applications(ctx); err != nil {
			return err
		}
	}
	aid, ok := r.apps[app]
	if !ok {
		return fmt.Errorf("%s: %w", app, ErrNoApplication)
	}
	_, err := r.expectOK(ctx, "SELECT "+app.String(),
		Command{CLA: 0x00, INS: InsSelect, P1: 0x04, P2: 0x04, Data: aid})
	return err
}

// Applications reads EF_DIR (TS 102 221 §13.1) and remembers the USIM and
// ISIM AIDs (application codes 1002 and 1004 under the 3GPP RID).
func (r *Reader) Applications(ctx context.Context) ([]Application, error) {
	if _, err := r.selectFID(ctx, FidMF); err != nil {
		return nil, err
	}
	recs, err := r.readRecords(ctx, FidDIR)
	if err != nil {
		return nil, err
	}
	r.apps = map[App][]byte{}
	var apps []Application
	for _, rec := range recs {
		a, ok, err := DecodeDIRRecord(rec)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		apps = append(apps, a)
		if len(a.AID) >= 7 && bytes.HasPrefix(a.AID, []byte(rid3GPP)) {
			switch uint16(a.AID[5])<<8 | uint16(a.AID[6]) {
			case appCodeUSIM:
				r.apps[AppUSIM] = a.AID
			case appCodeISIM:
				r.apps[AppISIM] = a.AID
			}
		}
	}
	return apps, nil
}

// readBinary selects an EF in the current DF and reads it whole.
func (r *Reader) readBinary(ctx context.Context, fid uint16) ([]byte, error) {
	fcp, err := r.selectFID(ctx, fid)
	if err != nil {
		return nil, err
	}
	var out []byte
	for off := 0; off < fcp.Size; {
		n := min(fcp.Size-off, 255)
		d, err := r.expectOK(ctx, "READ BINARY "+fileName(fid),
			Command{CLA: 0x00, INS: InsReadBinary, P1: byte(off >> 8), P2: byte(off), Le: n, HasLe: true})
		if err != nil {
			return nil, err
		}
		if len(d) == 0 {
			break
		}
		out = append(out, d...)
		off += len(d)
	}
	return out, nil
}

// readRecords selects a linear fixed EF and reads all its records.
func (r *Reader) readRecords(ctx context.Context, fid uint16) ([][]byte, error) {
	fcp, err := r.selectFID(ctx, fid)
	if err != nil {
		return nil, err
	}
	var recs [][]byte
	for i := 1; i <= fcp.NumRecords; i++ {
		d, err := r.expectOK(ctx, fmt.Sprintf("READ RECORD %d of %s", i, fileName(fid)),
			Command{CLA: 0x00, INS: InsReadRecord, P1: byte(i), P2: 0x04, Le: fcp.RecordLen, HasLe: true})
		if err != nil {
			return nil, err
		}
		recs = append(recs, d)
	}
	return recs, nil
}

// PINStatus asks the card about PIN1 without spending a try:
// verified (or disabled), or the tries left.
func (r *Reader) PINStatus(ctx context.Context) (ok bool, triesLeft int, err error) {
	_, sw, err := r.transmit(ctx, Command{CLA: 0x00, INS: InsVerify, P1: 0x00, P2: 0x01})
	if err != nil {
		return false, 0, err
	}
	switch {
	case sw == SWOK:
		return true, 0, nil
	case sw == SWPINBlocked:
		return false, 0, ErrPINBlocked
	case sw&0xFFF0 == 0x63C0:
		return false, int(sw & 0xF), nil
	}
	return false, 0, &SWError{Op: "VERIFY PIN status", SW: sw}
}

// VerifyPIN presents PIN1, TS 102 221 §11.1.9.
func (r *Reader) VerifyPIN(ctx context.Context, pin string) error {
	if len(pin) < 4 || len(pin) > 8 {
		return fmt.Errorf("a PIN has 4 to 8 digits, got %d", len(pin))
	}
	_, sw, err := r.transmit(ctx, Command{CLA: 0x00, INS: InsVerify, P1: 0x00, P2: 0x01, Data: pinBlock(pin)})
	if err != nil {
		return err
	}
	switch {
	case sw == SWOK:
		return nil
	case sw == SWPINBlocked:
		return ErrPINBlocked
	case sw&0xFFF0 == 0x63C0:
		return &WrongPINError{TriesLeft: int(sw & 0xF)}
	}
	return &SWError{Op: "VERIFY PIN", SW: sw}
}

// AuthResult is a successful AUTHENTICATE.
type AuthResult struct {
	RES, CK, IK []byte
	Kc          []byte // only when the card appends it (USIM with GSM access)
}

// Authenticate runs AUTHENTICATE with RAND and AUTN in the USIM 3G context
// (TS 31.102 §7.1.2) or the ISIM IMS AKA context (TS 31.103 §7.1.2). It
// returns *SyncFailureError (with AUTS) on a synchronisation failure and
// ErrMACFailure when the card finds the network's MAC wrong.
func (r *Reader) Authenticate(ctx context.Context, app App, rand, autn []byte) (*AuthResult, error) {
	if len(rand) != aka.RandLen || len(autn) != aka.AUTNLen {
		return nil, fmt.Errorf("RAND and AUTN must be 16 bytes each (got %d and %d)", len(rand), len(autn))
	}
	if err := r.SelectApp(ctx, app); err != nil {
		return nil, err
	}
	data := append([]byte{aka.RandLen}, rand...)
	data = append(data, aka.AUTNLen)
	data = append(data, autn...)
	cmd := Command{CLA: 0x00, INS: InsAuthenticate, P1: 0x00, P2: 0x81, Data: data}
	resp, sw, err := r.transmit(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("AUTHENTICATE: %w", err)
	}
	if sw == SWSecurityNotSatisfy && r.pin != "" {
		if err := r.VerifyPIN(ctx, r.pin); err != nil {
			return nil, err
		}
		resp, sw, err = r.transmit(ctx, cmd)
		if err != nil {
			return nil, fmt.Errorf("AUTHENTICATE: %w", err)
		}
	}
	switch sw {
	case SWOK:
	case SWAuthMACFailure:
		return nil, ErrMACFailure
	case SWSecurityNotSatisfy:
		return nil, ErrPINRequired
	case SWPINBlocked:
		return nil, ErrPINBlocked
	default:
		return nil, &SWError{Op: "AUTHENTICATE", SW: sw}
	}
	return ParseAuthResponse(resp)
}

// ParseAuthResponse decodes the AUTHENTICATE response data: 'DB' L RES L CK
// L IK [L Kc], or 'DC' L AUTS (TS 31.102 §7.1.2.1).
func ParseAuthResponse(b []byte) (*AuthResult, error) {
	if len(b) == 0 {
		return nil, errors.New("AUTHENTICATE: empty response")
	}
	fields, err := lvs(b[1:])
	if err != nil {
		return nil, fmt.Errorf("AUTHENTICATE response: %w", err)
	}
	switch b[0] {
	case 0xDB:
		if len(fields) < 3 || len(fields) > 4 {
			return nil, fmt.Errorf("AUTHENTICATE response: %d fields after DB, want 3 or 4", len(fields))
		}
		if len(fields[0]) < 4 || len(fields[0]) > 16 || len(fields[1]) != 16 || len(fields[2]) != 16 {
			return nil, errors.New("AUTHENTICATE response: RES must be 4-16 bytes and CK, IK 16")
		}
		res := &AuthResult{RES: fields[0], CK: fields[1], IK: fields[2]}
		if len(fields) == 4 {
			res.Kc = fields[3]
		}
		return res, nil
	case 0xDC:
		if len(fields) != 1 || len(fields[0]) != aka.AUTSLen {
			return nil, errors.New("AUTHENTICATE response: DC must carry one 14-byte AUTS")
		}
		return nil, &SyncFailureError{AUTS: fields[0]}
	}
	return nil, fmt.Errorf("AUTHENTICATE response: tag %02X, want DB or DC", b[0])
}

// lvs splits a run of one-byte-length values.
func lvs(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n := int(b[0])
		if 1+n > len(b) {
			return nil, fmt.Errorf("length %d overruns the %d bytes left", n, len(b)-1)
		}
		out = append(out, bytes.Clone(b[1:1+n]))
		b = b[1+n:]
	}
	return out, nil
}
