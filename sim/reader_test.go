package sim

import (
	"github.com/imslab/imslab/internal/cardfile"

	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestReadIdentitiesISIM(t *testing.T) {
	var trace bytes.Buffer
	c := newCard(t, true, "1234")
	r := NewReader(&TraceTransport{Transport: c, W: &trace})
	r.SetPIN("1234")
	id, err := r.ReadIdentities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := &Identities{
		ICCID: "8988211000000000011", IMSI: "001010000000001", MCC: "001", MNC: "01", MSISDN: "+15550001",
		HasISIM: true, IMPI: "001010000000001@ims.mnc001.mcc001.3gppnetwork.org", IMPISource: FromISIM,
		IMPUs: []string{"sip:+15550001@ims.mnc001.mcc001.3gppnetwork.org", "tel:+15550001",
			"sip:alice@ims.mnc001.mcc001.3gppnetwork.org"}, IMPUSource: FromISIM,
		Domain: "ims.mnc001.mcc001.3gppnetwork.org", DomainSrc: FromISIM,
		PCSCF: []string{"192.168.12.34", "pcscf.ims.mnc001.mcc001.3gppnetwork.org"}, PCSCFSource: FromISIM,
		UST: []int{21}, IST: []int{1},
	}
	if !reflect.DeepEqual(id, want) {
		t.Errorf("identities:\n got %+v\nwant %+v", id, want)
	}
	tr := trace.String()
	for _, s := range []string{"SELECT by FID 3F00 (MF) (FCP)", "VERIFY PIN 01", "READ RECORD 1 (absolute)", "GET RESPONSE", "<- 9000 normal ending"} {
		if !strings.Contains(tr, s) {
			t.Errorf("trace lacks %q:\n%s", s, tr)
		}
	}
	if !strings.Contains(id.String(), "192.168.12.34   [ISIM]") {
		t.Errorf("String():\n%s", id)
	}
}

// Without an ISIM the IMS identities come from the IMSI (TS 23.003 §13),
// with the 2- or 3-digit MNC as EF_AD says.
func TestReadIdentitiesDerived(t *testing.T) {
	for _, tc := range []struct {
		imsi   string
		mncLen int
		domain string
	}{
		{"001010000000001", 2, "ims.mnc001.mcc001.3gppnetwork.org"},
		{"310150123456789", 3, "ims.mnc150.mcc310.3gppnetwork.org"},
		{"234150999999999", 2, "ims.mnc015.mcc234.3gppnetwork.org"},
	} {
		p, err := cardfile.New(cardfile.Options{IMSI: tc.imsi, MNCLength: tc.mncLen})
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewSoftCard(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := NewReader(c).ReadIdentities(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if id.Domain != tc.domain || id.IMPI != tc.imsi+"@"+tc.domain || id.IMPUs[0] != "sip:"+tc.imsi+"@"+tc.domain ||
			id.IMPISource != FromIMSI || id.HasISIM || id.PCSCF != nil || id.PCSCFSource != FromNowhere || id.MNC != tc.imsi[3:3+tc.mncLen] {
			t.Errorf("%s: %+v", tc.imsi, id)
		}
	}
}

func TestReadIdentitiesPIN(t *testing.T) {
	ctx := context.Background()
	c := newCard(t, false, "1234")
	r := NewReader(c)
	if _, err := r.ReadIdentities(ctx); !errors.Is(err, ErrPINRequired) {
		t.Fatalf("no PIN: %v", err)
	}
	if ok, left, err := r.PINStatus(ctx); ok || left != 3 || err != nil {
		t.Fatalf("PINStatus = %v %d %v", ok, left, err)
	}
	r.SetPIN("0000")
	var wp *WrongPINError
	if _, err := r.ReadIdentities(ctx); !errors.As(err, &wp) || wp.TriesLeft != 2 {
		t.Fatalf("wrong PIN: %v", err)
	}
	r.SetPIN("1234")
	if _, err := r.ReadIdentities(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestParseAuthResponse(t *testing.T) {
	ok := "DB08" + strings.Repeat("11", 8) + "10" + strings.Repeat("22", 16) + "10" + strings.Repeat("33", 16)
	r, err := ParseAuthResponse(unhex(t, ok))
	if err != nil || len(r.RES) != 8 || r.CK[0] != 0x22 || r.IK[15] != 0x33 {
		t.Fatalf("DB: %+v %v", r, err)
	}
	r, err = ParseAuthResponse(unhex(t, ok+"08"+strings.Repeat("44", 8)))
	if err != nil || len(r.Kc) != 8 {
		t.Fatalf("DB with Kc: %+v %v", r, err)
	}
	var sf *SyncFailureError
	if _, err := ParseAuthResponse(unhex(t, "DC0E"+strings.Repeat("55", 14))); !errors.As(err, &sf) || len(sf.AUTS) != 14 {
		t.Fatalf("DC: %v", err)
	}
	for _, bad := range []string{"", "DB", "DB08AA", "DC0D" + strings.Repeat("55", 13), "DD00", "DB0811"} {
		if _, err := ParseAuthResponse(unhex(t, bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
