package diameter

import (
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// AVPs by the names the specifications give them (TS 29.229 §6.3, TS 29.272
// §7.3), resolved in an application's dictionary.

// AVP builds an AVP by name with the code, vendor and M/V flags of the
// application's dictionary (see NewAVP). An unknown name is a programming
// error: it panics, and the tests catch it.
func AVP(app uint32, name string, data datatype.Type) *diam.AVP {
	d, err := Dictionary().FindAVP(app, name)
	if err != nil {
		panic(fmt.Sprintf("diameter: AVP %q is not in the dictionary of application %d: %v", name, app, err))
	}
	a, err := NewAVP(app, d.Code, d.VendorID, data)
	if err != nil {
		panic(err)
	}
	return a
}

// Group is a grouped AVP's data.
func Group(avps ...*diam.AVP) *diam.GroupedAVP { return &diam.GroupedAVP{AVP: avps} }

// Find returns the first AVP at a path of names, from the top level down
// into grouped AVPs: Find(m, "SIP-Auth-Data-Item", "SIP-Authorization").
// Names resolve to code and vendor in the message's application.
func Find(m *diam.Message, path ...string) *diam.AVP {
	avps := m.AVP
	var hit *diam.AVP
	for _, name := range path {
		d, err := m.Dictionary().FindAVP(m.Header.ApplicationID, name)
		if err != nil {
			return nil
		}
		hit = nil
		for _, a := range avps {
			if a.Code == d.Code && a.VendorID == d.VendorID {
				hit = a
				break
			}
		}
		if hit == nil {
			return nil
		}
		avps = nil
		if g, ok := hit.Data.(*diam.GroupedAVP); ok {
			avps = g.AVP
		}
	}
	return hit
}

// FindAll returns every top-level AVP of that name.
func FindAll(m *diam.Message, name string) []*diam.AVP {
	d, err := m.Dictionary().FindAVP(m.Header.ApplicationID, name)
	if err != nil {
		return nil
	}
	return named(m.AVP, d.Code, d.VendorID)
}

// named returns the AVPs of a code and vendor.
func named(avps []*diam.AVP, code, vendor uint32) []*diam.AVP {
	var out []*diam.AVP
	for _, a := range avps {
		if a.Code == code && a.VendorID == vendor {
			out = append(out, a)
		}
	}
	return out
}

// Member returns the first member of a grouped AVP with that name.
func Member(g *diam.AVP, app uint32, name string) *diam.AVP {
	if all := Members(g, app, name); len(all) > 0 {
		return all[0]
	}
	return nil
}

// Members returns every member of a grouped AVP with that name.
func Members(g *diam.AVP, app uint32, name string) []*diam.AVP {
	if g == nil {
		return nil
	}
	grp, ok := g.Data.(*diam.GroupedAVP)
	if !ok {
		return nil
	}
	d, err := Dictionary().FindAVP(app, name)
	if err != nil {
		return nil
	}
	return named(grp.AVP, d.Code, d.VendorID)
}

// String returns an AVP's value as text ("" if a is nil).
func String(a *diam.AVP) string {
	if a == nil {
		return ""
	}
	switch v := a.Data.(type) {
	case datatype.UTF8String:
		return string(v)
	case datatype.OctetString:
		return string(v)
	case datatype.DiameterIdentity:
		return string(v)
	case datatype.DiameterURI:
		return string(v)
	}
	return fmt.Sprint(a.Data)
}

// Bytes returns an OctetString AVP's bytes (nil if a is nil or not one).
func Bytes(a *diam.AVP) []byte {
	if a == nil {
		return nil
	}
	if v, ok := a.Data.(datatype.OctetString); ok {
		return []byte(v)
	}
	return nil
}

// Uint32 returns an Unsigned32, Enumerated or Integer32 AVP's value, or def.
func Uint32(a *diam.AVP, def uint32) uint32 {
	if a == nil {
		return def
	}
	switch v := a.Data.(type) {
	case datatype.Unsigned32:
		return uint32(v)
	case datatype.Enumerated:
		return uint32(v)
	case datatype.Integer32:
		return uint32(v)
	}
	return def
}
