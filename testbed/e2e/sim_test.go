package e2e

import (
	"github.com/imslab/imslab/internal/cardfile"

	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/pcsctest"
	"github.com/imslab/imslab/sim"
	"github.com/imslab/imslab/testbed/labtest"
)

// The software card served by `imslab sim vcard` through a private pcscd and
// its vpcd reader: read through the PC/SC backend it gives the same
// identities and the same AUTHENTICATE answers as the software card itself,
// and pcsc_scan, a program nobody here wrote, sees the card.
func TestSimThroughPCSC(t *testing.T) {
	pcsctest.Require(t, "pcsc_scan")
	d := pcsctest.Start(t)
	dir := t.TempDir()
	served := filepath.Join(dir, "served.yaml")
	twin := filepath.Join(dir, "twin.yaml")
	if _, stderr, code := run(t, nil, "sim", "new", "--out", served, "--imsi", "001010000000042", "--msisdn", "+15550042",
		"--k", "465b5ce8b199b49faa5f0a2ee238a6bc", "--opc", "cd63cb71954a9f4e48a5994e37a02baf", "--pin", "4321", "--isim", "--pcscf", "127.0.0.1"); code != 0 {
		t.Fatalf("sim new: %s", stderr)
	}
	b, err := os.ReadFile(served)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(twin, b, 0o600); err != nil {
		t.Fatal(err)
	}

	// imslab sim vcard, a separate process, inserts the card into the reader.
	vcardOut := &labtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vcard := exec.CommandContext(ctx, imslabBin, "sim", "vcard", "--card", served, "--vpcd", d.VPCDAddr, "-v")
	vcard.Stdout, vcard.Stderr = vcardOut, vcardOut
	vcard.Cancel = func() error { return vcard.Process.Signal(os.Interrupt) }
	if err := vcard.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("imslab sim vcard output:\n%s\npcscd log tail:\n%s", vcardOut.String(), d.LogTail(30))
		}
	}()
	waitCard(t, d)

	// pcsc_scan sees the reader and the card's ATR.
	scan := exec.Command("timeout", "5", "pcsc_scan", "-c", "-t", "2")
	scan.Env = append(os.Environ(), d.Env()...)
	out, _ := scan.CombinedOutput()
	atr := strings.ToUpper(hex.EncodeToString(mustSoft(t, twin).ATR()))
	spacedATR := strings.TrimSpace(strings.Join(splitPairs(atr), " "))
	if !strings.Contains(string(out), d.ReaderName) || !strings.Contains(string(out), spacedATR) {
		t.Fatalf("pcsc_scan does not show reader %q with ATR %s:\n%s", d.ReaderName, spacedATR, out)
	}

	// Without the PIN the user is told to give it, and how many tries remain
	// (first: once verified, the PIN stays verified while the card is powered).
	_, stderr, code := run(t, d.Env(), "sim", "read", "--reader", "pcsc", "--json")
	if code == 0 || !strings.Contains(stderr, "give --pin (3 tries remain)") {
		t.Fatalf("no PIN through PC/SC: exit %d, %s", code, stderr)
	}

	// The same identities through PC/SC as from the software card.
	pcscJSON, stderr, code := run(t, d.Env(), "sim", "read", "--reader", "pcsc:0", "--pin", "4321", "--json")
	if code != 0 {
		t.Fatalf("sim read through PC/SC: exit %d: %s", code, stderr)
	}
	softJSON, stderr, code := run(t, nil, "sim", "read", "--reader", "soft:"+twin, "--pin", "4321", "--json")
	if code != 0 {
		t.Fatalf("sim read soft: %s", stderr)
	}
	if pcscJSON != softJSON {
		t.Fatalf("identities differ:\nPC/SC %s\nsoft  %s", pcscJSON, softJSON)
	}
	var id sim.Identities
	if err := json.Unmarshal([]byte(pcscJSON), &id); err != nil || id.IMSI != "001010000000042" || len(id.PCSCF) != 1 {
		t.Fatalf("identities: %+v %v", id, err)
	}

	// The same AUTHENTICATE answers: success, replay (AUTS), false network.
	k, _ := hex.DecodeString("465b5ce8b199b49faa5f0a2ee238a6bc")
	opc, _ := hex.DecodeString("cd63cb71954a9f4e48a5994e37a02baf")
	network, _ := aka.New(k, opc)
	impostor, _ := aka.New(opc, k)
	good, _ := network.Vector(bytes.Repeat([]byte{0x42}, 16), aka.MakeSQN(3, 2), 0x8000)
	bad, _ := impostor.Vector(bytes.Repeat([]byte{0x43}, 16), aka.MakeSQN(4, 2), 0x8000)
	for _, step := range []struct {
		name, ctx string
		v         *aka.Vector
		code      int
		result    string
	}{
		{"fresh challenge, ISIM", "isim", good, 0, "ok"},
		{"replayed challenge, ISIM", "isim", good, 2, "sync_failure"},
		{"replayed challenge, USIM", "usim", good, 2, "sync_failure"},
		{"false network, USIM", "usim", bad, 3, "mac_failure"},
	} {
		args := []string{"sim", "auth", "--pin", "4321", "--json", "--context", step.ctx,
			"--rand", hex.EncodeToString(step.v.RAND), "--autn", hex.EncodeToString(step.v.AUTN)}
		pOut, pErr, pCode := run(t, d.Env(), append(args, "--reader", "pcsc:0")...)
		sOut, _, sCode := run(t, nil, append(args, "--reader", "soft:"+twin)...)
		if pCode != step.code || sCode != step.code || pOut != sOut || !strings.Contains(pOut, `"result": "`+step.result+`"`) {
			t.Fatalf("%s: PC/SC exit %d %s %s; soft exit %d %s", step.name, pCode, pOut, pErr, sCode, sOut)
		}
		if step.result == "ok" && !strings.Contains(pOut, hex.EncodeToString(good.XRES)) {
			t.Fatalf("%s: RES is not the network's XRES %x: %s", step.name, good.XRES, pOut)
		}
	}

	// pcscd restarts: the virtual card comes back by itself.
	d.Restart()
	waitCard(t, d)
	if _, stderr, code := run(t, d.Env(), "sim", "read", "--reader", "pcsc:0", "--pin", "4321", "--json"); code != 0 {
		t.Fatalf("read after pcscd restart: %s", stderr)
	}

	// Ctrl-C: vcard exits cleanly (status 0) and its state is in the card file.
	if err := vcard.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- vcard.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("imslab sim vcard after SIGINT: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = vcard.Process.Signal(syscall.SIGKILL)
		t.Fatal("imslab sim vcard did not exit on SIGINT")
	}
	p, err := cardfile.Load(served)
	if err != nil {
		t.Fatal(err)
	}
	if p.State.SEQ[2] != 3 {
		t.Fatalf("served card's SEQ array %v, want SEQ 3 at IND 2", p.State.SEQ)
	}
}

// waitCard waits until the vpcd reader shows a card (the vcard connected).
func waitCard(t *testing.T, d *pcsctest.Daemon) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := sim.OpenPCSC(ctx, d.ReaderName)
		cancel()
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no card in %q: %v", d.ReaderName, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustSoft(t *testing.T, path string) *sim.SoftCard {
	t.Helper()
	c, err := sim.OpenSoftCard(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func splitPairs(s string) []string {
	var out []string
	for i := 0; i+1 < len(s); i += 2 {
		out = append(out, s[i:i+2])
	}
	return out
}
