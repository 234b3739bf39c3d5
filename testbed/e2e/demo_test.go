package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `imslab demo` runs from start to end, says so, exits 0, and leaves no
// process behind.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := run(t, nil, "demo", "--dir", dir)
	if code != 0 || !strings.Contains(out, "steps succeeded") {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"200 OK expires=600", "NOTIFY active", "AUTS (SQN not fresh)", "98 62", "P-Associated-URI  tel:+15550001"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	for _, f := range []string{"alice.card.yaml", "bob.card.yaml", "hss.db", "hss.log", "scscf.log", "pcscf.log", "sim-read.apdu.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("demo left no %s: %v", f, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hss.log")); !strings.Contains(string(b), "HSS stopped") || !strings.Contains(string(b), "MAC-S verified") {
		t.Errorf("the HSS did not resynchronise or did not stop cleanly:\n%s", b)
	}
	if out, err := exec.Command("pgrep", "-f", dir).Output(); err == nil {
		t.Errorf("a process of the demo is still running: %s", out)
	}
}
