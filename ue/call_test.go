package ue

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/media"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "tel:+15550001", want: "tel:+15550001"},
		{in: "+15550001", want: "tel:+15550001"},
		{in: "sip:+15550001@ims.example.org;user=phone", want: "sip:+15550001@ims.example.org;user=phone"},
		{in: "sip:alice@ims.example.org", want: "sip:alice@ims.example.org"},
		{in: "mailto:alice@example.org", bad: true},
		{in: "sip:", bad: true},
		{in: "", bad: true},
	} {
		u, err := parseTarget(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseTarget(%q) = %s, want an error", tc.in, u.String())
			}
			continue
		}
		if err != nil || u.String() != tc.want {
			t.Errorf("parseTarget(%q) = %s, %v; want %s", tc.in, u.String(), err, tc.want)
		}
	}
}

// RFC 3262 §4: only a 1xx other than 100 with Require: 100rel and an RSeq
// is PRACKed.
func TestReliable(t *testing.T) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", Host: "x"})
	mk := func(code int, hdrs ...string) *sip.Response {
		r := sip.NewResponseFromRequest(req, code, "x", nil)
		for i := 0; i < len(hdrs); i += 2 {
			r.AppendHeader(sip.NewHeader(hdrs[i], hdrs[i+1]))
		}
		return r
	}
	for _, tc := range []struct {
		res  *sip.Response
		want bool
	}{
		{mk(180, "Require", "100rel", "RSeq", "1"), true},
		{mk(183, "Require", "precondition, 100rel", "RSeq", "7"), true},
		{mk(180, "RSeq", "1"), false},
		{mk(180, "Require", "100rel"), false},
		{mk(180, "Require", "100rel", "RSeq", "0"), false},
		{mk(100, "Require", "100rel", "RSeq", "1"), false},
		{mk(200, "Require", "100rel", "RSeq", "1"), false},
	} {
		if got := reliable(tc.res); got != tc.want {
			t.Errorf("reliable(%s) = %v, want %v", strings.ReplaceAll(tc.res.String(), "\r\n", " | "), got, tc.want)
		}
	}
}

// RFC 3261 §12.1.2: the UAC's route set is the Record-Route reversed; one
// header may hold several entries.
func TestRouteSets(t *testing.T) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", Host: "x"})
	req.AppendHeader(sip.NewHeader("Record-Route", "<sip:p1.test;lr>, <sip:s.test;lr;transport=tcp>"))
	req.AppendHeader(sip.NewHeader("Record-Route", "<sip:p2.test:5062;lr>"))
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	var got []string
	for _, u := range recordRouteOf(req) {
		got = append(got, u.String())
	}
	if want := "sip:p1.test;lr sip:s.test;lr;transport=tcp sip:p2.test:5062;lr"; strings.Join(got, " ") != want {
		t.Errorf("UAS route set %v, want %s", got, want)
	}
	got = nil
	for _, u := range reverseRecordRoute(res) {
		got = append(got, u.String())
	}
	if want := "sip:p2.test:5062;lr sip:s.test;lr;transport=tcp sip:p1.test;lr"; strings.Join(got, " ") != want {
		t.Errorf("UAC route set %v, want %s", got, want)
	}
}

func TestCallErrorExplains(t *testing.T) {
	e := &CallError{Code: 486, Reason: "Busy Here", Warning: "all 2 devices busy"}
	if s := e.Error(); !strings.Contains(s, "486 Busy Here") || !strings.Contains(s, "busy") || !strings.Contains(s, "all 2 devices") {
		t.Errorf("%q", s)
	}
}

// An incoming call against the fake network playing the P-CSCF: 100, a
// reliable 180 retransmitted until its PRACK (RFC 3262 §3), 200 with the
// SDP answer after the ring time, ACK, SRTP both ways, BYE from the caller.
func TestIncomingCallReliable180(t *testing.T) {
	c := newTestCard(t, "001010000000001", true, 0)
	f := newFakeNet(t, fakeConfig{K: c.k, OPc: c.opc})
	events := newEventLog(t)
	answerMedia := MediaOptions{Source: media.NewTone(1000, 0.3), ExpectTone: 440}
	u, _ := newTestUE(t, c, f, func(cfg *Config) {
		cfg.Answer = AnswerPolicy{After: 1200 * time.Millisecond, Media: answerMedia}
		cfg.OnEvent = events.on
	})
	stop, _ := runUE(t, u)
	events.wait(Registered, 1)
	ctx := testCtx(t)

	// The caller's side: an RTP socket and an offer.
	caller, err := media.NewCryptos("AES_CM_128_HMAC_SHA1_80")
	if err != nil {
		t.Fatal(err)
	}
	rtp := listenUDP(t)
	local := media.Local{Addr: netip.MustParseAddrPort(rtp.LocalAddr().String()), Cryptos: caller}
	offer, err := local.Offer()
	if err != nil {
		t.Fatal(err)
	}
	var contact sip.Uri
	if err := sip.ParseUri(u.Contact(), &contact); err != nil {
		t.Fatal(err)
	}
	inv := sip.NewRequest(sip.INVITE, contact)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "tel", User: "+15550002"}, Params: sip.NewParams()}
	from.Params.Add("tag", "callertag")
	inv.AppendHeader(from)
	inv.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "tel", User: "+15550001"}, Params: sip.NewParams()})
	cid := sip.CallIDHeader("call-1@test")
	inv.AppendHeader(&cid)
	inv.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	fakeURI := sip.Uri{Scheme: "sip", Host: hostOf(f.addr), Port: portOf(f.addr)}
	inv.AppendHeader(&sip.ContactHeader{Address: fakeURI})
	inv.AppendHeader(&sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", Host: hostOf(f.addr), Port: portOf(f.addr), UriParams: sip.HeaderParams{{K: "lr"}}}})
	inv.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<tel:+15550002>"))
	inv.AppendHeader(sip.NewHeader("Supported", "100rel"))
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody(offer)
	inv.SetTransport("UDP")
	tx, err := f.client.TransactionRequest(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	var ring, ok *sip.Response
	rings := 0
	for ok == nil {
		select {
		case res := <-tx.Responses():
			switch {
			case res.StatusCode == 180:
				rings++
				if ring == nil {
					ring = res
				}
			case res.StatusCode == 200:
				ok = res
			case res.StatusCode >= 300:
				t.Fatalf("INVITE answered %d %s", res.StatusCode, res.Reason)
			}
			// Leave the first 180 un-PRACKed for a while: it must come again.
			if ring != nil && rings == 2 {
				rings++
				pr := inDialog(t, f, sip.PRACK, ring, inv, 2)
				pr.AppendHeader(sip.NewHeader("RAck", header(ring, "RSeq")+" 1 INVITE"))
				res, err := f.client.Do(ctx, pr)
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("PRACK: %v %v", res, err)
				}
			}
		case <-ctx.Done():
			t.Fatal("no 200 to the INVITE")
		}
	}
	if rings < 3 {
		t.Errorf("the reliable 180 came %d times before its PRACK, want it retransmitted (RFC 3262 §3)", rings)
	}
	if !reliable(ring) || header(ring, "Contact") == "" {
		t.Errorf("180 is not reliable or has no Contact:\n%s", ring)
	}
	if tagOf(ring.To()) != tagOf(ok.To()) || tagOf(ok.To()) == "" {
		t.Errorf("To tags differ: 180 %q, 200 %q (RFC 3261 §8.2.6.2)", tagOf(ring.To()), tagOf(ok.To()))
	}
	neg, err := local.ProcessAnswer(ok.Body())
	if err != nil {
		t.Fatalf("the UE's SDP answer: %v\n%s", err, ok.Body())
	}
	ack := inDialog(t, f, sip.ACK, ok, inv, 1)
	if err := f.client.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	events.wait(CallEstablished, 1)

	cfg := neg.SessionConfig(rtp)
	cfg.Source = media.NewTone(440, 0.3)
	sess, err := media.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithTimeout(ctx, time.Second)
	defer mcancel()
	_ = sess.Run(mctx)

	bye := inDialog(t, f, sip.BYE, ok, inv, 3)
	if res, err := f.client.Do(ctx, bye); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	ended := events.wait(CallEnded, 1)
	r := ended.Call.Result()
	if r.EndedBy != "remote" || r.Media.PacketsReceived < 30 || !r.Media.ToneHeard || r.Media.Suite != "AES_CM_128_HMAC_SHA1_80" {
		t.Errorf("callee's result: %+v", r)
	}
	if !media.DetectTone(sess.Received(), 1000) {
		t.Error("the caller did not hear the callee's 1000 Hz tone")
	}
	if ended.Call.Peer() != "tel:+15550002" {
		t.Errorf("the callee sees the caller as %q, want the asserted tel:+15550002", ended.Call.Peer())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// inDialog builds a request of the caller in the dialog the response set up.
func inDialog(t *testing.T, f *fakeNet, m sip.RequestMethod, res *sip.Response, inv *sip.Request, cseq uint32) *sip.Request {
	t.Helper()
	target, ok := contactURI(res)
	if !ok {
		t.Fatalf("%d without Contact", res.StatusCode)
	}
	r := sip.NewRequest(m, target)
	r.AppendHeader(sip.HeaderClone(inv.From()))
	r.AppendHeader(sip.HeaderClone(res.To()))
	r.AppendHeader(sip.HeaderClone(inv.CallID()))
	if m == sip.ACK {
		cseq = inv.CSeq().SeqNo
	}
	r.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: m})
	r.SetTransport("UDP")
	_ = f
	return r
}

func listenUDP(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
