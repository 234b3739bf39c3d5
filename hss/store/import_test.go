package store

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/imslab/imslab/internal/cardfile"
)

func TestFromCard(t *testing.T) {
	const (
		k   = "465b5ce8b199b49faa5f0a2ee238a6bc"
		op  = "cdc202d5123e20f62b6d676ac72cb318"
		opc = "cd63cb71954a9f4e48a5994e37a02baf" // TS 35.208 set 1
	)
	dom2 := "ims.mnc001.mcc001.3gppnetwork.org"
	dom3 := "ims.mnc123.mcc310.3gppnetwork.org"
	tests := []struct {
		name         string
		card         cardfile.Card
		domain       string
		wantDomain   string
		wantIMPI     string
		wantIMPUs    []string
		wantOP       bool
		wantScheme   AuthScheme
		wantDefaults int
	}{
		{
			name: "ISIM",
			card: cardfile.Card{ICCID: "8988211000000000017", IMSI: "001010000000001", K: k, OPc: opc, AMF: "8000", MSISDN: "+15550000001", MNCLength: 2,
				ISIM: &cardfile.ISIM{IMPI: "alice@ims.example.org", Domain: "ims.example.org", IMPUs: []string{"sip:alice@ims.example.org", "tel:+15550000001"}}},
			domain:     "ignored.example",
			wantDomain: "ims.example.org", wantIMPI: "alice@ims.example.org",
			wantIMPUs: []string{"sip:alice@ims.example.org", "tel:+15550000001"},
		},
		{
			name:       "no ISIM, 2-digit MNC",
			card:       cardfile.Card{IMSI: "001010000000002", K: k, OPc: opc, AMF: "8000", MSISDN: "+15550000002", MNCLength: 2},
			wantDomain: dom2, wantIMPI: "001010000000002@" + dom2,
			wantIMPUs: []string{"sip:001010000000002@" + dom2, "sip:+15550000002@" + dom2, "tel:+15550000002"},
		},
		{
			name:       "no ISIM, 3-digit MNC, no MSISDN",
			card:       cardfile.Card{IMSI: "310123000000003", K: k, OPc: opc, AMF: "8000", MNCLength: 3},
			wantDomain: dom3, wantIMPI: "310123000000003@" + dom3,
			wantIMPUs: []string{"sip:310123000000003@" + dom3},
		},
		{
			name:       "no ISIM, lab domain for the MSISDN identities",
			card:       cardfile.Card{IMSI: "001010000000004", K: k, OPc: opc, AMF: "8000", MSISDN: "15550000004", MNCLength: 2},
			domain:     "ims.lab",
			wantDomain: "ims.lab", wantIMPI: "001010000000004@" + dom2,
			wantIMPUs: []string{"sip:001010000000004@" + dom2, "sip:+15550000004@ims.lab", "tel:+15550000004"},
		},
		{
			name:       "OP instead of OPc",
			card:       cardfile.Card{IMSI: "001010000000005", K: k, OP: op, AMF: "8000", MNCLength: 2},
			wantDomain: dom2, wantIMPI: "001010000000005@" + dom2,
			wantIMPUs: []string{"sip:001010000000005@" + dom2},
			wantOP:    true,
		},
	}
	s := newTestStore(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.card.State.SEQ = make([]uint64, 32)
			tc.card.State.SEQ[3] = 1234 // the card's memory: not imported
			sub, err := FromCard(&tc.card, tc.domain)
			if err != nil {
				t.Fatal(err)
			}
			if sub.Domain != tc.wantDomain || sub.SQN != 0 || sub.AMF != 0x8000 {
				t.Errorf("domain %q SQN %d AMF %04x", sub.Domain, sub.SQN, sub.AMF)
			}
			if !bytes.Equal(sub.OPc, mustHex(t, opc)) {
				t.Errorf("OPc = %x, want %s", sub.OPc, opc)
			}
			if (sub.OP != nil) != tc.wantOP || tc.wantOP && !bytes.Equal(sub.OP, mustHex(t, op)) {
				t.Errorf("OP = %x", sub.OP)
			}
			if len(sub.Private) != 1 || sub.Private[0].IMPI != tc.wantIMPI || sub.Private[0].Scheme != SchemeAKA ||
				!reflect.DeepEqual(sub.Private[0].IMPUs, tc.wantIMPUs) {
				t.Fatalf("private identities = %+v", sub.Private)
			}
			for i, p := range sub.Public {
				if p.IMPU != tc.wantIMPUs[i] || p.IRS != 1 || p.Default != (i == 0) {
					t.Errorf("public identity %d = %+v", i, p)
				}
			}
			if err := s.Add(context.Background(), sub); err != nil {
				t.Fatal(err)
			}
		})
	}
}

const sysmocomCSV = `# sysmoISIM-SJA2 batch, 3 cards
ICCID,IMSI,PIN1,PUK1,PIN2,PUK2,Ki,OPc,ADM1
8988211000000000017,001010000000001,1234,12345678,5678,87654321,465B5CE8B199B49FAA5F0A2EE238A6BC,CD63CB71954A9F4E48A5994E37A02BAF,11111111
8988211000000000025,001010000000002,1234,12345678,5678,87654321,00112233445566778899aabbccddeeff,ffeeddccbbaa99887766554433221100,22222222

# a comment in the middle
8988211000000000033,001010000000003,1234,12345678,5678,87654321,0f0e0d0c0b0a09080706050403020100,00000000000000000000000000000001,33333333
`

func TestParseVendorCSV(t *testing.T) {
	subs, err := ParseVendorCSV(strings.NewReader(sysmocomCSV))
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 3 {
		t.Fatalf("%d subscribers, want 3", len(subs))
	}
	s := subs[0]
	if s.IMSI != "001010000000001" || s.ICCID != "8988211000000000017" || s.AMF != 0x8000 ||
		!bytes.Equal(s.K, mustHex(t, "465b5ce8b199b49faa5f0a2ee238a6bc")) ||
		!bytes.Equal(s.OPc, mustHex(t, "cd63cb71954a9f4e48a5994e37a02baf")) || s.OP != nil {
		t.Errorf("first card = %+v", s)
	}
	if s.Private[0].IMPI != "001010000000001@"+testDomain || s.Public[0].IMPU != "sip:001010000000001@"+testDomain {
		t.Errorf("identities = %+v %+v", s.Private, s.Public)
	}

	good := []struct{ name, csv string }{
		{"header with spaces, case and underscores, OP, MSISDN, AMF",
			" iccid , Imsi ,K, op ,MSISDN,amf,Name\n8988211000000000017, 001010000000001, 465b5ce8b199b49faa5f0a2ee238a6bc, cdc202d5123e20f62b6d676ac72cb318, 15550000001, 0000, x\n"},
		{"OP_C", "IMSI,Ki,OP_C\n001010000000001,465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf\n"},
		{"byte-order mark", "\ufeffICCID,IMSI,Ki,OPc\n8988211000000000017,001010000000001,465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf\n"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			subs, err := ParseVendorCSV(strings.NewReader(tc.csv))
			if err != nil || len(subs) != 1 || !bytes.Equal(subs[0].OPc, mustHex(t, "cd63cb71954a9f4e48a5994e37a02baf")) {
				t.Fatalf("got %v, %v", subs, err)
			}
		})
	}

	const hdr = "ICCID,IMSI,PIN1,PUK1,PIN2,PUK2,Ki,OPc,ADM1\n"
	const row = "8988211000000000017,001010000000001,1234,12345678,5678,87654321,"
	bad := []struct{ name, csv, want string }{
		{"empty", "", "empty"},
		{"only comments", "# nothing\n", "empty"},
		{"no Ki column", "ICCID,IMSI,OPc\n", "no KI column"},
		{"no OPc column", "ICCID,IMSI,Ki\n", "neither an OPc nor an OP"},
		{"two K columns", "IMSI,K,Ki,OPc\n", "are the same"},
		{"short Ki", hdr + row + "465b5c,cd63cb71954a9f4e48a5994e37a02baf,1\n", "line 2, column Ki"},
		{"bad OPc on line 3", hdr + row + "465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf,1\n" +
			"8988211000000000025,001010000000002,1,1,1,1,465b5ce8b199b49faa5f0a2ee238a6bc,zz63cb71954a9f4e48a5994e37a02baf,1\n", "line 3, column OPc"},
		{"bad IMSI", hdr + "8988211000000000017,00101abc,1,1,1,1,465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf,1\n", "line 2, column IMSI"},
		{"short line", hdr + "8988211000000000017,001010000000001,1,1\n", "line 2, column Ki"},
		{"empty OPc", hdr + row + "465b5ce8b199b49faa5f0a2ee238a6bc,,1\n", "line 2, column OPc"},
		{"bad AMF", "IMSI,Ki,OPc,AMF\n001010000000001,465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf,80\n", "line 2, column AMF"},
		{"OP and OPc disagree", "IMSI,Ki,OPc,OP\n001010000000001,465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf,00000000000000000000000000000000\n", "line 2"},
		{"duplicate IMSI", hdr + row + "465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf,1\n" +
			row + "465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf,1\n", "already on line 2"},
		{"bad quoting", hdr + "\"8988211000000000017,001010000000001\n", "line"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseVendorCSV(strings.NewReader(tc.csv))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestParseIFCs(t *testing.T) {
	doc := `<?xml version="1.0"?><IMSSubscription><ServiceProfile>` + testIFC(0).XML + "\n" + testIFC(1).XML +
		`</ServiceProfile></IMSSubscription>`
	got, err := ParseIFCs(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []IFC{testIFC(0), testIFC(1)}) {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{"", "<x/>", "<InitialFilterCriteria><TriggerPoint/></InitialFilterCriteria>", "<InitialFilterCriteria>"} {
		if _, err := ParseIFCs(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseIFCs(%q) succeeded", bad)
		}
	}
}

func FuzzParseVendorCSV(f *testing.F) {
	f.Add(sysmocomCSV)
	f.Add("IMSI,Ki,OP\n001010000000001,465b5ce8b199b49faa5f0a2ee238a6bc,cdc202d5123e20f62b6d676ac72cb318\n")
	f.Add("IMSI,K,OPc,AMF,MSISDN\n\"0010\n1\",,,")
	f.Fuzz(func(t *testing.T, in string) {
		subs, err := ParseVendorCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, s := range subs {
			if err := s.Validate(); err != nil {
				t.Fatalf("ParseVendorCSV returned an invalid subscriber: %v", err)
			}
		}
	})
}
