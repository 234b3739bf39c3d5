package sim

import (
	"context"
	"fmt"
	"strings"

	"github.com/imslab/imslab/internal/ident"
)

// Source says where a value came from.
type Source string

// The sources of an identity.
const (
	FromUSIM    Source = "USIM"
	FromISIM    Source = "ISIM"
	FromIMSI    Source = "derived from the IMSI (TS 23.003)"
	FromNowhere Source = "not on the card (the network gives it: PCO at attach)"
)

// Identities is what a phone derives from its card.
type Identities struct {
	ICCID       string   `json:"iccid"`
	IMSI        string   `json:"imsi"`
	MCC         string   `json:"mcc"`
	MNC         string   `json:"mnc"`
	MSISDN      string   `json:"msisdn,omitempty"`
	HasISIM     bool     `json:"has_isim"`
	IMPI        string   `json:"impi"`
	IMPISource  Source   `json:"impi_source"`
	IMPUs       []string `json:"impus"`
	IMPUSource  Source   `json:"impus_source"`
	Domain      string   `json:"home_domain"`
	DomainSrc   Source   `json:"home_domain_source"`
	PCSCF       []string `json:"pcscf,omitempty"`
	PCSCFSource Source   `json:"pcscf_source"`
	UST         []int    `json:"ust_services"`
	IST         []int    `json:"ist_services,omitempty"`
}

// ReadIdentities reads the card as a phone does at boot (TS 31.102 §5.1.1,
// TS 31.103 §5.1, TS 24.229 §5.1.1.1A): EF_DIR, EF_ICCID, then the USIM
// (EF_IMSI, EF_AD, EF_UST, EF_MSISDN), then the ISIM if there is one
// (EF_IST, EF_IMPI, EF_DOMAIN, EF_IMPU, EF_PCSCF); without an ISIM the IMS
// identities are derived from the IMSI, TS 23.003 §13.
func (r *Reader) ReadIdentities(ctx context.Context) (*Identities, error) {
	id := &Identities{}
	if _, err := r.Applications(ctx); err != nil {
		return nil, err
	}
	b, err := r.readBinary(ctx, FidICCID)
	if err != nil {
		return nil, err
	}
	if id.ICCID, err = DecodeICCID(b); err != nil {
		return nil, err
	}
	if err := r.SelectApp(ctx, AppUSIM); err != nil {
		return nil, err
	}
	if r.pin != "" {
		ok, _, err := r.PINStatus(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := r.VerifyPIN(ctx, r.pin); err != nil {
				return nil, err
			}
		}
	}
	if b, err = r.readBinary(ctx, FidIMSI); err != nil {
		return nil, err
	}
	if id.IMSI, err = DecodeIMSI(b); err != nil {
		return nil, err
	}
	if b, err = r.readBinary(ctx, FidAD); err != nil {
		return nil, err
	}
	mncLen, err := DecodeAD(b)
	if err != nil {
		return nil, err
	}
	if id.MCC, id.MNC, err = ident.SplitIMSI(id.IMSI, mncLen); err != nil {
		return nil, err
	}
	if b, err = r.readBinary(ctx, FidUST); err != nil {
		return nil, err
	}
	id.UST = DecodeServiceTable(b)
	if hasService(id.UST, 21) { // n°21 MSISDN
		recs, err := r.readRecords(ctx, FidMSISDN)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if _, n, err := DecodeMSISDN(rec); err != nil {
				return nil, err
			} else if n != "" {
				id.MSISDN = n
				break
			}
		}
	}
	if _, ok := r.apps[AppISIM]; ok {
		if err := r.readISIM(ctx, id); err != nil {
			return nil, err
		}
	} else {
		id.Domain, id.DomainSrc = ident.HomeDomain(id.MCC, id.MNC), FromIMSI
		id.IMPI, id.IMPISource = ident.IMPI(id.IMSI, id.MCC, id.MNC), FromIMSI
		id.IMPUs, id.IMPUSource = []string{ident.TemporaryIMPU(id.IMSI, id.MCC, id.MNC)}, FromIMSI
		id.PCSCFSource = FromNowhere
	}
	return id, nil
}

func (r *Reader) readISIM(ctx context.Context, id *Identities) error {
	if err := r.SelectApp(ctx, AppISIM); err != nil {
		return err
	}
	id.HasISIM = true
	b, err := r.readBinary(ctx, FidIST)
	if err != nil {
		return err
	}
	id.IST = DecodeServiceTable(b)
	if b, err = r.readBinary(ctx, FidIMPI); err != nil {
		return err
	}
	if id.IMPI, err = DecodeIMPI(b); err != nil {
		return err
	}
	id.IMPISource = FromISIM
	if b, err = r.readBinary(ctx, FidDomain); err != nil {
		return err
	}
	if id.Domain, err = DecodeDomain(b); err != nil {
		return err
	}
	id.DomainSrc = FromISIM
	recs, err := r.readRecords(ctx, FidIMPU)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		u, ok, err := DecodeIMPU(rec)
		if err != nil {
			return err
		}
		if ok {
			id.IMPUs = append(id.IMPUs, u)
		}
	}
	id.IMPUSource = FromISIM
	id.PCSCFSource = FromNowhere
	if hasService(id.IST, istPCSCF) {
		recs, err := r.readRecords(ctx, FidPCSCF)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			a, ok, err := DecodePCSCF(rec)
			if err != nil {
				return err
			}
			if ok {
				id.PCSCF = append(id.PCSCF, a)
			}
		}
		if len(id.PCSCF) > 0 {
			id.PCSCFSource = FromISIM
		}
	}
	return nil
}

func hasService(list []int, n int) bool {
	for _, s := range list {
		if s == n {
			return true
		}
	}
	return false
}

// String renders the identities for a person, each with its source.
func (id *Identities) String() string {
	var sb strings.Builder
	w := func(k, v string, src Source) {
		if src != "" {
			fmt.Fprintf(&sb, "%-12s %s   [%s]\n", k, v, src)
		} else {
			fmt.Fprintf(&sb, "%-12s %s\n", k, v)
		}
	}
	w("ICCID", id.ICCID, "EF_ICCID")
	w("IMSI", id.IMSI, "USIM EF_IMSI")
	w("MCC", id.MCC, "IMSI")
	w("MNC", id.MNC, "IMSI, length from EF_AD")
	if id.MSISDN != "" {
		w("MSISDN", id.MSISDN, "USIM EF_MSISDN")
	} else {
		w("MSISDN", "(none)", "USIM EF_MSISDN")
	}
	w("IMPI", id.IMPI, id.IMPISource)
	for i, u := range id.IMPUs {
		k := ""
		if i == 0 {
			k = "IMPU"
		}
		w(k, u, id.IMPUSource)
	}
	w("Home domain", id.Domain, id.DomainSrc)
	if len(id.PCSCF) == 0 {
		w("P-CSCF", "(none)", id.PCSCFSource)
	}
	for i, a := range id.PCSCF {
		k := ""
		if i == 0 {
			k = "P-CSCF"
		}
		w(k, a, id.PCSCFSource)
	}
	return sb.String()
}
