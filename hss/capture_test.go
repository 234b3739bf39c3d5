package hss

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/internal/tsharktest"
)

// A capture of every Cx and S6a command the HSS serves or sends is decoded
// by tshark with every command and AVP named, and no malformed packet or
// expert error.
func TestCaptureDecodesInTshark(t *testing.T) {
	tsharktest.Require(t)
	var mu sync.Mutex
	var events []peer.Event
	l := startHSS(t, nil, func(c *Config) {
		c.Trace = func(e peer.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	})
	ctx := context.Background()
	impi, impu := alice+"@"+domain, "sip:"+alice+"@"+domain
	answer := func(_ context.Context, _ *peer.Conn, m *diam.Message) *diam.Message {
		a := l.cxN.Answer(m, diameter.ResultSuccess)
		a.AddAVP(vsai(diameter.AppCx))
		return a
	}
	l.cxN.Handle(diameter.AppCx, diameter.CmdRT, answer)
	l.cxN.Handle(diameter.AppCx, diameter.CmdPP, answer)

	l.uar(t, impi, impu, userAuthRegistration)
	l.mar(t, impi, impu, schemeAKA, 1, nil)
	l.mar(t, "alice@"+domain, "sip:alice@"+domain, schemeDigest, 1, nil)
	l.sar(t, impi, impu, satRegistration)
	l.lir(t, "tel:+15550001")
	if err := l.h.PushProfile(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := l.h.Deregister(ctx, alice, ReasonPermanentTermination, "capture"); err != nil {
		t.Fatal(err)
	}
	l.air(t, alice, 2, nil)
	l.do(t, l.s6a, req(l.s6N, diameter.AppS6a, diameter.CmdUL, s6A("User-Name", datatype.UTF8String(alice)),
		s6A("RAT-Type", datatype.Enumerated(1004)), s6A("ULR-Flags", datatype.Unsigned32(0x22)),
		s6A("Visited-PLMN-Id", datatype.OctetString(plmn00101))))
	l.do(t, l.s6a, req(l.s6N, diameter.AppS6a, diameter.CmdPU, s6A("User-Name", datatype.UTF8String(alice))))
	l.cx.Close()
	l.s6a.Close()

	// IMSLAB_HSS_PCAP keeps the capture (docs/hss.md is made from it).
	pcap := os.Getenv("IMSLAB_HSS_PCAP")
	if pcap == "" {
		pcap = filepath.Join(t.TempDir(), "hss.pcap")
	}
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	w, err := trace.NewPcapWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, e := range events {
		local, remote := addrPort(e.Local), addrPort(e.Remote)
		src, dst := remote, local
		if e.Dir == peer.Out {
			src, dst = local, remote
		}
		if err := w.Write(trace.Packet{Time: e.Time, Src: src, Dst: dst, Proto: "tcp", Payload: e.Raw}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Unlock()
	f.Close()

	port := l.h.Addr().(*net.TCPAddr).Port
	decode := []string{"-d", fmt.Sprintf("tcp.port==%d,diameter", port)}
	tsharktest.Check(t, pcap, decode...)
	if u := tsharktest.UnknownDiameterAVPs(t, pcap, decode...); len(u) > 0 {
		t.Errorf("AVPs tshark does not know: %v", u)
	}
	rows := tsharktest.Fields(t, pcap, []string{"diameter.cmd.code", "diameter.flags.request", "_ws.col.info"}, decode...)
	seen := map[string]bool{}
	for _, r := range rows {
		if len(r) < 3 || r[0] == "" {
			continue
		}
		seen[r[0]+"/"+r[1]] = true
		if strings.Contains(r[2], "Unknown") {
			t.Errorf("tshark does not name a command: %s", r[2])
		}
	}
	for _, code := range []int{257, 300, 301, 302, 303, 304, 305, 316, 318, 321, 282} {
		for _, req := range []string{"1", "0"} {
			if !seen[fmt.Sprintf("%d/%s", code, req)] {
				t.Errorf("command %d (request=%s) not in the capture; seen %v", code, req, seen)
			}
		}
	}
	t.Logf("%d Diameter messages, %d frames decoded cleanly", len(events), len(rows))
}

func addrPort(a net.Addr) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
