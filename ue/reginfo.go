package ue

import (
	"fmt"
	"strings"
	"time"

	"github.com/imslab/imslab/internal/reginfo"
)

// ErrReginfo is returned (wrapped) for a body that is not valid reginfo.
// It is reginfo.ErrInvalid, where the parser lives.
var ErrReginfo = reginfo.ErrInvalid

// Reginfo is a registration state document (RFC 3680 §5.1), as the UE
// keeps it: the parts it acts on, in Go units. The XML form is
// reginfo.Doc (RFC 3680 §5.3, §5.4).
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

// ParseReginfo reads an application/reginfo+xml document (RFC 3680 §5.4)
// with reginfo.Parse, which checks what the UE relies on (the namespace,
// version, the states and events from the schema, an aor per registration
// and a uri per contact, and its size limits), and keeps the UE's view of
// it. Unknown elements and attributes (extensions) are ignored.
func ParseReginfo(b []byte) (*Reginfo, error) {
	d, err := reginfo.Parse(b)
	if err != nil {
		return nil, err
	}
	ri := &Reginfo{Version: int(d.Version), State: d.State}
	for _, xr := range d.Registrations {
		r := RegEntry{AOR: xr.AOR, ID: xr.ID, State: xr.State}
		for i := range xr.Contacts {
			r.Contacts = append(r.Contacts, regContact(&xr.Contacts[i]))
		}
		ri.Registrations = append(ri.Registrations, r)
	}
	return ri, nil
}

// regContact is the UE's view of a contact reginfo.Parse accepted: its
// expires and retry-after fit an int32 of seconds.
func regContact(xc *reginfo.Contact) RegContact {
	c := RegContact{ID: xc.ID, State: xc.State, Event: xc.Event, URI: xc.URI}
	if xc.Expires != nil {
		c.Expires = time.Duration(*xc.Expires) * time.Second
	}
	if xc.RetryAfter != nil {
		c.RetryAfter = time.Duration(*xc.RetryAfter) * time.Second
	}
	if v, ok := xc.Param("+sip.instance"); ok {
		c.Instance = strings.Trim(strings.TrimSpace(v), `"<>`)
	}
	return c
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
