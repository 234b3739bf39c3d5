package sipdigest

import (
	"bytes"
	"strings"
	"testing"
)

// RFC 2617 §3.5's example: Mufasa, "Circle Of Life", GET /dir/index.html.
func TestResponse_RFC2617(t *testing.T) {
	ha1 := HA1("Mufasa", "testrealm@host.com", []byte("Circle Of Life"))
	got := Response(ha1, "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001", "0a4f113b")
	if got != "6629fae49393a05397450978507c4ef1" {
		t.Fatalf("response %s, want RFC 2617's 6629fae49393a05397450978507c4ef1", got)
	}
	c, err := ParseCredentials(`Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`)
	if err != nil || c.Username != "Mufasa" || c.QOP != "auth" || c.NC != "00000001" || c.Opaque != "5ccc069c403ebaf9f0171e9517f40e41" {
		t.Fatalf("ParseCredentials: %+v %v", c, err)
	}
}

// RFC 3310 §3.1: the AKA password is RES, as raw bytes.
func TestAKA_RFC3310(t *testing.T) {
	rnd, autn := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16)
	n := AKANonce(rnd, autn, nil)
	r2, a2, err := ParseAKANonce(n)
	if err != nil || !bytes.Equal(r2, rnd) || !bytes.Equal(a2, autn) {
		t.Fatalf("nonce round trip: %v", err)
	}
	if _, _, err := ParseAKANonce("AAAA"); err == nil {
		t.Fatal("short nonce accepted")
	}
	res := []byte{0xa5, 0x42, 0x11, 0xd5, 0xe3, 0xba, 0x50, 0xbf}
	if HA1("u", "r", res) == HA1("u", "r", []byte("a54211d5e3ba50bf")) {
		t.Fatal("RES used as hex text, not raw bytes")
	}
	ch := &Challenge{Realm: "ims.example.org", Nonce: n, Algorithm: AKAv1MD5, QOP: []string{"auth"}, CK: "00ff", IK: "ee11"}
	back, err := ParseChallenge(ch.String())
	if err != nil || back.Nonce != n || back.CK != "00ff" || back.IK != "ee11" || back.Algorithm != AKAv1MD5 || back.QOP[0] != "auth" {
		t.Fatalf("challenge round trip: %s → %+v %v", ch, back, err)
	}
	auts := bytes.Repeat([]byte{9}, 14)
	cr := &Credentials{Username: "001010000000001@ims.example.org", Realm: "ims.example.org", Nonce: n, URI: "sip:ims.example.org",
		Response: "", Algorithm: AKAv1MD5, AUTS: EncodeAUTS(auts)}
	back2, err := ParseCredentials(cr.String())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeAUTS(back2.AUTS); err != nil || !bytes.Equal(got, auts) {
		t.Fatalf("auts: %x %v", got, err)
	}
	if !strings.Contains(cr.String(), `response=""`) {
		t.Fatalf("empty response not written: %s", cr)
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"Basic abc", `Digest realm="x`, "Digest =x", "Digest realm", `Digest nonce=""`} {
		if _, err := ParseChallenge(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	p, err := Parse(`Digest  realm = "a\"b" ,nonce=xyz,, qop="auth,auth-int"`)
	if err != nil || p.Value("realm") != `a"b` || p.Value("NONCE") != "xyz" || p.Value("qop") != "auth,auth-int" {
		t.Fatalf("lenient parse: %v %v", p, err)
	}
}

// FuzzParse: header values from the network must never panic, and what
// parses must write back to something that parses to the same values.
func FuzzParse(f *testing.F) {
	f.Add(`Digest username="a", realm="b", nonce="", uri="sip:x", response=""`)
	f.Add(`Digest realm="ims", nonce="AQID", algorithm=AKAv1-MD5, qop="auth", ck="00", ik="11"`)
	f.Add(`Digest a="\"", b=c`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		q, err := Parse(p.String())
		if err != nil {
			t.Fatalf("%q parsed, but its rendering %q does not: %v", s, p.String(), err)
		}
		for _, x := range p {
			if strings.ContainsAny(x.Value, " ,\"\\") && !x.Quoted {
				continue // a token cannot hold these; the rendering may differ
			}
			if v, _ := q.Get(x.Name); v != x.Value && x.Quoted {
				t.Fatalf("%q: %s=%q became %q", s, x.Name, x.Value, v)
			}
		}
		_, _ = ParseChallenge(s)
		_, _ = ParseCredentials(s)
	})
}
