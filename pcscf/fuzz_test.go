package pcscf

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// addTortures seeds a fuzz target with the RFC 4475 messages.
func addTortures(f *testing.F) {
	files, _ := filepath.Glob("testdata/rfc4475/*/*.dat")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseAddrList: Path, Service-Route, P-Associated-URI,
// P-Asserted-Identity and P-Preferred-Identity values come from the network.
func FuzzParseAddrList(f *testing.F) {
	for _, s := range []string{
		"<sip:orig@127.0.0.1:6060;lr>",
		`"Alice" <sip:alice@ims.example.org>;x=1, <tel:+1-555-0001;phone-context=x>`,
		`<sip:a@b>,,<sip:c@d>, "q,\"uote>" <sip:e@f>`,
		"sip:a@b;lr", "<sip:a@b", `"open <sip:a@b>`, "<<sip:a@b>>", "tel:", "<*>", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		as, err := parseAddrList(v)
		if err != nil {
			return
		}
		if len(as) > maxAddrList {
			t.Fatalf("%d addresses", len(as))
		}
		for _, a := range as {
			_ = identityKey(a.URI)
			_ = contactKey(a.URI)
			_ = a.String()
		}
	})
}

// FuzzFrame: the TCP framer sees every byte a UE sends.
func FuzzFrame(f *testing.F) {
	addTortures(f)
	f.Add([]byte("OPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		size, err := frame(b)
		if err != nil && size != 0 {
			t.Fatal("size with an error")
		}
		if size > len(b) || size > maxMessage || size < 0 {
			t.Fatalf("frame size %d of %d bytes", size, len(b))
		}
		if size > 0 && !bytes.Contains(b[:size], []byte("\r\n\r\n")) {
			t.Fatal("a message without the end of its headers")
		}
	})
}

// FuzzGuard: whatever arrives, the guard neither panics nor passes sipgo
// a message it cannot take, and what it answers is one clean response.
func FuzzGuard(f *testing.F) {
	addTortures(f)
	g := &guard{parser: sip.NewParser(), agent: "127.0.0.1:5060"}
	f.Fuzz(func(t *testing.T, b []byte) {
		ok, resp, _ := g.check(b)
		if ok {
			m, err := sip.NewParser().ParseSIP(b)
			if err != nil {
				t.Fatalf("passed a message sipgo does not parse: %v", err)
			}
			if r, isReq := m.(*sip.Request); isReq && (r.Via() == nil || r.From() == nil || r.To() == nil || r.CallID() == nil || r.CSeq() == nil) {
				t.Fatal("passed a request without the mandatory headers")
			}
			return
		}
		if resp == nil {
			return
		}
		s := string(resp)
		if !strings.HasPrefix(s, "SIP/2.0 4") && !strings.HasPrefix(s, "SIP/2.0 5") || !strings.HasSuffix(s, "Content-Length: 0\r\n\r\n") {
			t.Fatalf("answer %q", s)
		}
		lines := strings.Split(strings.TrimSuffix(s, "\r\n\r\n"), "\r\n")
		for _, l := range lines {
			if strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("a line of the answer hides a line break: %q", l)
			}
		}
		if n := strings.Count(s, "\r\n\r\n"); n != 1 {
			t.Fatalf("answer with %d header ends", n)
		}
		if fb, err := frame(resp); err != nil || fb != len(resp) {
			t.Fatalf("answer does not frame as one message: %d, %v", fb, err)
		}
	})
}
