// Package reginfo is the registration information document of RFC 3680
// (application/reginfo+xml): one set of XML types (§5.3, schema §5.4),
// Encode for the registrar that writes it (the S-CSCF, TS 24.229
// §5.4.2.1.2) and Parse for a subscriber that reads it from the network
// (the UE, TS 24.229 §5.1.1.3), with limits and checks against the schema.
package reginfo

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// NS is the namespace of application/reginfo+xml, RFC 3680 §5.4.
const NS = "urn:ietf:params:xml:ns:reginfo"

// Limits on a document Parse accepts: it comes from the network.
const (
	MaxBytes         = 64 << 10 // size of the body
	MaxRegistrations = 64       // <registration> elements in the document
	MaxContacts      = 64       // <contact> elements in one registration
)

// ErrInvalid is returned (wrapped) by Parse for a body that is not a valid
// reginfo document.
var ErrInvalid = errors.New("reginfo")

// Doc is the <reginfo> root element (RFC 3680 §5.3): the registration
// state of one or more addresses-of-record.
type Doc struct {
	XMLName       xml.Name       `xml:"urn:ietf:params:xml:ns:reginfo reginfo"`
	Version       uint32         `xml:"version,attr"`
	State         string         `xml:"state,attr"` // "full" or "partial"
	Registrations []Registration `xml:"registration"`
}

// Registration is one <registration>: an address-of-record and its
// contacts (RFC 3680 §5.3).
type Registration struct {
	AOR      string    `xml:"aor,attr"`
	ID       string    `xml:"id,attr"`
	State    string    `xml:"state,attr"` // init, active, terminated
	Contacts []Contact `xml:"contact"`
}

// Contact is one <contact> of a registration (RFC 3680 §5.3). The
// optional numeric attributes are pointers so that an absent one is not
// written.
type Contact struct {
	ID    string `xml:"id,attr"`
	State string `xml:"state,attr"` // active, terminated
	// Event is what last happened to it: registered, created, refreshed,
	// shortened, expired, deactivated, probation, unregistered, rejected.
	Event              string  `xml:"event,attr"`
	DurationRegistered *int64  `xml:"duration-registered,attr,omitempty"` // seconds
	Expires            *int64  `xml:"expires,attr,omitempty"`             // seconds
	RetryAfter         *int64  `xml:"retry-after,attr,omitempty"`         // seconds
	Q                  string  `xml:"q,attr,omitempty"`
	CallID             string  `xml:"callid,attr,omitempty"`
	CSeq               *uint64 `xml:"cseq,attr,omitempty"`
	URI                string  `xml:"uri"`
	DisplayName        string  `xml:"display-name,omitempty"`
	Unknown            []Param `xml:"unknown-param"`
}

// Param is a Contact header parameter carried along (RFC 3680 §5.3
// unknown-param; TS 24.229 §5.4.2.1.2 lists +sip.instance and the feature
// tags this way).
type Param struct {
	Name  string `xml:"name,attr"`
	Value string `xml:",chardata"`
}

// Param returns the value of the contact's first unknown-param named
// name (compared without case, as SIP parameter names are), and whether
// there was one.
func (c *Contact) Param(name string) (string, bool) {
	for _, p := range c.Unknown {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// Encode writes the document with its XML declaration.
func Encode(d *Doc) []byte {
	out, err := xml.Marshal(d)
	if err != nil {
		// Only strings and numbers: a failure is a programming error.
		panic("reginfo: " + err.Error())
	}
	return append([]byte(xml.Header), out...)
}

// The enumerations of the schema, RFC 3680 §5.4.
var (
	DocStates     = []string{"full", "partial"}
	RegStates     = []string{"init", "active", "terminated"}
	ContactStates = []string{"active", "terminated"}
	ContactEvents = []string{"registered", "created", "refreshed", "shortened", "expired",
		"deactivated", "probation", "unregistered", "rejected"}
)

// Parse reads an application/reginfo+xml document (RFC 3680 §5.4) and
// checks what a subscriber relies on: the size limits, the namespace, a
// version, the states and events from the schema, an aor per registration,
// a uri per contact and non-negative numbers (expires and retry-after fit
// an int32). The aor and uri come back without surrounding white space.
// Unknown elements and attributes (extensions) are ignored.
func Parse(b []byte) (*Doc, error) {
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d accepted", ErrInvalid, len(b), MaxBytes)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	root, err := rootElement(dec)
	if err != nil {
		return nil, fmt.Errorf("%w: not XML: %v", ErrInvalid, err)
	}
	if root.Name.Space != NS || root.Name.Local != "reginfo" {
		return nil, fmt.Errorf("%w: root element {%s}%s, want {%s}reginfo", ErrInvalid, root.Name.Space, root.Name.Local, NS)
	}
	// The version is required (§5.4); checked here, where a missing one
	// is still told from 0.
	if err := checkVersion(root.Attr); err != nil {
		return nil, err
	}
	var d Doc
	if err := dec.DecodeElement(&d, &root); err != nil {
		return nil, fmt.Errorf("%w: malformed: %v", ErrInvalid, err)
	}
	if !slices.Contains(DocStates, d.State) {
		return nil, fmt.Errorf("%w: state %q, want full or partial", ErrInvalid, d.State)
	}
	if len(d.Registrations) > MaxRegistrations {
		return nil, fmt.Errorf("%w: %d registrations, more than %d", ErrInvalid, len(d.Registrations), MaxRegistrations)
	}
	for i := range d.Registrations {
		if err := checkRegistration(&d.Registrations[i]); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// rootElement reads up to the first start element, past the prolog.
func rootElement(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, fmt.Errorf("unexpected end element </%s>", t.Name.Local)
		}
	}
}

// checkVersion requires a version attribute, an xs:nonNegativeInteger
// that fits an int32. Every attribute the decoder would take for it is
// checked.
func checkVersion(attrs []xml.Attr) error {
	found := false
	for _, a := range attrs {
		if a.Name.Local != "version" {
			continue
		}
		found = true
		if _, err := strconv.ParseUint(strings.TrimSpace(a.Value), 10, 31); err != nil {
			return fmt.Errorf("%w: version %q is not a non-negative integer", ErrInvalid, a.Value)
		}
	}
	if !found {
		return fmt.Errorf("%w: version %q is not a non-negative integer", ErrInvalid, "")
	}
	return nil
}

func checkRegistration(r *Registration) error {
	r.AOR = strings.TrimSpace(r.AOR)
	if r.AOR == "" {
		return fmt.Errorf("%w: a registration without aor", ErrInvalid)
	}
	if !slices.Contains(RegStates, r.State) {
		return fmt.Errorf("%w: registration %s has state %q, want init, active or terminated", ErrInvalid, r.AOR, r.State)
	}
	if len(r.Contacts) > MaxContacts {
		return fmt.Errorf("%w: registration %s has %d contacts, more than %d", ErrInvalid, r.AOR, len(r.Contacts), MaxContacts)
	}
	for i := range r.Contacts {
		if err := checkContact(r.AOR, &r.Contacts[i]); err != nil {
			return err
		}
	}
	return nil
}

func checkContact(aor string, c *Contact) error {
	c.URI = strings.TrimSpace(c.URI)
	if c.URI == "" {
		return fmt.Errorf("%w: a contact of %s without uri", ErrInvalid, aor)
	}
	if !slices.Contains(ContactStates, c.State) {
		return fmt.Errorf("%w: contact %s has state %q, want active or terminated", ErrInvalid, c.URI, c.State)
	}
	if !slices.Contains(ContactEvents, c.Event) {
		return fmt.Errorf("%w: contact %s has event %q", ErrInvalid, c.URI, c.Event)
	}
	for _, n := range []struct {
		name string
		v    *int64
		max  int64
	}{
		{"duration-registered", c.DurationRegistered, math.MaxInt64},
		{"expires", c.Expires, math.MaxInt32},
		{"retry-after", c.RetryAfter, math.MaxInt32},
	} {
		if n.v != nil && (*n.v < 0 || *n.v > n.max) {
			return fmt.Errorf("%w: contact %s has %s %d, not a non-negative integer of at most %d", ErrInvalid, c.URI, n.name, *n.v, n.max)
		}
	}
	return nil
}
