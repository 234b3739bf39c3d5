package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testDomain = "ims.mnc001.mcc001.3gppnetwork.org"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestStore(t testing.TB) *Store {
	t.Helper()
	return openTest(t, filepath.Join(t.TempDir(), "hss.db"))
}

const ifcXMLText = `<InitialFilterCriteria><Priority>%d</Priority><TriggerPoint><ConditionTypeCNF>0</ConditionTypeCNF>` +
	`<SPT><ConditionNegated>0</ConditionNegated><Group>0</Group><Method>INVITE</Method></SPT></TriggerPoint>` +
	`<ApplicationServer><ServerName>sip:as.` + testDomain + `</ServerName><DefaultHandling>0</DefaultHandling></ApplicationServer></InitialFilterCriteria>`

func testIFC(prio int) IFC {
	return IFC{Priority: prio, XML: strings.Replace(ifcXMLText, "%d", string(rune('0'+prio)), 1)}
}

// testSubscriber has an AKA identity (the SIM) and a SIP Digest one (a
// softphone) sharing one public identity, and two iFCs (TS 35.208 set 1 keys).
func testSubscriber(t testing.TB, imsi string) *Subscriber {
	msisdn := "+1555" + imsi[len(imsi)-7:]
	return &Subscriber{
		IMSI: imsi, ICCID: "8988211000000000017", MSISDN: msisdn,
		K:   mustHex(t, "465b5ce8b199b49faa5f0a2ee238a6bc"),
		OPc: mustHex(t, "cd63cb71954a9f4e48a5994e37a02baf"),
		AMF: 0x8000, Domain: testDomain,
		Private: []PrivateID{
			{IMPI: imsi + "@" + testDomain, Scheme: SchemeAKA,
				IMPUs: []string{"sip:" + imsi + "@" + testDomain, "sip:" + msisdn + "@" + testDomain, "tel:" + msisdn}},
			{IMPI: "soft" + imsi + "@" + testDomain, Scheme: SchemeDigest, Password: "secret",
				IMPUs: []string{"sip:soft" + imsi + "@" + testDomain, "sip:" + msisdn + "@" + testDomain}},
		},
		Public: []PublicID{
			{IMPU: "sip:" + imsi + "@" + testDomain, IRS: 1, Default: true},
			{IMPU: "sip:" + msisdn + "@" + testDomain, IRS: 1},
			{IMPU: "tel:" + msisdn, IRS: 1, Barred: true},
			{IMPU: "sip:soft" + imsi + "@" + testDomain, IRS: 2, Default: true},
		},
		IFCs: []IFC{testIFC(0), testIFC(1)},
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	want := testSubscriber(t, "001010000000001")
	if err := s.Add(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, want.IMSI)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Get:\n got %+v\nwant %+v", got, want)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Fatalf("List = %v, %v", list, err)
	}
	lookups := []struct {
		name string
		get  func() (*Subscriber, error)
	}{
		{"ByIMPU exact", func() (*Subscriber, error) { return s.ByIMPU(ctx, "tel:+15550000001") }},
		{"ByIMPU upper-case scheme and host, params", func() (*Subscriber, error) {
			return s.ByIMPU(ctx, "SIP:001010000000001@IMS.mnc001.mcc001.3GPPNETWORK.org;transport=tcp")
		}},
		{"ByIMPU tel with separators", func() (*Subscriber, error) { return s.ByIMPU(ctx, "tel:+1-555-000-0001;phone-context=x") }},
		{"ByMSISDN without +", func() (*Subscriber, error) { return s.ByMSISDN(ctx, "15550000001") }},
		{"ByMSISDN with +", func() (*Subscriber, error) { return s.ByMSISDN(ctx, "+15550000001") }},
		{"ByIMPI digest", func() (*Subscriber, error) {
			sub, p, err := s.ByIMPI(ctx, "soft001010000000001@"+testDomain)
			if err == nil && (p.Scheme != SchemeDigest || p.Password != "secret" || len(p.IMPUs) != 2) {
				t.Errorf("ByIMPI private identity = %+v", p)
			}
			return sub, err
		}},
	}
	for _, l := range lookups {
		t.Run(l.name, func(t *testing.T) {
			sub, err := l.get()
			if err != nil || sub.IMSI != want.IMSI {
				t.Fatalf("got %v, %v", sub, err)
			}
		})
	}

	// Update replaces everything but the SQN.
	if _, err := s.NextSQN(ctx, want.IMSI, 3); err != nil {
		t.Fatal(err)
	}
	upd := testSubscriber(t, want.IMSI)
	upd.Barred, upd.AMF, upd.MSISDN = true, 0x0000, ""
	upd.RemovePrivate("soft001010000000001@" + testDomain)
	upd.Private[0].IMPUs = upd.Private[0].IMPUs[:1]
	upd.Public = upd.Public[:1]
	upd.IFCs = nil
	upd.SQN = 999
	if err := s.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(ctx, want.IMSI)
	if err != nil {
		t.Fatal(err)
	}
	upd.SQN = 0x63 // SEQ 3, IND 3
	if !reflect.DeepEqual(got, upd) {
		t.Fatalf("after Update:\n got %+v\nwant %+v", got, upd)
	}
	if _, err := s.ByIMPU(ctx, "tel:+15550000001"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed IMPU still found: %v", err)
	}
	if err := s.Delete(ctx, want.IMSI); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"subscriber", "private_id", "public_id", "impi_impu", "ifc", "registration", "mme"} {
		var n int
		if err := s.db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil || n != 0 {
			t.Errorf("after Delete, %s has %d rows (%v)", table, n, err)
		}
	}
}

func TestExistsAndNotFound(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	if err := s.Add(ctx, testSubscriber(t, "001010000000001")); err != nil {
		t.Fatal(err)
	}
	other := func(edit func(*Subscriber)) *Subscriber {
		sub := testSubscriber(t, "001010000000002")
		edit(sub)
		return sub
	}
	exists := []struct {
		name string
		sub  *Subscriber
	}{
		{"same IMSI", testSubscriber(t, "001010000000001")},
		{"same IMPI", other(func(s *Subscriber) {
			s.Private[1].IMPI = "soft001010000000001@" + testDomain
		})},
		{"same IMPU, other case", other(func(s *Subscriber) {
			s.Public[3].IMPU = "sip:soft001010000000001@IMS.MNC001.mcc001.3gppnetwork.org"
			s.Private[1].IMPUs[0] = s.Public[3].IMPU
		})},
		{"same MSISDN without +", other(func(s *Subscriber) { s.MSISDN = "15550000001" })},
	}
	for _, tc := range exists {
		t.Run("Add "+tc.name, func(t *testing.T) {
			if err := s.Add(ctx, tc.sub); !errors.Is(err, ErrExists) {
				t.Fatalf("Add = %v, want ErrExists", err)
			}
		})
	}
	if err := s.Add(ctx, testSubscriber(t, "001010000000002")); err != nil {
		t.Fatal(err)
	}
	steal := testSubscriber(t, "001010000000002")
	steal.Public[0].IMPU = "sip:001010000000001@" + testDomain
	steal.Private[0].IMPUs[0] = steal.Public[0].IMPU
	if err := s.Update(ctx, steal); !errors.Is(err, ErrExists) {
		t.Errorf("Update taking another subscriber's IMPU = %v, want ErrExists", err)
	}

	const unknown = "001019999999999"
	notFound := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, unknown); return err }},
		{"Update", func() error { return s.Update(ctx, testSubscriber(t, unknown)) }},
		{"Delete", func() error { return s.Delete(ctx, unknown) }},
		{"ByIMPI", func() error { _, _, err := s.ByIMPI(ctx, "nobody@"+testDomain); return err }},
		{"ByIMPU", func() error { _, err := s.ByIMPU(ctx, "sip:nobody@"+testDomain); return err }},
		{"ByMSISDN", func() error { _, err := s.ByMSISDN(ctx, "999"); return err }},
		{"NextSQN", func() error { _, err := s.NextSQN(ctx, unknown, 1); return err }},
		{"SetSQN", func() error { return s.SetSQN(ctx, unknown, 1) }},
		{"Registration", func() error { _, err := s.Registration(ctx, "sip:nobody@"+testDomain); return err }},
		{"SetRegistration", func() error {
			return s.SetRegistration(ctx, Registration{IMPU: "sip:nobody@" + testDomain, State: Registered})
		}},
		{"Registrations", func() error { _, err := s.Registrations(ctx, unknown); return err }},
		{"SetMME", func() error { return s.SetMME(ctx, unknown, "mme", "realm") }},
		{"MME", func() error { _, _, err := s.MME(ctx, unknown); return err }},
	}
	for _, tc := range notFound {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrNotFound) {
				t.Fatalf("got %v, want ErrNotFound", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, want string
		edit       func(*Subscriber)
	}{
		{"short IMSI", "6 to 15 digits", func(s *Subscriber) { s.IMSI = "00101" }},
		{"letters in IMSI", "6 to 15 digits", func(s *Subscriber) { s.IMSI = "00101abc000001" }},
		{"short K", "K must be 16 bytes", func(s *Subscriber) { s.K = s.K[:15] }},
		{"no OPc", "OPc must be 16 bytes", func(s *Subscriber) { s.OPc = nil }},
		{"OP not matching OPc", "not the one derived from OP", func(s *Subscriber) { s.OP = make([]byte, 16) }},
		{"empty IMPI", "non-empty NAI", func(s *Subscriber) { s.Private[0].IMPI = "" }},
		{"IMPU not a URI", "sip: or tel: URI", func(s *Subscriber) { s.Public[0].IMPU = "mailto:x@y" }},
		{"digest without password", "needs a password", func(s *Subscriber) { s.Private[1].Password = "" }},
		{"IMPI with an unknown IMPU", "not one of the subscriber's public identities", func(s *Subscriber) {
			s.Private[0].IMPUs = append(s.Private[0].IMPUs, "sip:stranger@"+testDomain)
		}},
		{"IMPI with no IMPU", "at least one", func(s *Subscriber) { s.Private[0].IMPUs = nil }},
		{"two defaults in one IRS", "two default", func(s *Subscriber) { s.Public[1].Default = true }},
		{"duplicate IMPU", "given twice", func(s *Subscriber) { s.Public[1].IMPU = "SIP:001010000000001@" + testDomain }},
		{"unknown scheme", "authentication scheme", func(s *Subscriber) { s.Private[0].Scheme = "MD5" }},
		{"iFC priority mismatch", "must hold <Priority>5", func(s *Subscriber) { s.IFCs[0].Priority = 5 }},
		{"iFC not XML", "not well-formed", func(s *Subscriber) { s.IFCs[0].XML = "<Initial" }},
		{"same iFC priority", "priorities must differ", func(s *Subscriber) { s.IFCs[1] = s.IFCs[0] }},
		{"SQN over 48 bits", "48 bits", func(s *Subscriber) { s.SQN = 1 << 48 }},
	}
	s := newTestStore(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := testSubscriber(t, "001010000000001")
			tc.edit(sub)
			err := s.Add(context.Background(), sub)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Add = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestNormalizeIMPU(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sip:alice@example.org", "sip:alice@example.org"},
		{"SIP:Alice@EXAMPLE.org", "sip:Alice@example.org"},
		{"sip:alice@example.org:5060;transport=tcp?subject=x", "sip:alice@example.org:5060"},
		{"sip:+15551234@example.org;user=phone;transport=udp", "sip:+15551234@example.org;user=phone"},
		{"sip:+15551234@Example.org;USER=PHONE", "sip:+15551234@example.org;user=phone"},
		{"sip:+1555;phone-context=x@example.org;user=phone", "sip:+1555;phone-context=x@example.org;user=phone"},
		{"tel:+1-555-(123).4;phone-context=x", "tel:+15551234"},
		{"TEL:+15551234", "tel:+15551234"},
		{"sip:example.org", "sip:example.org"},
		{"nocolon", "nocolon"},
	}
	for _, tc := range tests {
		if got := NormalizeIMPU(tc.in); got != tc.want {
			t.Errorf("NormalizeIMPU(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRegistrationAndMME(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	sub := testSubscriber(t, "001010000000001")
	if err := s.Add(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, testSubscriber(t, "001010000000002")); err != nil {
		t.Fatal(err)
	}
	impu, impi := sub.Public[1].IMPU, sub.Private[0].IMPI
	r, err := s.Registration(ctx, impu)
	if err != nil || r.State != NotRegistered || r.SCSCF != "" || r.IMPU != impu {
		t.Fatalf("Registration before = %+v, %v", r, err)
	}
	when := time.Unix(1700000000, 123)
	want := Registration{IMPU: impu, IMPI: impi, SCSCF: "sip:scscf." + testDomain + ":6060", State: Registered, Updated: when}
	if err := s.SetRegistration(ctx, want); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Registration(ctx, strings.ToUpper(impu[:4])+impu[4:]+";transport=udp"); err != nil || *r != want {
		t.Fatalf("Registration = %+v, %v; want %+v", r, err, want)
	}
	if err := s.SetRegistration(ctx, Registration{IMPU: impu, IMPI: "001010000000002@" + testDomain, State: Registered}); err == nil {
		t.Error("SetRegistration with another subscriber's IMPI succeeded")
	}
	// A profile update keeps the registration of the identities that remain.
	sub.Barred = true
	if err := s.Update(ctx, sub); err != nil {
		t.Fatal(err)
	}
	regs, err := s.Registrations(ctx, sub.IMSI)
	if err != nil || len(regs) != 1 || regs[0] != want {
		t.Fatalf("Registrations after Update = %+v, %v", regs, err)
	}
	if err := s.SetRegistration(ctx, Registration{IMPU: impu, State: NotRegistered}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Registration(ctx, impu); err != nil || r.State != NotRegistered {
		t.Fatalf("after deregistration: %+v, %v", r, err)
	}
	if host, realm, err := s.MME(ctx, sub.IMSI); err != nil || host != "" || realm != "" {
		t.Fatalf("MME before ULR = %q %q %v", host, realm, err)
	}
	if err := s.SetMME(ctx, sub.IMSI, "mme.epc.example", "epc.example"); err != nil {
		t.Fatal(err)
	}
	if host, realm, err := s.MME(ctx, sub.IMSI); err != nil || host != "mme.epc.example" || realm != "epc.example" {
		t.Fatalf("MME = %q %q %v", host, realm, err)
	}
	if err := s.SetMME(ctx, sub.IMSI, "", ""); err != nil {
		t.Fatal(err)
	}
	if host, _, err := s.MME(ctx, sub.IMSI); err != nil || host != "" {
		t.Fatalf("MME after PUR = %q %v", host, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name, setup, want string
	}{
		{"newer schema", "CREATE TABLE x (a); PRAGMA user_version = 99", "schema version 99"},
		{"foreign database", "CREATE TABLE x (a)", "not an imslab HSS store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hss.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.setup); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want %q", err, tc.want)
			}
		})
	}
	// A second Open of an existing store keeps it.
	path := filepath.Join(t.TempDir(), "hss.db")
	s := openTest(t, path)
	if err := s.Add(context.Background(), testSubscriber(t, "001010000000001")); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, path)
	if _, err := s2.Get(context.Background(), "001010000000001"); err != nil {
		t.Fatal(err)
	}
}
