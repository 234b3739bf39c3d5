package ue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A full document in the shape of RFC 3680 §6, with the +sip.instance a
// 3GPP S-CSCF reports (TS 24.229 §5.4.2.1.2).
const reginfoFull = `<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" xmlns:gr="urn:ietf:params:xml:ns:gruuinfo" version="0" state="full">
  <registration aor="sip:user@example.com" id="as9" state="active">
    <contact id="76" state="active" event="registered" duration-registered="7322" q="0.8" expires="3600">
      <uri>sip:user@pc887.example.com</uri>
      <unknown-param name="+sip.instance">"&lt;urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF&gt;"</unknown-param>
      <gr:pub-gruu uri="sip:user@example.com;gr=urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF"/>
    </contact>
    <contact id="77" state="terminated" event="probation" retry-after="30">
      <uri>sip:user@university.edu</uri>
    </contact>
  </registration>
  <registration aor="tel:+15550001" id="as10" state="init"/>
</reginfo>`

func TestParseReginfoRFC3680(t *testing.T) {
	ri, err := ParseReginfo([]byte(reginfoFull))
	if err != nil {
		t.Fatal(err)
	}
	if ri.Version != 0 || ri.State != "full" || len(ri.Registrations) != 2 {
		t.Fatalf("%+v", ri)
	}
	r := ri.Registrations[0]
	if r.AOR != "sip:user@example.com" || r.State != "active" || len(r.Contacts) != 2 {
		t.Fatalf("%+v", r)
	}
	c := r.Contacts[0]
	if c.URI != "sip:user@pc887.example.com" || c.Event != "registered" || c.Expires != time.Hour ||
		c.Instance != "urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF" {
		t.Errorf("%+v", c)
	}
	if c := r.Contacts[1]; c.State != "terminated" || c.Event != "probation" || c.RetryAfter != 30*time.Second {
		t.Errorf("%+v", c)
	}
	if s := ri.Summary(); !strings.Contains(s, "v0 full; sip:user@example.com active [sip:user@pc887.example.com active/registered expires 3600 s]") {
		t.Errorf("summary %q", s)
	}
}

func TestParseReginfoRejects(t *testing.T) {
	doc := func(root, body string) string {
		return `<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" ` + root + `>` + body + `</reginfo>`
	}
	reg := func(attrs, body string) string { return `<registration ` + attrs + `>` + body + `</registration>` }
	for name, in := range map[string]string{
		"empty":             "",
		"not xml":           "SIP/2.0 200 OK",
		"other root":        `<presence xmlns="urn:ietf:params:xml:ns:pidf" version="0" state="full"/>`,
		"no namespace":      `<reginfo version="0" state="full"/>`,
		"no version":        doc(`state="full"`, ""),
		"negative version":  doc(`version="-1" state="full"`, ""),
		"huge version":      doc(`version="99999999999" state="full"`, ""),
		"bad state":         doc(`version="0" state="half"`, ""),
		"no aor":            doc(`version="0" state="full"`, reg(`id="a" state="active"`, "")),
		"bad reg state":     doc(`version="0" state="full"`, reg(`aor="sip:a@b" id="a" state="gone"`, "")),
		"contact no uri":    doc(`version="0" state="full"`, reg(`aor="sip:a@b" id="a" state="active"`, `<contact id="1" state="active" event="registered"/>`)),
		"contact bad event": doc(`version="0" state="full"`, reg(`aor="sip:a@b" id="a" state="active"`, `<contact id="1" state="active" event="exploded"><uri>sip:x@y</uri></contact>`)),
		"bad expires":       doc(`version="0" state="full"`, reg(`aor="sip:a@b" id="a" state="active"`, `<contact id="1" state="active" event="registered" expires="soon"><uri>sip:x@y</uri></contact>`)),
		"unclosed":          `<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">`,
		"too big":           doc(`version="0" state="full"`, strings.Repeat("<!-- padding -->", maxReginfoBytes/16+1)),
		"too many":          doc(`version="0" state="full"`, strings.Repeat(reg(`aor="sip:a@b" id="a" state="active"`, ""), maxReginfoRegs+1)),
	} {
		if _, err := ParseReginfo([]byte(in)); !errors.Is(err, ErrReginfo) {
			t.Errorf("%s: err %v, want ErrReginfo", name, err)
		}
	}
}

// FuzzReginfo feeds the parser what a network could send: it must never
// panic, and what it accepts must hold what the UE relies on.
func FuzzReginfo(f *testing.F) {
	f.Add([]byte(reginfoFull))
	f.Add([]byte(`<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="3" state="partial"><registration aor="sip:a@b" id="r" state="terminated"><contact id="c" state="terminated" event="rejected"><uri>sip:a@1.2.3.4:5060</uri></contact></registration></reginfo>`))
	f.Add([]byte(`<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full"/>`))
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x [<!ENTITY a "aaaa">]><reginfo>&a;</reginfo>`))
	f.Add([]byte("\x00\xff<"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ri, err := ParseReginfo(b)
		if err != nil {
			if ri != nil || !errors.Is(err, ErrReginfo) {
				t.Fatalf("error %v with a result %v, or not ErrReginfo", err, ri)
			}
			return
		}
		if ri.Version < 0 || !oneOf(ri.State, docStates) || len(ri.Registrations) > maxReginfoRegs {
			t.Fatalf("accepted %+v", ri)
		}
		for _, r := range ri.Registrations {
			if r.AOR == "" || !oneOf(r.State, regStates) || len(r.Contacts) > maxReginfoConts {
				t.Fatalf("accepted registration %+v", r)
			}
			for _, c := range r.Contacts {
				if c.URI == "" || !oneOf(c.State, contactStates) || !oneOf(c.Event, contactEvents) || c.Expires < 0 || c.RetryAfter < 0 {
					t.Fatalf("accepted contact %+v", c)
				}
			}
		}
		_ = ri.Summary()
	})
}
