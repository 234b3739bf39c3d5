package scscf

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/imslab/imslab/internal/reginfo"
)

// The registration information document, RFC 3680 §5.3
// (application/reginfo+xml), as TS 24.229 §5.4.2.1.2 fills it; the XML
// types and their encoding are in internal/reginfo.

// shortID is a stable element id (RFC 3680 §5.3: unique within the document).
func shortID(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// regInfo is the full state of a set (TS 24.229 §5.4.2.1.2: always
// state="full"): one registration element per non-barred identity, each
// listing the set's contacts, plus those the change terminated.
func regInfo(set *regSet, target string, gone []removed, ended bool, version uint32, now time.Time) []byte {
	doc := &reginfo.Doc{Version: version, State: "full"}
	var contacts []reginfo.Contact
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
		doc.Registrations = append(doc.Registrations, reginfo.Registration{AOR: aor, ID: shortID("reg:" + normIMPU(aor)), State: state, Contacts: contacts})
	}
	return reginfo.Encode(doc)
}

func contactElem(set *regSet, b *Binding, state, event string, now time.Time) reginfo.Contact {
	key := b.key()
	if set != nil {
		key = set.Key + "|" + key
	}
	dur := int64(now.Sub(b.Registered) / time.Second)
	cseq := uint64(b.CSeq)
	c := reginfo.Contact{ID: shortID("contact:" + key), State: state, Event: event, DurationRegistered: &dur,
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
		c.Unknown = append(c.Unknown, reginfo.Param{Name: name, Value: strings.Trim(val, `"`)})
	}
	return c
}
