package media

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/srtp/v3"
)

// RFC 4568 §4 / §9.1 examples.
var rfc4568Examples = []string{
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP",
	"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32",
	"crypto:2 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20",
}

func TestParseCryptoRFCExamples(t *testing.T) {
	c, err := ParseCrypto(rfc4568Examples[0] + "\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tag != 1 || c.Suite != SuiteAES128CMSHA1_80 || len(c.Key) != 16 || len(c.Salt) != 14 ||
		c.Lifetime != "2^20" || c.MKI != "1:32" {
		t.Fatalf("parsed %+v", c)
	}
	c, err = ParseCrypto(rfc4568Examples[1])
	if err != nil || len(c.Params) != 1 || c.Params[0] != "FEC_ORDER=FEC_SRTP" {
		t.Fatalf("session params: %+v %v", c, err)
	}
	for _, ex := range rfc4568Examples {
		c, err := ParseCrypto(ex)
		if err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
		// Round trip through String.
		c2, err := ParseCrypto(c.Line())
		if err != nil || !bytes.Equal(c2.Key, c.Key) || !bytes.Equal(c2.Salt, c.Salt) || c2.MKI != c.MKI || c2.Lifetime != c.Lifetime {
			t.Fatalf("round trip %q -> %q: %+v %v", ex, c.Line(), c2, err)
		}
	}
}

func TestParseCryptoErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80",
		"a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"a=crypto:-1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"a=crypto:1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
		"a=crypto:1 AEAD_AES_128_GCM inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:4|2^20",
	} {
		if _, err := ParseCrypto(in); !errors.Is(err, ErrCrypto) {
			t.Errorf("ParseCrypto(%q) = %v, want ErrCrypto", in, err)
		}
	}
}

func TestNewCryptoAndProfiles(t *testing.T) {
	want := map[string]srtp.ProtectionProfile{
		SuiteAES128CMSHA1_80: srtp.ProtectionProfileAes128CmHmacSha1_80,
		SuiteAES128CMSHA1_32: srtp.ProtectionProfileAes128CmHmacSha1_32,
		SuiteAEADAES128GCM:   srtp.ProtectionProfileAeadAes128Gcm,
	}
	for suite, prof := range want {
		c, err := NewCrypto(1, suite)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := c.Profile(); p != prof {
			t.Errorf("%s: profile %v, want %v", suite, p, prof)
		}
		c2, err := ParseCrypto(c.Line())
		if err != nil || !bytes.Equal(c.Key, c2.Key) || !bytes.Equal(c.Salt, c2.Salt) {
			t.Fatalf("%s round trip: %v", suite, err)
		}
		// Keys must be usable by pion/srtp.
		if _, err := srtp.CreateContext(c.Key, c.Salt, prof); err != nil {
			t.Fatalf("%s: %v", suite, err)
		}
	}
	a, _ := NewCrypto(1, SuiteAES128CMSHA1_80)
	b, _ := NewCrypto(1, SuiteAES128CMSHA1_80)
	if bytes.Equal(a.Key, b.Key) {
		t.Fatal("two generated keys are equal")
	}
}

func TestSelectCrypto(t *testing.T) {
	gcm, _ := NewCrypto(3, SuiteAEADAES128GCM)
	c80, _ := NewCrypto(1, SuiteAES128CMSHA1_80)
	c32, _ := NewCrypto(2, SuiteAES128CMSHA1_32)
	got, err := SelectCrypto([]string{c80.Line(), c32.Line(), gcm.Line(), "a=crypto:9 bogus"})
	if err != nil || got.Suite != SuiteAEADAES128GCM || got.Tag != 3 {
		t.Fatalf("got %+v %v, want GCM tag 3", got, err)
	}
	got, err = SelectCrypto([]string{c32.Line(), c80.Line()})
	if err != nil || got.Suite != SuiteAES128CMSHA1_80 {
		t.Fatalf("got %+v %v, want _80", got, err)
	}
	if _, err := SelectCrypto([]string{"a=crypto:1 F8_128_HMAC_SHA1_80 inline:x"}); !errors.Is(err, ErrCrypto) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseCrypto(f *testing.F) {
	for _, ex := range rfc4568Examples {
		f.Add(ex)
	}
	f.Add("a=crypto:1 AEAD_AES_128_GCM inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCrypto(s)
		if err != nil {
			if !errors.Is(err, ErrCrypto) {
				t.Fatalf("error not wrapping ErrCrypto: %v", err)
			}
			return
		}
		p, err := c.Profile()
		if err != nil {
			t.Fatalf("parsed unsupported suite %q", c.Suite)
		}
		kl, _ := p.KeyLen()
		sl, _ := p.SaltLen()
		if len(c.Key) != kl || len(c.Salt) != sl {
			t.Fatalf("bad key lengths %d/%d", len(c.Key), len(c.Salt))
		}
		c2, err := ParseCrypto(c.Line())
		if err != nil || !bytes.Equal(c2.Key, c.Key) || !bytes.Equal(c2.Salt, c.Salt) || c2.Tag != c.Tag {
			t.Fatalf("re-parse of %q failed: %v", c.Line(), err)
		}
	})
}

func TestMKIAndLifetime(t *testing.T) {
	for mki, want := range map[string][]byte{
		"":      nil,
		"1:4":   {0, 0, 0, 1},
		"258:2": {1, 2},
		"7:1":   {7},
	} {
		got, err := Crypto{MKI: mki}.MKIBytes()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("MKI %q = %x, %v; want %x", mki, got, err, want)
		}
	}
	for _, bad := range []string{"256:1", "1:0", "1:129", "x:4", "1:", "1:1234"} {
		if _, err := (Crypto{MKI: bad}).MKIBytes(); !errors.Is(err, ErrCrypto) {
			t.Errorf("MKI %q accepted", bad)
		}
	}
	const key = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
	for _, ok := range []string{"|2^31", "|1048576", "|2^20|1:4", "|1:4"} {
		if _, err := ParseCrypto(key + ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"|2^", "|forever", "|2^20|256:1", "|", "|1:4|1:4"} {
		if _, err := ParseCrypto(key + bad); !errors.Is(err, ErrCrypto) {
			t.Errorf("%s accepted: %v", bad, err)
		}
	}
}
