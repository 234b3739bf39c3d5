package sipproxy

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func parse(t *testing.T, raw string) *sip.Request {
	t.Helper()
	m, err := sip.ParseMessage([]byte(strings.ReplaceAll(raw, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*sip.Request)
}

const invite = `INVITE sip:bob@127.0.0.1:5080;transport=tcp SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK776asdhds;rport
Route: <sip:pcscf.test:5062;lr>
Route: <sip:orig@scscf.test;lr;transport=tcp>
Max-Forwards: 70
From: <sip:alice@ims.test>;tag=1928301774
To: <tel:+15550001>
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Contact: <sip:alice@10.0.0.1:5070>
Content-Length: 0

`

// RFC 3261 §16.6 step 7, §16.12: the top Route, else the Request-URI.
func TestNextHop(t *testing.T) {
	req := parse(t, invite)
	for _, tc := range []struct {
		name   string
		edit   func(*sip.Request)
		def    string
		want   string
		errSub string
	}{
		{name: "top Route, default transport", def: "udp", want: "udp:pcscf.test:5062"},
		{name: "second Route, its transport", edit: func(r *sip.Request) { r.RemoveHeader("Route") }, def: "udp", want: "tcp:scscf.test:5060"},
		{name: "Request-URI", edit: func(r *sip.Request) { r.RemoveHeader("Route"); r.RemoveHeader("Route") }, def: "udp", want: "tcp:127.0.0.1:5080"},
		{name: "tel Request-URI", edit: func(r *sip.Request) {
			r.RemoveHeader("Route")
			r.RemoveHeader("Route")
			_ = sip.ParseUri("tel:+15550001", &r.Recipient)
		}, def: "udp", errSub: "not a SIP URI"},
		{name: "unknown transport", edit: func(r *sip.Request) {
			r.Recipient.UriParams.Add("transport", "sctp")
			r.RemoveHeader("Route")
			r.RemoveHeader("Route")
		},
			def: "udp", errSub: "transport SCTP not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req.Clone()
			if tc.edit != nil {
				tc.edit(r)
			}
			h, err := NextHop(r, tc.def)
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("NextHop = %v, %v; want an error with %q", h, err, tc.errSub)
				}
				return
			}
			if err != nil || h.String() != tc.want {
				t.Fatalf("NextHop = %v, %v; want %s", h, err, tc.want)
			}
		})
	}
}

// RFC 3261 §16.6 step 3, §18.2.1, RFC 3581 §4.
func TestStamp(t *testing.T) {
	req := parse(t, invite)
	req.SetSource("192.0.2.7:40000")
	fwd := req.Clone()
	Stamp(req, fwd)
	if mf := fwd.MaxForwards(); mf == nil || *mf != 69 {
		t.Errorf("Max-Forwards %v, want 69", mf)
	}
	v := fwd.Via()
	if r, _ := v.Params.Get("received"); r != "192.0.2.7" {
		t.Errorf("received=%q, want the source address", r)
	}
	if r, _ := v.Params.Get("rport"); r != "40000" {
		t.Errorf("rport=%q, want the source port", r)
	}
	if v2 := req.Via(); v2.Params.Has("received") {
		t.Error("Stamp changed the received request")
	}
}

// RFC 3261 §16.6 step 8, §18.1.1: the element's Via on top; over 1300
// bytes, TCP.
func TestPushVia(t *testing.T) {
	req := parse(t, invite)
	small := req.Clone()
	h := PushVia(small, Hop{Transport: "UDP", Addr: "127.0.0.1:6060"}, "pcscf.test", 5062, "z9hG4bKabc")
	if h.Transport != "UDP" || small.Via().Host != "pcscf.test" || small.Via().Port != 5062 || small.Destination() != "127.0.0.1:6060" {
		t.Errorf("small request: hop %v, top Via %s, destination %s", h, small.Via().Value(), small.Destination())
	}
	if b, _ := small.Via().Params.Get("branch"); b != "z9hG4bKabc" {
		t.Errorf("branch %q", b)
	}
	lines := strings.Split(strings.TrimRight(small.String(), "\r\n"), "\r\n")
	if !strings.HasPrefix(lines[len(lines)-1], "Content-Length") {
		t.Errorf("Content-Length is not the last header:\n%s", small)
	}
	big := req.Clone()
	big.SetBody([]byte(strings.Repeat("a=x\r\n", 300)))
	h = PushVia(big, Hop{Transport: "UDP", Addr: "127.0.0.1:6060"}, "pcscf.test", 5062, "z9hG4bKabc")
	if h.Transport != "TCP" || big.Via().Transport != "TCP" || big.Transport() != "TCP" {
		t.Errorf("a %d-byte request goes %v with Via %s", len(big.String()), h, big.Via().Value())
	}
}

// RFC 3261 §9.1: a CANCEL has the INVITE's Request-URI, top Via, Route,
// Call-ID, From, To and CSeq number.
func TestCancel(t *testing.T) {
	inv := parse(t, invite)
	inv.SetDestination("127.0.0.1:5062")
	inv.SetTransport("UDP")
	c := Cancel(inv)
	want := `CANCEL sip:bob@127.0.0.1:5080;transport=tcp SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK776asdhds;rport
Route: <sip:pcscf.test:5062;lr>
Route: <sip:orig@scscf.test;lr;transport=tcp>
Max-Forwards: 70
From: <sip:alice@ims.test>;tag=1928301774
To: <tel:+15550001>
Call-ID: a84b4c76e66710
CSeq: 314159 CANCEL
Content-Length: 0`
	if got := strings.TrimSpace(strings.ReplaceAll(c.String(), "\r\n", "\n")); got != want {
		t.Errorf("CANCEL:\n%s\nwant\n%s", got, want)
	}
	if c.Destination() != "127.0.0.1:5062" || c.Transport() != "UDP" {
		t.Errorf("CANCEL goes to %s over %s, not where the INVITE went", c.Destination(), c.Transport())
	}
}

// RFC 3261 §16.7 step 3: the response goes back without the element's Via.
func TestUpstream(t *testing.T) {
	req := parse(t, invite)
	req.SetSource("10.0.0.1:5070")
	res := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
	res.PrependHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "pcscf.test", Port: 5062,
		Params: sip.HeaderParams{{K: "branch", V: "z9hG4bKp"}}})
	out := Upstream(req, res)
	if v := out.Via(); v == nil || v.Host != "10.0.0.1" {
		t.Errorf("top Via after Upstream: %v", v)
	}
	if len(res.GetHeaders("Via")) != 2 {
		t.Error("Upstream changed the response it was given")
	}
}
