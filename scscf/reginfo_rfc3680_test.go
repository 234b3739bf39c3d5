package scscf

import (
	"encoding/xml"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/reginfo"
)

// The example of RFC 3680 §6 (user@example.com with a registered and an
// expired contact).
const rfc3680Example = `<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
         version="0" state="full">
  <registration aor="sip:user@example.com" id="as9"
                state="active">
    <contact id="76" state="active" event="registered"
             duration-registered="7322"
             q="0.8">
      <uri>sip:user@pc887.example.com</uri>
    </contact>
    <contact id="77" state="terminated" event="expired"
             duration-registered="3600"
             q="0.5">
      <uri>sip:user@university.edu</uri>
    </contact>
  </registration>
</reginfo>`

// node is an XML element reduced to what the document means: namespace
// and name, attributes, children, text.
type node struct {
	Name     xml.Name
	Attrs    []string
	Children []*node
	Text     string
}

func parseTree(t *testing.T, doc []byte) *node {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(doc)))
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			n := &node{Name: v.Name}
			for _, a := range v.Attr {
				if a.Name.Space != "xmlns" && a.Name.Local != "xmlns" {
					n.Attrs = append(n.Attrs, a.Name.Local+"="+a.Value)
				}
			}
			sort.Strings(n.Attrs)
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += strings.TrimSpace(string(v))
			}
		}
	}
	return root
}

func TestRegInfoRFC3680Example(t *testing.T) {
	d72, d36 := int64(7322), int64(3600)
	doc := &reginfo.Doc{Version: 0, State: "full", Registrations: []reginfo.Registration{{
		AOR: "sip:user@example.com", ID: "as9", State: "active",
		Contacts: []reginfo.Contact{
			{ID: "76", State: "active", Event: "registered", DurationRegistered: &d72, Q: "0.8", URI: "sip:user@pc887.example.com"},
			{ID: "77", State: "terminated", Event: "expired", DurationRegistered: &d36, Q: "0.5", URI: "sip:user@university.edu"},
		}}}}
	got, want := parseTree(t, reginfo.Encode(doc)), parseTree(t, []byte(rfc3680Example))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("encoded:\n%s\nis not RFC 3680's example", reginfo.Encode(doc))
	}
	if want.Name.Space != "urn:ietf:params:xml:ns:reginfo" || got.Children[0].Name.Space != want.Name.Space {
		t.Errorf("namespace %q / %q", got.Name.Space, got.Children[0].Name.Space)
	}
	// And it decodes back.
	var back reginfo.Doc
	if err := xml.Unmarshal([]byte(rfc3680Example), &back); err != nil || len(back.Registrations[0].Contacts) != 2 ||
		*back.Registrations[0].Contacts[0].DurationRegistered != 7322 {
		t.Errorf("decoding the example: %v %+v", err, back)
	}
}

// The S-CSCF's document for an implicit set (TS 24.229 §5.4.2.1.2): one
// registration per non-barred identity, each with every contact, the
// terminated ones with their event, unknown-param for the Contact's
// parameters.
func TestRegInfoOfSet(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &Binding{URI: "sip:ue@192.0.2.1:5060", Params: `+sip.instance="<urn:gsma:imei:1-2-0>";+g.3gpp.smsip;q=0.5`,
		Instance: "<urn:gsma:imei:1-2-0>", Expires: now.Add(600 * time.Second), Registered: now.Add(-10 * time.Second),
		CallID: "c1", CSeq: 7, Event: "refreshed"}
	old := &Binding{URI: "sip:old@192.0.2.2", Registered: now.Add(-time.Hour), CallID: "c0", CSeq: 3}
	set := &regSet{Key: "sip:a@x", IMPUs: []string{"sip:a@x", "tel:+1", "sip:barred@x"}, Barred: []string{"sip:barred@x"}, Contacts: []*Binding{b}}
	var d reginfo.Doc
	if err := xml.Unmarshal(regInfo(set, "sip:a@x", []removed{{b: old, event: "expired"}}, false, 4, now), &d); err != nil {
		t.Fatal(err)
	}
	if d.Version != 4 || d.State != "full" || len(d.Registrations) != 2 || d.Registrations[1].AOR != "tel:+1" {
		t.Fatalf("%+v", d)
	}
	c := d.Registrations[0].Contacts
	got := fmt.Sprintf("%s %s %s exp=%d dur=%d q=%s callid=%s cseq=%d params=%v | %s %s %s exp=%v",
		c[0].URI, c[0].State, c[0].Event, *c[0].Expires, *c[0].DurationRegistered, c[0].Q, c[0].CallID, *c[0].CSeq, c[0].Unknown,
		c[1].URI, c[1].State, c[1].Event, c[1].Expires)
	want := "sip:ue@192.0.2.1:5060 active refreshed exp=600 dur=10 q=0.5 callid=c1 cseq=7 params=[{+sip.instance <urn:gsma:imei:1-2-0>} {+g.3gpp.smsip }] | " +
		"sip:old@192.0.2.2 terminated expired exp=<nil>"
	if got != want {
		t.Errorf("contacts\n got %s\nwant %s", got, want)
	}
	if d.Registrations[0].State != "active" {
		t.Error("registration not active")
	}
	// The set ended: every registration terminated.
	d = reginfo.Doc{}
	if err := xml.Unmarshal(regInfo(set, "sip:a@x", []removed{{b: b, event: "unregistered"}}, true, 5, now), &d); err != nil {
		t.Fatal(err)
	}
	if d.Registrations[0].State != "terminated" || len(d.Registrations[0].Contacts) != 1 || d.Registrations[0].Contacts[0].State != "terminated" {
		t.Errorf("ended set: %+v", d.Registrations[0])
	}
}
