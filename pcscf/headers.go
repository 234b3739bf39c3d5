package pcscf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Header names the P-CSCF reads or writes (RFC 3327, RFC 3608, RFC 3325,
// RFC 7315, TS 24.229 §7.2A).
const (
	hPath       = "Path"
	hServRoute  = "Service-Route"
	hPAU        = "P-Associated-URI"
	hPAI        = "P-Asserted-Identity"
	hPPI        = "P-Preferred-Identity"
	hPVNI       = "P-Visited-Network-ID"
	hPCV        = "P-Charging-Vector"
	hAuthz      = "Authorization"
	hWWWAuth    = "WWW-Authenticate"
	hProxyAuth  = "Proxy-Authenticate"
	hSupported  = "Supported"
	hRequire    = "Require"
	hProxyReq   = "Proxy-Require"
	hExpires    = "Expires"
	hPrivacy    = "Privacy"
	hWarning    = "Warning"
	hSecClient  = "Security-Client"
	hSecVerify  = "Security-Verify"
	hUnsupport  = "Unsupported"
	maxAddrList = 32 // addresses accepted in one header list
)

// errList is returned (wrapped) for a header value that is not a list of addresses.
var errList = errors.New("malformed address list")

// nameAddr is one entry of an address list (RFC 3261 §25.1 name-addr or
// addr-spec, with header parameters): Path, Service-Route,
// P-Associated-URI, P-Asserted-Identity, P-Preferred-Identity.
type nameAddr struct {
	Display string
	URI     sip.Uri
	Params  sip.HeaderParams
}

// String writes the entry as a name-addr.
func (a nameAddr) String() string {
	var sb strings.Builder
	if a.Display != "" {
		sb.WriteString(strconv.Quote(a.Display))
		sb.WriteByte(' ')
	}
	sb.WriteByte('<')
	sb.WriteString(a.URI.String())
	sb.WriteByte('>')
	if len(a.Params) > 0 {
		sb.WriteByte(';')
		sb.WriteString(a.Params.ToString(';'))
	}
	return sb.String()
}

// splitList splits a header value at the commas that separate list
// elements, not those inside a quoted string or between < and > (RFC 3261
// §7.3.1). Empty elements are skipped.
func splitList(v string) ([]string, error) {
	var out []string
	inQuote, inAngle, escaped := false, false, false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case inQuote && c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '<':
			if inAngle {
				return nil, fmt.Errorf("%w: '<' inside <...> at %d", errList, i)
			}
			inAngle = true
		case c == '>':
			if !inAngle {
				return nil, fmt.Errorf("%w: '>' without '<' at %d", errList, i)
			}
			inAngle = false
		case c == ',' && !inAngle:
			if s := strings.TrimSpace(v[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if inQuote || inAngle {
		return nil, fmt.Errorf("%w: unterminated quote or <...> in %q", errList, v)
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out, nil
}

// parseAddrList parses header values that each hold a comma-separated
// list of addresses, in order.
func parseAddrList(values ...string) (out []nameAddr, err error) {
	defer func() {
		// sipgo's address parser is not ours: a panic there must not
		// take the P-CSCF down with a hostile header.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: parser panic: %v", errList, r)
		}
	}()
	for _, v := range values {
		elems, err := splitList(v)
		if err != nil {
			return nil, err
		}
		for _, e := range elems {
			if len(out) == maxAddrList {
				return nil, fmt.Errorf("%w: more than %d addresses", errList, maxAddrList)
			}
			var a nameAddr
			a.Display, err = sip.ParseAddressValue(e, &a.URI, &a.Params)
			if err != nil {
				return nil, fmt.Errorf("%w: %q: %v", errList, e, err)
			}
			if a.URI.Scheme == "" || a.URI.Wildcard || (isSIP(a.URI) && a.URI.Host == "") {
				return nil, fmt.Errorf("%w: %q is not an absolute URI", errList, e)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// msg is what header helpers need of a request or a response.
type msg interface {
	GetHeaders(name string) []sip.Header
	RemoveHeader(name string) bool
	AppendHeader(h sip.Header)
}

// headerValues returns the values of every header with one of the names
// (case-insensitive, RFC 3261 §7.3.1), in message order.
func headerValues(m msg, names ...string) []string {
	var out []string
	for _, n := range names {
		for _, h := range m.GetHeaders(n) {
			out = append(out, h.Value())
		}
	}
	return out
}

// addrHeader parses every value of the named header in m.
func addrHeader(m msg, name string) ([]nameAddr, error) {
	return parseAddrList(headerValues(m, name)...)
}

// removeHeaders removes every header with one of the names, whatever the
// case it was written in (sipgo's RemoveHeader matches the exact spelling
// and removes one).
func removeHeaders(m msg, names ...string) (n int) {
	for _, name := range names {
		for _, h := range m.GetHeaders(name) {
			if m.RemoveHeader(h.Name()) {
				n++
			}
		}
	}
	return n
}

// optionTags lists the option tags of Supported/Require/Proxy-Require
// headers (and Supported's compact form k), lower-cased.
func optionTags(m msg, names ...string) []string {
	var out []string
	for _, v := range headerValues(m, names...) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// dropOptionTag rewrites the named option-tag header without the tag
// drop, removing the header if nothing is left.
func dropOptionTag(m msg, name, drop string) {
	tags := optionTags(m, name)
	if removeHeaders(m, name) == 0 {
		return
	}
	var keep []string
	for _, t := range tags {
		if t != drop {
			keep = append(keep, t)
		}
	}
	if len(keep) > 0 {
		m.AppendHeader(sip.NewHeader(name, strings.Join(keep, ", ")))
	}
}

func isSIP(u sip.Uri) bool { return u.Scheme == "sip" || u.Scheme == "sips" }

// identityKey normalises a public user identity for comparison (RFC 3261
// §19.1.4, RFC 3966 §5): sips as sip, user part unescaped, host
// lower-cased, port kept, parameters ignored; a tel URI by its number
// without visual separators.
func identityKey(u sip.Uri) string {
	switch {
	case isSIP(u):
		k := "sip:" + unescape(u.User) + "@" + strings.ToLower(strings.Trim(u.Host, "[]"))
		if u.Port != 0 {
			k += ":" + strconv.Itoa(u.Port)
		}
		return k
	case u.Scheme == "tel":
		num, _, _ := strings.Cut(u.Raw(), ";")
		num = strings.Map(func(r rune) rune {
			if strings.ContainsRune("-.()", r) {
				return -1
			}
			return r
		}, num)
		return "tel:" + strings.ToLower(num)
	default:
		return u.Scheme + ":" + u.Raw()
	}
}

// contactKey identifies a contact address (user@host:port, port 5060 when
// absent) to find the flow a UE registered it from.
func contactKey(u sip.Uri) string {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return unescape(u.User) + "@" + strings.ToLower(strings.Trim(u.Host, "[]")) + ":" + strconv.Itoa(port)
}

// isAnonymous tells the anonymous identity of RFC 3323 §4.1.1.3.
func isAnonymous(u sip.Uri) bool {
	return isSIP(u) && strings.EqualFold(u.Host, "anonymous.invalid")
}

// unescape decodes %XX escapes (RFC 3261 §19.1.4); an invalid escape is
// kept as it is.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if b, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				sb.WriteByte(byte(b))
				i += 2
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// sanitize makes text safe for a quoted string or a log field: printable
// ASCII only, no quote or backslash, at most n bytes.
func sanitize(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		b = append(b, c)
	}
	return string(b)
}
