package scscf

import (
	"strings"
	"testing"
)

// An IMSSubscription as the HSS sends it (TS 29.228 Annex E), with an iFC
// and a barred identity.
const sampleUserData = `<?xml version="1.0" encoding="UTF-8"?>
<IMSSubscription>
  <PrivateID>001010000000001@ims.mnc001.mcc001.3gppnetwork.org</PrivateID>
  <ServiceProfile>
    <PublicIdentity><Identity>sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org</Identity></PublicIdentity>
    <PublicIdentity><BarringIndication>1</BarringIndication><Identity>sip:+15550001@ims.mnc001.mcc001.3gppnetwork.org</Identity></PublicIdentity>
    <PublicIdentity><Identity>tel:+15550001</Identity></PublicIdentity>
    <InitialFilterCriteria><Priority>0</Priority><ApplicationServer><ServerName>sip:as.example</ServerName></ApplicationServer></InitialFilterCriteria>
  </ServiceProfile>
</IMSSubscription>`

func TestParseUserData(t *testing.T) {
	p, err := parseUserData(sampleUserData)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.impus, " ") != "sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org sip:+15550001@ims.mnc001.mcc001.3gppnetwork.org tel:+15550001" {
		t.Errorf("implicit set %v", p.impus)
	}
	if len(p.barred) != 1 || p.barred[0] != "sip:+15550001@ims.mnc001.mcc001.3gppnetwork.org" {
		t.Errorf("barred %v", p.barred)
	}
	set := &regSet{IMPUs: p.impus, Barred: p.barred}
	if a := set.associated(); len(a) != 2 || a[1] != "tel:+15550001" {
		t.Errorf("P-Associated-URI set %v", a)
	}
	for _, bad := range []string{"", "<IMSSubscription/>", "<Other/>", "<IMSSubscription><ServiceProfile><PublicIdentity><Identity>nocolon</Identity></PublicIdentity></ServiceProfile></IMSSubscription>",
		"<IMSSubscription><ServiceProfile>"} {
		if _, err := parseUserData(bad); err == nil {
			t.Errorf("parseUserData(%q) accepted", bad)
		}
	}
}

func TestNormIMPU(t *testing.T) {
	for in, want := range map[string]string{
		"sip:Alice@IMS.Example.ORG":                  "sip:Alice@ims.example.org",
		"<sip:alice@ims.example.org;transport=udp>":  "sip:alice@ims.example.org",
		"SIP:+1555@ims.example.org;user=phone":       "sip:+1555@ims.example.org;user=phone",
		"tel:+1-555-0001;phone-context=example.org":  "tel:+15550001",
		`"Alice" <sip:alice@ims.example.org>;tag=12`: "sip:alice@ims.example.org",
	} {
		if got := normIMPU(in); got != want {
			t.Errorf("normIMPU(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := splitList(`<sip:a@x;lr>, "Bob, Jr." <sip:b@y>,<sip:c@z;p="1,2">`)
	if len(got) != 3 || got[1] != `"Bob, Jr." <sip:b@y>` || got[2] != `<sip:c@z;p="1,2">` {
		t.Errorf("%q", got)
	}
}

// User-Data comes from the network (Diameter): never a panic.
func FuzzParseUserData(f *testing.F) {
	f.Add(sampleUserData)
	f.Add("<IMSSubscription><ServiceProfile><PublicIdentity><Identity>sip:a@b</Identity></PublicIdentity></ServiceProfile></IMSSubscription>")
	f.Add("<IMSSubscription><ServiceProfile><PublicIdentity><BarringIndication>1</BarringIndication><Identity>tel:+1</Identity>")
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := parseUserData(doc)
		if err == nil && len(p.impus) == 0 {
			t.Fatal("accepted a profile without identities")
		}
	})
}

// Header values come from the network: splitting never loses or invents text.
func FuzzSplitList(f *testing.F) {
	f.Add(`<sip:a@x;lr>, "Bob, Jr." <sip:b@y>`)
	f.Add(`"unterminated, <`)
	f.Fuzz(func(t *testing.T, v string) {
		for _, p := range splitList(v) {
			if p == "" || !strings.Contains(v, p) {
				t.Fatalf("part %q of %q", p, v)
			}
		}
		_ = normIMPU(v)
		_ = splitParams(v)
	})
}
