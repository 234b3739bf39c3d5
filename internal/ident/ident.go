// Package ident derives IMS identities from the IMSI (3GPP TS 23.003 §13)
// and gives public identities the one form they are compared in.
package ident

import (
	"fmt"
	"strings"
)

// HomeDomain is the home network domain name derived from the IMSI,
// TS 23.003 §13.2: "ims.mnc<MNC>.mcc<MCC>.3gppnetwork.org", a 2-digit MNC
// padded with a leading zero to 3 digits.
func HomeDomain(mcc, mnc string) string {
	if len(mnc) == 2 {
		mnc = "0" + mnc
	}
	return fmt.Sprintf("ims.mnc%s.mcc%s.3gppnetwork.org", mnc, mcc)
}

// IMPI is the private user identity derived from the IMSI,
// TS 23.003 §13.3: "<IMSI>@<home domain>".
func IMPI(imsi, mcc, mnc string) string { return imsi + "@" + HomeDomain(mcc, mnc) }

// TemporaryIMPU is the temporary public user identity derived from the IMSI,
// TS 23.003 §13.4B: "sip:<IMSI>@<home domain>".
func TemporaryIMPU(imsi, mcc, mnc string) string { return "sip:" + imsi + "@" + HomeDomain(mcc, mnc) }

// SplitIMSI splits an IMSI into MCC and MNC given the MNC length from EF_AD.
func SplitIMSI(imsi string, mncLen int) (mcc, mnc string, err error) {
	if mncLen != 2 && mncLen != 3 {
		return "", "", fmt.Errorf("MNC length %d, want 2 or 3", mncLen)
	}
	if len(imsi) < 3+mncLen {
		return "", "", fmt.Errorf("IMSI %q is shorter than MCC and MNC", imsi)
	}
	return imsi[:3], imsi[3 : 3+mncLen], nil
}

// NormalizeIMPU is the form under which public identities are stored and
// looked up: the scheme and the host in lower case, URI parameters and
// headers removed except user=phone (RFC 3261 §19.1.4 compares hosts without
// regard to case; the user part stays case-sensitive), and in a tel: URI the
// parameters and the visual separators "-.()" removed (RFC 3966 §4).
// sip:+N@host;user=phone and tel:+N stay different identities: provision both
// when a user should be reachable under both.
func NormalizeIMPU(uri string) string {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(uri), ":")
	if !ok {
		return uri
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "tel":
		num, _, _ := strings.Cut(rest, ";")
		return "tel:" + strings.Map(func(r rune) rune {
			if strings.ContainsRune("-.()", r) {
				return -1
			}
			return r
		}, num)
	case "sip", "sips":
		rest, _, _ = strings.Cut(rest, "?")
		user, hostport := "", rest
		if i := strings.LastIndexByte(rest, '@'); i >= 0 {
			user, hostport = rest[:i+1], rest[i+1:]
		}
		host, params, _ := strings.Cut(hostport, ";")
		out := scheme + ":" + user + strings.ToLower(host)
		for p := range strings.SplitSeq(params, ";") {
			if strings.EqualFold(strings.TrimSpace(p), "user=phone") {
				return out + ";user=phone"
			}
		}
		return out
	}
	return scheme + ":" + rest
}
