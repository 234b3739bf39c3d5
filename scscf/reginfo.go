package scscf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"strings"
	"time"
)

// The registration information document, RFC 3680 §5.3
// (application/reginfo+xml), as TS 24.229 §5.4.2.1.2 fills it.

type regInfoDoc struct {
	XMLName       xml.Name          `xml:"urn:ietf:params:xml:ns:reginfo reginfo"`
	Version       uint32            `xml:"version,attr"`
	State         string            `xml:"state,attr"` // "full" or "partial"
	Registrations []regInfoRegister `xml:"registration"`
}

type regInfoRegister struct {
	AOR      string           `xml:"aor,attr"`
	ID       string           `xml:"id,attr"`
	State    string           `xml:"state,attr"` // init, active, terminated
	Contacts []regInfoContact `xml:"contact"`
}

type regInfoContact struct {
	ID                 string         `xml:"id,attr"`
	State              string         `xml:"state,attr"` // active, terminated
	Event              string         `xml:"event,attr"` // registered, created, refreshed, shortened, expired, deactivated, probation, unregistered, rejected
	DurationRegistered *int64         `xml:"duration-registered,attr,omitempty"`
	Expires            *int64         `xml:"expires,attr,omitempty"`
	RetryAfter         *int64         `xml:"retry-after,attr,omitempty"`
	Q                  string         `xml:"q,attr,omitempty"`
	CallID             string         `xml:"callid,attr,omitempty"`
	CSeq               *uint32        `xml:"cseq,attr,omitempty"`
	URI                string         `xml:"uri"`
	DisplayName        string         `xml:"display-name,omitempty"`
	Unknown            []regInfoParam `xml:"unknown-param"`
}

// regInfoParam is a Contact header parameter carried along (RFC 3680
// §5.3 unknown-param; TS 24.229 §5.4.2.1.2 lists +sip.instance and the
// feature tags this way).
type regInfoParam struct {
	Name  string `xml:"name,attr"`
	Value string `xml:",chardata"`
}

// marshal writes the document with its XML declaration.
func (d *regInfoDoc) marshal() []byte {
	out, err := xml.Marshal(d)
	if err != nil {
		// Only strings and numbers: a failure is a programming error.
		panic("reginfo: " + err.Error())
	}
	return append([]byte(xml.Header), out...)
}

// shortID is a stable element id (RFC 3680 §5.3: unique within the document).
func shortID(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// regInfo is the full state of a set (TS 24.229 §5.4.2.1.2: always
// state="full"): one registration element per non-barred identity, each
// listing the set's contacts, plus those the change terminated.
func regInfo(set *regSet, target string, gone []removed, ended bool, version uint32, now time.Time) []byte {
	doc := &regInfoDoc{Version: version, State: "full"}
	var contacts []regInfoContact
	if set != nil && !ended {
		for _, b := range set.Contacts {
			contacts = append(contacts, contactElem(set, b, "active", b.Event, now))
		}
	}
	for _, g := range gone {
		contacts = append(contacts, contactElem(set, g.b, "terminated", g.event, now))
	}
	state := "active"
	if set == nil || ended || len(set.Contacts) == 0 {
		state = "terminated"
	}
	aors := []string{target}
	if set != nil {
		aors = set.associated()
	}
	for _, aor := range aors {
		doc.Registrations = append(doc.Registrations, regInfoRegister{AOR: aor, ID: shortID("reg:" + normIMPU(aor)), State: state, Contacts: contacts})
	}
	return doc.marshal()
}

func contactElem(set *regSet, b *Binding, state, event string, now time.Time) regInfoContact {
	key := b.key()
	if set != nil {
		key = set.Key + "|" + key
	}
	dur := int64(now.Sub(b.Registered) / time.Second)
	cseq := b.CSeq
	c := regInfoContact{ID: shortID("contact:" + key), State: state, Event: event, DurationRegistered: &dur,
		CallID: b.CallID, CSeq: &cseq, URI: b.URI}
	if state == "active" {
		exp := remaining(b.Expires, now)
		c.Expires = &exp
	}
	for _, p := range splitParams(b.Params) {
		name, val, _ := strings.Cut(p, "=")
		if strings.EqualFold(name, "q") {
			c.Q = val
			continue
		}
		c.Unknown = append(c.Unknown, regInfoParam{Name: name, Value: strings.Trim(val, `"`)})
	}
	return c
}
