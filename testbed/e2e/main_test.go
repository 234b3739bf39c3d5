// Package e2e holds the end-to-end tests: they build the imslab binary and
// run it as separate processes, next to real peers (pcscd, pcsc_scan).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// imslabBin is the binary built once for the whole package.
var imslabBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imslab-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	imslabBin = filepath.Join(dir, "imslab")
	build := exec.Command("go", "build", "-o", imslabBin, "github.com/imslab/imslab/cmd/imslab")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building imslab:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs imslab with args and extra environment, and returns its standard
// output, standard error and exit code.
func run(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, imslabBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("imslab %v: %v", args, err)
	}
	return o.String(), e.String(), code
}
