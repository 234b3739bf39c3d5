package scscf

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// profile is what the S-CSCF takes from a User-Data AVP: the implicit
// registration set and which identities are barred.
type profile struct {
	impus  []string // every PublicIdentity/Identity, document order
	barred []string
	xml    string
}

// userDataXML is the part of the IMSSubscription document (TS 29.228
// Annex E / Annex B.2) the S-CSCF reads.
type userDataXML struct {
	XMLName        xml.Name `xml:"IMSSubscription"`
	PrivateID      string   `xml:"PrivateID"`
	ServiceProfile []struct {
		PublicIdentity []struct {
			BarringIndication string `xml:"BarringIndication"`
			Identity          string `xml:"Identity"`
		} `xml:"PublicIdentity"`
	} `xml:"ServiceProfile"`
}

// maxUserData bounds the document (TS 29.228 lets an HSS split larger ones).
const maxUserData = 1 << 20

// parseUserData reads the implicit registration set from an IMSSubscription
// document (TS 29.228 §6.1.2, Annex E): every PublicIdentity/Identity of
// every ServiceProfile, with BarringIndication 1 marking barred ones
// (TS 29.228 Table B.2.1).
func parseUserData(doc string) (*profile, error) {
	if len(doc) > maxUserData {
		return nil, fmt.Errorf("User-Data of %d bytes is over the %d accepted", len(doc), maxUserData)
	}
	var u userDataXML
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	if err := d.Decode(&u); err != nil {
		return nil, fmt.Errorf("User-Data is not an IMSSubscription document: %w", err)
	}
	p := &profile{xml: doc}
	for _, sp := range u.ServiceProfile {
		for _, pi := range sp.PublicIdentity {
			id := strings.TrimSpace(pi.Identity)
			if id == "" || !strings.Contains(id, ":") {
				return nil, fmt.Errorf("User-Data has a PublicIdentity %q that is not a SIP or tel URI", id)
			}
			if containsIMPU(p.impus, id) {
				continue
			}
			p.impus = append(p.impus, id)
			if strings.TrimSpace(pi.BarringIndication) == "1" || strings.EqualFold(strings.TrimSpace(pi.BarringIndication), "true") {
				p.barred = append(p.barred, id)
			}
		}
	}
	if len(p.impus) == 0 {
		return nil, errors.New("User-Data names no PublicIdentity")
	}
	return p, nil
}

// containsIMPU tells whether list holds an identity equal to u.
func containsIMPU(list []string, u string) bool {
	n := normIMPU(u)
	for _, x := range list {
		if normIMPU(x) == n {
			return true
		}
	}
	return false
}
