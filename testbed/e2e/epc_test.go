package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/cardfile"
	"github.com/imslab/imslab/internal/freeport"
)

// The access network with every node its own process: imslab hss, scscf,
// pcscf and epc; phones attach (EPS AKA with their SIM, a resync, a card
// with another K refused), take the P-CSCF from the PCO, register and call
// with SIP and SRTP through GTP-U, and detach.
func TestAttachRegisterCallThroughEPC(t *testing.T) {
	dir := t.TempDir()
	alice := card(t, dir, "alice", "001010000000071", "+15550071", "--isim")
	bob := card(t, dir, "bob", "001010000000072", "+15550072")
	ahead := card(t, dir, "ahead", "001010000000073", "+15550073", "--isim")
	l := &lab{dir: t.TempDir()}
	l.db = filepath.Join(l.dir, "hss.db")
	for _, c := range []string{alice, bob, ahead} {
		if out, stderr, code := run(t, nil, "hss", "subscriber", "import", "--db", l.db, c); code != 0 {
			t.Fatalf("import: %s %s", out, stderr)
		}
	}
	p, err := cardfile.Load(ahead)
	if err != nil {
		t.Fatal(err)
	}
	p.State.SEQ[3] = 500 // the card has seen SEQ 500: it is ahead of the HSS
	if err := cardfile.SaveState(ahead, p.State); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.yaml") // Alice's IMSI, another K
	if _, stderr, code := run(t, nil, "sim", "new", "--out", other, "--imsi", "001010000000071", "--msisdn", "+15550071", "--isim",
		"--k", "00112233445566778899aabbccddeeff", "--opc", testOPc); code != 0 {
		t.Fatal(stderr)
	}
	// The P-CSCF on port 5060 of a loopback address of its own: the PCO
	// carries an address, the UE uses port 5060 (TS 24.229 §9.2.1).
	ip, err := freeport.LoopbackIP(5060)
	if err != nil {
		t.Fatal(err)
	}
	pIP := ip.String()
	l.hssAddr, l.scscf, l.pcscf = freeAddr(t), freeAddr(t), pIP+":5060"
	l.hss = start(t, "imslab hss", nil, "hss", "--db", l.db, "--listen", l.hssAddr, "--api", "-")
	waitListen(t, l.hssAddr, l.hss)
	l.s = start(t, "imslab scscf", nil, "scscf", "--listen", l.scscf, "--hss", l.hssAddr, "--state", filepath.Join(l.dir, "s.json"), "--trusted-pcscf", "127.0.0.0/8")
	waitListen(t, l.scscf, l.s)
	l.s.WaitOutput(t, "connected to the HSS", 10*time.Second)
	l.p = start(t, "imslab pcscf", nil, "pcscf", "--listen", l.pcscf, "--scscf", l.scscf)
	waitListen(t, l.pcscf, l.p)
	mme, gtpc, gtpu := freeAddr(t), freeAddr(t), freeAddr(t)
	epc := start(t, "imslab epc", nil, "epc", "--listen", mme, "--hss", l.hssAddr, "--pcscf", pIP, "--gtpc", gtpc, "--gtpu", gtpu)
	waitListen(t, mme, epc)

	// A card ahead of the HSS: AUTS, the HSS resynchronises, the attach goes on.
	out, stderr, code := run(t, nil, "ue", "register", "--card", ahead, "--attach", mme, "--once")
	if code != 0 || !strings.Contains(out, "after a resynchronisation") || !strings.Contains(out, "P-CSCF from the PCO ["+pIP+"]") {
		t.Fatalf("attach with resync: exit %d\n%s\n%s", code, out, stderr)
	}
	// Another K: the card refuses the network.
	out, stderr, code = run(t, nil, "ue", "register", "--card", other, "--attach", mme, "--once")
	if code == 0 || !strings.Contains(out+stderr, "MAC wrong") {
		t.Fatalf("attach with another K: exit %d\n%s\n%s", code, out, stderr)
	}

	ans := start(t, "imslab ue answer --attach", nil, "ue", "answer", "--card", alice, "--attach", mme, "--rings", "0",
		"--tone", "1000", "--expect-tone", "440", "--calls", "1", "--json")
	ans.WaitOutput(t, "waiting for calls", 15*time.Second)
	if !strings.Contains(ans.Output(), "attached to the EPC: address 127.0.100.") {
		t.Fatalf("no attach:\n%s", ans.Output())
	}
	out, stderr, code = run(t, nil, "ue", "call", "--card", bob, "--pcscf", l.pcscf, "--to", "tel:+15550071",
		"--duration", "2s", "--tone", "440", "--expect-tone", "1000", "--json")
	if code != 0 {
		t.Fatalf("call: exit %d\n%s\n%s", code, out, stderr)
	}
	r := parseResult(t, out)
	if !r.Media.ToneHeard || !strings.HasPrefix(r.Peer, "tel:") {
		t.Errorf("Bob's call: %+v", r)
	}
	ans.WaitOutput(t, `"direction": "incoming"`, 10*time.Second)
	a := parseResult(t, ans.Output())
	if !a.Media.ToneHeard || a.Media.PacketsReceived < 80 {
		t.Errorf("Alice's side (through GTP-U): %+v", a)
	}
	ans.WaitOutput(t, "detached from the EPC", 10*time.Second)
	// The P-CSCF saw Alice's SIP come from the PGW-assigned address.
	if !strings.Contains(l.p.Output(), "flow=tcp:127.0.100.") {
		t.Errorf("the P-CSCF never saw a flow from the UE pool:\n%s", l.p.Output())
	}
	epc.Stop(t)
	for _, want := range []string{"attached: 127.0.100.", "synch failure", "MAC wrong", "Delete Session"} {
		if !strings.Contains(epc.Output(), want) {
			t.Errorf("the EPC's log lacks %q", want)
		}
	}
}
