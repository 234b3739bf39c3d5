package sim

import (
	"github.com/imslab/imslab/internal/cardfile"

	"bytes"
	"context"
	"log/slog"
	"sync"

	"github.com/imslab/imslab/internal/aka"
)

// ATR of the software card, ISO 7816-3 §8: TS=3B, T0=9F (TA1 and TD1
// present, 15 historical bytes), TA1=96 (Fi/Di), TD1=80 (T=0, TD2 follows),
// TD2=1F (T=15 global, TA3 follows), TA3=C7 (clock stop, classes A/B/C), the
// historical bytes (ISO 7816-4 §8.1.1), and TCK=99, the XOR of T0..the last
// historical byte (§8.2.5). T=0 only, like most SIM cards.
var softATR = [...]byte{0x3B, 0x9F, 0x96, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE, 0x21,
	0x1B, 0x63, 0x3A, 0x20, 0x4C, 0x03, 0x42, 0x00, 0x5A, 0x99}

// SoftCard is the software UICC: a USIM and, when the profile has one, an
// ISIM, with their files, PIN and AKA, answering APDUs as TS 102 221,
// TS 31.102 and TS 31.103 say. It is safe for concurrent use.
type SoftCard struct {
	mu       sync.Mutex
	p        *cardfile.Card
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
func NewSoftCard(p *cardfile.Card, opts ...SoftCardOption) (*SoftCard, error) {
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
	p, err := cardfile.Load(path)
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

// cardfile.Card returns a copy of the card's description with its current state.
func (c *SoftCard) Profile() cardfile.Card {
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
func (c *SoftCard) ATR() []byte { return bytes.Clone(softATR[:]) }

// Reset power-cycles the card: MF selected, no application, PIN to verify again.
func (c *SoftCard) Reset() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.curEF, c.adf, c.verified, c.pending = c.mf, nil, nil, false, nil
	return bytes.Clone(softATR[:])
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
	if err := cardfile.SaveState(c.path, c.p.State); err != nil {
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
