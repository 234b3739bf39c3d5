// Package peertest runs the real peers of the lab's tests — programs nobody
// here wrote, from Debian — and holds the one rule for a missing one: the
// test is skipped, naming the package to install, except when the
// environment variable CI is set, where a missing peer fails the test.
package peertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Debian packages that bring each peer (the Makefile installs them).
var packages = map[string]string{
	"pcscd":           "pcscd",
	"pcsc_scan":       "pcsc-tools",
	"unshare":         "util-linux",
	"libifdvpcd.so":   "vsmartcard-vpcd",
	"tshark":          "tshark",
	"baresip":         "baresip",
	"twinkle-console": "twinkle-console",
	"sipp":            "sip-tester",
}

// Require checks that each binary is installed; see Missing.
func Require(t testing.TB, binaries ...string) {
	t.Helper()
	for _, b := range binaries {
		if _, err := LookPath(b); err != nil {
			Missing(t, b)
		}
	}
}

// Missing skips the test for a missing peer, or fails it when CI is set.
func Missing(t testing.TB, what string) {
	t.Helper()
	hint := "find its Debian package (apt-file search " + what + ") and install it"
	if p, ok := packages[what]; ok {
		hint = "install it with `apt-get install -y " + p + "` (make test does)"
	}
	msg := fmt.Sprintf("%s is not installed: %s", what, hint)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: a missing peer fails the test)", msg)
	}
	t.Skipf("%s", msg)
}

// LookPath finds a binary in PATH or in the sbin directories a non-root
// PATH may lack (pcscd lives in /usr/sbin).
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}
