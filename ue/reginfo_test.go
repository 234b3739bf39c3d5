package ue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A full document in the shape of RFC 3680 §6, with the +sip.instance a
// 3GPP S-CSCF reports (TS 24.229 §5.4.2.1.2); reginfo's tests read the
// XML in detail, this one the UE's view of it (times, instance, summary).
var reginfoFull = `<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">` +
	`<registration aor="sip:user@example.com" id="as9" state="active">` +
	`<contact id="76" state="active" event="registered" expires="3600"><uri>sip:user@pc887.example.com</uri>` +
	`<unknown-param name="+sip.instance">"&lt;urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF&gt;"</unknown-param></contact>` +
	`<contact id="77" state="terminated" event="probation" retry-after="30"><uri>sip:user@university.edu</uri></contact>` +
	`</registration><registration aor="tel:+15550001" id="as10" state="init"/></reginfo>`

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

// The checks are reginfo.Parse's (tested there): ParseReginfo returns
// its ErrReginfo and no document.
func TestParseReginfoRejects(t *testing.T) {
	for _, in := range []string{
		"",
		`<reginfo version="0" state="full"/>`,
		`<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full"><registration aor="sip:a@b" id="a" state="active"><contact id="1" state="active" event="registered" expires="soon"><uri>sip:x@y</uri></contact></registration></reginfo>`,
	} {
		if ri, err := ParseReginfo([]byte(in)); ri != nil || !errors.Is(err, ErrReginfo) {
			t.Errorf("%q: err %v, want ErrReginfo", in, err)
		}
	}
}
