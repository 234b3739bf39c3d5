package store

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"unicode"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/ident"
)

// NormalizeIMPU is ident.NormalizeIMPU: the form identities are stored
// and looked up under.
func NormalizeIMPU(uri string) string { return ident.NormalizeIMPU(uri) }

// Validate checks a subscriber before it is stored: IMSI 6 to 15 digits
// (TS 23.003 §2.2), K and OPc 16 bytes (OP too when given, and then OPc must
// be the one derived from it, TS 35.206 §4.1), SQN 48 bits, non-empty IMPIs,
// sip: or tel: IMPUs, a password for each SIP Digest IMPI, and every IMPU an
// IMPI may register among the subscriber's public identities.
func (s *Subscriber) Validate() error {
	if !digits(s.IMSI) || len(s.IMSI) < 6 || len(s.IMSI) > 15 {
		return fmt.Errorf("subscriber: IMSI %q must be 6 to 15 digits (MCC, MNC, MSIN; TS 23.003 §2.2)", s.IMSI)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("subscriber %s: %s", s.IMSI, fmt.Sprintf(format, a...))
	}
	if s.ICCID != "" && (!digits(s.ICCID) || len(s.ICCID) > 20) {
		return bad("ICCID %q must be digits, at most 20 (ITU-T E.118)", s.ICCID)
	}
	if m := strings.TrimPrefix(s.MSISDN, "+"); s.MSISDN != "" && (!digits(m) || len(m) > 20) {
		return bad("MSISDN %q must be digits, at most 20, with an optional leading +", s.MSISDN)
	}
	if len(s.K) != aka.KeyLen {
		return bad("K must be %d bytes (%d hex digits), got %d bytes", aka.KeyLen, 2*aka.KeyLen, len(s.K))
	}
	if len(s.OPc) != aka.KeyLen {
		return bad("OPc must be %d bytes (%d hex digits), got %d bytes", aka.KeyLen, 2*aka.KeyLen, len(s.OPc))
	}
	if s.OP != nil {
		opc, err := aka.OPc(s.K, s.OP)
		if err != nil {
			return bad("OP: %v", err)
		}
		if !bytes.Equal(opc, s.OPc) {
			return bad("OPc %x is not the one derived from OP and K (%x): give either OP or OPc", s.OPc, opc)
		}
	}
	if s.SQN > aka.MaxSQN {
		return bad("SQN %d does not fit in 48 bits", s.SQN)
	}
	public := map[string]bool{}
	defaults := map[int]string{}
	for _, p := range s.Public {
		n := NormalizeIMPU(p.IMPU)
		if !strings.HasPrefix(n, "sip:") && !strings.HasPrefix(n, "tel:") || len(n) == 4 || hasSpace(p.IMPU) {
			return bad("public identity %q must be a sip: or tel: URI (TS 23.003 §13.4)", p.IMPU)
		}
		if public[n] {
			return bad("public identity %q is given twice", p.IMPU)
		}
		public[n] = true
		if p.IRS < 0 {
			return bad("public identity %q: implicit registration set %d must not be negative", p.IMPU, p.IRS)
		}
		if d, ok := defaults[p.IRS]; ok && p.Default {
			return bad("implicit registration set %d has two default public identities, %s and %s", p.IRS, d, p.IMPU)
		} else if p.Default {
			defaults[p.IRS] = p.IMPU
		}
	}
	private := map[string]bool{}
	for _, p := range s.Private {
		if p.IMPI == "" || hasSpace(p.IMPI) {
			return bad("private identity %q must be a non-empty NAI without spaces (TS 23.003 §13.3)", p.IMPI)
		}
		if private[p.IMPI] {
			return bad("private identity %s is given twice", p.IMPI)
		}
		private[p.IMPI] = true
		switch p.Scheme {
		case SchemeAKA:
		case SchemeDigest:
			if p.Password == "" {
				return bad("private identity %s uses SIP Digest and needs a password", p.IMPI)
			}
		default:
			return bad("private identity %s: authentication scheme %q is neither %q nor %q", p.IMPI, p.Scheme, SchemeAKA, SchemeDigest)
		}
		if len(p.IMPUs) == 0 {
			return bad("private identity %s may register no public identity: give it at least one", p.IMPI)
		}
		seen := map[string]bool{}
		for _, u := range p.IMPUs {
			n := NormalizeIMPU(u)
			if !public[n] {
				return bad("private identity %s may register %s, which is not one of the subscriber's public identities: add it", p.IMPI, u)
			}
			if seen[n] {
				return bad("private identity %s lists %s twice", p.IMPI, u)
			}
			seen[n] = true
		}
	}
	prio := map[int]bool{}
	for _, f := range s.IFCs {
		if prio[f.Priority] {
			return bad("two initial filter criteria have priority %d: priorities must differ", f.Priority)
		}
		prio[f.Priority] = true
		if err := checkIFC(f); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// fillOPc computes OPc from OP when only OP is given, TS 35.206 §4.1.
func (s *Subscriber) fillOPc() error {
	if len(s.OPc) != 0 || s.OP == nil {
		return nil
	}
	opc, err := aka.OPc(s.K, s.OP)
	if err != nil {
		return fmt.Errorf("subscriber %s: computing OPc from OP: %w", s.IMSI, err)
	}
	s.OPc = opc
	return nil
}

// ifcXML is what checkIFC reads of an InitialFilterCriteria (TS 29.228 Annex B.2.2).
type ifcXML struct {
	XMLName  xml.Name
	Priority *int `xml:"Priority"`
}

// checkIFC checks that f.XML is one InitialFilterCriteria element whose
// <Priority> is f.Priority.
func checkIFC(f IFC) error {
	var x ifcXML
	if err := xml.Unmarshal([]byte(f.XML), &x); err != nil {
		return fmt.Errorf("initial filter criteria with priority %d: not well-formed XML: %w", f.Priority, err)
	}
	if x.XMLName.Local != "InitialFilterCriteria" {
		return fmt.Errorf("initial filter criteria with priority %d: the element is <%s>, want <InitialFilterCriteria>", f.Priority, x.XMLName.Local)
	}
	if x.Priority == nil || *x.Priority != f.Priority {
		return fmt.Errorf("initial filter criteria with priority %d: the XML must hold <Priority>%d</Priority> (TS 29.228 Annex B)", f.Priority, f.Priority)
	}
	return nil
}

// AddPrivate adds a private identity to s, replacing one with the same
// IMPI. Those of its IMPUs that are not yet public identities of s are added
// as a new implicit registration set, the first of them its default.
func (s *Subscriber) AddPrivate(p PrivateID) {
	s.RemovePrivate(p.IMPI)
	have := map[string]bool{}
	irs := 0
	for _, u := range s.Public {
		have[NormalizeIMPU(u.IMPU)] = true
		irs = max(irs, u.IRS)
	}
	first := true
	for _, u := range p.IMPUs {
		if have[NormalizeIMPU(u)] {
			continue
		}
		have[NormalizeIMPU(u)] = true
		s.Public = append(s.Public, PublicID{IMPU: u, IRS: irs + 1, Default: first})
		first = false
	}
	p.IMPUs = append([]string(nil), p.IMPUs...)
	s.Private = append(s.Private, p)
}

// RemovePrivate removes a private identity from s and the public identities
// no other private identity of s may register. It reports whether impi was there.
func (s *Subscriber) RemovePrivate(impi string) bool {
	i := s.privateIndex(impi)
	if i < 0 {
		return false
	}
	s.Private = append(s.Private[:i:i], s.Private[i+1:]...)
	used := map[string]bool{}
	for _, p := range s.Private {
		for _, u := range p.IMPUs {
			used[NormalizeIMPU(u)] = true
		}
	}
	var keep []PublicID
	for _, u := range s.Public {
		if used[NormalizeIMPU(u.IMPU)] {
			keep = append(keep, u)
		}
	}
	s.Public = keep
	return true
}

// AKAIdentity returns the first private identity of s that uses IMS AKA
// (the SIM's), or nil.
func (s *Subscriber) AKAIdentity() *PrivateID {
	for i := range s.Private {
		if s.Private[i].Scheme == SchemeAKA {
			return &s.Private[i]
		}
	}
	return nil
}

// PrivateByIMPI returns the private identity of s named impi, or nil.
func (s *Subscriber) PrivateByIMPI(impi string) *PrivateID {
	if i := s.privateIndex(impi); i >= 0 {
		return &s.Private[i]
	}
	return nil
}

func (s *Subscriber) privateIndex(impi string) int {
	for i, p := range s.Private {
		if p.IMPI == impi {
			return i
		}
	}
	return -1
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func hasSpace(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}
