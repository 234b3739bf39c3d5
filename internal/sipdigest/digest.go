// Package sipdigest is HTTP Digest as SIP uses it (RFC 3261 §22, RFC 2617)
// and its AKA variant for IMS (RFC 3310, TS 33.203, TS 24.229 §5.1.1.5):
// parsing and writing WWW-Authenticate/Authorization values, with the IMS
// parameters (ck, ik, auts, integrity-protected), and computing responses.
package sipdigest

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Algorithms.
const (
	MD5       = "MD5"
	AKAv1MD5  = "AKAv1-MD5" // RFC 3310 §3.1: the password is RES
	QOPAuth   = "auth"
	schemeDig = "Digest"
)

// ErrSyntax is returned (wrapped) for a header value that is not Digest.
var ErrSyntax = errors.New("sipdigest: malformed header")

// Params are auth-params in order (RFC 3261 §25.1: auth-param = name "=" (token / quoted-string)).
type Params []Param

// Param is one auth-param; Quoted tells whether it is written as a quoted string.
type Param struct {
	Name, Value string
	Quoted      bool
}

// Get returns the value of a parameter (names are case-insensitive).
func (p Params) Get(name string) (string, bool) {
	for _, x := range p {
		if strings.EqualFold(x.Name, name) {
			return x.Value, true
		}
	}
	return "", false
}

// Value returns the value of a parameter, "" if absent.
func (p Params) Value(name string) string { v, _ := p.Get(name); return v }

// Parse reads `Digest a=b, c="d"`: the scheme must be Digest.
func Parse(s string) (Params, error) {
	s = strings.TrimSpace(s)
	scheme, rest, _ := strings.Cut(s, " ")
	if !strings.EqualFold(scheme, schemeDig) {
		return nil, fmt.Errorf("%w: scheme %q is not Digest", ErrSyntax, scheme)
	}
	return parseParams(rest)
}

func parseParams(s string) (Params, error) {
	var out Params
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ',' && s[j] != ' ' {
			j++
		}
		name := s[i:j]
		if name == "" {
			return nil, fmt.Errorf("%w: empty parameter name at %d", ErrSyntax, i)
		}
		if _, dup := out.Get(name); dup {
			// RFC 7235 §2.1: each parameter name only once.
			return nil, fmt.Errorf("%w: parameter %q twice", ErrSyntax, name)
		}
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			return nil, fmt.Errorf("%w: parameter %q has no value", ErrSyntax, name)
		}
		j++
		for j < len(s) && s[j] == ' ' {
			j++
		}
		var val strings.Builder
		quoted := false
		if j < len(s) && s[j] == '"' {
			quoted = true
			j++
			closed := false
			for j < len(s) {
				c := s[j]
				if c == '\\' && j+1 < len(s) {
					val.WriteByte(s[j+1])
					j += 2
					continue
				}
				if c == '"' {
					closed = true
					j++
					break
				}
				val.WriteByte(c)
				j++
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quoted value of %q", ErrSyntax, name)
			}
		} else {
			k := j
			for k < len(s) && s[k] != ',' && s[k] != ' ' {
				k++
			}
			val.WriteString(s[j:k])
			j = k
		}
		out = append(out, Param{Name: name, Value: val.String(), Quoted: quoted})
		i = j
	}
}

// String writes `Digest a="b", c=d`.
func (p Params) String() string {
	var sb strings.Builder
	sb.WriteString(schemeDig)
	for i, x := range p {
		if i == 0 {
			sb.WriteByte(' ')
		} else {
			sb.WriteString(", ")
		}
		sb.WriteString(x.Name)
		sb.WriteByte('=')
		if x.Quoted {
			sb.WriteByte('"')
			sb.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(x.Value))
			sb.WriteByte('"')
		} else {
			sb.WriteString(x.Value)
		}
	}
	return sb.String()
}

// Challenge is a WWW-Authenticate (or Proxy-Authenticate) Digest challenge.
type Challenge struct {
	Realm, Nonce, Opaque, Algorithm string
	QOP                             []string
	Stale                           bool
	// CK and IK (hex) travel from the S-CSCF to the P-CSCF only
	// (TS 24.229 §5.4.1.2.1); the P-CSCF removes them (§5.2.2.1).
	CK, IK string
}

// ParseChallenge reads a challenge.
func ParseChallenge(s string) (*Challenge, error) {
	p, err := Parse(s)
	if err != nil {
		return nil, err
	}
	c := &Challenge{Realm: p.Value("realm"), Nonce: p.Value("nonce"), Opaque: p.Value("opaque"),
		Algorithm: p.Value("algorithm"), CK: p.Value("ck"), IK: p.Value("ik"),
		Stale: strings.EqualFold(p.Value("stale"), "true")}
	for _, q := range strings.Split(p.Value("qop"), ",") {
		if q = strings.TrimSpace(q); q != "" {
			c.QOP = append(c.QOP, q)
		}
	}
	if c.Nonce == "" {
		return nil, fmt.Errorf("%w: challenge without a nonce", ErrSyntax)
	}
	return c, nil
}

// String writes the challenge (ck and ik included when set).
func (c *Challenge) String() string {
	p := Params{{Name: "realm", Value: c.Realm, Quoted: true}, {Name: "nonce", Value: c.Nonce, Quoted: true}}
	if c.Opaque != "" {
		p = append(p, Param{Name: "opaque", Value: c.Opaque, Quoted: true})
	}
	if c.Algorithm != "" {
		p = append(p, Param{Name: "algorithm", Value: c.Algorithm})
	}
	if len(c.QOP) > 0 {
		p = append(p, Param{Name: "qop", Value: strings.Join(c.QOP, ","), Quoted: true})
	}
	if c.Stale {
		p = append(p, Param{Name: "stale", Value: "TRUE"})
	}
	if c.CK != "" {
		p = append(p, Param{Name: "ck", Value: c.CK, Quoted: true})
	}
	if c.IK != "" {
		p = append(p, Param{Name: "ik", Value: c.IK, Quoted: true})
	}
	return p.String()
}

// Credentials is an Authorization (or Proxy-Authorization) Digest value.
type Credentials struct {
	Username, Realm, Nonce, URI, Response, Algorithm, Opaque, QOP, NC, CNonce string
	// AUTS (base64) reports a synchronisation failure (RFC 3310 §3.4).
	AUTS string
	// Integrity is the integrity-protected parameter a P-CSCF adds (TS 24.229 §5.2.2.1).
	Integrity string
}

// ParseCredentials reads credentials.
func ParseCredentials(s string) (*Credentials, error) {
	p, err := Parse(s)
	if err != nil {
		return nil, err
	}
	c := &Credentials{Username: p.Value("username"), Realm: p.Value("realm"), Nonce: p.Value("nonce"),
		URI: p.Value("uri"), Response: p.Value("response"), Algorithm: p.Value("algorithm"),
		Opaque: p.Value("opaque"), QOP: p.Value("qop"), NC: p.Value("nc"), CNonce: p.Value("cnonce"),
		AUTS: p.Value("auts"), Integrity: p.Value("integrity-protected")}
	if c.Username == "" {
		return nil, fmt.Errorf("%w: credentials without a username", ErrSyntax)
	}
	return c, nil
}

// String writes the credentials; empty nonce and response are kept (the
// initial IMS REGISTER carries nonce="" and response="", TS 24.229 §5.1.1.2.1).
func (c *Credentials) String() string {
	p := Params{{Name: "username", Value: c.Username, Quoted: true}, {Name: "realm", Value: c.Realm, Quoted: true},
		{Name: "nonce", Value: c.Nonce, Quoted: true}, {Name: "uri", Value: c.URI, Quoted: true},
		{Name: "response", Value: c.Response, Quoted: true}}
	if c.Algorithm != "" {
		p = append(p, Param{Name: "algorithm", Value: c.Algorithm})
	}
	if c.CNonce != "" {
		p = append(p, Param{Name: "cnonce", Value: c.CNonce, Quoted: true})
	}
	if c.Opaque != "" {
		p = append(p, Param{Name: "opaque", Value: c.Opaque, Quoted: true})
	}
	if c.QOP != "" {
		p = append(p, Param{Name: "qop", Value: c.QOP}, Param{Name: "nc", Value: c.NC})
	}
	if c.AUTS != "" {
		p = append(p, Param{Name: "auts", Value: c.AUTS, Quoted: true})
	}
	if c.Integrity != "" {
		p = append(p, Param{Name: "integrity-protected", Value: c.Integrity, Quoted: true})
	}
	return p.String()
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// HA1 is MD5(username ":" realm ":" password), RFC 2617 §3.2.2.2. For
// AKAv1-MD5 the password is RES, as raw bytes (RFC 3310 §3.1).
func HA1(username, realm string, password []byte) string {
	return md5hex(username + ":" + realm + ":" + string(password))
}

// Response computes request-digest, RFC 2617 §3.2.2.1: with qop "auth",
// MD5(HA1:nonce:nc:cnonce:qop:HA2); without qop, MD5(HA1:nonce:HA2); with
// HA2 = MD5(method:uri).
func Response(ha1, method, uri, nonce, qop, nc, cnonce string) string {
	ha2 := md5hex(method + ":" + uri)
	if qop == "" {
		return md5hex(ha1 + ":" + nonce + ":" + ha2)
	}
	return md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}

// AKANonce builds the nonce of an AKA challenge: base64(RAND ‖ AUTN ‖
// server data), RFC 3310 §3.2.
func AKANonce(rand, autn, serverData []byte) string {
	b := append(append(append([]byte(nil), rand...), autn...), serverData...)
	return base64.StdEncoding.EncodeToString(b)
}

// ParseAKANonce splits an AKA nonce into RAND and AUTN (16 bytes each).
func ParseAKANonce(nonce string) (rand, autn []byte, err error) {
	b, err := base64.StdEncoding.DecodeString(nonce)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: AKA nonce is not base64: %v", ErrSyntax, err)
	}
	if len(b) < 32 {
		return nil, nil, fmt.Errorf("%w: AKA nonce of %d bytes, RAND‖AUTN needs 32", ErrSyntax, len(b))
	}
	return b[:16], b[16:32], nil
}

// EncodeAUTS encodes AUTS for the auts parameter (base64, RFC 3310 §3.4).
func EncodeAUTS(auts []byte) string { return base64.StdEncoding.EncodeToString(auts) }

// DecodeAUTS decodes the auts parameter; it must be 14 bytes.
func DecodeAUTS(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 14 {
		return nil, fmt.Errorf("%w: auts must be 14 bytes in base64", ErrSyntax)
	}
	return b, nil
}

// Names lists a Params' names, sorted (for logs).
func (p Params) Names() []string {
	var n []string
	for _, x := range p {
		n = append(n, x.Name)
	}
	sort.Strings(n)
	return n
}
