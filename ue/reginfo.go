package ue

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits on a reginfo document: it comes from the network.
const (
	maxReginfoBytes = 64 << 10
	maxReginfoRegs  = 64
	maxReginfoConts = 64
)

// reginfoNS is the namespace of application/reginfo+xml, RFC 3680 §5.4.
const reginfoNS = "urn:ietf:params:xml:ns:reginfo"

// ErrReginfo is returned (wrapped) for a body that is not valid reginfo.
var ErrReginfo = errors.New("reginfo")

// Reginfo is a registration state document (RFC 3680 §5.1).
type Reginfo struct {
	Version       int        `json:"version"`
	State         string     `json:"state"` // "full" or "partial"
	Registrations []RegEntry `json:"registrations"`
}

// RegEntry is one <registration>: an address-of-record and its contacts.
type RegEntry struct {
	AOR      string       `json:"aor"`
	ID       string       `json:"id"`
	State    string       `json:"state"` // init, active, terminated
	Contacts []RegContact `json:"contacts"`
}

// RegContact is one <contact> of a registration.
type RegContact struct {
	ID    string `json:"id"`
	State string `json:"state"` // active, terminated
	// Event is what last happened to it: registered, created, refreshed,
	// shortened, expired, deactivated, probation, unregistered, rejected.
	Event      string        `json:"event"`
	URI        string        `json:"uri"`
	Expires    time.Duration `json:"expires,omitempty"`
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Instance is the +sip.instance of the contact, if reported, without
	// its quotes and angle brackets.
	Instance string `json:"instance,omitempty"`
}

// The XML form, RFC 3680 §5.4.
type xmlReginfo struct {
	XMLName       xml.Name          `xml:"reginfo"`
	Version       string            `xml:"version,attr"`
	State         string            `xml:"state,attr"`
	Registrations []xmlRegistration `xml:"registration"`
}

type xmlRegistration struct {
	AOR      string       `xml:"aor,attr"`
	ID       string       `xml:"id,attr"`
	State    string       `xml:"state,attr"`
	Contacts []xmlContact `xml:"contact"`
}

type xmlContact struct {
	ID         string     `xml:"id,attr"`
	State      string     `xml:"state,attr"`
	Event      string     `xml:"event,attr"`
	Expires    string     `xml:"expires,attr"`
	RetryAfter string     `xml:"retry-after,attr"`
	URI        string     `xml:"uri"`
	Params     []xmlParam `xml:"unknown-param"`
}

type xmlParam struct {
	Name  string `xml:"name,attr"`
	Value string `xml:",chardata"`
}

var (
	docStates     = []string{"full", "partial"}
	regStates     = []string{"init", "active", "terminated"}
	contactStates = []string{"active", "terminated"}
	contactEvents = []string{"registered", "created", "refreshed", "shortened", "expired",
		"deactivated", "probation", "unregistered", "rejected"}
)

// ParseReginfo reads an application/reginfo+xml document (RFC 3680 §5.4)
// and checks what the UE relies on: the namespace, version, the states
// and events from the schema, an aor per registration and a uri per
// contact. Unknown elements and attributes (extensions) are ignored.
func ParseReginfo(b []byte) (*Reginfo, error) {
	if len(b) > maxReginfoBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d accepted", ErrReginfo, len(b), maxReginfoBytes)
	}
	var x xmlReginfo
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("%w: not XML: %v", ErrReginfo, err)
	}
	if x.XMLName.Space != reginfoNS {
		return nil, fmt.Errorf("%w: root element in namespace %q, want %q", ErrReginfo, x.XMLName.Space, reginfoNS)
	}
	ri := &Reginfo{State: x.State}
	var err error
	if ri.Version, err = nonNegative("version", x.Version, true); err != nil {
		return nil, err
	}
	if !oneOf(x.State, docStates) {
		return nil, fmt.Errorf("%w: state %q, want full or partial", ErrReginfo, x.State)
	}
	if len(x.Registrations) > maxReginfoRegs {
		return nil, fmt.Errorf("%w: %d registrations, more than %d", ErrReginfo, len(x.Registrations), maxReginfoRegs)
	}
	for _, xr := range x.Registrations {
		r := RegEntry{AOR: strings.TrimSpace(xr.AOR), ID: xr.ID, State: xr.State}
		if r.AOR == "" {
			return nil, fmt.Errorf("%w: a registration without aor", ErrReginfo)
		}
		if !oneOf(r.State, regStates) {
			return nil, fmt.Errorf("%w: registration %s has state %q, want init, active or terminated", ErrReginfo, r.AOR, r.State)
		}
		if len(xr.Contacts) > maxReginfoConts {
			return nil, fmt.Errorf("%w: registration %s has %d contacts, more than %d", ErrReginfo, r.AOR, len(xr.Contacts), maxReginfoConts)
		}
		for _, xc := range xr.Contacts {
			c, err := parseContact(r.AOR, xc)
			if err != nil {
				return nil, err
			}
			r.Contacts = append(r.Contacts, c)
		}
		ri.Registrations = append(ri.Registrations, r)
	}
	return ri, nil
}

func parseContact(aor string, xc xmlContact) (RegContact, error) {
	c := RegContact{ID: xc.ID, State: xc.State, Event: xc.Event, URI: strings.TrimSpace(xc.URI)}
	if c.URI == "" {
		return c, fmt.Errorf("%w: a contact of %s without uri", ErrReginfo, aor)
	}
	if !oneOf(c.State, contactStates) {
		return c, fmt.Errorf("%w: contact %s has state %q, want active or terminated", ErrReginfo, c.URI, c.State)
	}
	if !oneOf(c.Event, contactEvents) {
		return c, fmt.Errorf("%w: contact %s has event %q", ErrReginfo, c.URI, c.Event)
	}
	exp, err := nonNegative("expires", xc.Expires, false)
	if err != nil {
		return c, err
	}
	ra, err := nonNegative("retry-after", xc.RetryAfter, false)
	if err != nil {
		return c, err
	}
	c.Expires, c.RetryAfter = time.Duration(exp)*time.Second, time.Duration(ra)*time.Second
	for _, p := range xc.Params {
		if strings.EqualFold(p.Name, "+sip.instance") {
			c.Instance = strings.Trim(strings.TrimSpace(p.Value), `"<>`)
		}
	}
	return c, nil
}

// nonNegative parses an xs:nonNegativeInteger attribute that fits an int32.
func nonNegative(name, v string, required bool) (int, error) {
	if v == "" && !required {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 31)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a non-negative integer", ErrReginfo, name, v)
	}
	return int(n), nil
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// Summary renders the document in one line for logs and ladders.
func (ri *Reginfo) Summary() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "v%d %s", ri.Version, ri.State)
	for _, r := range ri.Registrations {
		fmt.Fprintf(&sb, "; %s %s", r.AOR, r.State)
		for _, c := range r.Contacts {
			fmt.Fprintf(&sb, " [%s %s/%s", c.URI, c.State, c.Event)
			if c.Expires > 0 {
				fmt.Fprintf(&sb, " expires %s", secs(c.Expires))
			}
			sb.WriteString("]")
		}
	}
	return sb.String()
}
