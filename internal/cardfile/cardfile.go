// Package cardfile reads and writes the card description file (YAML) that
// `imslab sim new` writes: the software card runs from it and the HSS imports
// it, so a subscriber's keys and identities are written down once.
package cardfile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/ident"
)

// Card is the card description file (YAML): what is written into a card
// and, imported by the HSS, what the network knows of the subscriber. It is
// the one source of truth for subscriber data. The software card also keeps
// its own memory (SQN array, PIN retry counter) in it under "state".
type Card struct {
	ICCID     string `yaml:"iccid"`
	IMSI      string `yaml:"imsi"`
	K         string `yaml:"k"`
	OPc       string `yaml:"opc,omitempty"`
	OP        string `yaml:"op,omitempty"`
	AMF       string `yaml:"amf"`
	MSISDN    string `yaml:"msisdn,omitempty"`
	MNCLength int    `yaml:"mnc_length"`
	PIN       string `yaml:"pin,omitempty"` // empty: PIN disabled
	ISIM      *ISIM  `yaml:"isim,omitempty"`
	State     State  `yaml:"state"`
}

// ISIM holds the identities of the ISIM application, TS 31.103 §4.2.
type ISIM struct {
	IMPI   string   `yaml:"impi"`
	IMPUs  []string `yaml:"impus"`
	Domain string   `yaml:"domain"`
	PCSCF  []string `yaml:"pcscf,omitempty"`
}

// State is the card's own memory, kept between runs.
type State struct {
	// PINTriesLeft counts the PIN verifications left before it blocks.
	PINTriesLeft int `yaml:"pin_tries_left"`
	// SEQ is the highest accepted SEQ for each IND, TS 33.102 Annex C.2.
	SEQ []uint64 `yaml:"seq,flow"`
}

// PINTries is the number of PIN attempts a card allows, TS 102 221 §9.5.
const PINTries = 3

// DefaultAMF has the "separation bit" (bit 0) set, as E-UTRAN requires
// (TS 33.401 §6.1.1, TS 33.102 Annex H).
const DefaultAMF = "8000"

// Keys returns K, OPc (computed from OP when only OP is given, TS 35.206 §4.1)
// and AMF, checked.
func (p *Card) Keys() (k, opc []byte, amf uint16, err error) {
	k, err = hexField("k", p.K, aka.KeyLen)
	if err != nil {
		return nil, nil, 0, err
	}
	switch {
	case p.OPc != "":
		opc, err = hexField("opc", p.OPc, aka.KeyLen)
	case p.OP != "":
		var op []byte
		if op, err = hexField("op", p.OP, aka.KeyLen); err == nil {
			opc, err = aka.OPc(k, op)
		}
	default:
		err = errors.New("card file: neither opc nor op is set")
	}
	if err != nil {
		return nil, nil, 0, err
	}
	a, err := hexField("amf", p.AMF, aka.AMFLen)
	if err != nil {
		return nil, nil, 0, err
	}
	return k, opc, uint16(a[0])<<8 | uint16(a[1]), nil
}

func hexField(name, v string, n int) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(v, " ", ""))
	if err != nil {
		return nil, fmt.Errorf("card file: %s %q is not hexadecimal: %w", name, v, err)
	}
	if len(b) != n {
		return nil, fmt.Errorf("card file: %s must be %d bytes (%d hex digits), got %d bytes", name, n, 2*n, len(b))
	}
	return b, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Validate checks the profile and fills the state defaults.
func (p *Card) Validate() error {
	if !allDigits(p.ICCID) || len(p.ICCID) < 18 || len(p.ICCID) > 20 {
		return fmt.Errorf("card file: iccid %q must be 18 to 20 digits", p.ICCID)
	}
	if !allDigits(p.IMSI) || len(p.IMSI) < 6 || len(p.IMSI) > 15 {
		return fmt.Errorf("card file: imsi %q must be 6 to 15 digits", p.IMSI)
	}
	if p.MNCLength != 2 && p.MNCLength != 3 {
		return fmt.Errorf("card file: mnc_length must be 2 or 3, got %d", p.MNCLength)
	}
	if _, _, _, err := p.Keys(); err != nil {
		return err
	}
	if p.OP != "" && p.OPc != "" {
		return errors.New("card file: give either op or opc, not both")
	}
	if p.MSISDN != "" && (!allDigits(strings.TrimPrefix(p.MSISDN, "+")) || len(strings.TrimPrefix(p.MSISDN, "+")) > 20) {
		return fmt.Errorf("card file: msisdn %q must be digits, with an optional leading +, at most 20", p.MSISDN)
	}
	if p.PIN != "" && (!allDigits(p.PIN) || len(p.PIN) < 4 || len(p.PIN) > 8) {
		return fmt.Errorf("card file: pin must be 4 to 8 digits (TS 102 221 §9.5.1)")
	}
	if p.ISIM != nil {
		if p.ISIM.IMPI == "" || p.ISIM.Domain == "" || len(p.ISIM.IMPUs) == 0 {
			return errors.New("card file: isim needs impi, domain and at least one impu")
		}
		for _, u := range p.ISIM.IMPUs {
			if !strings.HasPrefix(u, "sip:") && !strings.HasPrefix(u, "tel:") {
				return fmt.Errorf("card file: isim impu %q is not a sip: or tel: URI", u)
			}
		}
		for _, a := range p.ISIM.PCSCF {
			if !validHost(a) {
				return fmt.Errorf("card file: isim pcscf %q is neither an IP address nor a domain name", a)
			}
		}
	}
	if p.State.PINTriesLeft < 0 || p.State.PINTriesLeft > PINTries {
		return fmt.Errorf("card file: state.pin_tries_left must be 0..%d", PINTries)
	}
	if len(p.State.SEQ) == 0 {
		p.State.SEQ = make([]uint64, aka.IndSize)
	}
	if len(p.State.SEQ) != aka.IndSize {
		return fmt.Errorf("card file: state.seq must have %d entries (one per IND), got %d", aka.IndSize, len(p.State.SEQ))
	}
	return nil
}

// Load reads and checks a card file.
func Load(path string) (*Card, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading card file: %w", err)
	}
	var p Card
	p.State.PINTriesLeft = PINTries
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("card file %s: %w", path, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// header is written at the top of every card file.
const header = `# imslab card description: a USIM/ISIM. The software card reads it; the HSS
# imports it ("imslab hss subscriber import"). "state" is the card's own memory
# (highest accepted SEQ per IND, TS 33.102 Annex C.2; PIN tries left): the
# software card updates it as a real card updates its EEPROM.
`

// Save writes the whole profile to path atomically (temporary file + rename).
func (p *Card) Save(path string) error {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}

// SaveState rewrites only the "state" section of the card file at path,
// keeping the rest of the file (and its comments) as the user wrote it.
func SaveState(path string, st State) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("saving card state: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("saving card state: %s is no longer a card file", path)
	}
	var stNode yaml.Node
	if err := stNode.Encode(st); err != nil {
		return err
	}
	m := doc.Content[0]
	found := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "state" {
			m.Content[i+1] = &stNode
			found = true
		}
	}
	if !found {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "state"}, &stNode)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}

func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".card-*.yaml")
	if err != nil {
		return fmt.Errorf("saving card file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("saving card file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("saving card file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saving card file: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("saving card file: %w", err)
	}
	return nil
}

// Options are the values `imslab sim new` takes; empty ones are
// chosen at random (IMSI in the test PLMN 001/01).
type Options struct {
	ICCID, IMSI, K, OP, OPc, AMF, MSISDN, PIN string
	MNCLength                                 int
	ISIM                                      bool
	PCSCF                                     []string
}

// New builds a card description, random where a value is not given.
func New(o Options) (*Card, error) {
	p := &Card{ICCID: o.ICCID, IMSI: o.IMSI, K: o.K, OP: o.OP, OPc: o.OPc, AMF: o.AMF,
		MSISDN: o.MSISDN, MNCLength: o.MNCLength, PIN: o.PIN}
	if p.MNCLength == 0 {
		p.MNCLength = 2
	}
	if p.IMSI == "" {
		mccmnc := "00101"
		if p.MNCLength == 3 {
			mccmnc = "001001"
		}
		p.IMSI = mccmnc + randomDigits(15-len(mccmnc))
	}
	if p.ICCID == "" {
		p.ICCID = luhn("8900101" + randomDigits(11))
	}
	if p.K == "" {
		p.K = randomHex(aka.KeyLen)
	}
	if p.OP == "" && p.OPc == "" {
		p.OPc = randomHex(aka.KeyLen)
	}
	if p.AMF == "" {
		p.AMF = DefaultAMF
	}
	if p.MSISDN == "" {
		p.MSISDN = "+1555" + randomDigits(7)
	}
	if o.ISIM || len(o.PCSCF) > 0 {
		if len(p.IMSI) < 3+p.MNCLength {
			return nil, fmt.Errorf("imsi %q is shorter than MCC+MNC", p.IMSI)
		}
		mcc, mnc := p.IMSI[:3], p.IMSI[3:3+p.MNCLength]
		domain := ident.HomeDomain(mcc, mnc)
		p.ISIM = &ISIM{
			IMPI:   p.IMSI + "@" + domain,
			Domain: domain,
			IMPUs:  []string{"sip:" + p.MSISDN + "@" + domain, "tel:" + p.MSISDN},
			PCSCF:  o.PCSCF,
		}
	}
	p.State.PINTriesLeft = PINTries
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func randomDigits(n int) string {
	var sb strings.Builder
	for range n {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		sb.WriteByte(byte('0' + d.Int64()))
	}
	return sb.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// luhn appends the Luhn check digit (ITU-T E.118 for the ICCID).
func luhn(s string) string {
	sum := 0
	for i := range len(s) {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return s + string(rune('0'+(10-sum%10)%10))
}

// validHost accepts an IP address or a domain name (letters, digits, '-', '.').
func validHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if s == "" || len(s) > 120 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
