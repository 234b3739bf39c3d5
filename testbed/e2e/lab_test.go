package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/cardfile"
	"github.com/imslab/imslab/internal/pcsctest"
	"github.com/imslab/imslab/internal/peertest"
	"github.com/imslab/imslab/testbed/labtest"
)

// proc is an imslab service running as its own process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *labtest.Buffer
	done chan struct{}
}

// Output returns what the process printed so far.
func (p *proc) Output() string { return p.out.String() }

// Stop interrupts the process (SIGINT) and waits for it.
func (p *proc) Stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop on SIGINT within 10 s", p.name)
	}
}

// Kill ends the process with SIGKILL (no clean-up on its side).
func (p *proc) Kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// WaitOutput waits until the output contains s.
func (p *proc) WaitOutput(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Output(), s) {
		select {
		case <-p.done:
			if !strings.Contains(p.Output(), s) {
				t.Fatalf("%s exited before printing %q:\n%s", p.name, s, p.Output())
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %s:\n%s", p.name, s, timeout, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// start runs imslab with args as a separate process.
func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &labtest.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(imslabBin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("---- %s output:\n%s", name, p.Output())
		}
	})
	return p
}

// waitListen waits until something listens on the TCP address.
func waitListen(t *testing.T, addr string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s:\n%s", p.name, addr, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lab is an HSS, an S-CSCF and a P-CSCF, each `imslab` as its own process,
// on free loopback ports.
type lab struct {
	dir                            string
	db                             string
	hssAddr, apiAddr, scscf, pcscf string
	hss, s, p                      *proc
}

func startLab(t *testing.T, cards ...string) *lab {
	t.Helper()
	return startLabWith(t, nil, cards...)
}

// startLabWith is startLab with extra arguments for imslab scscf.
func startLabWith(t *testing.T, scscfArgs []string, cards ...string) *lab {
	t.Helper()
	l := &lab{dir: t.TempDir()}
	l.db = filepath.Join(l.dir, "hss.db")
	for _, c := range cards {
		if out, stderr, code := run(t, nil, "hss", "subscriber", "import", "--db", l.db, c); code != 0 {
			t.Fatalf("import %s: %s %s", c, out, stderr)
		}
	}
	l.hssAddr, l.apiAddr, l.scscf, l.pcscf = freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	l.hss = start(t, "imslab hss", nil, "hss", "--db", l.db, "--listen", l.hssAddr, "--api", l.apiAddr)
	waitListen(t, l.hssAddr, l.hss)
	l.s = start(t, "imslab scscf", nil, append([]string{"scscf", "--listen", l.scscf, "--hss", l.hssAddr, "--state", filepath.Join(l.dir, "scscf.json")}, scscfArgs...)...)
	waitListen(t, l.scscf, l.s)
	l.s.WaitOutput(t, "connected to the HSS", 10*time.Second)
	l.p = start(t, "imslab pcscf", nil, "pcscf", "--listen", l.pcscf, "--scscf", l.scscf)
	waitListen(t, l.pcscf, l.p)
	return l
}

// card writes a card file with the lab's test keys.
func card(t *testing.T, dir, name, imsi, msisdn string, extra ...string) string {
	t.Helper()
	path := filepath.Join(dir, name+".yaml")
	args := append([]string{"sim", "new", "--out", path, "--imsi", imsi, "--msisdn", msisdn, "--k", testK, "--opc", testOPc}, extra...)
	if _, stderr, code := run(t, nil, args...); code != 0 {
		t.Fatalf("sim new: %s", stderr)
	}
	return path
}

// An IMS-AKA registration with every service its own process: imslab hss,
// scscf, pcscf, and imslab ue register --once.
func TestRegisterAKA(t *testing.T) {
	dir := t.TempDir()
	alice := card(t, dir, "alice", "001010000000001", "+15550001", "--isim")
	l := startLab(t, alice)
	out, stderr, code := run(t, nil, "ue", "register", "--card", alice, "--pcscf", l.pcscf, "--once", "--messages")
	if code != 0 {
		t.Fatalf("ue register: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"AUTHENTICATE", "200 OK", "Service-Route     <sip:orig@" + l.scscf + ";lr>",
		"P-Associated-URI  sip:+15550001@" + domain, "P-Associated-URI  tel:+15550001", "de-registered"} {
		if !strings.Contains(out, want) {
			t.Errorf("ue register output lacks %q:\n%s", want, out)
		}
	}
	l.hss.WaitOutput(t, "SAR USER_DEREGISTRATION", 5*time.Second)
	if strings.Contains(out+stderr, "ck=") || strings.Contains(out+stderr, "ik=") {
		t.Errorf("the UE saw ck/ik:\n%s", out)
	}
}

// The card is ahead of the HSS (it was used elsewhere): it refuses the first
// challenge with AUTS, the S-CSCF resynchronises the HSS, the registration
// succeeds. Then a card whose K the HSS does not have: the card finds the
// MAC wrong and the UE refuses the network, saying so.
func TestRegisterResyncAndMACFailure(t *testing.T) {
	dir := t.TempDir()
	ahead := card(t, dir, "ahead", "001010000000011", "+15550011")
	l := startLab(t, ahead)
	p, err := cardfile.Load(ahead)
	if err != nil {
		t.Fatal(err)
	}
	p.State.SEQ[7] = 500 // the card has seen SEQ 500
	if err := cardfile.SaveState(ahead, p.State); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, nil, "ue", "register", "--card", ahead, "--pcscf", l.pcscf, "--once")
	if code != 0 {
		t.Fatalf("register after resync: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out+stderr, "AUTS") {
		t.Errorf("the UE did not show the resynchronisation:\n%s\n%s", out, stderr)
	}
	l.hss.WaitOutput(t, "adopts SEQ 500", 5*time.Second)

	// A card with another K than the HSS's.
	wrong := filepath.Join(dir, "wrong.yaml")
	if _, stderr, code := run(t, nil, "sim", "new", "--out", wrong, "--imsi", "001010000000011", "--msisdn", "+15550011",
		"--k", "00112233445566778899aabbccddeeff", "--opc", testOPc); code != 0 {
		t.Fatal(stderr)
	}
	out, stderr, code = run(t, nil, "ue", "register", "--card", wrong, "--pcscf", l.pcscf, "--once")
	if code == 0 || !strings.Contains(strings.ToLower(out+stderr), "mac") {
		t.Fatalf("a network with another K: exit %d, want a refusal naming the MAC failure:\n%s\n%s", code, out, stderr)
	}
}

// The same registration with the card in a PC/SC reader: imslab sim vcard
// serves it to a private pcscd's vpcd reader, and the UE reads it through
// PC/SC (as it would a real SIM card).
func TestRegisterThroughPCSC(t *testing.T) {
	pcsctest.Require(t, "pcscd")
	d := pcsctest.Start(t)
	dir := t.TempDir()
	c := card(t, dir, "pcsc", "001010000000021", "+15550021", "--isim", "--pin", "2468")
	l := startLab(t, c)
	start(t, "imslab sim vcard", nil, "sim", "vcard", "--card", c, "--vpcd", d.VPCDAddr)
	waitCard(t, d)
	out, stderr, code := run(t, d.Env(), "ue", "register", "--reader", "pcsc:0", "--pin", "2468", "--pcscf", l.pcscf, "--once")
	if code != 0 || !strings.Contains(out, "P-Associated-URI  tel:+15550021") {
		t.Fatalf("ue register through PC/SC: exit %d\n%s\n%s", code, out, stderr)
	}
}

// Interop: twinkle (Debian's twinkle-console; nobody here wrote it)
// registers with AKAv1-MD5 through the P-CSCF, with a subscription whose K
// and OP it was given (it knows OP, not OPc; its K is its password's bytes).
func TestInteropTwinkleAKA(t *testing.T) {
	peertest.Require(t, "twinkle-console")
	l := startLab(t)
	const imsi, k = "001010000000031", "696d736c61622d7477696e6b6c653136" // K = "imslab-twinkle16"
	if out, stderr, code := run(t, nil, "hss", "subscriber", "add", "--db", l.db, "--imsi", imsi, "--k", k,
		"--op", "cdc202d5123e20f62b6d676ac72cb318", "--amf", "8000"); code != 0 {
		t.Fatalf("add: %s %s", out, stderr)
	}
	tw := peertest.StartTwinkle(t, peertest.TwinkleConfig{User: imsi, Domain: domain, AuthName: imsi + "@" + domain,
		Password: "imslab-twinkle16", AKAOP: "cdc202d5123e20f62b6d676ac72cb318", AKAAMF: "8000", Proxy: l.pcscf})
	line := tw.WaitLog("registration", 15*time.Second)
	if !strings.Contains(line, "succeeded") {
		t.Fatalf("twinkle: %s\n%s", line, tw.Log())
	}
	l.hss.WaitOutput(t, "SAR REGISTRATION: "+imsi+"@"+domain, 5*time.Second)

	// The same user with a wrong K: twinkle does not check the network's MAC
	// (a SIM does, and refuses: TestRegisterResyncAndMACFailure), so it
	// answers with a wrong RES; the S-CSCF refuses with 403 and says why.
	const imsi2 = "001010000000032"
	if out, stderr, code := run(t, nil, "hss", "subscriber", "add", "--db", l.db, "--imsi", imsi2, "--k", k,
		"--op", "cdc202d5123e20f62b6d676ac72cb318", "--amf", "8000"); code != 0 {
		t.Fatalf("add: %s %s", out, stderr)
	}
	bad := peertest.StartTwinkle(t, peertest.TwinkleConfig{User: imsi2, Domain: domain, AuthName: imsi2 + "@" + domain,
		Password: "wrong-key-twinkl", AKAOP: "cdc202d5123e20f62b6d676ac72cb318", AKAAMF: "8000", Proxy: l.pcscf})
	if line := bad.WaitLog("registration", 15*time.Second); !strings.Contains(line, "403") {
		t.Fatalf("twinkle with a wrong K: %s\n%s", line, bad.Log())
	}
	l.s.WaitOutput(t, "REGISTER refused (403)", 5*time.Second)
}

// Two devices of one user. Two SIM phones of one subscription (a second
// card with another ICCID: another +sip.instance) register the same public
// identity, and both contacts are bound to it. And baresip, a softphone
// nobody here wrote, registers with SIP Digest as the same subscriber's
// softphone identity (its IMPU sip:alice@… and IMPI alice@…, as a non-3GPP
// client's IMPI is derived from its IMPU, TS 24.229 §5.4.1.2.1).
func TestTwoDevicesSIMAndBaresip(t *testing.T) {
	peertest.Require(t, "baresip")
	dir := t.TempDir()
	const imsi = "001010000000041"
	phone := card(t, dir, "phone", imsi, "+15550041", "--isim", "--iccid", "8900101000000000418")
	tablet := card(t, dir, "tablet", imsi, "+15550041", "--isim", "--iccid", "8900101000000000426")
	l := startLab(t, phone)
	if out, stderr, code := run(t, nil, "hss", "subscriber", "update", "--db", l.db, imsi,
		"--digest-impi", "alice@"+domain, "--password", "secret", "--digest-impu", "sip:alice@"+domain); code != 0 {
		t.Fatalf("update: %s %s", out, stderr)
	}
	ue1 := start(t, "imslab ue (phone)", nil, "ue", "register", "--card", phone, "--pcscf", l.pcscf)
	ue1.WaitOutput(t, "registered ", 10*time.Second)
	out, stderr, code := run(t, nil, "ue", "register", "--card", tablet, "--pcscf", l.pcscf, "--once")
	if code != 0 {
		t.Fatalf("second device: exit %d\n%s\n%s", code, out, stderr)
	}
	if n := strings.Count(out, "\ncontact "); n != 2 || !strings.Contains(out, "(this UE)") {
		t.Fatalf("the second device's 200 lists %d contacts, want both devices:\n%s", n, out)
	}
	b := peertest.StartBaresip(t, peertest.BaresipConfig{Account: "<sip:alice@" + domain + ">;auth_user=alice@" + domain + ";auth_pass=secret;outbound=\"sip:" + l.pcscf + "\";regint=600"})
	b.WaitRegistered("alice@"+domain, 15*time.Second)
	l.hss.WaitOutput(t, "SAR REGISTRATION: alice@"+domain, 5*time.Second)
}

// A registration's life: the UE subscribes to its reg event and gets the
// NOTIFYs, refreshes before expiry (challenged again each time), another
// UE's contact expires after it is killed (no de-registration: the S-CSCF's
// timer sends SAR TIMEOUT_DEREGISTRATION), and the HSS deregisters the
// first user (RTR from `imslab hss deregister`): the S-CSCF removes the
// binding and NOTIFYs the UE, which reports it and stops.
func TestRegistrationLifecycle(t *testing.T) {
	dir := t.TempDir()
	alice := card(t, dir, "alice", "001010000000051", "+15550051", "--isim")
	bob := card(t, dir, "bob", "001010000000052", "+15550052", "--isim")
	l := startLab(t, alice, bob)

	ue := start(t, "imslab ue (alice)", nil, "ue", "register", "--card", alice, "--pcscf", l.pcscf, "--expires", "4")
	ue.WaitOutput(t, "subscribed to the reg event", 10*time.Second)
	ue.WaitOutput(t, "reg event: ", 10*time.Second)
	ue.WaitOutput(t, "re-registration of sip:+15550051@", 10*time.Second)
	l.hss.WaitOutput(t, "SAR RE_REGISTRATION: 001010000000051@", 5*time.Second)

	gone := start(t, "imslab ue (bob)", nil, "ue", "register", "--card", bob, "--pcscf", l.pcscf, "--expires", "2")
	gone.WaitOutput(t, "granted to sip:+15550052@", 10*time.Second)
	gone.Kill()
	l.hss.WaitOutput(t, "SAR TIMEOUT_DEREGISTRATION: 001010000000052@", 10*time.Second)

	out, stderr, code := run(t, nil, "hss", "deregister", "--api", l.apiAddr, "sip:+15550051@"+domain)
	if code != 0 || !strings.Contains(out, `"deregistered"`) {
		t.Fatalf("hss deregister: exit %d %s %s", code, out, stderr)
	}
	l.s.WaitOutput(t, "RTR", 5*time.Second)
	select {
	case <-ue.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the UE did not stop after the network deregistered it:\n%s", ue.Output())
	}
	if !strings.Contains(ue.Output(), "the network de-registered this UE") {
		t.Fatalf("the UE did not say the network deregistered it:\n%s", ue.Output())
	}
}
