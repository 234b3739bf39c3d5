package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imslab/imslab/internal/cardfile"
)

// runSubscriber runs `imslab hss subscriber ARGS...` and returns its output.
func runSubscriber(args ...string) (string, error) {
	c := newHSSSubscriberCmd()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	c.SilenceUsage, c.SilenceErrors = true, true
	err := c.ExecuteContext(context.Background())
	return out.String(), err
}

func TestSubscriberCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "hss.db")
	const (
		k     = "465b5ce8b199b49faa5f0a2ee238a6bc"
		op    = "cdc202d5123e20f62b6d676ac72cb318"
		opc   = "cd63cb71954a9f4e48a5994e37a02baf" // TS 35.208 set 1
		dom   = "ims.mnc001.mcc001.3gppnetwork.org"
		imsi1 = "001010000000001"
		imsi2 = "001010000000002"
	)
	ifc := filepath.Join(dir, "ifc.xml")
	if err := os.WriteFile(ifc, []byte(`<ServiceProfile><InitialFilterCriteria><Priority>1</Priority><TriggerPoint><ConditionTypeCNF>0</ConditionTypeCNF>
<SPT><ConditionNegated>0</ConditionNegated><Group>0</Group><Method>MESSAGE</Method></SPT></TriggerPoint>
<ApplicationServer><ServerName>sip:as.`+dom+`</ServerName><DefaultHandling>0</DefaultHandling></ApplicationServer></InitialFilterCriteria></ServiceProfile>`), 0o600); err != nil {
		t.Fatal(err)
	}
	card, err := cardfile.New(cardfile.Options{IMSI: "001010000000003", K: k, OPc: opc, MSISDN: "+15550000003", ISIM: true})
	if err != nil {
		t.Fatal(err)
	}
	cardPath := filepath.Join(dir, "card.yaml")
	if err := card.Save(cardPath); err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(dir, "batch.csv")
	if err := os.WriteFile(csvPath, []byte("ICCID,IMSI,PIN1,PUK1,PIN2,PUK2,Ki,OPc,ADM1\n"+
		"8988211000000000041,001010000000004,1234,12345678,5678,87654321,"+k+","+opc+",1\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name    string
		args    []string
		want    []string // in the output
		wantErr string
	}{
		{"list before any database", []string{"list"}, nil, "no HSS database"},
		{"add with OP", []string{"add", "--imsi", imsi1, "--k", k, "--op", op, "--msisdn", "+15550000001"},
			[]string{"added subscriber " + imsi1, "OPc     " + opc, "OP      " + op, imsi1 + "@" + dom, "tel:+15550000001"}, ""},
		{"add a duplicate IMSI", []string{"add", "--imsi", imsi1, "--k", k, "--opc", opc}, nil, "already provisioned: change it with `imslab hss subscriber update`"},
		{"add without OPc", []string{"add", "--imsi", imsi2, "--k", k}, nil, "give --opc, or --op"},
		{"add with a bad K", []string{"add", "--imsi", imsi2, "--k", "1234", "--opc", opc}, nil, "--k must be 32 hex digits"},
		{"add a digest user stealing an IMPU", []string{"add", "--imsi", imsi2, "--k", k, "--opc", opc,
			"--digest-impi", "bob", "--password", "pw", "--digest-impu", "tel:+15550000001"}, nil, "belongs to subscriber " + imsi1},
		{"add with a softphone identity and iFCs", []string{"add", "--imsi", imsi2, "--k", k, "--opc", opc, "--mnc-len", "3",
			"--digest-impi", "alice@ims.example.org", "--password", "secret", "--ifc", ifc},
			[]string{"ims.mnc010.mcc001.3gppnetwork.org", "alice@ims.example.org (SIP Digest", "sip:alice@ims.example.org (implicit set 2, default)", "priority 1: <InitialFilterCriteria>"}, ""},
		{"list", []string{"list"}, []string{"IMSI", imsi1, imsi2, "+15550000001", "alice@ims.example.org", "SEQ 0 IND 0"}, ""},
		{"show by IMPU: the user part is case-sensitive", []string{"show", "sip:Alice@IMS.example.org;transport=tcp"}, nil, "user unknown"},
		{"show by IMPU", []string{"show", "sip:alice@IMS.example.org;transport=tcp"}, []string{"IMSI    " + imsi2}, ""},
		{"show by MSISDN", []string{"show", "+15550000001"}, []string{"IMSI    " + imsi1}, ""},
		{"show by IMPI", []string{"show", "alice@ims.example.org"}, []string{"IMSI    " + imsi2}, ""},
		{"update the SQN", []string{"update", imsi1, "--sqn", "10:3"}, []string{"(SEQ 10, IND 3), next vector SEQ 11 IND 4"}, ""},
		{"update the profile keeps the SQN", []string{"update", imsi1, "--amf", "0000", "--barred", "--impu", "sip:" + imsi1 + "@" + dom, "--impu", "sip:carol@" + dom},
			[]string{"AMF     0000", "barred  true", "(SEQ 10, IND 3)", "registers sip:" + imsi1 + "@" + dom + " sip:carol@" + dom}, ""},
		{"update the softphone password", []string{"update", imsi2, "--digest-impi", "alice@ims.example.org", "--password", "new"}, []string{`password "new"`}, ""},
		{"update with nothing", []string{"update", imsi1}, nil, "nothing to change"},
		{"update an unknown IMSI", []string{"update", "001019999999999", "--amf", "8000"}, nil, "user unknown (see `imslab hss subscriber list`"},
		{"update with a bad SQN", []string{"update", imsi1, "--sqn", "1:32"}, nil, "SEQ:IND"},
		{"import a card and a vendor CSV", []string{"import", cardPath, csvPath},
			[]string{"added    001010000000003", "added    001010000000004", "2 added, 0 replaced, 0 skipped"}, ""},
		{"import again", []string{"import", cardPath, csvPath}, []string{"skipped  001010000000003", "0 added, 0 replaced, 2 skipped (--replace"}, ""},
		{"import again, replacing", []string{"import", "--replace", cardPath, csvPath}, []string{"0 added, 2 replaced, 0 skipped"}, ""},
		{"import an unknown kind of file", []string{"import", ifc}, nil, "unknown kind of file"},
		{"delete", []string{"delete", imsi2}, []string{"deleted subscriber " + imsi2}, ""},
		{"delete again", []string{"delete", imsi2}, nil, "user unknown"},
	}
	for _, st := range steps {
		out, err := runSubscriber(append(st.args, "--db", db)...)
		switch {
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
			t.Fatalf("%s: error %v, want one with %q\n%s", st.name, err, st.wantErr, out)
		case st.wantErr == "" && err != nil:
			t.Fatalf("%s: %v\n%s", st.name, err, out)
		}
		for _, w := range st.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", st.name, w, out)
			}
		}
	}

	out, err := runSubscriber("show", "--json", "--db", db, "001010000000003")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		IMSI, K, OPc string
		SEQ          uint64
		Private      []struct{ IMPI, Scheme string } `json:"private_identities"`
		Public       []struct{ IMPU string }         `json:"public_identities"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if v.IMSI != "001010000000003" || v.K != k || v.OPc != opc || len(v.Private) != 1 || v.Private[0].Scheme != "Digest-AKAv1-MD5" ||
		len(v.Public) != 2 || v.Public[0].IMPU != card.ISIM.IMPUs[0] {
		t.Errorf("show --json = %+v\n%s", v, out)
	}
}
