package scscf

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/hss"
	"github.com/imslab/imslab/hss/store"

	"github.com/imslab/imslab/internal/reginfo"
)

// subscribe sends a reg-event SUBSCRIBE as the P-CSCF forwards a UE's:
// Record-Route of the P-CSCF, P-Asserted-Identity, the Service-Route.
type subDialog struct {
	callID, fromTag, toTag string
	cseq                   uint32
	ue                     *ue
	pai                    string
	event                  string
	noRR                   bool // a P-CSCF that does not Record-Route
}

func (l *lab) subscribe(d *subDialog, expires int) *sip.Response {
	l.t.Helper()
	p := l.p
	var target sip.Uri
	if err := sip.ParseUri(d.ue.impu, &target); err != nil {
		l.t.Fatal(err)
	}
	req := sip.NewRequest(sip.SUBSCRIBE, target)
	d.cseq++
	if d.callID == "" {
		d.callID = fmt.Sprintf("sub-%d@test", time.Now().UnixNano())
		d.fromTag = fmt.Sprintf("s%d", time.Now().UnixNano())
	}
	req.AppendHeader(sip.NewHeader("Route", "<sip:orig@"+p.scscf+";lr>"))
	if !d.noRR {
		req.AppendHeader(sip.NewHeader("Record-Route", "<sip:"+p.addr+";lr>"))
	}
	from := &sip.FromHeader{Address: target, Params: sip.NewParams()}
	from.Params.Add("tag", d.fromTag)
	to := &sip.ToHeader{Address: target, Params: sip.NewParams()}
	if d.toTag != "" {
		to.Params.Add("tag", d.toTag)
	}
	req.AppendHeader(from)
	req.AppendHeader(to)
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.cseq, MethodName: sip.SUBSCRIBE})
	req.AppendHeader(sip.NewHeader("Contact", "<"+d.ue.contactURI()+">"))
	ev := d.event
	if ev == "" {
		ev = "reg"
	}
	req.AppendHeader(sip.NewHeader("Event", ev))
	req.AppendHeader(sip.NewHeader("Expires", fmt.Sprint(expires)))
	req.AppendHeader(sip.NewHeader("Accept", "application/reginfo+xml"))
	pai := d.pai
	if pai == "" {
		pai = d.ue.impu
	}
	req.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<"+pai+">"))
	req.SetBody(nil)
	res := p.do(req)
	if res.StatusCode == 200 && d.toTag == "" {
		d.toTag, _ = res.To().Params.Get("tag")
	}
	return res
}

func (u *ue) contactURI() string {
	s := strings.TrimPrefix(u.contact, "<")
	s, _, _ = strings.Cut(s, ">")
	return s
}

// reginfoOf decodes a NOTIFY's body.
func reginfoOf(t *testing.T, n *sip.Request) *reginfo.Doc {
	t.Helper()
	if ct := header(n, "Content-Type"); ct != "application/reginfo+xml" {
		t.Fatalf("NOTIFY Content-Type %q", ct)
	}
	var d reginfo.Doc
	if err := xml.Unmarshal(n.Body(), &d); err != nil {
		t.Fatalf("NOTIFY body: %v\n%s", err, n.Body())
	}
	return &d
}

// contactStates lists "uri state event" of the first registration.
func contactStates(d *reginfo.Doc) []string {
	var out []string
	for _, c := range d.Registrations[0].Contacts {
		out = append(out, c.URI+" "+c.State+" "+c.Event)
	}
	return out
}

// reg event (RFC 3680, TS 24.229 §5.4.2.1): SUBSCRIBE, the immediate
// NOTIFY routed back through the P-CSCF's Record-Route, a NOTIFY per
// change, refresh and un-SUBSCRIBE; refusals.
func TestRegEvent(t *testing.T) {
	l := newLab(t)
	phone := newUE(t, aliceIMPI, aliceIMPU, true)
	l.mustRegister(phone)
	d := &subDialog{ue: phone}
	res := l.subscribe(d, 600000)
	if res.StatusCode != 200 || header(res, "Expires") != "600000" || res.Contact() == nil || d.toTag == "" {
		t.Fatalf("SUBSCRIBE: %d, Expires %q, Contact %v, To tag %q\n%s", res.StatusCode, header(res, "Expires"), res.Contact(), d.toTag, res)
	}
	n := l.p.notify()
	t.Logf("NOTIFY:\n%s", n)
	if n.Recipient.String() != phone.contactURI() {
		t.Errorf("NOTIFY Request-URI %s, want the subscriber's Contact %s", n.Recipient.String(), phone.contactURI())
	}
	if got := header(n, "Route"); got != "<sip:"+l.p.addr+";lr>" {
		t.Errorf("NOTIFY Route %q, want the P-CSCF's Record-Route", got)
	}
	if tag, _ := n.From().Params.Get("tag"); tag != d.toTag {
		t.Errorf("NOTIFY From tag %q, want the 200's To tag %q", tag, d.toTag)
	}
	if tag, _ := n.To().Params.Get("tag"); tag != d.fromTag || n.CallID().Value() != d.callID {
		t.Error("NOTIFY not in the subscription's dialog")
	}
	if !strings.HasPrefix(header(n, "Subscription-State"), "active;expires=") || header(n, "Event") != "reg" {
		t.Errorf("Subscription-State %q, Event %q", header(n, "Subscription-State"), header(n, "Event"))
	}
	ri := reginfoOf(t, n)
	if ri.Version != 0 || ri.State != "full" || len(ri.Registrations) != 3 {
		t.Fatalf("reginfo version %d state %s with %d registrations, want 0, full, 3", ri.Version, ri.State, len(ri.Registrations))
	}
	for _, r := range ri.Registrations {
		if r.State != "active" || len(r.Contacts) != 1 || r.Contacts[0].Event != "registered" || r.Contacts[0].URI != phone.contactURI() {
			t.Errorf("registration %+v", r)
		}
	}
	if u := ri.Registrations[0].Contacts[0].Unknown; len(u) == 0 || u[0].Name != "+sip.instance" {
		t.Errorf("the contact's +sip.instance is not in unknown-param: %+v", u)
	}

	// A second device: a NOTIFY with both.
	tablet := newUE(t, aliceIMPI, aliceIMPU, true)
	l.mustRegister(tablet)
	n = l.p.notify()
	if ri = reginfoOf(t, n); ri.Version != 1 || len(ri.Registrations[0].Contacts) != 2 || n.CSeq().SeqNo != 2 {
		t.Errorf("after a second device: version %d, CSeq %d, contacts %v", ri.Version, n.CSeq().SeqNo, contactStates(ri))
	}
	// Refresh in the dialog: 200 and a NOTIFY.
	if res := l.subscribe(d, 3600); res.StatusCode != 200 || header(res, "Expires") != "3600" {
		t.Fatalf("refresh: %d Expires %q", res.StatusCode, header(res, "Expires"))
	}
	if ri = reginfoOf(t, l.p.notify()); ri.Version != 2 {
		t.Errorf("refresh NOTIFY version %d, want 2", ri.Version)
	}
	// The tablet de-registers: it is terminated/unregistered in the NOTIFY.
	tablet.expires = 0
	l.mustRegister(tablet)
	ri = reginfoOf(t, l.p.notify())
	want := []string{phone.contactURI() + " active registered", tablet.contactURI() + " terminated unregistered"}
	if got := contactStates(ri); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("after de-registration: %v, want %v", got, want)
	}
	// Un-SUBSCRIBE: a last NOTIFY, terminated.
	if res := l.subscribe(d, 0); res.StatusCode != 200 {
		t.Fatalf("un-SUBSCRIBE: %d", res.StatusCode)
	}
	if st := header(l.p.notify(), "Subscription-State"); st != "terminated;reason=timeout" {
		t.Errorf("un-SUBSCRIBE NOTIFY Subscription-State %q", st)
	}
	if res := l.subscribe(d, 600); res.StatusCode != 481 {
		t.Errorf("refresh of an ended subscription: %d, want 481", res.StatusCode)
	}

	// Refusals.
	if res := l.subscribe(&subDialog{ue: phone, event: "presence"}, 600); res.StatusCode != 489 {
		t.Errorf("Event: presence: %d, want 489", res.StatusCode)
	}
	if res := l.subscribe(&subDialog{ue: phone, pai: bobIMPU}, 600); res.StatusCode != 403 {
		t.Errorf("Bob watching Alice: %d, want 403", res.StatusCode)
	}
	if res := l.subscribe(&subDialog{ue: newUE(t, bobIMPI, bobIMPU, true)}, 600); res.StatusCode != 480 {
		t.Errorf("watching an unregistered user: %d, want 480", res.StatusCode)
	}
	if res := l.subscribe(&subDialog{ue: phone, pai: "sip:pcscf.ims.mnc001.mcc001.3gppnetwork.org"}, 600); res.StatusCode != 200 {
		t.Errorf("the P-CSCF's own subscription: %d, want 200", res.StatusCode)
	}
	l.p.notify()
	// Without Record-Route, the NOTIFY follows the Path of the UE's registration.
	if res := l.subscribe(&subDialog{ue: phone, noRR: true}, 600); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE without Record-Route: %d", res.StatusCode)
	}
	if got := header(l.p.notify(), "Route"); got != "<sip:term@"+l.p.addr+";lr>" {
		t.Errorf("NOTIFY Route %q, want the registration's Path", got)
	}
}

// Registration expiry (RFC 3261 §10.3, TS 24.229 §5.4.1.6): the contact
// goes, a NOTIFY says expired, and the HSS hears SAR TIMEOUT_DEREGISTRATION.
func TestRegEventExpiry(t *testing.T) {
	l := newLab(t)
	phone := newUE(t, aliceIMPI, aliceIMPU, true)
	l.mustRegister(phone)
	l.subscribe(&subDialog{ue: phone}, 600)
	l.p.notify()
	phone.expires = 1
	l.mustRegister(phone)
	if ri := reginfoOf(t, l.p.notify()); contactStates(ri)[0] != phone.contactURI()+" active shortened" {
		t.Errorf("shortened registration: %v", contactStates(ri))
	}
	start := time.Now()
	n := l.p.notify()
	ri := reginfoOf(t, n)
	if got := contactStates(ri); len(got) != 1 || got[0] != phone.contactURI()+" terminated expired" || ri.Registrations[0].State != "terminated" {
		t.Errorf("expiry NOTIFY: %v, registration %s", got, ri.Registrations[0].State)
	}
	if st := header(n, "Subscription-State"); st != "terminated;reason=noresource" {
		t.Errorf("Subscription-State %q", st)
	}
	if e := time.Since(start); e > 2*time.Second {
		t.Errorf("expired %s late", e)
	}
	if b := l.sc.Bindings(aliceIMPU); b != nil {
		t.Errorf("bindings after expiry: %v", b)
	}
	l.waitLog("SAR TIMEOUT_DEREGISTRATION")
}

// Network-initiated de-registration (TS 24.229 §5.4.1.5): the HSS's RTR
// removes the bindings and the subscriber hears "rejected" (permanent
// termination) with the subscription terminated.
func TestRTR(t *testing.T) {
	l := newLab(t)
	phone := newUE(t, aliceIMPI, aliceIMPU, true)
	soft := newUE(t, softIMPI, softIMPU, false)
	l.mustRegister(phone)
	l.mustRegister(soft)
	l.subscribe(&subDialog{ue: phone}, 600)
	l.p.notify()
	n, err := l.hss.Deregister(context.Background(), aliceIMS, hss.ReasonPermanentTermination, "contract ended")
	if err != nil || n != 4 {
		t.Fatalf("RTR: %d identities, %v; want 4 (the SIM's three and the softphone's)", n, err)
	}
	note := l.p.notify()
	ri := reginfoOf(t, note)
	if got := contactStates(ri); len(got) != 1 || got[0] != phone.contactURI()+" terminated rejected" {
		t.Errorf("RTR NOTIFY contacts %v", got)
	}
	if st := header(note, "Subscription-State"); st != "terminated;reason=rejected" {
		t.Errorf("Subscription-State %q", st)
	}
	if l.sc.Bindings(aliceIMPU) != nil || l.sc.Bindings(softIMPU) != nil {
		t.Error("bindings left after RTR")
	}
	// SERVER_CHANGE: the UE is expected to register again: "deactivated".
	l.mustRegister(phone)
	l.subscribe(&subDialog{ue: phone}, 600)
	l.p.notify()
	if _, err := l.hss.Deregister(context.Background(), aliceIMPI, hss.ReasonServerChange, ""); err != nil {
		t.Fatal(err)
	}
	if got := contactStates(reginfoOf(t, l.p.notify())); got[0] != phone.contactURI()+" terminated deactivated" {
		t.Errorf("SERVER_CHANGE NOTIFY %v", got)
	}
}

// A restarted S-CSCF (same state file) still has the bindings and the
// reg-event subscription: the next change is notified in the old dialog.
func TestRestartKeepsRegistrations(t *testing.T) {
	l := newLab(t)
	phone := newUE(t, aliceIMPI, aliceIMPU, true)
	l.mustRegister(phone)
	d := &subDialog{ue: phone}
	l.subscribe(d, 600)
	first := l.p.notify()
	before := l.sc.Bindings(aliceIMPU)
	l.stopSC()

	raw, err := os.ReadFile(l.cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("state file:\n%s", raw)
	if !strings.HasPrefix(string(raw), `{"format":"imslab-scscf-state","version":1`) || !strings.Contains(string(raw), phone.contactURI()) {
		t.Fatalf("state file:\n%s", raw)
	}

	l.startSCSCF()
	l.p.scscf = l.sc.Addr().String()
	after := l.sc.Bindings(aliceIMPU)
	if len(after) != 1 || after[0].URI != before[0].URI || !after[0].Expires.Equal(before[0].Expires) || after[0].Path[0] != before[0].Path[0] {
		t.Fatalf("after restart: %+v, before %+v", after, before)
	}
	if got := l.sc.AssociatedURIs(aliceTel); len(got) != 3 {
		t.Errorf("implicit set after restart: %v", got)
	}
	// The HSS de-registers: the NOTIFY comes in the dialog made before the restart.
	if _, err := l.hss.Deregister(context.Background(), aliceIMS, hss.ReasonServerChange, "restart test"); err != nil {
		t.Fatal(err)
	}
	n := l.p.notify()
	if n.CallID().Value() != d.callID || n.CSeq().SeqNo != first.CSeq().SeqNo+1 || reginfoOf(t, n).Version != 1 {
		t.Errorf("NOTIFY after restart: Call-ID %s CSeq %d version %d; want the old dialog, CSeq %d, version 1",
			n.CallID().Value(), n.CSeq().SeqNo, reginfoOf(t, n).Version, first.CSeq().SeqNo+1)
	}
	// And registration works on the new instance.
	l.mustRegister(phone)
}

// A Push-Profile-Request (TS 29.228 §6.2.2) with a grown implicit set:
// stored, answered, and the subscribers hear of the new identity.
func TestPPR(t *testing.T) {
	l := newLab(t)
	phone := newUE(t, aliceIMPI, aliceIMPU, true)
	l.mustRegister(phone)
	l.subscribe(&subDialog{ue: phone}, 600)
	l.p.notify()
	ctx := context.Background()
	sub, err := l.hss.Store().Get(ctx, aliceIMS)
	if err != nil {
		t.Fatal(err)
	}
	extra := "sip:alice.smith@" + domain
	sub.Public = append(sub.Public, store.PublicID{IMPU: extra, IRS: 1})
	sub.Private[0].IMPUs = append(sub.Private[0].IMPUs, extra)
	if err := l.hss.Store().Update(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if err := l.hss.PushProfile(ctx, aliceIMS); err != nil {
		t.Fatalf("PPR: %v", err)
	}
	if got := l.sc.AssociatedURIs(aliceIMPU); len(got) != 4 || got[3] != extra {
		t.Errorf("implicit set after PPR: %v", got)
	}
	if b := l.sc.Bindings(extra); len(b) != 1 {
		t.Errorf("the new identity does not reach the contact: %v", b)
	}
	if ri := reginfoOf(t, l.p.notify()); len(ri.Registrations) != 4 {
		t.Errorf("NOTIFY after PPR has %d registrations, want 4", len(ri.Registrations))
	}
}

// A registration that expired while the S-CSCF was down is dropped at
// start, and the HSS is told (SAR TIMEOUT_DEREGISTRATION); live ones stay.
func TestRestartDropsExpired(t *testing.T) {
	l := newLab(t)
	l.stopSC()
	now := time.Now().UTC()
	line := func(impu, impi string, exp time.Time) string {
		return fmt.Sprintf(`{"set":{"key":%q,"impus":[%q],"contacts":[{"uri":"sip:ue@192.0.2.1","expires":%q,"impi":%q}]}}`,
			impu, impu, exp.Format(time.RFC3339Nano), impi)
	}
	state := `{"format":"imslab-scscf-state","version":1}` + "\n" +
		line(aliceIMPU, aliceIMPI, now.Add(-time.Minute)) + "\n" + line(bobIMPU, bobIMPI, now.Add(time.Hour)) + "\n"
	if err := os.WriteFile(l.cfg.StateFile, []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	l.startSCSCF()
	if l.sc.Bindings(aliceIMPU) != nil || len(l.sc.Bindings(bobIMPU)) != 1 {
		t.Errorf("after start: alice %v, bob %v", l.sc.Bindings(aliceIMPU), l.sc.Bindings(bobIMPU))
	}
	l.waitLog("1 set(s) expired while the S-CSCF was down")
	l.waitLog("SAR TIMEOUT_DEREGISTRATION")
}
