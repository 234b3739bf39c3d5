package pcscf

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestRegister(t *testing.T) {
	for _, tp := range []string{"UDP", "TCP"} {
		t.Run(tp, func(t *testing.T) {
			l := startLab(t)
			u := newUE(t, tp, l.addr, "alice")
			r401, r200 := u.register(granted)

			// What the S-CSCF received (TS 24.229 §5.2.2.1).
			first := l.scscf.next()
			t.Logf("REGISTER forwarded by the P-CSCF:\n%s", first.String())
			path := "<sip:term@" + l.addr + ";lr>"
			if got := headerValues(first, hPath); len(got) != 1 || got[0] != path {
				t.Errorf("Path = %q, want %s", got, path)
			}
			if got := headerValues(first, hPVNI); len(got) != 1 || got[0] != DefaultVisitedNetworkID {
				t.Errorf("P-Visited-Network-ID = %q", got)
			}
			if got := headerValues(first, hPCV); len(got) != 1 || !strings.HasPrefix(got[0], "icid-value=") {
				t.Errorf("P-Charging-Vector = %q", got)
			}
			if got := headerValues(first, hRequire); len(got) != 0 {
				t.Errorf("Require = %q although the UE supports path", got)
			}
			vias := first.GetHeaders("Via")
			if len(vias) != 2 || vias[0].(*sip.ViaHeader).SentBy() != l.addr ||
				!strings.EqualFold(vias[0].(*sip.ViaHeader).Transport, "udp") {
				t.Errorf("Vias = %v, want the P-CSCF's (UDP towards the S-CSCF) then the UE's", vias)
			}
			if mf := first.MaxForwards(); mf == nil || *mf != 69 {
				t.Errorf("Max-Forwards = %v, want 69", mf)
			}
			second := l.scscf.next()

			// The 401 the UE got: same challenge, without ck and ik.
			if r401.StatusCode != 401 {
				t.Fatalf("first response %d, want 401", r401.StatusCode)
			}
			t.Logf("401 the UE received:\n%s", r401.String())
			www := headerValues(r401, hWWWAuth)
			if len(www) != 1 || strings.Contains(strings.ToLower(r401.String()), "ck=") ||
				strings.Contains(strings.ToLower(r401.String()), "ik=") || strings.Contains(r401.String(), testCK) {
				t.Fatalf("401 to the UE still carries keys: %q", www)
			}
			for _, want := range []string{`realm="` + domain + `"`, `algorithm=AKAv1-MD5`, `qop="auth"`, `nonce="`} {
				if !strings.Contains(www[0], want) {
					t.Errorf("WWW-Authenticate %q lost %s", www[0], want)
				}
			}
			if !l.logs.has("ck/ik removed", "impi="+u.impi()) {
				t.Error("ck/ik removal not logged")
			}

			// The 200 and the flow recorded from it.
			if r200.StatusCode != 200 {
				t.Fatalf("second response %d, want 200", r200.StatusCode)
			}
			t.Logf("200 the UE received:\n%s", r200.String())
			if got := headerValues(r200, hServRoute); len(got) != 1 || got[0] != "<sip:orig@"+l.scscf.addr+";lr>" {
				t.Errorf("Service-Route to the UE = %q", got)
			}
			flows := l.p.Flows()
			if len(flows) != 1 {
				t.Fatalf("flows = %+v", flows)
			}
			f := flows[0]
			src := second.GetHeaders("Via")[1].(*sip.ViaHeader)
			if f.Key.Transport != strings.ToLower(tp) || f.Key.Addr.Addr().String() != "127.0.0.1" ||
				(tp == "UDP" && int(f.Key.Addr.Port()) != u.laddr.Port) {
				t.Errorf("flow key %s (UE Via %s)", f.Key, src.Value())
			}
			if f.IMPI != u.impi() || len(f.IMPUs) != 2 || f.IMPUs[0] != "sip:alice@"+domain || f.IMPUs[1] != "tel:+15550001" {
				t.Errorf("flow identities: %+v", f)
			}
			if len(f.ServiceRoute) != 1 || !strings.Contains(f.ServiceRoute[0], "sip:orig@"+l.scscf.addr) {
				t.Errorf("flow Service-Route %q", f.ServiceRoute)
			}
			if len(f.Contacts) != 1 || !strings.Contains(f.Contacts[0].URI, u.contact.Host) ||
				time.Until(f.Contacts[0].Expires) > granted*time.Second || time.Until(f.Contacts[0].Expires) < (granted-10)*time.Second {
				t.Errorf("flow contacts %+v", f.Contacts)
			}
			if !f.HasKeys {
				t.Error("CK/IK not kept for the flow")
			}
			if !l.logs.has("registered flow", "flow="+f.Key.String(), "impi="+u.impi()) {
				t.Error("registration not logged with flow and IMPI")
			}
			if !l.logs.has("→ REGISTER forwarded", "flow="+f.Key.String()) || !l.logs.has("← 200 OK relayed", "flow="+f.Key.String()) {
				t.Error("forwarding not logged one line per message")
			}

			// De-registration removes the flow.
			_, r := u.register(0)
			if r.StatusCode != 200 {
				t.Fatalf("de-register: %d", r.StatusCode)
			}
			if got := l.p.Flows(); len(got) != 0 {
				t.Errorf("flows after de-registration: %+v", got)
			}
			if !l.logs.has("de-registered: flow removed", "flow="+f.Key.String()) {
				t.Error("de-registration not logged")
			}
		})
	}
}

func TestRegisterStripsWhatOnlyTheNetworkSets(t *testing.T) {
	l := startLab(t)
	u := newUE(t, "UDP", l.addr, "alice")
	r := u.request(sip.REGISTER, sip.Uri{Scheme: "sip", Host: domain}, func(r *sip.Request) {
		r.AppendHeader(sip.NewHeader(hAuthz, `Digest username="alice@`+domain+`", realm="`+domain+
			`", uri="sip:`+domain+`", nonce="", response="", integrity-protected="yes"`))
		r.AppendHeader(sip.NewHeader("path", "<sip:evil@192.0.2.66;lr>"))
		r.AppendHeader(sip.NewHeader("P-Visited-Network-ID", "evil.example"))
		r.AppendHeader(sip.NewHeader("p-asserted-identity", "<sip:bob@"+domain+">"))
		r.AppendHeader(sip.NewHeader("Route", "<sip:192.0.2.66;lr>"))
		r.AppendHeader(sip.NewHeader(hSecClient, "ipsec-3gpp; alg=hmac-sha-1-96; spi-c=1; spi-s=2; port-c=3; port-s=4"))
		r.AppendHeader(sip.NewHeader(hProxyReq, "sec-agree"))
	})
	if res := u.do(r); res.StatusCode != 401 {
		t.Fatalf("got %d", res.StatusCode)
	}
	fwd := l.scscf.next()
	t.Logf("forwarded:\n%s", fwd)
	if got := headerValues(fwd, hPath); len(got) != 1 || !strings.Contains(got[0], "term@"+l.addr) {
		t.Errorf("Path = %q", got)
	}
	if got := headerValues(fwd, hPVNI); len(got) != 1 || got[0] != DefaultVisitedNetworkID {
		t.Errorf("P-Visited-Network-ID = %q", got)
	}
	for _, h := range []string{hPAI, "Route", hSecClient, hProxyReq} {
		if got := headerValues(fwd, h); len(got) != 0 {
			t.Errorf("%s forwarded: %q", h, got)
		}
	}
	if a := headerValues(fwd, hAuthz); len(a) != 1 || strings.Contains(a[0], "integrity-protected") || !strings.Contains(a[0], `username="alice@`) {
		t.Errorf("Authorization = %q", a)
	}
	if got := headerValues(fwd, hRequire); len(got) != 1 || got[0] != "path" {
		t.Errorf("Require = %q, want path (the UE did not say Supported: path)", got)
	}
}

func TestStripAKAKeys(t *testing.T) {
	p, _ := New(Config{Logger: slog.New(slog.DiscardHandler)})
	key := FlowKey{Transport: "udp"}
	for _, c := range []struct{ in, want string }{
		{`Digest realm="r", nonce="n", algorithm=AKAv1-MD5, qop="auth", ck="` + testCK + `", ik="` + testIK + `"`,
			`Digest realm="r", nonce="n", algorithm=AKAv1-MD5, qop="auth"`},
		{`Digest CK=` + testCK + `, realm="r", IK="` + testIK + `", nonce="n", domain="sip:x"`,
			`Digest realm="r", nonce="n", domain="sip:x"`},
		{`Digest realm="r", nonce="n"`, `Digest realm="r", nonce="n"`},
		{`Basic realm="r"`, `Basic realm="r"`},
		{`Digest realm="r", nonce="n", ck="1", ck="2"`, ""},                                        // does not parse: removed
		{`Digest realm="unterminated, ik=` + testIK, ""},                                           // idem
		{`NotDigest x=1,ck=` + testCK, ""},                                                         // another scheme carrying ck: removed
		{`Digest realm="r", nonce="n", quick="ck=1"`, `Digest realm="r", nonce="n", quick="ck=1"`}, // a value, not a parameter
	} {
		res := sip.NewResponse(401, "Unauthorized")
		res.AppendHeader(sip.NewHeader("www-authenticate", c.in))
		p.stripAKAKeys(res, leg{flow: key, impi: "alice"})
		got := headerValues(res, hWWWAuth)
		if (c.want == "" && len(got) != 0) || (c.want != "" && (len(got) != 1 || got[0] != c.want)) {
			t.Errorf("%s\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
