package media

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// SDES crypto suite names (RFC 4568 §6.2, RFC 7714 §12).
const (
	SuiteAES128CMSHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128CMSHA1_32 = "AES_CM_128_HMAC_SHA1_32"
	SuiteAEADAES128GCM   = "AEAD_AES_128_GCM"
)

// ErrCrypto is wrapped by every a=crypto parse or validation error.
var ErrCrypto = errors.New("sdes crypto")

// SupportedSuites lists the suites this package can negotiate, most preferred first.
func SupportedSuites() []string {
	return []string{SuiteAEADAES128GCM, SuiteAES128CMSHA1_80, SuiteAES128CMSHA1_32}
}

// ProfileForSuite maps an RFC 4568 §6.2 / RFC 7714 §12 suite name to the
// pion/srtp protection profile.
func ProfileForSuite(suite string) (srtp.ProtectionProfile, error) {
	switch suite {
	case SuiteAES128CMSHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	case SuiteAES128CMSHA1_32:
		return srtp.ProtectionProfileAes128CmHmacSha1_32, nil
	case SuiteAEADAES128GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, nil
	}
	return 0, fmt.Errorf("%w: unsupported crypto suite %q (want one of %v)", ErrCrypto, suite, SupportedSuites())
}

// Crypto is one SDES a=crypto attribute (RFC 4568 §9.1):
//
//	a=crypto:<tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>] [<session-params>]
type Crypto struct {
	Tag      int
	Suite    string
	Key      []byte // master key
	Salt     []byte // master salt
	Lifetime string // optional, kept verbatim (e.g. "2^20"); RFC 4568 §6.1
	MKI      string // optional "<value>:<length>"; RFC 4568 §6.1
	Params   []string
}

// NewCrypto generates fresh random master key and salt for suite (RFC 4568 §6.1:
// the key MUST be random and unique per direction).
func NewCrypto(tag int, suite string) (Crypto, error) {
	p, err := ProfileForSuite(suite)
	if err != nil {
		return Crypto{}, err
	}
	kl, err := p.KeyLen()
	if err != nil {
		return Crypto{}, fmt.Errorf("%w: key length for %s: %w", ErrCrypto, suite, err)
	}
	sl, err := p.SaltLen()
	if err != nil {
		return Crypto{}, fmt.Errorf("%w: salt length for %s: %w", ErrCrypto, suite, err)
	}
	buf := make([]byte, kl+sl)
	if _, err := rand.Read(buf); err != nil {
		return Crypto{}, fmt.Errorf("%w: generating key: %w", ErrCrypto, err)
	}
	return Crypto{Tag: tag, Suite: suite, Key: buf[:kl], Salt: buf[kl:]}, nil
}

// Profile returns the pion/srtp profile for c.Suite.
func (c Crypto) Profile() (srtp.ProtectionProfile, error) { return ProfileForSuite(c.Suite) }

// String formats the attribute value without the "a=crypto:" prefix, e.g.
// "1 AES_CM_128_HMAC_SHA1_80 inline:...".
func (c Crypto) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(c.Tag))
	b.WriteByte(' ')
	b.WriteString(c.Suite)
	b.WriteString(" inline:")
	b.WriteString(base64.StdEncoding.EncodeToString(append(append([]byte{}, c.Key...), c.Salt...)))
	if c.Lifetime != "" {
		b.WriteString("|" + c.Lifetime)
	}
	if c.MKI != "" {
		b.WriteString("|" + c.MKI)
	}
	for _, p := range c.Params {
		b.WriteString(" " + p)
	}
	return b.String()
}

// Line formats the full SDP attribute line "a=crypto:...".
func (c Crypto) Line() string { return "a=crypto:" + c.String() }

// ParseCrypto parses an a=crypto attribute (RFC 4568 §9.1). The input may be
// the full line ("a=crypto:1 ..."), the value after "crypto:", or with a
// trailing CRLF. Only the first key-param is used (RFC 4568 §6.1 allows
// several, separated by ';'). Lifetime and MKI are tolerated and recorded.
// Suites outside SupportedSuites are rejected, as are keys of the wrong length.
func ParseCrypto(s string) (Crypto, error) {
	s = strings.TrimRight(s, "\r\n")
	s = strings.TrimPrefix(s, "a=")
	s = strings.TrimPrefix(s, "crypto:")
	f := strings.Fields(s)
	if len(f) < 3 {
		return Crypto{}, fmt.Errorf("%w: %q: want \"<tag> <suite> inline:<key>\"", ErrCrypto, s)
	}
	var c Crypto
	// RFC 4568 §9.1: tag = 1*9DIGIT.
	if len(f[0]) > 9 {
		return Crypto{}, fmt.Errorf("%w: tag %q longer than 9 digits", ErrCrypto, f[0])
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || f[0][0] == '+' || f[0][0] == '-' {
		return Crypto{}, fmt.Errorf("%w: tag %q is not a decimal number", ErrCrypto, f[0])
	}
	c.Tag = tag
	c.Suite = f[1]
	p, err := ProfileForSuite(c.Suite)
	if err != nil {
		return Crypto{}, err
	}
	keyParam, _, _ := strings.Cut(f[2], ";")
	method, info, ok := strings.Cut(keyParam, ":")
	if !ok || !strings.EqualFold(method, "inline") {
		return Crypto{}, fmt.Errorf("%w: key-params %q: only the inline: method is supported (RFC 4568 §6.1)", ErrCrypto, keyParam)
	}
	parts := strings.Split(info, "|")
	if len(parts) > 3 {
		return Crypto{}, fmt.Errorf("%w: key-info %q: too many '|' parts", ErrCrypto, info)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil {
		// Some implementations omit padding.
		raw, err = base64.RawStdEncoding.DecodeString(parts[0])
		if err != nil {
			return Crypto{}, fmt.Errorf("%w: key %q is not base64: %w", ErrCrypto, parts[0], err)
		}
	}
	kl, _ := p.KeyLen()
	sl, _ := p.SaltLen()
	if len(raw) != kl+sl {
		return Crypto{}, fmt.Errorf("%w: %s needs %d bytes of key||salt, got %d", ErrCrypto, c.Suite, kl+sl, len(raw))
	}
	c.Key, c.Salt = raw[:kl], raw[kl:]
	for _, part := range parts[1:] {
		// RFC 4568 §6.1: MKI is "<value>:<length>", lifetime has no ':'.
		if strings.Contains(part, ":") {
			if c.MKI != "" {
				return Crypto{}, fmt.Errorf("%w: key-info %q: two MKI parts", ErrCrypto, info)
			}
			c.MKI = part
			if _, err := c.MKIBytes(); err != nil {
				return Crypto{}, err
			}
			continue
		}
		if c.Lifetime != "" || c.MKI != "" {
			return Crypto{}, fmt.Errorf("%w: key-info %q: lifetime must precede MKI", ErrCrypto, info)
		}
		// RFC 4568 §9.1: lifetime = ["2^"] 1*(DIGIT).
		if !isDigits(strings.TrimPrefix(part, "2^")) {
			return Crypto{}, fmt.Errorf("%w: key-info %q: lifetime %q is not [2^]digits", ErrCrypto, info, part)
		}
		c.Lifetime = part
	}
	if len(f) > 3 {
		c.Params = f[3:]
	}
	return c, nil
}

// SelectCrypto implements the answerer side of RFC 4568 §7.1.2: pick the
// first offered attribute (offers are in preference order) whose suite we
// support, preferring AEAD_AES_128_GCM when offered. Unparseable offers are
// skipped. The answer must reuse the selected tag with our own fresh key.
// Local.Answer does not use it: it keeps the offerer's order among the
// suites of Local.Cryptos.
func SelectCrypto(offers []string) (Crypto, error) {
	var parsed []Crypto
	for _, o := range offers {
		c, err := ParseCrypto(o)
		if err == nil {
			parsed = append(parsed, c)
		}
	}
	for _, want := range SupportedSuites() {
		for _, c := range parsed {
			if c.Suite == want {
				return c, nil
			}
		}
	}
	return Crypto{}, fmt.Errorf("%w: none of %d offered a=crypto lines is usable (supported: %v)", ErrCrypto, len(offers), SupportedSuites())
}

// MKIBytes returns the Master Key Identifier to carry in each SRTP packet
// (RFC 3711 §3.1), or nil when the attribute has none. RFC 4568 §6.1:
// "<value>:<length>" where length (1..128) is the MKI field size in bytes
// and value is sent big-endian in that many bytes.
func (c Crypto) MKIBytes() ([]byte, error) {
	if c.MKI == "" {
		return nil, nil
	}
	vs, ls, _ := strings.Cut(c.MKI, ":")
	if !isDigits(vs) || !isDigits(ls) || len(ls) > 3 {
		return nil, fmt.Errorf("%w: MKI %q is not <digits>:<1-3 digits>", ErrCrypto, c.MKI)
	}
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: MKI value %q: %w", ErrCrypto, vs, err)
	}
	l, _ := strconv.Atoi(ls)
	if l < 1 || l > 128 {
		return nil, fmt.Errorf("%w: MKI length %d outside 1..128", ErrCrypto, l)
	}
	if l < 8 && v>>(8*l) != 0 {
		return nil, fmt.Errorf("%w: MKI value %d does not fit in %d bytes", ErrCrypto, v, l)
	}
	b := make([]byte, l)
	for i := l - 1; i >= 0 && v != 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// NewCryptos makes one a=crypto per suite with fresh keys and tags 1..n, in
// the given order of preference (RFC 4568 §7.1.1); no suites means
// SupportedSuites.
func NewCryptos(suites ...string) ([]Crypto, error) {
	if len(suites) == 0 {
		suites = SupportedSuites()
	}
	cs := make([]Crypto, len(suites))
	for i, s := range suites {
		c, err := NewCrypto(i+1, s)
		if err != nil {
			return nil, err
		}
		cs[i] = c
	}
	return cs, nil
}
