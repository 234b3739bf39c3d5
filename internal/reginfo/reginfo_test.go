package reginfo

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A full document in the shape of RFC 3680 §6, with the +sip.instance a
// 3GPP S-CSCF reports (TS 24.229 §5.4.2.1.2) and an extension element.
const docFull = `<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" xmlns:gr="urn:ietf:params:xml:ns:gruuinfo" version="0" state="full">
  <registration aor="sip:user@example.com" id="as9" state="active">
    <contact id="76" state="active" event="registered" duration-registered="7322" q="0.8" expires="3600" callid="a@b" cseq="4">
      <uri> sip:user@pc887.example.com </uri>
      <display-name>User</display-name>
      <unknown-param name="+sip.instance">"&lt;urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF&gt;"</unknown-param>
      <gr:pub-gruu uri="sip:user@example.com;gr=urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF"/>
    </contact>
    <contact id="77" state="terminated" event="probation" retry-after="30">
      <uri>sip:user@university.edu</uri>
    </contact>
  </registration>
  <registration aor="tel:+15550001" id="as10" state="init"/>
</reginfo>`

func TestParseRFC3680(t *testing.T) {
	d, err := Parse([]byte(docFull))
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != 0 || d.State != "full" || len(d.Registrations) != 2 || d.Registrations[1].AOR != "tel:+15550001" {
		t.Fatalf("%+v", d)
	}
	r := d.Registrations[0]
	if r.AOR != "sip:user@example.com" || r.ID != "as9" || r.State != "active" || len(r.Contacts) != 2 {
		t.Fatalf("%+v", r)
	}
	c := r.Contacts[0]
	if c.URI != "sip:user@pc887.example.com" || c.Event != "registered" || *c.Expires != 3600 || *c.DurationRegistered != 7322 ||
		c.Q != "0.8" || c.CallID != "a@b" || *c.CSeq != 4 || c.DisplayName != "User" || c.RetryAfter != nil {
		t.Errorf("%+v", c)
	}
	if v, ok := c.Param("+SIP.Instance"); !ok || v != `"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"` {
		t.Errorf("+sip.instance %q %v", v, ok)
	}
	if c := r.Contacts[1]; c.State != "terminated" || c.Event != "probation" || *c.RetryAfter != 30 || c.Expires != nil {
		t.Errorf("%+v", c)
	}
}

// What Encode writes, Parse reads back the same.
func TestEncodeParse(t *testing.T) {
	d, err := Parse([]byte(docFull))
	if err != nil {
		t.Fatal(err)
	}
	out := Encode(d)
	if !strings.HasPrefix(string(out), `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">`) {
		t.Errorf("encoded:\n%s", out)
	}
	back, err := Parse(out)
	if err != nil || !reflect.DeepEqual(back, d) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, back, d)
	}
}

func TestParseRejects(t *testing.T) {
	doc := func(root, body string) string {
		return `<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" ` + root + `>` + body + `</reginfo>`
	}
	reg := func(attrs, body string) string { return `<registration ` + attrs + `>` + body + `</registration>` }
	contact := func(attrs string) string {
		return doc(`version="0" state="full"`, reg(`aor="sip:a@b" id="a" state="active"`, `<contact id="1" `+attrs+`><uri>sip:x@y</uri></contact>`))
	}
	for name, in := range map[string]string{
		"empty":               "",
		"not xml":             "SIP/2.0 200 OK",
		"end first":           "</reginfo>",
		"other root":          `<presence xmlns="urn:ietf:params:xml:ns:pidf" version="0" state="full"/>`,
		"no namespace":        `<reginfo version="0" state="full"/>`,
		"no version":          doc(`state="full"`, ""),
		"negative version":    doc(`version="-1" state="full"`, ""),
		"huge version":        doc(`version="99999999999" state="full"`, ""),
		"bad state":           doc(`version="0" state="half"`, ""),
		"no aor":              doc(`version="0" state="full"`, reg(`id="a" state="active"`, "")),
		"bad reg state":       doc(`version="0" state="full"`, reg(`aor="sip:a@b" id="a" state="gone"`, "")),
		"contact no uri":      doc(`version="0" state="full"`, reg(`aor="sip:a@b" id="a" state="active"`, `<contact id="1" state="active" event="registered"/>`)),
		"contact bad state":   contact(`state="gone" event="registered"`),
		"contact bad event":   contact(`state="active" event="exploded"`),
		"bad expires":         contact(`state="active" event="registered" expires="soon"`),
		"negative expires":    contact(`state="active" event="registered" expires="-1"`),
		"huge expires":        contact(`state="active" event="registered" expires="2147483648"`),
		"negative retry":      contact(`state="terminated" event="probation" retry-after="-30"`),
		"negative duration":   contact(`state="active" event="registered" duration-registered="-1"`),
		"bad cseq":            contact(`state="active" event="registered" cseq="x"`),
		"unclosed":            `<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">`,
		"too big":             doc(`version="0" state="full"`, strings.Repeat("<!-- padding -->", MaxBytes/16+1)),
		"too many":            doc(`version="0" state="full"`, strings.Repeat(reg(`aor="sip:a@b" id="a" state="active"`, ""), MaxRegistrations+1)),
		"too many contacts":   doc(`version="0" state="full"`, reg(`aor="sip:a@b" id="a" state="active"`, strings.Repeat(`<contact id="1" state="active" event="registered"><uri>sip:x@y</uri></contact>`, MaxContacts+1))),
		"one of two versions": doc(`version="1" x:version="y" xmlns:x="urn:x" state="full"`, ""),
	} {
		if d, err := Parse([]byte(in)); d != nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	// At the limits, accepted.
	full := doc(`version="2147483647" state="partial"`, strings.Repeat(reg(`aor="sip:a@b" id="a" state="active"`,
		strings.Repeat(`<contact id="1" state="active" event="registered" expires="2147483647"><uri>sip:x@y</uri></contact>`, MaxContacts)), 2))
	if _, err := Parse([]byte(full)); err != nil {
		t.Errorf("at the limits: %v", err)
	}
}

// FuzzParse feeds the parser what a network could send: it must never
// panic, what it accepts must hold what a subscriber relies on, and it
// must read back what Encode writes of it. The seed corpus is below.
func FuzzParse(f *testing.F) {
	f.Add([]byte(docFull))
	f.Add([]byte(`<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="3" state="partial"><registration aor="sip:a@b" id="r" state="terminated"><contact id="c" state="terminated" event="rejected"><uri>sip:a@1.2.3.4:5060</uri></contact></registration></reginfo>`))
	f.Add([]byte(`<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full"/>`))
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x [<!ENTITY a "aaaa">]><reginfo>&a;</reginfo>`))
	f.Add([]byte("\x00\xff<"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			if d != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v with a result %v, or not ErrInvalid", err, d)
			}
			return
		}
		if d.Version > 1<<31-1 || !slices.Contains(DocStates, d.State) || len(d.Registrations) > MaxRegistrations {
			t.Fatalf("accepted %+v", d)
		}
		for _, r := range d.Registrations {
			if r.AOR == "" || !slices.Contains(RegStates, r.State) || len(r.Contacts) > MaxContacts {
				t.Fatalf("accepted registration %+v", r)
			}
			for _, c := range r.Contacts {
				if c.URI == "" || !slices.Contains(ContactStates, c.State) || !slices.Contains(ContactEvents, c.Event) ||
					c.Expires != nil && (*c.Expires < 0 || *c.Expires > 1<<31-1) || c.RetryAfter != nil && (*c.RetryAfter < 0 || *c.RetryAfter > 1<<31-1) {
					t.Fatalf("accepted contact %+v", c)
				}
			}
		}
		out := Encode(d)
		if len(out) > MaxBytes {
			return // escaping can make it longer than the limit
		}
		back, err := Parse(out)
		if err != nil || !reflect.DeepEqual(back, d) {
			t.Fatalf("round trip: %v\n%s\n%+v\n%+v", err, out, back, d)
		}
	})
}
