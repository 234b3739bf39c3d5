package sim

import (
	"github.com/imslab/imslab/internal/cardfile"

	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imslab/imslab/internal/aka"
)

// TS 35.208 test set 1 keys, used as this test card's K and OPc.
const (
	testK   = "465b5ce8b199b49faa5f0a2ee238a6bc"
	testOPc = "cd63cb71954a9f4e48a5994e37a02baf"
)

func testProfile(t testing.TB, isim bool, pin string) *cardfile.Card {
	t.Helper()
	p, err := cardfile.New(cardfile.Options{ICCID: "8988211000000000011", IMSI: "001010000000001", K: testK, OPc: testOPc,
		MSISDN: "+15550001", PIN: pin, ISIM: isim, MNCLength: 2})
	if err != nil {
		t.Fatal(err)
	}
	if isim {
		p.ISIM.PCSCF = []string{"192.168.12.34", "pcscf.ims.mnc001.mcc001.3gppnetwork.org"}
		p.ISIM.IMPUs = append(p.ISIM.IMPUs, "sip:alice@ims.mnc001.mcc001.3gppnetwork.org")
	}
	return p
}

func newCard(t testing.TB, isim bool, pin string) *SoftCard {
	t.Helper()
	c, err := NewSoftCard(testProfile(t, isim, pin))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tx sends an APDU in hex and returns data and SW.
func tx(t testing.TB, c Transport, apdu string) ([]byte, SW) {
	t.Helper()
	resp, err := c.Transmit(context.Background(), unhex(t, apdu))
	if err != nil {
		t.Fatalf("Transmit(%s): %v", apdu, err)
	}
	if len(resp) < 2 {
		t.Fatalf("Transmit(%s): %d bytes", apdu, len(resp))
	}
	return resp[:len(resp)-2], SW(uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1]))
}

func TestAPDUStatusWords(t *testing.T) {
	c := newCard(t, true, "")
	for _, tc := range []struct {
		name, apdu string
		want       SW
	}{
		{"select MF, FCP (T=0: 61xx)", "00A40004023F00", 0x6100},
		{"read binary, no EF selected", "00B0000001", SWNoEFSelected},
		{"unknown INS", "00EE000000", SWINSNotSupported},
		{"unknown CLA", "A0A40004023F00", SWCLANotSupported},
		{"logical channel 1", "01A40004023F00", SWChannelNotSupport},
		{"header too short", "00A400", SWWrongLength},
		{"Lc larger than data", "00A40004053F00", SWWrongLength},
		{"select unknown FID", "00A40004021234", SWFileNotFound},
		{"select FID with 3 bytes", "00A40004033F0000", SWWrongLength},
		{"select bad P1", "00A40704023F00", SWIncorrectP1P2},
		{"select unknown AID", "00A4040407A0000000871009", SWFileNotFound},
		{"select partial USIM AID", "00A4040407A0000000871002", 0x6100},
		{"select EF_IMSI", "00A40004026F07", 0x6100},
		{"read EF_IMSI", "00B0000009", SWOK},
		{"read EF_IMSI, Le too long", "00B000000A", 0x6C09},
		{"read beyond the file", "00B0000A01", SWWrongP1P2},
		{"read record on a transparent EF", "00B2010409", SWIncompatibleFile},
		{"select EF_MSISDN", "00A40004026F40", 0x6100},
		{"read record 0", "00B2000400", SWIncorrectP1P2},
		{"read record 2 of 1", "00B2020400", SWRecordNotFound},
		{"read record in next mode", "00B2010200", SWIncorrectP1P2},
		{"read binary on a record EF", "00B0000001", SWIncompatibleFile},
		{"read binary by SFI 07 (EF_IMSI)", "00B0870009", SWOK},
		{"read binary by unknown SFI", "00B0990001", SWFileNotFound},
		{"STATUS with CLA 80", "80F2000000", SWOK},
		{"STATUS with CLA 00", "00F2000000", SWCLANotSupported},
		{"STATUS, AID", "80F2000100", SWOK},
		{"GET RESPONSE, nothing pending", "00C0000010", SWTechProblem},
		{"VERIFY PIN2 (not on this card)", "0020000208FFFFFFFFFFFFFFFF", SWRefDataNotFound},
		{"AUTHENTICATE GSM context", "0088008022" + "10" + strings.Repeat("00", 16) + "10" + strings.Repeat("00", 16), SWIncorrectP1P2},
		{"AUTHENTICATE short data", "00880081051000000000", SWWrongData},
		{"select 7FFF (current ADF)", "00A40004027FFF", 0x6100},
		{"select path 7FFF/6FAD", "00A40804047FFF6FAD", 0x6100},
		{"select path, odd length", "00A40804037FFF6F", SWWrongData},
		{"select parent of ADF", "00A4030400", 0x6100},
		{"extended length", "00B0000000000A", SWWrongLength},
	} {
		_, sw := tx(t, c, tc.apdu)
		if tc.want&0xFF == 0 && tc.want != SWOK && tc.want>>8 == 0x61 {
			if sw>>8 != 0x61 {
				t.Errorf("%s: SW %04X, want 61xx", tc.name, uint16(sw))
			}
			continue
		}
		if sw != tc.want {
			t.Errorf("%s: %s → SW %04X (%s), want %04X (%s)", tc.name, tc.apdu, uint16(sw), sw, uint16(tc.want), tc.want)
		}
	}
}

// T=0: case-4 answers wait for GET RESPONSE; a short Le leaves 61xx for the rest.
func TestGetResponse(t *testing.T) {
	c := newCard(t, false, "")
	_, sw := tx(t, c, "00A40004023F00")
	if sw>>8 != 0x61 {
		t.Fatalf("SELECT MF: %04X", uint16(sw))
	}
	n := int(sw & 0xFF)
	d1, sw := tx(t, c, "00C0000004")
	if len(d1) != 4 || sw != SW(0x6100|(n-4)) {
		t.Fatalf("partial GET RESPONSE: % X %04X", d1, uint16(sw))
	}
	_, sw = tx(t, c, "00C00000FF")
	if sw != SW(0x6C00|(n-4)) {
		t.Fatalf("GET RESPONSE too long: %04X", uint16(sw))
	}
	d2, sw := tx(t, c, "00C00000"+string("0123456789ABCDEF"[(n-4)>>4])+string("0123456789ABCDEF"[(n-4)&15]))
	if sw != SWOK {
		t.Fatalf("GET RESPONSE rest: %04X", uint16(sw))
	}
	fcp, err := ParseFCP(append(d1, d2...))
	if err != nil || !fcp.IsDF || fcp.FID != FidMF {
		t.Fatalf("FCP of MF = %+v, %v", fcp, err)
	}
	// Any other command discards what was pending.
	tx(t, c, "00A40004022FE2")
	tx(t, c, "00B000000A")
	if _, sw := tx(t, c, "00C0000010"); sw != SWTechProblem {
		t.Errorf("stale GET RESPONSE: %04X", uint16(sw))
	}
}

func TestFCP(t *testing.T) {
	c := newCard(t, true, "1234")
	r := NewReader(c)
	for _, tc := range []struct {
		fid       uint16
		structure string
		size      int
		recs      int
	}{
		{FidICCID, "transparent", 10, 0},
		{FidDIR, "linear fixed", 64, 2},
	} {
		f, err := r.selectFID(context.Background(), tc.fid)
		if err != nil {
			t.Fatal(err)
		}
		if f.FID != tc.fid || f.Structure != tc.structure || f.Size != tc.size || f.NumRecords != tc.recs {
			t.Errorf("FCP %04X = %+v", tc.fid, f)
		}
	}
	if err := r.SelectApp(context.Background(), AppISIM); err != nil {
		t.Fatal(err)
	}
	data, _, err := r.transmit(context.Background(), Command{CLA: 0x80, INS: InsStatus, P2: 0x00, Le: 256, HasLe: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFCP(data)
	if err != nil || !bytes.Equal(f.AID, AIDISIM) || !f.PIN1On {
		t.Errorf("STATUS FCP of ADF.ISIM = %+v %v", f, err)
	}
}

func TestPIN(t *testing.T) {
	c := newCard(t, false, "1234")
	tx(t, c, "00A4040407A0000000871002")
	tx(t, c, "00A4000C026F07")
	if _, sw := tx(t, c, "00B0000009"); sw != SWSecurityNotSatisfy {
		t.Fatalf("read EF_IMSI without PIN: %04X", uint16(sw))
	}
	if _, sw := tx(t, c, "00B0000009"); sw != SWSecurityNotSatisfy {
		t.Fatal()
	}
	if _, sw := tx(t, c, "0088008122"+"10"+strings.Repeat("00", 16)+"10"+strings.Repeat("00", 16)); sw != SWSecurityNotSatisfy {
		t.Fatalf("AUTHENTICATE without PIN: %04X", uint16(sw))
	}
	if _, sw := tx(t, c, "0020000100"); sw != 0x63C3 {
		t.Fatalf("PIN status: %04X", uint16(sw))
	}
	if _, sw := tx(t, c, "0020000105313233"); sw != SWWrongLength {
		t.Fatalf("short PIN block: %04X", uint16(sw))
	}
	wrong := "002000010839393939FFFFFFFF"
	right := "002000010831323334FFFFFFFF"
	if _, sw := tx(t, c, wrong); sw != 0x63C2 {
		t.Fatalf("wrong PIN 1: %04X", uint16(sw))
	}
	if _, sw := tx(t, c, right); sw != SWOK {
		t.Fatalf("right PIN: %04X", uint16(sw))
	}
	if c.Profile().State.PINTriesLeft != 3 {
		t.Fatal("right PIN did not reset the counter")
	}
	if d, sw := tx(t, c, "00B0000009"); sw != SWOK || len(d) != 9 {
		t.Fatalf("read after PIN: %04X", uint16(sw))
	}
	c.Reset()
	tx(t, c, "00A4040407A0000000871002")
	for i, want := range []SW{0x63C2, 0x63C1, SWPINBlocked, SWPINBlocked} {
		if _, sw := tx(t, c, wrong); sw != want {
			t.Fatalf("wrong PIN %d: %04X, want %04X", i, uint16(sw), uint16(want))
		}
	}
	if _, sw := tx(t, c, right); sw != SWPINBlocked {
		t.Fatalf("right PIN on a blocked card: %04X", uint16(sw))
	}
	if _, sw := tx(t, c, "0020000100"); sw != SWPINBlocked {
		t.Fatalf("status of a blocked PIN: %04X", uint16(sw))
	}
}

// challenge makes RAND/AUTN the way the network does (internal/aka, as the HSS).
func challenge(t testing.TB, sqn uint64, opc string) (rand, autn []byte) {
	t.Helper()
	m, err := aka.New(unhex(t, testK), unhex(t, opc))
	if err != nil {
		t.Fatal(err)
	}
	rand = bytes.Repeat([]byte{byte(sqn)}, 16)
	v, err := m.Vector(rand, sqn, 0x8000)
	if err != nil {
		t.Fatal(err)
	}
	return rand, v.AUTN
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	for _, app := range []App{AppUSIM, AppISIM} {
		c := newCard(t, true, "")
		r := NewReader(c)
		mil, _ := aka.New(unhex(t, testK), unhex(t, testOPc))
		rand, autn := challenge(t, aka.MakeSQN(1, 1), testOPc)
		res, err := r.Authenticate(ctx, app, rand, autn)
		if err != nil {
			t.Fatalf("%s: %v", app, err)
		}
		xres, ck, ik, _, _ := mil.F2345(rand)
		if !bytes.Equal(res.RES, xres) || !bytes.Equal(res.CK, ck) || !bytes.Equal(res.IK, ik) || res.Kc != nil {
			t.Fatalf("%s: RES/CK/IK differ from the network's", app)
		}
		// Replay: sync failure with AUTS that the network can verify.
		_, err = r.Authenticate(ctx, app, rand, autn)
		var sf *SyncFailureError
		if !errors.As(err, &sf) {
			t.Fatalf("%s: replay gave %v, want a sync failure", app, err)
		}
		sqnMS, err := mil.VerifyAUTS(rand, sf.AUTS)
		if err != nil || sqnMS != aka.MakeSQN(1, 1) {
			t.Fatalf("%s: AUTS carries SQN_MS %x, %v", app, sqnMS, err)
		}
		// A challenge from a network with another OPc: MAC failure (9862).
		rand2, autn2 := challenge(t, aka.MakeSQN(2, 1), "00000000000000000000000000000001")
		if _, err := r.Authenticate(ctx, app, rand2, autn2); !errors.Is(err, ErrMACFailure) {
			t.Fatalf("%s: foreign network gave %v, want ErrMACFailure", app, err)
		}
		// The failures did not move the card's SQN: the next fresh one works.
		rand3, autn3 := challenge(t, aka.MakeSQN(2, 2), testOPc)
		if _, err := r.Authenticate(ctx, app, rand3, autn3); err != nil {
			t.Fatalf("%s: fresh SQN after failures: %v", app, err)
		}
	}
}

// SQN freshness in the card, TS 33.102 Annex C.2.
func TestSQNArray_TS33102AnnexC(t *testing.T) {
	a := make(sqnArray, aka.IndSize)
	steps := []struct {
		seq    uint64
		ind    int
		accept bool
	}{
		{100, 0, true},
		{100, 0, false},             // replay
		{99, 1, true},               // older SEQ with another IND: vectors used out of order
		{99, 1, false},              // replayed in its IND
		{101, 1, true},              // fresh
		{101 - AgeLimit, 2, false},  // more than L behind the highest
		{101 + Delta + 1, 3, false}, // too far ahead
		{101 + Delta, 3, true},      // exactly Δ ahead is allowed
	}
	for i, s := range steps {
		sqn := aka.MakeSQN(s.seq, s.ind)
		err := a.check(sqn)
		if (err == nil) != s.accept {
			t.Fatalf("step %d: SEQ %d IND %d: err=%v, want accept=%v", i, s.seq, s.ind, err, s.accept)
		}
		if err == nil {
			a.accept(sqn)
		}
	}
	if got := a.sqnMS(); got != aka.MakeSQN(101+Delta, 3) {
		t.Errorf("SQN_MS = %s", aka.FormatSQN(got))
	}
}

func TestStateKeptInCardFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "card.yaml")
	if err := testProfile(t, false, "1234").Save(path); err != nil {
		t.Fatal(err)
	}
	// A user's comment survives the card's state updates.
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append([]byte("# my lab card\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := OpenSoftCard(path)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(c)
	if err := r.SelectApp(ctx, AppUSIM); err != nil {
		t.Fatal(err)
	}
	var wp *WrongPINError
	if err := r.VerifyPIN(ctx, "9999"); !errors.As(err, &wp) || wp.TriesLeft != 2 {
		t.Fatalf("wrong PIN: %v", err)
	}
	if err := r.VerifyPIN(ctx, "1234"); err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyPIN(ctx, "9999"); err == nil {
		t.Fatal("wrong PIN accepted")
	}
	rand, autn := challenge(t, aka.MakeSQN(7, 3), testOPc)
	if _, err := r.Authenticate(ctx, AppUSIM, rand, autn); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if !strings.HasPrefix(string(b), "# my lab card") {
		t.Errorf("the user's comment was lost:\n%s", b)
	}
	c2, err := OpenSoftCard(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.Profile().State; got.PINTriesLeft != 2 || got.SEQ[3] != 7 {
		t.Fatalf("state after reopening: %+v", got)
	}
	r2 := NewReader(c2)
	r2.SetPIN("1234")
	var sf *SyncFailureError
	if _, err := r2.Authenticate(ctx, AppUSIM, rand, autn); !errors.As(err, &sf) {
		t.Fatalf("replay after reopening the card: %v, want a sync failure", err)
	}
}

// The ATR's check byte TCK makes T0..TCK XOR to zero (ISO 7816-3 §8.2.5).
func TestATRCheckByte(t *testing.T) {
	var x byte
	for _, c := range newCard(t, false, "").ATR()[1:] {
		x ^= c
	}
	if x != 0 {
		t.Errorf("ATR check byte wrong: XOR of T0..TCK = %02X", x)
	}
}
