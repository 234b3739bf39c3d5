package gw

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/internal/tsharktest"
)

// TestTraceDissectedByTshark runs an attach, UDP and TCP through the
// tunnel and a detach, writes what the gateway, the MME client and the UE's
// user plane traced to a pcap, and checks that tshark dissects GTPv2-C and
// GTP-U, with the inner IP/UDP/TCP, cleanly (checksums verified).
//
// The ports are not the registered ones, so tshark is told:
//
//	tshark -r F.pcap -d udp.port==<gateway GTP-C>,gtp -d udp.port==<MME>,gtp
//	       -d udp.port==<gateway GTP-U>,gtp -d udp.port==<eNB GTP-U>,gtp
//	       -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE
//
// tshark 4.0 has no "gtpv2" for udp.port ("Protocol "gtpv2" isn't valid for
// layer type "udp.port""): its "gtp" dissector, registered on 2123 and
// 2152, reads the version and hands GTPv2-C to gtpv2. trace.DecodeAs says
// gtpv2 for GTPv2 events; gtpDecodeAs rewrites it.
func TestTraceDissectedByTshark(t *testing.T) {
	tsharktest.Require(t)
	var rec recorder
	g := startGW(t, Config{Trace: rec.add})
	c := dialGW(t, g, rec.add)
	u := attach(t, c, imsi1, rec.add)

	udpEcho, tcpEcho := startUDPEcho(t), startTCPEcho(t)
	uc, err := u.p.DialUDP(5060, udpEcho.addr())
	if err != nil {
		t.Fatal(err)
	}
	udpRoundTrip(t, uc, []byte("OPTIONS sip:pcscf SIP/2.0\r\n\r\n"))
	uc.Close()
	tc, err := u.p.DialTCP(ctxT(t), tcpEcho.addr())
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("SIP over TCP "), 300) // several segments
	if _, err := tc.Write(msg); err != nil {
		t.Fatal(err)
	}
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(tc, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	tc.Close()
	time.Sleep(100 * time.Millisecond) // let the FINs through
	if err := c.DeleteSession(ctxT(t), u.s); err != nil {
		t.Fatal(err)
	}

	events := trace.Merge(rec.all())
	path := filepath.Join(t.TempDir(), "epc.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := trace.WritePcap(f, events)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	decode := gtpDecodeAs(info.DecodeAs)
	args := slices.Concat(decode, tsharktest.ValidateChecksums())
	t.Logf("%d frames; tshark %s", info.Written, strings.Join(args, " "))
	tsharktest.Check(t, path, args...)
	t.Logf("tshark's view:\n%s", tsharktest.Run(t, slices.Concat([]string{"-r", path}, decode)...))

	// GTPv2-C: Create Session, Modify Bearer, Delete Session, each with its
	// response, with the IEs the gateway fills.
	var types []string
	for _, row := range tsharktest.Fields(t, path, []string{"gtpv2.message_type"}, slices.Concat(decode, []string{"-Y", "gtpv2"})...) {
		types = append(types, row[0])
	}
	if want := []string{"32", "33", "34", "35", "36", "37"}; !slices.Equal(types, want) {
		t.Errorf("GTPv2-C message types %v, want %v", types, want)
	}
	rows := tsharktest.Fields(t, path, []string{"gtpv2.cause", "gtpv2.pdn_addr_and_prefix.ipv4", "gtpv2.f_teid_ipv4", "gtpv2.f_teid_interface_type"},
		slices.Concat(decode, []string{"-Y", "gtpv2.message_type == 33"})...)
	if len(rows) != 1 || !strings.HasPrefix(rows[0][0], "16") || rows[0][1] != u.s.UE.String() {
		t.Errorf("Create Session Response fields %q, want cause 16 and PAA %v", rows, u.s.UE)
	} else {
		t.Logf("Create Session Response: cause %s, PAA %s, F-TEIDs %s of interface types %s", rows[0][0], rows[0][1], rows[0][2], rows[0][3])
	}
	pcscf := tsharktest.Fields(t, path, []string{"gsm_a.gm.sm.pco.pcscf.ipv4"}, slices.Concat(decode, []string{"-Y", "gtpv2.message_type == 33"})...)
	if len(pcscf) != 1 || pcscf[0][0] != "127.0.0.1" {
		t.Errorf("P-CSCF in the PCO as tshark reads it: %q, want 127.0.0.1", pcscf)
	}

	// GTP-U: T-PDUs with the UE's packets inside, from and to its pool
	// address.
	gtpu := tsharktest.Fields(t, path, []string{"gtp.teid", "ip.src", "ip.dst", "ip.proto"},
		slices.Concat(decode, []string{"-Y", "gtp.message == 0xff"})...)
	var udp, tcp int
	ue := u.s.UE.String()
	for _, r := range gtpu {
		srcs, dsts := strings.Split(r[1], ","), strings.Split(r[2], ",")
		if len(srcs) != 2 || (srcs[1] != ue && dsts[1] != ue) {
			t.Errorf("T-PDU with inner %v > %v: not the UE's", srcs, dsts)
			continue
		}
		switch strings.Split(r[3], ",")[1] {
		case "17":
			udp++
		case "6":
			tcp++
		}
	}
	t.Logf("%d T-PDUs: %d UDP, %d TCP", len(gtpu), udp, tcp)
	if udp != 2 || tcp < 8 {
		t.Errorf("%d UDP and %d TCP T-PDUs, want 2 and a whole connection", udp, tcp)
	}
}

// gtpDecodeAs turns trace.DecodeAs's "udp.port==N,gtpv2" into
// "udp.port==N,gtp", the name tshark 4.0 accepts.
func gtpDecodeAs(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		out[i] = strings.Replace(a, ",gtpv2", ",gtp", 1)
	}
	return out
}
