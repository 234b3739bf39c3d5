package hss

import (
	"encoding/xml"
	"fmt"
	"sort"
	"strings"

	"github.com/imslab/imslab/hss/store"
)

// User-Data: the IMS subscription document of TS 29.228 Annex E
// (IMSSubscription → PrivateID, ServiceProfile → PublicIdentity,
// InitialFilterCriteria), for the implicit registration set of one public
// identity (TS 29.228 §6.1.2, TS 23.228 §4.3.3.3).

type imsSubscription struct {
	XMLName        xml.Name         `xml:"IMSSubscription"`
	PrivateID      string           `xml:"PrivateID"`
	ServiceProfile []serviceProfile `xml:"ServiceProfile"`
}

type serviceProfile struct {
	PublicIdentity []publicIdentity `xml:"PublicIdentity"`
	IFC            string           `xml:",innerxml"` // InitialFilterCriteria elements, verbatim
}

type publicIdentity struct {
	BarringIndication *int   `xml:"BarringIndication,omitempty"`
	Identity          string `xml:"Identity"`
}

// implicitSet returns the public identities registered together with impu:
// those with the same IRS number (TS 23.228 §4.3.3.3).
func implicitSet(sub *store.Subscriber, impu string) []store.PublicID {
	irs := -1
	for _, p := range sub.Public {
		if p.IMPU == impu {
			irs = p.IRS
		}
	}
	var set []store.PublicID
	for _, p := range sub.Public {
		if p.IMPU == impu || irs >= 0 && p.IRS == irs {
			set = append(set, p)
		}
	}
	// The identity asked for first, the others in stored order.
	sort.SliceStable(set, func(i, j int) bool { return set[i].IMPU == impu && set[j].IMPU != impu })
	return set
}

// userData renders the IMSSubscription XML for impi and the implicit
// registration set of impu, with the subscriber's iFCs by priority.
func userData(sub *store.Subscriber, impi, impu string) (string, error) {
	sp := serviceProfile{}
	for _, p := range implicitSet(sub, impu) {
		pi := publicIdentity{Identity: p.IMPU}
		if p.Barred {
			one := 1
			pi.BarringIndication = &one
		}
		sp.PublicIdentity = append(sp.PublicIdentity, pi)
	}
	ifcs := append([]store.IFC(nil), sub.IFCs...)
	sort.SliceStable(ifcs, func(i, j int) bool { return ifcs[i].Priority < ifcs[j].Priority })
	var b strings.Builder
	for _, f := range ifcs {
		b.WriteString(strings.TrimSpace(f.XML))
	}
	sp.IFC = b.String()
	doc := imsSubscription{PrivateID: impi, ServiceProfile: []serviceProfile{sp}}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", fmt.Errorf("building User-Data: %w", err)
	}
	return xml.Header + string(out), nil
}
