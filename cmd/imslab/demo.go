package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/cardfile"
	"github.com/imslab/imslab/sim"
	"github.com/imslab/imslab/ue"
)

// The demo, until calls exist: SIMs made and provisioned in the HSS; the
// HSS, the S-CSCF and the P-CSCF started as their own processes; Alice's
// phone registers with IMS-AKA and follows its reg event; Bob's card, ahead
// of the HSS, registers after a resynchronisation; a false network is
// refused by the card; everyone de-registers and every process stops.
func newDemoCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the lab's demonstration (today: SIM, HSS, S-CSCF, P-CSCF and phones: IMS registration, step by step)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "imslab-demo-")
				if err != nil {
					return err
				}
				dir = d
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), dir)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory for the card file, database, logs and traces (default: a new temporary directory)")
	return c
}

type demo struct {
	w         io.Writer
	step      int
	lastState string
}

func (d *demo) say(format string, a ...any) {
	d.step++
	fmt.Fprintf(d.w, "\n[%d] %s\n", d.step, fmt.Sprintf(format, a...))
}

func (d *demo) detail(format string, a ...any) { fmt.Fprintf(d.w, "    "+format+"\n", a...) }

func (d *demo) fail(err error) error { return fmt.Errorf("step %d: %w", d.step, err) }

func runDemo(ctx context.Context, w io.Writer, dir string) (err error) {
	d := &demo{w: w}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cardPath := filepath.Join(dir, "alice.card.yaml")
	db := filepath.Join(dir, "hss.db")
	d.say("Make a SIM for Alice (USIM + ISIM): %s", cardPath)
	p, err := cardfile.New(cardfile.Options{IMSI: "001010000000001", MSISDN: "+15550001", ISIM: true, PCSCF: []string{"127.0.0.1"}})
	if err != nil {
		return d.fail(err)
	}
	if err := p.Save(cardPath); err != nil {
		return d.fail(err)
	}
	d.detail("IMSI %s  K %s  OPc %s  AMF %s", p.IMSI, p.K, p.OPc, p.AMF)

	bobPath := filepath.Join(dir, "bob.card.yaml")
	bob, err := cardfile.New(cardfile.Options{IMSI: "001010000000002", MSISDN: "+15550002"})
	if err != nil {
		return d.fail(err)
	}
	bob.State.SEQ = make([]uint64, aka.IndSize)
	bob.State.SEQ[9] = 40 // the card has seen SEQ 40: it is ahead of a new HSS
	if err := bob.Save(bobPath); err != nil {
		return d.fail(err)
	}
	d.detail("and one for Bob (USIM only), whose card has already seen SQN SEQ 40: %s", bobPath)

	d.say("Provision both in the HSS from the same files: imslab hss subscriber import")
	out, err := exec.CommandContext(ctx, self, "hss", "subscriber", "import", "--db", db, cardPath, bobPath).CombinedOutput()
	if err != nil {
		return d.fail(fmt.Errorf("import: %v: %s", err, out))
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		d.detail("%s", line)
	}

	addr, err := freeLoopback()
	if err != nil {
		return d.fail(err)
	}
	hssLog := filepath.Join(dir, "hss.log")
	d.say("Start the HSS as its own process: imslab hss --db %s --listen %s (log: %s)", db, addr, hssLog)
	stop, err := startProcess(ctx, self, hssLog, "hss", "--db", db, "--listen", addr, "--api", "-")
	if err != nil {
		return d.fail(err)
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()

	scscfAddr, pcscfAddr, err := freeLoopback2()
	if err != nil {
		return d.fail(err)
	}
	d.say("Start the S-CSCF and the P-CSCF, each its own process (logs: scscf.log, pcscf.log)")
	stopS, err := startProcess(ctx, self, filepath.Join(dir, "scscf.log"), "scscf", "--listen", scscfAddr, "--hss", addr,
		"--state", filepath.Join(dir, "scscf.state"))
	if err != nil {
		return d.fail(err)
	}
	defer func() {
		if serr := stopS(); serr != nil && err == nil {
			err = serr
		}
	}()
	stopP, err := startProcess(ctx, self, filepath.Join(dir, "pcscf.log"), "pcscf", "--listen", pcscfAddr, "--scscf", scscfAddr)
	if err != nil {
		return d.fail(err)
	}
	defer func() {
		if serr := stopP(); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := waitLogLine(filepath.Join(dir, "scscf.log"), "connected to the HSS", 10*time.Second); err != nil {
		return d.fail(err)
	}
	if err := waitTCP(pcscfAddr, 10*time.Second); err != nil {
		return d.fail(err)
	}
	d.detail("S-CSCF %s (Service-Route <sip:orig@%s;lr>), P-CSCF %s (Path <sip:term@%s;lr>)", scscfAddr, scscfAddr, pcscfAddr, pcscfAddr)

	card, err := sim.OpenSoftCard(cardPath)
	if err != nil {
		return d.fail(err)
	}
	defer card.Close()
	apduPath := filepath.Join(dir, "sim-read.apdu.txt")
	var apdus bytes.Buffer
	r := sim.NewReader(&sim.TraceTransport{Transport: card, W: &apdus})
	d.say("Alice's phone boots and reads its card (every APDU: %s)", apduPath)
	id, err := r.ReadIdentities(ctx)
	if err != nil {
		return d.fail(fmt.Errorf("reading the card: %w", err))
	}
	if err := os.WriteFile(apduPath, apdus.Bytes(), 0o644); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(id.String()), "\n") {
		d.detail("%s", line)
	}

	d.say("Alice registers to the IMS through the P-CSCF (IMS-AKA with her ISIM), and subscribes to her reg event")
	fmt.Fprintln(w)
	events := make(chan ue.Event, 32)
	phone, err := ue.New(ue.Config{Card: card, PCSCF: pcscfAddr, Ladder: w, OnEvent: func(e ue.Event) {
		select {
		case events <- e:
		default:
		}
	}})
	if err != nil {
		return d.fail(err)
	}
	runCtx, stopPhone := context.WithCancel(ctx)
	defer stopPhone()
	runDone := make(chan error, 1)
	go func() { runDone <- phone.Run(runCtx) }()
	var reg *ue.Registration
	for reg == nil || !strings.Contains(d.lastState, "active") {
		select {
		case e := <-events:
			switch e.Kind {
			case ue.Registered:
				reg = e.Registration
			case ue.RegState:
				d.lastState = e.Text
			case ue.RegistrationFailed, ue.SubscriptionFailed:
				stopPhone()
				<-runDone
				return d.fail(fmt.Errorf("%s", e.Text))
			}
		case err := <-runDone:
			stopPhone()
			return d.fail(fmt.Errorf("the phone stopped: %v", err))
		case <-time.After(15 * time.Second):
			stopPhone()
			<-runDone
			return d.fail(fmt.Errorf("no registration and reg-event NOTIFY within 15 s (see scscf.log, pcscf.log)"))
		}
	}
	fmt.Fprintln(w)
	d.detail("registered %s; the network says:", reg.IMPU)
	for _, line := range strings.Split(strings.TrimSpace(reg.String()), "\n") {
		d.detail("  %s", line)
	}
	d.detail("%s", d.lastState)

	d.say("Bob's SIM was used on another network: it is ahead of the HSS, and refuses the first challenge")
	fmt.Fprintln(w)
	bobCard, err := sim.OpenSoftCard(bobPath)
	if err != nil {
		return d.fail(err)
	}
	defer bobCard.Close()
	bobPhone, err := ue.New(ue.Config{Card: bobCard, PCSCF: pcscfAddr, Ladder: w})
	if err != nil {
		return d.fail(err)
	}
	if err := bobPhone.Boot(ctx); err != nil {
		return d.fail(err)
	}
	bobReg, err := bobPhone.Register(ctx)
	if err != nil {
		bobPhone.Close()
		return d.fail(fmt.Errorf("registration of Bob: %w", err))
	}
	fmt.Fprintln(w)
	d.detail("the card answered AUTS; the S-CSCF sent RAND‖AUTS to the HSS (MAR), which verified MAC-S and moved its SQN;")
	d.detail("the second challenge was fresh for the card: %s is registered (hss.log shows the resync)", bobReg.IMPU)

	d.say("A false network, which does not know Alice's K, challenges her card")
	fake := make([]byte, 16)
	if _, err := rand.Read(fake); err != nil {
		return err
	}
	_, opc, amf, _ := p.Keys()
	impostor, err := aka.New(fake, opc)
	if err != nil {
		return err
	}
	rnd := make([]byte, 16)
	rand.Read(rnd)
	vec, err := impostor.Vector(rnd, aka.MakeSQN(1000, 0), amf)
	if err != nil {
		return err
	}
	if _, err := r.Authenticate(ctx, sim.AppUSIM, vec.RAND, vec.AUTN); !errors.Is(err, sim.ErrMACFailure) {
		return d.fail(fmt.Errorf("a false network was not refused (%v)", err))
	}
	d.detail("the card answers 98 62: MAC-A is wrong. A phone never answers such a network.")

	d.say("Everyone de-registers; every process stops")
	fmt.Fprintln(w)
	if err := bobPhone.Deregister(ctx); err != nil {
		return d.fail(err)
	}
	bobPhone.Close()
	stopPhone()
	if err := <-runDone; err != nil {
		return d.fail(fmt.Errorf("phone of Alice: %w", err))
	}
	for _, stop := range []func() error{stopP, stopS, stop} {
		if err := stop(); err != nil {
			return d.fail(err)
		}
	}
	stopP, stopS, stop = noop, noop, noop
	if err := card.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nAll %d steps succeeded. In %s:\n  alice.card.yaml, bob.card.yaml  the cards (their SQN arrays are in their state)\n  hss.db  the HSS's database\n  hss.log, scscf.log, pcscf.log  each service's log (hss.log: every vector's SQN, the resync)\n  %s  the phone's APDUs\n",
		d.step, dir, filepath.Base(apduPath))
	return nil
}

func noop() error { return nil }

// freeLoopback2 returns two loopback addresses free for both UDP and TCP.
func freeLoopback2() (string, string, error) {
	var out []string
	for len(out) < 2 {
		a, err := freeLoopback()
		if err != nil {
			return "", "", err
		}
		if c, err := net.ListenPacket("udp", a); err == nil {
			c.Close()
			out = append(out, a)
		}
	}
	return out[0], out[1], nil
}

// waitTCP waits until something listens on addr.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLogLine waits until a log file contains s.
func waitLogLine(path, s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), s) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not say %q after %s", path, s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeLoopback returns a loopback address with a free TCP port.
func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startProcess runs this binary with args as a child process logging to a
// file; stop interrupts it and waits (SIGKILL after 5 s).
func startProcess(ctx context.Context, self, logPath string, args ...string) (stop func() error, err error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	stopped := false
	return func() error {
		if stopped {
			return nil
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("imslab %s exited: %v (see %s)", args[0], err, logPath)
			}
			return nil
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("imslab %s did not stop within 5 s after SIGINT (killed)", args[0])
		}
	}, nil
}
