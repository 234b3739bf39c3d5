package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/internal/diameter/peer"
	"github.com/imslab/imslab/internal/freeport"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/internal/tsharktest"
	"github.com/imslab/imslab/pcscf"
	"github.com/imslab/imslab/scscf"
	"github.com/imslab/imslab/testbed/labtest"
)

// runTrace runs `imslab trace ARGS...` and returns its output and standard
// error.
func runTrace(args ...string) (string, string, error) {
	c := newTraceCmd()
	var out, errOut bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetArgs(args)
	c.SilenceUsage, c.SilenceErrors = true, true
	err := c.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// freePort returns a port of 127.0.0.1 free for both UDP and TCP (a
// service listens on both).
func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// options is an OPTIONS request from a client at from.
func options(from, to string) []byte {
	return []byte("OPTIONS sip:" + to + " SIP/2.0\r\nVia: SIP/2.0/UDP " + from + ";rport;branch=z9hG4bK" + strings.ReplaceAll(from, ":", "-") +
		"\r\nMax-Forwards: 70\r\nFrom: <sip:probe@ims.test>;tag=p1\r\nTo: <sip:" + to + ">\r\nCall-ID: probe-" + from +
		"\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
}

// ask sends a SIP request over UDP and returns the response's status line.
func ask(t *testing.T, to string) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp", to)
	buf := make([]byte, 65535)
	for range 20 { // the service may still be starting
		if _, err := c.WriteTo(options(c.LocalAddr().String(), to), dst); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, _, err := c.ReadFrom(buf)
		if err == nil {
			line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
			return line
		}
	}
	t.Fatalf("no answer from %s", to)
	return ""
}

// startService runs a service's command until the returned stop is
// called; stop returns its error.
func startService(t *testing.T, c *cobra.Command, args ...string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c.SetArgs(args)
	c.SilenceUsage, c.SilenceErrors = true, true
	done := make(chan error, 1)
	go func() { done <- c.ExecuteContext(ctx) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s did not stop", c.Name())
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, log *labtest.Buffer, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", what, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServicesTrace runs the HSS, the S-CSCF and the P-CSCF with --trace,
// stops them as SIGINT does (their context ends), and merges and renders
// their files with imslab trace.
func TestServicesTrace(t *testing.T) {
	dir := t.TempDir()
	hssAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	scscfAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pcscfAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	files := map[string]string{"HSS": filepath.Join(dir, "hss.jsonl"), "S-CSCF": filepath.Join(dir, "scscf.jsonl"), "P-CSCF": filepath.Join(dir, "pcscf.jsonl")}
	var log labtest.Buffer
	logger := func() *slog.Logger { return slog.New(slog.NewTextHandler(&log, nil)) }

	stopHSS := startService(t, newHSSCmd(logger), "--db", filepath.Join(dir, "hss.db"), "--listen", hssAddr, "--api", "-", "--trace", files["HSS"])
	stopS := startService(t, newSCSCFCmd(logger), "--listen", scscfAddr, "--hss", hssAddr, "--state", "-", "--trace", files["S-CSCF"])
	waitFor(t, &log, "connected to the HSS")
	stopP := startService(t, newPCSCFCmd(logger), "--listen", pcscfAddr, "--scscf", scscfAddr, "--trace", files["P-CSCF"])
	if got := ask(t, pcscfAddr); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Errorf("the P-CSCF answered an unregistered OPTIONS with %q", got)
	}
	if got := ask(t, scscfAddr); !strings.HasPrefix(got, "SIP/2.0 501") {
		t.Errorf("the S-CSCF answered OPTIONS with %q", got)
	}
	for name, stop := range map[string]func() error{"P-CSCF": stopP, "S-CSCF": stopS, "HSS": stopHSS} {
		if err := stop(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Each file is complete, and each record names its node.
	for node, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		events, err := trace.ReadJSON(f)
		f.Close()
		if err != nil || len(events) == 0 {
			t.Fatalf("%s: %d events, %v", path, len(events), err)
		}
		for _, e := range events {
			if e.Node != node || !e.Src.IsValid() || !e.Dst.IsValid() || e.Summary == "" || len(e.Raw) == 0 {
				t.Errorf("%s traced %+v", node, e)
			}
		}
	}
	all := []string{files["HSS"], files["S-CSCF"], files["P-CSCF"]}

	out, _, err := runTrace(append([]string{"json"}, all...)...)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := trace.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range merged {
		if !strings.HasPrefix(e.Summary, "DW") { // watchdogs come when they come
			got = append(got, e.Node+" "+map[bool]string{true: "sent", false: "received"}[e.Sent]+" "+e.Summary)
		}
	}
	want := []string{"S-CSCF sent CER", "HSS sent CEA 2001", "P-CSCF received OPTIONS sip:" + pcscfAddr, "P-CSCF sent 403 Forbidden",
		"S-CSCF received OPTIONS sip:" + scscfAddr, "S-CSCF sent 501 Not Implemented"}
	// The HSS's DPR/DPA on shutdown may follow.
	if len(got) < len(want) || strings.Join(got[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Errorf("merged trace:\n%s\nwant it to start with\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	out, _, err = runTrace(append([]string{"ladder", "--order", "P-CSCF,S-CSCF,HSS", "--name", "127.0.0.1=probe"}, all...)...)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(out, "\n")
	if strings.Join(strings.Fields(head), " ") != "P-CSCF S-CSCF HSS probe" || !strings.Contains(out, " CER ") || !strings.Contains(out, " 403 Forbidden ") {
		t.Errorf("ladder:\n%s", out)
	}

	mmd := filepath.Join(dir, "trace.mmd")
	if _, _, err := runTrace(append([]string{"mermaid", "-o", mmd}, all...)...); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(mmd)
	if err != nil || !strings.HasPrefix(string(b), "sequenceDiagram\n    participant S_CSCF as S-CSCF\n    participant HSS\n") ||
		!strings.Contains(string(b), "S_CSCF->>HSS: CER\n") {
		t.Errorf("Mermaid (%v):\n%s", err, b)
	}

	pcapPath := filepath.Join(dir, "trace.pcap")
	_, stderr, err := runTrace(append([]string{"pcap", "-o", pcapPath}, all...)...)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Read it with: tshark -r \S+(.*)\n`).FindStringSubmatch(stderr)
	if m == nil || !strings.Contains(m[1], "tcp.port=="+strings.TrimPrefix(hssAddr, "127.0.0.1:")+",diameter") {
		t.Fatalf("pcap: %q", stderr)
	}
	tsharktest.Check(t, pcapPath, strings.Fields(m[1])...)
	rows := tsharktest.Fields(t, pcapPath, []string{"sip.Method", "sip.Status-Code", "diameter.cmd.code"}, strings.Fields(m[1])...)
	var seen []string
	for _, r := range rows {
		if s := strings.Join(r, ""); s != "" && s != "280" {
			seen = append(seen, s)
		}
	}
	if len(seen) < 6 || strings.Join(seen[:6], " ") != "257 257 OPTIONS 403 OPTIONS 501" {
		t.Errorf("tshark reads %q", seen)
	}
}

func TestTraceCLIErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	os.WriteFile(good, []byte(`{"time":"2025-01-01T12:00:00Z","protocol":"SIP","sent":true,"network":"udp","src":"127.0.0.1:5070","dst":"127.0.0.1:5060","raw":"DQoNCg=="}`+"\n"), 0o600)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{}\n"+strings.Repeat("x", trace.MaxLine+1)+"\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ladder"}, "requires at least 1 arg"},
		{[]string{"ladder", filepath.Join(dir, "none.jsonl")}, "no such file"},
		{[]string{"json", bad}, "bad.jsonl: trace: line 2: longer than 1 MiB (is it a file written by --trace?)"},
		{[]string{"mermaid", "--name", "nobody", good}, "--name: name \"nobody\": want ADDR=NAME"},
		{[]string{"mermaid", "--name", "host:1=x", good}, "neither IP:PORT nor IP"},
		{[]string{"pcap", "-o", filepath.Join(dir, "no", "such", "dir.pcap"), good}, "no such file"},
	} {
		_, _, err := runTrace(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	out, stderr, err := runTrace("pcap", good)
	if err != nil || !strings.HasPrefix(out, "\xd4\xc3\xb2\xa1") || stderr != "1 message written.\nRead it with: tshark -r FILE\n" {
		t.Errorf("pcap to stdout: %v, %q", err, stderr)
	}
	out, _, err = runTrace("mermaid", "--name", "127.0.0.1:5060=P-CSCF", "--name", "127.0.0.1:5070=UE alice", good)
	if err != nil || out != "sequenceDiagram\n    participant UE_alice as UE alice\n    participant P_CSCF as P-CSCF\n    UE_alice->>P_CSCF: keep-alive\n" {
		t.Errorf("mermaid: %v\n%s", err, out)
	}
}

func TestTraceConverters(t *testing.T) {
	at := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	hss := &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 3868}
	cl := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	cea := []byte{1, 0, 0, 32, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 12, 0x40, 0, 0, 12, 0, 0, 7, 0xd1}
	e := diameterEvent(peer.Event{Time: at, Dir: peer.Out, Local: hss, Remote: cl, Network: "tcp", Raw: cea})
	if e.Protocol != "Diameter" || !e.Sent || e.Src.String() != "127.0.0.1:3868" || e.Dst.String() != "127.0.0.1:40000" || e.Summary != "CEA 2001" || !e.Time.Equal(at) {
		t.Errorf("Diameter: %+v", e)
	}
	e = diameterEvent(peer.Event{Dir: peer.In, Local: sctpAddr("10.0.0.1/10.0.0.2:3868"), Remote: sctpAddr("10.0.0.9:5000"), Network: "sctp", Raw: append([]byte{1, 0, 0, 20}, cea[4:20]...)})
	if e.Sent || e.Src.String() != "10.0.0.9:5000" || e.Dst.String() != "10.0.0.1:3868" || e.Network != "sctp" || e.Summary != "CEA" {
		t.Errorf("Diameter over SCTP: %+v", e)
	}
	e = scscfEvent(scscf.Event{Time: at, Protocol: "SIP", Out: false, Network: "UDP", Local: "127.0.0.1:6060", Remote: "127.0.0.1:5060",
		Summary: "REGISTER sip:ims.test SIP/2.0", Raw: []byte("REGISTER sip:ims.test;transport=udp SIP/2.0\r\n\r\n")})
	if e.Sent || e.Network != "udp" || e.Src.String() != "127.0.0.1:5060" || e.Dst.String() != "127.0.0.1:6060" || e.Summary != "REGISTER sip:ims.test" {
		t.Errorf("S-CSCF SIP: %+v", e)
	}
	e = scscfEvent(scscf.Event{Protocol: "SIP", Out: true, Local: "127.0.0.1:6060", Remote: "pcscf.ims.test:5060", Summary: "NOTIFY", Raw: []byte("garbage")})
	if !e.Sent || e.Dst.IsValid() || e.Summary != "NOTIFY" {
		t.Errorf("S-CSCF, host name: %+v", e)
	}
	ue, p := netip.MustParseAddrPort("127.0.0.1:5070"), netip.MustParseAddrPort("127.0.0.1:5060")
	e = pcscfEvent(pcscf.TraceEvent{Time: at, Sent: true, Network: "tcp", Local: p, Remote: ue, Raw: []byte("SIP/2.0 403 Forbidden\r\n\r\n")})
	if !e.Sent || e.Protocol != "SIP" || e.Src != p || e.Dst != ue || e.Summary != "403 Forbidden" {
		t.Errorf("P-CSCF: %+v", e)
	}
}

// sctpAddr is a net.Addr as an SCTP socket prints it.
type sctpAddr string

func (a sctpAddr) Network() string { return "sctp" }
func (a sctpAddr) String() string  { return string(a) }

// TestTraceFileOnSIGTERM runs the real binary: the P-CSCF's trace is
// complete when SIGTERM stops it (imslab demo stops services so).
func TestTraceFileOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "imslab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	path := filepath.Join(dir, "pcscf.jsonl")
	cmd := exec.Command(bin, "pcscf", "--listen", addr, "--trace", path)
	var stderr labtest.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for range 3 {
		ask(t, addr)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v\n%s", err, stderr.String())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	events, err := trace.ReadJSON(f)
	if err != nil || len(events) != 6 {
		t.Errorf("%d events in the trace (want 3 requests and 3 answers), %v", len(events), err)
	}
}
