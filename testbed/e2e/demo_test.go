package e2e

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/internal/tsharktest"
)

// `imslab demo` runs from start to end, says so, exits 0, leaves no
// process behind, and its pcap is dissected by tshark without a malformed
// packet or an expert error: SIP, Diameter and SRTP.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := run(t, nil, "demo", "--dir", dir, "--talk", "2s")
	if code != 0 || !strings.Contains(out, "steps succeeded") {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"Attach request", "Authentication failure", "Security mode command", "Create Session Request",
		"Attach accept [integrity, ciphered]", "P-CSCF [127.3.", "401 Unauthorized", "INVITE tel:+15550001", "PRACK RAck",
		"CANCEL", "487 Request Terminated", "SRTP PCMU", "BYE", "MAR", "1000 Hz tone heard: true", "440 Hz tone heard: true", "contacts of this identity now: 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	for _, f := range []string{"alice.card.yaml", "alice-tablet.card.yaml", "bob.card.yaml", "hss.db", "hss.log", "scscf.log", "pcscf.log", "epc.log",
		"trace.jsonl", "ladder.txt", "ladder.mmd", "demo.pcapng", "keys.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("demo left no %s: %v", f, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hss.log")); !strings.Contains(string(b), "HSS stopped") || !strings.Contains(string(b), "MAC-S verified") {
		t.Errorf("the HSS did not resynchronise or did not stop cleanly:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keys.txt")); !strings.Contains(string(b), "inline:") || !strings.Contains(string(b), "ck=") {
		t.Errorf("keys.txt lacks the SRTP keys or CK/IK:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ladder.mmd")); !strings.HasPrefix(string(b), "sequenceDiagram") {
		t.Errorf("ladder.mmd is not a Mermaid sequence diagram:\n%.300s", b)
	}
	if out, err := exec.Command("pgrep", "-f", dir).Output(); err == nil {
		t.Errorf("a process of the demo is still running: %s", out)
	}

	f, err := os.Open(filepath.Join(dir, "trace.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	events, err := trace.ReadJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	info, err := trace.WritePcapNG(io.Discard, events)
	if err != nil {
		t.Fatal(err)
	}
	decode := info.Args // what the demo prints for tshark
	pcap := filepath.Join(dir, "demo.pcapng")
	tsharktest.Check(t, pcap, decode...)
	count := map[string]int{}
	for _, row := range tsharktest.Fields(t, pcap, []string{"frame.protocols"}, decode...) {
		for _, p := range []string{"sip", "diameter", "rtp", "gtp", "gtpv2", "nas-eps"} {
			if strings.Contains(":"+row[0]+":", ":"+p+":") {
				count[p]++
			}
		}
	}
	t.Logf("tshark: %v", count)
	if count["sip"] < 50 || count["diameter"] < 20 || count["rtp"] < 100 || count["gtp"] < 100 || count["gtpv2"] < 6 || count["nas-eps"] < 14 {
		t.Errorf("tshark dissected %v frames, want SIP, Diameter and RTP", count)
	}
}
