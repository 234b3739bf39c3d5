package hss

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
)

func call(t *testing.T, l *lab, method, path, body string) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, "http://"+l.h.APIAddr().String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPI(t *testing.T) {
	l := startHSS(t, nil)
	code, body := call(t, l, "GET", "/api/subscribers", "")
	var list []SubscriberJSON
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list) != 2 {
		t.Fatalf("list: %d %s", code, body)
	}
	// Add with OP only (as twinkle knows it): OPc is derived.
	add := `{"imsi":"001010000000003","k":"` + set1K + `","op":"cdc202d5123e20f62b6d676ac72cb318","msisdn":"+15550003","domain":"` + domain + `",
		"private_identities":[{"impi":"carol@` + domain + `","scheme":"SIP Digest","password":"pw","impus":["sip:carol@` + domain + `"]}],
		"public_identities":[{"impu":"sip:carol@` + domain + `","irs":1,"default":true}]}`
	code, body = call(t, l, "POST", "/api/subscribers", add)
	if code != 201 {
		t.Fatalf("add: %d %s", code, body)
	}
	sub, err := l.h.Store().Get(context.Background(), "001010000000003")
	if err != nil || !bytes.Equal(sub.OPc, unhex(t, set1OPc)) {
		t.Fatalf("OPc from OP: %x %v", sub.OPc, err)
	}
	if code, body = call(t, l, "POST", "/api/subscribers", add); code != 409 {
		t.Fatalf("duplicate add: %d %s", code, body)
	}
	if code, body = call(t, l, "POST", "/api/subscribers", `{"imsi":"1","k":"zz"}`); code != 400 || !strings.Contains(body, "k must be") {
		t.Fatalf("bad add: %d %s", code, body)
	}
	if code, body = call(t, l, "GET", "/api/subscribers/carol@"+domain, ""); code != 200 || !strings.Contains(body, "001010000000003") {
		t.Fatalf("show by IMPI: %d %s", code, body)
	}
	if code, _ = call(t, l, "GET", "/api/subscribers/sip:nobody@x", ""); code != 404 {
		t.Fatalf("show unknown: %d", code)
	}
	// Deregister: 409 while not registered, then RTR once registered.
	if code, body = call(t, l, "POST", "/api/subscribers/"+alice+"/deregister", ""); code != 409 {
		t.Fatalf("deregister unregistered: %d %s", code, body)
	}
	l.cxN.Handle(diameter.AppCx, diameter.CmdRT, func(_ context.Context, _ *peer.Conn, m *diam.Message) *diam.Message {
		return l.cxN.Answer(m, diameter.ResultSuccess)
	})
	wantResult(t, l.sar(t, alice+"@"+domain, "sip:"+alice+"@"+domain, satRegistration), diameter.ResultSuccess, false)
	if code, body = call(t, l, "POST", "/api/subscribers/"+alice+"/deregister", `{"reason":3,"info":"maintenance"}`); code != 200 || !strings.Contains(body, `"deregistered": 3`) {
		t.Fatalf("deregister: %d %s", code, body)
	}
	if code, _ = call(t, l, "DELETE", "/api/subscribers/001010000000003", ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _ = call(t, l, "DELETE", "/api/subscribers/001010000000003", ""); code != 404 {
		t.Fatalf("delete again: %d", code)
	}
	if code, _ = call(t, l, "GET", "/healthz", ""); code != 200 {
		t.Fatal("healthz")
	}
}
