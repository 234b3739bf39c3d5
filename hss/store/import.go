package store

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/cardfile"
	"github.com/imslab/imslab/internal/ident"
)

// DefaultAMF is the AMF given to subscribers whose source names none: the
// "separation bit" set, as E-UTRAN requires (TS 33.401 §6.1.1).
const DefaultAMF = 0x8000

// FromCard makes a subscriber of a card description file (what `imslab sim
// new` writes). With an ISIM, its identities (TS 31.103 §4.2): the IMPI may
// register all the ISIM's IMPUs, one implicit registration set. Without, the
// identities derived from the IMSI with the card's MNC length (DeriveIdentities;
// defaultDomain, when not empty, is the domain of the MSISDN identities).
// OP or OPc as the card gives it. The card's state (its SQN array) is the
// card's own memory and is not imported.
func FromCard(c *cardfile.Card, defaultDomain string) (*Subscriber, error) {
	if c == nil {
		return nil, errors.New("card file: no card")
	}
	k, opc, amf, err := c.Keys()
	if err != nil {
		return nil, err
	}
	s := &Subscriber{IMSI: c.IMSI, ICCID: c.ICCID, MSISDN: c.MSISDN, K: k, OPc: opc, AMF: amf}
	if c.OPc == "" {
		if s.OP, err = hex.DecodeString(strings.ReplaceAll(c.OP, " ", "")); err != nil {
			return nil, fmt.Errorf("card file: op: %w", err)
		}
	}
	if c.ISIM != nil {
		s.Domain = c.ISIM.Domain
		s.AddPrivate(PrivateID{IMPI: c.ISIM.IMPI, Scheme: SchemeAKA, IMPUs: c.ISIM.IMPUs})
	} else {
		s.Domain = defaultDomain
		if err := s.DeriveIdentities(c.MNCLength); err != nil {
			return nil, fmt.Errorf("card file: %w", err)
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("card file: %w", err)
	}
	return s, nil
}

// ReadFile reads subscribers from a card file (.yaml, .yml; FromCard) or a
// SIM vendor CSV file (.csv; ParseVendorCSV, identities derived with mncLen).
// domain, when not empty, is the domain of the MSISDN identities of
// subscribers without an ISIM.
func ReadFile(path, domain string, mncLen int) ([]*Subscriber, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		c, err := cardfile.Load(path)
		if err != nil {
			return nil, err
		}
		sub, err := FromCard(c, domain)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return []*Subscriber{sub}, nil
	case ".csv":
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		subs, err := ParseVendorCSV(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, s := range subs {
			s.Domain = domain
			if err := s.DeriveIdentities(mncLen); err != nil {
				return nil, fmt.Errorf("%s: IMSI %s: %w (check the MNC length)", path, s.IMSI, err)
			}
		}
		return subs, nil
	}
	return nil, fmt.Errorf("%s: unknown kind of file: give card files (.yaml, .yml) or vendor CSV files (.csv)", path)
}

// DeriveIdentities replaces the identities of s with those a phone without
// an ISIM uses, TS 23.003 §13: the IMPI <IMSI>@<home domain> (§13.3, IMS
// AKA) may register the temporary IMPU sip:<IMSI>@<home domain> (§13.4B)
// and, with an MSISDN, sip:+<MSISDN>@<Domain> and tel:+<MSISDN>, all in
// implicit registration set 1, the first the default. The home domain is
// derived from the IMSI and mncLen, as the phone derives it; Domain, when
// empty, is set to it.
func (s *Subscriber) DeriveIdentities(mncLen int) error {
	mcc, mnc, err := ident.SplitIMSI(s.IMSI, mncLen)
	if err != nil {
		return err
	}
	if s.Domain == "" {
		s.Domain = ident.HomeDomain(mcc, mnc)
	}
	impus := []string{ident.TemporaryIMPU(s.IMSI, mcc, mnc)}
	if s.MSISDN != "" {
		e164 := "+" + strings.TrimPrefix(s.MSISDN, "+")
		impus = append(impus, "sip:"+e164+"@"+s.Domain, "tel:"+e164)
	}
	s.Private, s.Public = nil, nil
	s.AddPrivate(PrivateID{IMPI: ident.IMPI(s.IMSI, mcc, mnc), Scheme: SchemeAKA, IMPUs: impus})
	return nil
}

// vendorColumn names the column ParseVendorCSV reads under a header cell
// (matched case-insensitively, ignoring spaces and underscores), or "".
func vendorColumn(h string) string {
	switch k := strings.ToLower(strings.NewReplacer(" ", "", "_", "", "\ufeff", "").Replace(h)); k {
	case "iccid", "imsi", "ki", "opc", "op", "msisdn", "amf":
		return k
	case "k":
		return "ki"
	}
	return ""
}

// ParseVendorCSV reads the CSV file SIM vendors ship with a batch of cards
// (sysmocom style): a header row whose columns are matched case-insensitively
// and ignoring spaces and underscores: ICCID, IMSI, Ki (or K), OPc (or OP_C)
// or OP, optional MSISDN and AMF (default 8000); other columns (PIN, PUK,
// ADM, KIC...) are ignored, and so are lines starting with '#'. Identities
// are derived from the IMSI with a 2-digit MNC (DeriveIdentities; the file
// does not tell the MNC length: call DeriveIdentities again for 3 digits).
func ParseVendorCSV(r io.Reader) ([]*Subscriber, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("vendor CSV: the file is empty: it needs a header row such as ICCID,IMSI,Ki,OPc")
	}
	if err != nil {
		return nil, fmt.Errorf("vendor CSV: %w", err)
	}
	hline, _ := cr.FieldPos(0)
	col := map[string]int{}
	for i, h := range header {
		k := vendorColumn(h)
		if k == "" {
			continue
		}
		if j, dup := col[k]; dup {
			return nil, fmt.Errorf("vendor CSV line %d: columns %q and %q are the same: keep one", hline, header[j], h)
		}
		col[k] = i
	}
	_, hasOPc := col["opc"]
	_, hasOP := col["op"]
	for _, k := range []string{"imsi", "ki"} {
		if _, ok := col[k]; !ok {
			return nil, fmt.Errorf("vendor CSV line %d: the header has no %s column (it has %s)", hline, strings.ToUpper(k), strings.Join(header, ","))
		}
	}
	if !hasOPc && !hasOP {
		return nil, fmt.Errorf("vendor CSV line %d: the header has neither an OPc nor an OP column (it has %s)", hline, strings.Join(header, ","))
	}
	var subs []*Subscriber
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return subs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("vendor CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue
		}
		s, err := vendorRow(rec, header, col, line)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[s.IMSI]; dup {
			return nil, fmt.Errorf("vendor CSV line %d: IMSI %s is already on line %d", line, s.IMSI, prev)
		}
		seen[s.IMSI] = line
		subs = append(subs, s)
	}
}

// vendorRow makes a subscriber of one CSV record.
func vendorRow(rec, header []string, col map[string]int, line int) (*Subscriber, error) {
	get := func(k string) string {
		if i, ok := col[k]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	bad := func(k, format string, a ...any) error {
		return fmt.Errorf("vendor CSV line %d, column %s: %s", line, header[col[k]], fmt.Sprintf(format, a...))
	}
	key := func(k string) ([]byte, error) {
		v := strings.ReplaceAll(get(k), " ", "")
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != aka.KeyLen {
			return nil, bad(k, "%q is not %d hexadecimal digits", v, 2*aka.KeyLen)
		}
		return b, nil
	}
	s := &Subscriber{ICCID: get("iccid"), IMSI: get("imsi"), MSISDN: get("msisdn"), AMF: DefaultAMF}
	if !digits(s.IMSI) || len(s.IMSI) < 6 || len(s.IMSI) > 15 {
		return nil, bad("imsi", "%q is not an IMSI (6 to 15 digits)", s.IMSI)
	}
	if s.ICCID != "" && (!digits(s.ICCID) || len(s.ICCID) > 20) {
		return nil, bad("iccid", "%q is not an ICCID (at most 20 digits)", s.ICCID)
	}
	if m := strings.TrimPrefix(s.MSISDN, "+"); s.MSISDN != "" && (!digits(m) || len(m) > 20) {
		return nil, bad("msisdn", "%q is not an MSISDN (digits, optional leading +)", s.MSISDN)
	}
	var err error
	if s.K, err = key("ki"); err != nil {
		return nil, err
	}
	if get("opc") != "" {
		if s.OPc, err = key("opc"); err != nil {
			return nil, err
		}
	}
	if get("op") != "" {
		if s.OP, err = key("op"); err != nil {
			return nil, err
		}
	}
	if s.OPc == nil && s.OP == nil {
		k := "opc"
		if _, ok := col[k]; !ok {
			k = "op"
		}
		return nil, bad(k, "empty: each card needs its OPc (or OP)")
	}
	if v := get("amf"); v != "" {
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != aka.AMFLen {
			return nil, bad("amf", "%q is not 4 hexadecimal digits", v)
		}
		s.AMF = uint16(b[0])<<8 | uint16(b[1])
	}
	if err := s.fillOPc(); err != nil {
		return nil, fmt.Errorf("vendor CSV line %d: %w", line, err)
	}
	if err := s.DeriveIdentities(2); err != nil {
		return nil, fmt.Errorf("vendor CSV line %d: %w", line, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("vendor CSV line %d: %w", line, err)
	}
	return s, nil
}

// ParseIFCs reads one or more <InitialFilterCriteria> elements (TS 29.228
// Annex B.2.2), alone or inside a larger document such as an IMSSubscription,
// and returns them with their <Priority>, in the order of the file.
func ParseIFCs(r io.Reader) ([]IFC, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	var out []IFC
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("initial filter criteria: %w", err)
		}
		if se, ok := tok.(xml.StartElement); !ok || se.Name.Local != "InitialFilterCriteria" {
			continue
		}
		if err := d.Skip(); err != nil {
			return nil, fmt.Errorf("initial filter criteria: %w", err)
		}
		raw := string(data[start:d.InputOffset()])
		var x ifcXML
		if err := xml.Unmarshal([]byte(raw), &x); err != nil {
			return nil, fmt.Errorf("initial filter criteria: %w", err)
		}
		if x.Priority == nil {
			return nil, fmt.Errorf("initial filter criteria #%d has no <Priority> (mandatory, TS 29.228 Annex B)", len(out)+1)
		}
		out = append(out, IFC{Priority: *x.Priority, XML: raw})
	}
	if len(out) == 0 {
		return nil, errors.New("initial filter criteria: no <InitialFilterCriteria> element found")
	}
	return out, nil
}
