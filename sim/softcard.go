package sim

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/imslab/imslab/internal/aka"
)

// ATR of the software card: T=0 only, as most SIM cards (ISO 7816-3 §8).
// 3B 9F 96 80 1F C7 80 31 E0 73 FE 21 1B 63 3A 20 4C 03 42 00 5A ... TA1=96,
// TD1=80 (T=0), TD2=1F (T=15 global), TA3=C7 (clock stop, class A/B/C),
// historical bytes per ISO 7816-4 §8.1.1 ending with a TCK.
var softATR = []byte{0x3B, 0x9F, 0x96, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE, 0x21,
	0x1B, 0x63, 0x3A, 0x20, 0x4C, 0x03, 0x42, 0x00, 0x5A}

func init() { softATR = append(softATR, tck(softATR[1:])) }

// tck is the ATR check byte: XOR of T0..the last historical byte (ISO 7816-3 §8.2.5).
func tck(b []byte) byte {
	var x byte
	for _, c := range b {
		x ^= c
	}
	return x
}

// SoftCard is the software UICC: a USIM and, when the profile has one, an
// ISIM, with their files, PIN and AKA, answering APDUs as TS 102 221,
// TS 31.102 and TS 31.103 say. It is safe for concurrent use.
type SoftCard struct {
	mu       sync.Mutex
	p        *Profile
	path     string // card file to keep state in; "" for none
	log      *slog.Logger
	mil      *aka.Milenage
	mf       *file
	usim     *file
	isim     *file
	cur      *file // current DF/ADF
	curEF    *file
	adf      *file // current application
	verified bool
	pending  []byte // response data waiting for GET RESPONSE
	seq      sqnArray
	saveErr  error
}

// SoftCardOption configures a SoftCard.
type SoftCardOption func(*SoftCard)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) SoftCardOption { return func(c *SoftCard) { c.log = l } }

// NewSoftCard builds a card from a profile; its state lives in memory only.
func NewSoftCard(p *Profile, opts ...SoftCardOption) (*SoftCard, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k, opc, _, err := p.Keys()
	if err != nil {
		return nil, err
	}
	mil, err := aka.New(k, opc)
	if err != nil {
		return nil, err
	}
	c := &SoftCard{p: p, mil: mil, log: slog.New(slog.DiscardHandler), seq: sqnArray(append([]uint64(nil), p.State.SEQ...))}
	for _, o := range opts {
		o(c)
	}
	if err := c.build(); err != nil {
		return nil, err
	}
	c.Reset()
	return c, nil
}

// OpenSoftCard loads a card file; the card writes its state (SQN array, PIN
// tries) back into that file whenever it changes, as a real card keeps it.
func OpenSoftCard(path string, opts ...SoftCardOption) (*SoftCard, error) {
	p, err := LoadProfile(path)
	if err != nil {
		return nil, err
	}
	c, err := NewSoftCard(p, opts...)
	if err != nil {
		return nil, err
	}
	c.path = path
	return c, nil
}

// Profile returns a copy of the card's description with its current state.
func (c *SoftCard) Profile() Profile {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := *c.p
	p.State.SEQ = append([]uint64(nil), c.seq...)
	return p
}

// build lays out the file system, TS 102 221 §8.2, TS 31.102 §4, TS 31.103 §4.
func (c *SoftCard) build() error {
	p := c.p
	mf := &file{fid: FidMF, name: "MF", kind: kindDF}
	iccid, err := EncodeICCID(p.ICCID)
	if err != nil {
		return err
	}
	mf.add(&file{fid: FidICCID, name: "EF_ICCID", kind: kindTransparent, sfi: 0x02, data: iccid})
	dir := mf.add(&file{fid: FidDIR, name: "EF_DIR", kind: kindLinearFixed, sfi: 0x1E, recLen: efDIRRecLen})

	usim := mf.add(&file{fid: FidADF, name: "ADF.USIM", kind: kindDF, aid: AIDUSIM})
	imsi, err := EncodeIMSI(p.IMSI)
	if err != nil {
		return err
	}
	ad, err := EncodeAD(p.MNCLength)
	if err != nil {
		return err
	}
	msisdn, err := EncodeMSISDN("", p.MSISDN)
	if err != nil {
		return err
	}
	usim.add(&file{fid: FidIMSI, name: "EF_IMSI", kind: kindTransparent, sfi: 0x07, data: imsi, pin: true})
	usim.add(&file{fid: FidAD, name: "EF_AD", kind: kindTransparent, sfi: 0x03, data: ad})
	usim.add(&file{fid: FidMSISDN, name: "EF_MSISDN", kind: kindLinearFixed, recLen: len(msisdn), records: [][]byte{msisdn}, pin: true})
	usim.add(&file{fid: FidUST, name: "EF_UST", kind: kindTransparent, sfi: 0x04, data: EncodeServiceTable(ustServices, 8), pin: true})
	apps := []Application{{AID: AIDUSIM, Label: "USIM"}}

	if p.ISIM != nil {
		isim := mf.add(&file{fid: FidADF, name: "ADF.ISIM", kind: kindDF, aid: AIDISIM})
		impi, err := EncodeIMPI(p.ISIM.IMPI)
		if err != nil {
			return err
		}
		dom, err := EncodeDomain(p.ISIM.Domain)
		if err != nil {
			return err
		}
		var impus [][]byte
		for _, u := range p.ISIM.IMPUs {
			r, err := EncodeIMPU(u, efIMPURecLen)
			if err != nil {
				return err
			}
			impus = append(impus, r)
		}
		var pcscf [][]byte
		ist := []int{}
		for _, a := range p.ISIM.PCSCF {
			r, err := EncodePCSCF(a, efPCSCFRecLn)
			if err != nil {
				return err
			}
			pcscf = append(pcscf, r)
			ist = []int{istPCSCF}
		}
		if len(pcscf) == 0 {
			pcscf = [][]byte{bytes.Repeat([]byte{0xFF}, efPCSCFRecLn)}
		}
		isim.add(&file{fid: FidIMPI, name: "EF_IMPI", kind: kindTransparent, sfi: 0x02, data: pad(impi, 128), pin: true})
		isim.add(&file{fid: FidDomain, name: "EF_DOMAIN", kind: kindTransparent, sfi: 0x05, data: pad(dom, 128), pin: true})
		isim.add(&file{fid: FidIMPU, name: "EF_IMPU", kind: kindLinearFixed, sfi: 0x04, recLen: efIMPURecLen, records: impus, pin: true})
		isim.add(&file{fid: FidIST, name: "EF_IST", kind: kindTransparent, sfi: 0x07, data: EncodeServiceTable(ist, 2), pin: true})
		isim.add(&file{fid: FidPCSCF, name: "EF_PCSCF", kind: kindLinearFixed, recLen: efPCSCFRecLn, records: pcscf, pin: true})
		isim.add(&file{fid: FidAD, name: "EF_AD", kind: kindTransparent, sfi: 0x03, data: ad})
		apps = append(apps, Application{AID: AIDISIM, Label: "ISIM"})
		c.isim = isim
	}
	for _, a := range apps {
		r, err := EncodeDIRRecord(a, efDIRRecLen)
		if err != nil {
			return err
		}
		dir.records = append(dir.records, r)
	}
	c.mf, c.usim = mf, usim
	return nil
}

// Services the USIM marks available in EF_UST (TS 31.102 §4.2.8):
// n°21 MSISDN.
var ustServices = []int{21}

// istPCSCF is EF_IST service n°1, "P-CSCF address" (TS 31.103 §4.2.7).
const istPCSCF = 1

func pad(b []byte, n int) []byte {
	for len(b) < n {
		b = append(b, 0xFF)
	}
	return b
}

// ATR returns the card's Answer To Reset.
func (c *SoftCard) ATR() []byte { return bytes.Clone(softATR) }

// Reset power-cycles the card: MF selected, no application, PIN to verify again.
func (c *SoftCard) Reset() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.curEF, c.adf, c.verified, c.pending = c.mf, nil, nil, false, nil
	return bytes.Clone(softATR)
}

// Close saves the card's state and reports any earlier failure to save it.
func (c *SoftCard) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.saveErr != nil {
		return c.saveErr
	}
	return c.saveLocked()
}

func (c *SoftCard) saveLocked() error {
	c.p.State.SEQ = append([]uint64(nil), c.seq...)
	if c.path == "" {
		return nil
	}
	if err := SaveState(c.path, c.p.State); err != nil {
		c.saveErr = err
		c.log.Error("card state not saved", "file", c.path, "err", err)
		return err
	}
	return nil
}

// Transmit processes one command APDU and returns data ‖ SW1 SW2. Anything
// malformed gets a status word, never a panic or an error: an error is
// returned only when the context is done.
func (c *SoftCard) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	data, sw := c.process(apdu)
	out := make([]byte, 0, len(data)+2)
	return append(append(out, data...), byte(sw>>8), byte(sw)), nil
}

func (c *SoftCard) process(apdu []byte) ([]byte, SW) {
	cmd, err := ParseCommand(apdu)
	if err != nil {
		c.pending = nil
		return nil, SWWrongLength
	}
	if cmd.INS != InsGetResponse {
		c.pending = nil
	}
	// CLA: 00 (and 80 for STATUS, the proprietary-class commands) on the
	// basic logical channel, TS 102 221 §10.1.1.
	if cmd.CLA&0x03 != 0 || cmd.CLA&0x40 != 0 {
		return nil, SWChannelNotSupport
	}
	switch cmd.CLA &^ 0x0C {
	case 0x00:
		switch cmd.INS {
		case InsSelect:
			return c.selectFile(cmd)
		case InsReadBinary:
			return c.readBinary(cmd)
		case InsReadRecord:
			return c.readRecord(cmd)
		case InsVerify:
			return c.verify(cmd)
		case InsAuthenticate:
			return c.authenticate(cmd)
		case InsGetResponse:
			return c.getResponse(cmd)
		case InsStatus:
			return nil, SWCLANotSupported
		}
		return nil, SWINSNotSupported
	case 0x80:
		if cmd.INS == InsStatus {
			return c.status(cmd)
		}
		return nil, SWINSNotSupported
	}
	return nil, SWCLANotSupported
}

// respond queues data for GET RESPONSE (T=0, TS 102 221 §7.3.1.1.4): 61xx.
func (c *SoftCard) respond(data []byte) ([]byte, SW) {
	if len(data) == 0 {
		return nil, SWOK
	}
	c.pending = data
	return nil, SW(0x6100 | len(data)%256)
}

// getResponse returns queued data, TS 102 221 §11.1.12.
func (c *SoftCard) getResponse(cmd Command) ([]byte, SW) {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return nil, SWIncorrectP1P2
	}
	if len(c.pending) == 0 {
		return nil, SW(0x6F00) // nothing to get: technical problem, as cards say
	}
	if !cmd.HasLe || cmd.Le == 256 {
		out := c.pending
		c.pending = nil
		return out, SWOK
	}
	if cmd.Le > len(c.pending) {
		return nil, SW(0x6C00 | len(c.pending)%256)
	}
	out := c.pending[:cmd.Le]
	c.pending = c.pending[cmd.Le:]
	if len(c.pending) > 0 {
		return out, SW(0x6100 | len(c.pending)%256)
	}
	return out, SWOK
}

var errNotFound = errors.New("not found")

// findFID resolves a file identifier from the current DF, TS 102 221 §8.4.1:
// the MF, the current application (7FFF), the current DF, its children, its
// parent and the parent's children.
func (c *SoftCard) findFID(fid uint16) (*file, error) {
	switch fid {
	case FidMF:
		return c.mf, nil
	case FidADF:
		if c.adf == nil {
			return nil, errNotFound
		}
		return c.adf, nil
	}
	if c.cur.fid == fid && c.cur.aid == nil {
		return c.cur, nil
	}
	if f := c.cur.child(fid); f != nil && f.aid == nil {
		return f, nil
	}
	if p := c.cur.parent; p != nil {
		if p.fid == fid {
			return p, nil
		}
		if f := p.child(fid); f != nil && f.kind == kindDF && f.aid == nil {
			return f, nil
		}
	}
	return nil, errNotFound
}

// findPath resolves a path of FIDs from the MF or from the current DF.
func (c *SoftCard) findPath(path []byte, from *file) (*file, error) {
	if len(path) == 0 || len(path)%2 != 0 {
		return nil, errBadAPDU
	}
	f := from
	for i := 0; i < len(path); i += 2 {
		fid := uint16(path[i])<<8 | uint16(path[i+1])
		switch {
		case fid == FidADF && c.adf != nil:
			f = c.adf
		case f.kind == kindDF && f.child(fid) != nil && f.child(fid).aid == nil:
			f = f.child(fid)
		default:
			return nil, errNotFound
		}
	}
	return f, nil
}

// selectFile implements SELECT, TS 102 221 §11.1.1.
func (c *SoftCard) selectFile(cmd Command) ([]byte, SW) {
	var f *file
	var err error
	switch cmd.P1 {
	case 0x00: // by FID
		if len(cmd.Data) == 0 {
			f = c.mf // ISO 7816-4: empty data selects the MF
		} else if len(cmd.Data) != 2 {
			return nil, SWWrongLength
		} else {
			f, err = c.findFID(uint16(cmd.Data[0])<<8 | uint16(cmd.Data[1]))
		}
	case 0x03: // parent DF
		if c.cur.parent == nil {
			return nil, SWFileNotFound
		}
		f = c.cur.parent
	case 0x04: // by DF name (AID), partial AID allowed (§8.4.2)
		f, err = c.findAID(cmd)
	case 0x08: // path from MF, without 3F00
		f, err = c.findPath(cmd.Data, c.mf)
	case 0x09: // path from current DF
		f, err = c.findPath(cmd.Data, c.cur)
	default:
		return nil, SWIncorrectP1P2
	}
	switch {
	case errors.Is(err, errBadAPDU):
		return nil, SWWrongData
	case err != nil || f == nil:
		return nil, SWFileNotFound
	}
	if f.kind == kindDF {
		c.cur, c.curEF = f, nil
		if f.aid != nil {
			c.adf = f
		}
	} else {
		c.cur, c.curEF = f.parent, f
	}
	switch cmd.P2 &^ 0x03 {
	case 0x04: // return FCP
		return c.respond(f.fcp(c.p.PIN != ""))
	case 0x0C, 0x00: // no data (00: FCI, which a UICC answers as no data here)
		return nil, SWOK
	}
	return nil, SWIncorrectP1P2
}

func (c *SoftCard) findAID(cmd Command) (*file, error) {
	if len(cmd.Data) < 5 || len(cmd.Data) > 16 {
		return nil, errBadAPDU
	}
	if cmd.P2&0x03 != 0x00 { // only "first or only occurrence"
		return nil, errNotFound
	}
	for _, f := range c.mf.children {
		if f.aid != nil && bytes.HasPrefix(f.aid, cmd.Data) {
			return f, nil
		}
	}
	return nil, errNotFound
}

// readable checks the access condition: ADF files need PIN1 when enabled.
func (c *SoftCard) readable(f *file) SW {
	if f.pin && c.p.PIN != "" && !c.verified {
		return SWSecurityNotSatisfy
	}
	return SWOK
}

// efBySFI selects the EF an SFI names in the current DF (TS 102 221 §8.3).
func (c *SoftCard) efBySFI(sfi byte) *file {
	if f := c.cur.childBySFI(sfi); f != nil {
		c.curEF = f
		return f
	}
	return nil
}

// readBinary implements READ BINARY, TS 102 221 §11.1.3.
func (c *SoftCard) readBinary(cmd Command) ([]byte, SW) {
	f, off := c.curEF, int(cmd.P1)<<8|int(cmd.P2)
	if cmd.P1&0x80 != 0 {
		if cmd.P1&0x60 != 0 {
			return nil, SWIncorrectP1P2
		}
		if f = c.efBySFI(cmd.P1 & 0x1F); f == nil {
			return nil, SWFileNotFound
		}
		off = int(cmd.P2)
	}
	if len(cmd.Data) > 0 {
		return nil, SWWrongLength
	}
	if f == nil {
		return nil, SWNoEFSelected
	}
	if f.kind != kindTransparent {
		return nil, SWIncompatibleFile
	}
	if sw := c.readable(f); sw != SWOK {
		return nil, sw
	}
	if off >= len(f.data) {
		return nil, SWWrongP1P2
	}
	avail := len(f.data) - off
	n := cmd.Le
	if !cmd.HasLe || n == 256 {
		n = min(avail, maxResponse)
	} else if n > avail {
		return nil, SW(0x6C00 | avail%256)
	}
	return bytes.Clone(f.data[off : off+n]), SWOK
}

// readRecord implements READ RECORD in absolute mode, TS 102 221 §11.1.5.
func (c *SoftCard) readRecord(cmd Command) ([]byte, SW) {
	f := c.curEF
	if sfi := cmd.P2 >> 3; sfi != 0 {
		if sfi == 0x1F {
			return nil, SWIncorrectP1P2
		}
		if f = c.efBySFI(sfi); f == nil {
			return nil, SWFileNotFound
		}
	}
	if cmd.P2&0x07 != 0x04 || cmd.P1 == 0 {
		return nil, SWIncorrectP1P2 // only absolute mode with a record number
	}
	if len(cmd.Data) > 0 {
		return nil, SWWrongLength
	}
	if f == nil {
		return nil, SWNoEFSelected
	}
	if f.kind != kindLinearFixed {
		return nil, SWIncompatibleFile
	}
	if sw := c.readable(f); sw != SWOK {
		return nil, sw
	}
	if int(cmd.P1) > len(f.records) {
		return nil, SWRecordNotFound
	}
	if cmd.HasLe && cmd.Le != 256 && cmd.Le != f.recLen {
		return nil, SW(0x6C00 | f.recLen%256)
	}
	return bytes.Clone(f.records[cmd.P1-1]), SWOK
}

// status implements STATUS, TS 102 221 §11.1.2.
func (c *SoftCard) status(cmd Command) ([]byte, SW) {
	if cmd.P1 > 0x02 {
		return nil, SWIncorrectP1P2
	}
	var data []byte
	switch cmd.P2 {
	case 0x00:
		data = c.cur.fcp(c.p.PIN != "")
	case 0x01:
		if c.adf == nil {
			return nil, SWOK
		}
		data = tlvAppend(nil, 0x84, c.adf.aid)
	case 0x0C:
		return nil, SWOK
	default:
		return nil, SWIncorrectP1P2
	}
	if cmd.HasLe && cmd.Le != 256 && cmd.Le != len(data) {
		return nil, SW(0x6C00 | len(data)%256)
	}
	return data, SWOK
}

// verify implements VERIFY PIN for PIN1 (key reference 01), TS 102 221
// §11.1.9: 63Cx with the tries left on a wrong PIN, 6983 once blocked.
func (c *SoftCard) verify(cmd Command) ([]byte, SW) {
	if cmd.P1 != 0x00 {
		return nil, SWIncorrectP1P2
	}
	if cmd.P2 != 0x01 {
		return nil, SWRefDataNotFound
	}
	st := &c.p.State
	if len(cmd.Data) == 0 { // ask the status
		switch {
		case c.p.PIN == "" || c.verified:
			return nil, SWOK
		case st.PINTriesLeft == 0:
			return nil, SWPINBlocked
		}
		return nil, SW(0x63C0 | st.PINTriesLeft)
	}
	if len(cmd.Data) != 8 {
		return nil, SWWrongLength
	}
	if c.p.PIN == "" {
		return nil, SWOK // PIN disabled: nothing to verify
	}
	if st.PINTriesLeft == 0 {
		return nil, SWPINBlocked
	}
	want := pinBlock(c.p.PIN)
	if bytes.Equal(cmd.Data, want) {
		c.verified = true
		if st.PINTriesLeft != PINTries {
			st.PINTriesLeft = PINTries
			_ = c.saveLocked()
		}
		return nil, SWOK
	}
	st.PINTriesLeft--
	_ = c.saveLocked()
	c.log.Info("card: wrong PIN", "tries_left", st.PINTriesLeft)
	if st.PINTriesLeft == 0 {
		return nil, SWPINBlocked
	}
	return nil, SW(0x63C0 | st.PINTriesLeft)
}

// pinBlock pads PIN digits with 'FF' to 8 bytes, TS 102 221 §9.5.1.
func pinBlock(pin string) []byte {
	b := bytes.Repeat([]byte{0xFF}, 8)
	copy(b, pin)
	return b
}

// authenticate implements AUTHENTICATE in the USIM 3G context
// (TS 31.102 §7.1.2.1) and the ISIM IMS AKA context (TS 31.103 §7.1.2.1):
// data = L RAND ‖ L AUTN; answer DB L RES L CK L IK on success, DC L AUTS on a
// synchronisation failure, SW 9862 when the MAC is wrong.
func (c *SoftCard) authenticate(cmd Command) ([]byte, SW) {
	if cmd.P1 != 0x00 {
		return nil, SWIncorrectP1P2
	}
	if c.adf == nil {
		return nil, SWNoEFSelected
	}
	if cmd.P2 != 0x81 {
		return nil, SWIncorrectP1P2 // GSM and GBA contexts are not offered
	}
	if c.p.PIN != "" && !c.verified {
		return nil, SWSecurityNotSatisfy
	}
	d := cmd.Data
	if len(d) != 34 || d[0] != 16 || d[17] != 16 {
		return nil, SWWrongData
	}
	rand, autn := d[1:17], d[18:34]
	app := "USIM"
	if c.adf == c.isim {
		app = "ISIM"
	}
	ch, err := c.mil.VerifyAUTN(rand, autn)
	if errors.Is(err, aka.ErrMACFailure) {
		c.log.Info("card: AUTHENTICATE refused: MAC in AUTN is wrong (not our network, or a different K/OPc)", "app", app)
		return nil, SWAuthMACFailure
	}
	if err != nil {
		return nil, SWTechProblem
	}
	if err := c.seq.check(ch.SQN); err != nil {
		ms := c.seq.sqnMS()
		auts, aerr := c.mil.AUTS(rand, ms)
		if aerr != nil {
			return nil, SWTechProblem
		}
		c.log.Info("card: AUTHENTICATE sync failure, sending AUTS", "app", app,
			"sqn", aka.FormatSQN(ch.SQN), "sqn_ms", aka.FormatSQN(ms), "why", err.Error())
		return c.respond(append([]byte{0xDC, byte(len(auts))}, auts...))
	}
	c.seq.accept(ch.SQN)
	_ = c.saveLocked()
	c.log.Info("card: AUTHENTICATE ok", "app", app, "sqn", aka.FormatSQN(ch.SQN))
	out := []byte{0xDB}
	for _, v := range [][]byte{ch.RES, ch.CK, ch.IK} {
		out = append(out, byte(len(v)))
		out = append(out, v...)
	}
	return c.respond(out)
}
