package ue

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/sim"
)

func TestPickPCSCF(t *testing.T) {
	isim := &sim.Identities{PCSCF: []string{"pcscf.ims.example.org", "10.0.0.1"}, PCSCFSource: sim.FromISIM}
	v6 := &sim.Identities{PCSCF: []string{"2001:db8::1"}, PCSCFSource: sim.FromISIM}
	none := &sim.Identities{PCSCFSource: sim.FromNowhere}
	pco := []netip.Addr{netip.MustParseAddr("127.0.0.9")}
	for _, tc := range []struct {
		given string
		pco   []netip.Addr
		id    *sim.Identities
		want  string
		why   string
	}{
		{"127.0.0.2:5070", pco, isim, "127.0.0.2:5070", "given"},
		{"", pco, isim, "127.0.0.9:5060", "PCO"},
		{"", nil, isim, "pcscf.ims.example.org:5060", "EF_PCSCF"},
		{"", nil, v6, "[2001:db8::1]:5060", "EF_PCSCF"},
		{"", nil, none, DefaultPCSCF, "default"},
	} {
		got, why := pickPCSCF(tc.given, tc.pco, tc.id)
		if got != tc.want || !strings.Contains(why, tc.why) {
			t.Errorf("pickPCSCF(%q, %v) = %s (%s), want %s (%s)", tc.given, tc.id.PCSCF, got, why, tc.want, tc.why)
		}
	}
}

func TestPickIMPUAndApp(t *testing.T) {
	u, err := pickIMPU([]string{"tel:+15550001", "sip:+15550001@ims.example.org"})
	if err != nil || u.String() != "sip:+15550001@ims.example.org" {
		t.Errorf("pickIMPU = %s, %v: want the first SIP URI", u.String(), err)
	}
	if _, err := pickIMPU([]string{"tel:+15550001"}); err == nil {
		t.Error("a tel URI alone was accepted as the registering IMPU")
	}
	for _, tc := range []struct {
		choice  string
		hasISIM bool
		want    sim.App
		err     bool
	}{
		{"", true, sim.AppISIM, false},
		{"", false, sim.AppUSIM, false},
		{"usim", true, sim.AppUSIM, false},
		{"isim", false, 0, true},
	} {
		got, err := pickApp(tc.choice, tc.hasISIM)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("pickApp(%q, %v) = %v, %v", tc.choice, tc.hasISIM, got, err)
		}
	}
}

func TestInstanceIDStable(t *testing.T) {
	a := instanceID("8900101000000000001", "001010000000001")
	if a != instanceID("8900101000000000001", "001010000000001") {
		t.Error("instance ID not stable")
	}
	if a == instanceID("8900101000000000002", "001010000000001") {
		t.Error("two cards, one instance ID")
	}
	// urn:uuid:xxxxxxxx-xxxx-5xxx-[89ab]xxx-xxxxxxxxxxxx, RFC 9562 §5.5.
	if len(a) != 45 || !strings.HasPrefix(a, "urn:uuid:") || a[23] != '5' || !strings.ContainsAny(a[28:29], "89ab") {
		t.Errorf("instance ID %s is not a version 5 UUID URN", a)
	}
}

func TestRefreshIn(t *testing.T) {
	// TS 24.229 §5.1.1.4.1: half of it up to 1200 s, else 600 s before.
	for in, want := range map[time.Duration]time.Duration{
		2 * time.Second:      time.Second,
		600 * time.Second:    300 * time.Second,
		1200 * time.Second:   600 * time.Second,
		3600 * time.Second:   3000 * time.Second,
		600000 * time.Second: 599400 * time.Second,
	} {
		if got := refreshIn(in); got != want {
			t.Errorf("refreshIn(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestSplitAddrList(t *testing.T) {
	hs := []sip.Header{
		sip.NewHeader("Service-Route", `<sip:orig@scscf.example.org;lr>, "A, B" <sip:x@y;lr>`),
		sip.NewHeader("Service-Route", `<sip:z@w;lr;foo="a,b">`),
	}
	got := splitAddrList(hs)
	want := []string{"<sip:orig@scscf.example.org;lr>", `"A, B" <sip:x@y;lr>`, `<sip:z@w;lr;foo="a,b">`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitAddrList = %q, want %q", got, want)
	}
}

func TestNewChecksConfig(t *testing.T) {
	c := newTestCard(t, "001010000000031", true, 0)
	for name, cfg := range map[string]Config{
		"no card":       {},
		"bad transport": {Card: c.card, Transport: "sctp"},
		"bad app":       {Card: c.card, App: "gsm"},
		"bad instance":  {Card: c.card, InstanceID: "1234"},
		"short expires": {Card: c.card, Expires: time.Millisecond},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
