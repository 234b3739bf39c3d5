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

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/spf13/cobra"

	"github.com/imslab/imslab/hss"
	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/cardfile"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/cx"
	"github.com/imslab/imslab/internal/diameter/peer"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/sim"
)

// The demo, until the CSCFs exist: a SIM made and provisioned in the HSS
// (run as its own process), read as a phone reads it, and authenticated
// with vectors the HSS hands out over Cx: success, a replay answered with
// AUTS and resynchronised by the HSS, and a false network refused.
func newDemoCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the lab's demonstration (today: the SIM, the HSS and IMS-AKA, step by step)",
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
	w    io.Writer
	step int
}

func (d *demo) say(format string, a ...any) {
	d.step++
	fmt.Fprintf(d.w, "\n[%d] %s\n", d.step, fmt.Sprintf(format, a...))
}

func (d *demo) detail(format string, a ...any) { fmt.Fprintf(d.w, "    "+format+"\n", a...) }

func (d *demo) fail(err error) error { return fmt.Errorf("step %d: %w", d.step, err) }

const demoSCSCF = "sip:scscf.ims.mnc001.mcc001.3gppnetwork.org:6060"

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

	d.say("Provision her in the HSS from the same file: imslab hss subscriber import")
	out, err := exec.CommandContext(ctx, self, "hss", "subscriber", "import", "--db", db, cardPath).CombinedOutput()
	if err != nil {
		return d.fail(fmt.Errorf("import: %v: %s", err, out))
	}
	d.detail("%s", strings.TrimSpace(strings.Split(string(out), "\n")[0]))

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

	card, err := sim.OpenSoftCard(cardPath)
	if err != nil {
		return d.fail(err)
	}
	defer card.Close()
	apduPath := filepath.Join(dir, "sim-read.apdu.txt")
	var apdus bytes.Buffer
	r := sim.NewReader(&sim.TraceTransport{Transport: card, W: &apdus})
	d.say("The phone boots and reads its card (every APDU: %s)", apduPath)
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
	impi, impu := id.IMPI, id.IMPUs[0]

	d.say("The S-CSCF (played by the demo) connects to the HSS over Diameter Cx")
	fmt.Fprintln(w)
	ladder := trace.NewLadder(w, 44, "S-CSCF", "HSS")
	node, err := peer.New(peer.Config{OriginHost: hss.DefaultSCSCFPeer, OriginRealm: hss.DefaultOriginRealm, Dict: diameter.Dictionary(),
		Apps: []peer.App{{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP}}, Trace: ladderTrace(ladder)})
	if err != nil {
		return d.fail(err)
	}
	conn, err := dialRetry(ctx, node, addr)
	if err != nil {
		return d.fail(fmt.Errorf("connecting to the HSS: %w (see %s)", err, hssLog))
	}
	defer conn.Close()
	hc := cx.New(node, conn, hss.DefaultOriginRealm)

	d.say("Alice registers: UAR (may she register here?), MAR (a vector), AUTHENTICATE on her ISIM, SAR")
	fmt.Fprintln(w)
	uaa, err := hc.UAR(ctx, impi, impu, hss.DefaultOriginRealm, cx.AuthRegistration)
	if err != nil || !uaa.OK() {
		return d.fail(fmt.Errorf("UAR: %v %v", uaa, err))
	}
	maa, err := hc.MAR(ctx, impi, impu, demoSCSCF, cx.SchemeAKAv1, 1, nil)
	if err != nil || !maa.OK() || len(maa.Items) != 1 {
		return d.fail(fmt.Errorf("MAR: %v %v", maa, err))
	}
	v := maa.Items[0]
	res, err := r.Authenticate(ctx, sim.AppISIM, v.RAND, v.AUTN)
	if err != nil {
		return d.fail(fmt.Errorf("the card refused the HSS's challenge: %w", err))
	}
	if !bytes.Equal(res.RES, v.XRES) {
		return d.fail(fmt.Errorf("RES %x differs from XRES %x", res.RES, v.XRES))
	}
	saa, err := hc.SAR(ctx, impi, impu, demoSCSCF, cx.AssignRegistration, false)
	if err != nil || !saa.OK() {
		return d.fail(fmt.Errorf("SAR: %v %v", saa, err))
	}
	d.detail("RAND %x, AUTN %x: the card checked MAC-A and SQN", v.RAND, v.AUTN)
	d.detail("RES %x = XRES from the HSS: Alice is authenticated; CK and IK are shared", res.RES)
	d.detail("SAA brought her profile (%d bytes of IMSSubscription XML): her implicit set is registered", len(saa.UserData))

	d.say("An attacker replays that challenge; the card refuses it, and the HSS resynchronises")
	fmt.Fprintln(w)
	_, err = r.Authenticate(ctx, sim.AppISIM, v.RAND, v.AUTN)
	var sf *sim.SyncFailureError
	if !errors.As(err, &sf) {
		return d.fail(fmt.Errorf("a replayed AUTN was not refused (%v)", err))
	}
	maa, err = hc.MAR(ctx, impi, impu, demoSCSCF, cx.SchemeAKAv1, 1, append(append([]byte(nil), v.RAND...), sf.AUTS...))
	if err != nil || !maa.OK() || len(maa.Items) != 1 {
		return d.fail(fmt.Errorf("MAR with AUTS: %v %v", maa, err))
	}
	if _, err := r.Authenticate(ctx, sim.AppISIM, maa.Items[0].RAND, maa.Items[0].AUTN); err != nil {
		return d.fail(fmt.Errorf("the card refused the vector after resync: %w", err))
	}
	d.detail("the card answered AUTS %x (its SQN, concealed, with MAC-S)", sf.AUTS)
	d.detail("the S-CSCF sent RAND‖AUTS in MAR; the HSS verified MAC-S and sent a fresh vector, which the card accepts")

	d.say("A false network, which does not know Alice's K, challenges the card")
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
	d.detail("the card answers 98 62: MAC-A is wrong. A phone rejects this network.")

	d.say("Alice de-registers (SAR USER_DEREGISTRATION) and the S-CSCF disconnects (DPR)")
	fmt.Fprintln(w)
	if saa, err = hc.SAR(ctx, impi, impu, demoSCSCF, cx.AssignUserDereg, true); err != nil || !saa.OK() {
		return d.fail(fmt.Errorf("SAR: %v %v", saa, err))
	}
	conn.Close()
	node.Wait()
	if err := card.Close(); err != nil {
		return err
	}
	if err := stop(); err != nil {
		return d.fail(err)
	}
	stop = func() error { return nil }
	fmt.Fprintf(w, "\nAll %d steps succeeded. In %s:\n  %s  the card (its SQN array is in its state)\n  %s  the HSS's database\n  %s  the HSS's log: each vector's SQN, the resync\n  %s  the phone's APDUs\n",
		d.step, dir, filepath.Base(cardPath), filepath.Base(db), filepath.Base(hssLog), filepath.Base(apduPath))
	return nil
}

// ladderTrace draws each Diameter message on the ladder.
func ladderTrace(l *trace.Ladder) func(peer.Event) {
	return func(e peer.Event) {
		if e.Msg == nil {
			return
		}
		from, to := "S-CSCF", "HSS"
		if e.Dir == peer.In {
			from, to = to, from
		}
		l.Arrow(from, to, describe(e.Msg))
	}
}

// describe names a Diameter message as a ladder label: "MAR", "MAA 2001 DIAMETER_SUCCESS".
func describe(m *diam.Message) string {
	short := map[uint32]string{diameter.CmdCE: "CE", diameter.CmdDW: "DW", diameter.CmdDP: "DP", diameter.CmdUA: "UA",
		diameter.CmdSA: "SA", diameter.CmdLI: "LI", diameter.CmdMA: "MA", diameter.CmdRT: "RT", diameter.CmdPP: "PP"}[m.Header.CommandCode]
	if short == "" {
		short = fmt.Sprint(m.Header.CommandCode)
	}
	if m.Header.CommandFlags&diam.RequestFlag != 0 {
		return short + "R"
	}
	code, exp := peer.ResultCode(m)
	return fmt.Sprintf("%sA %s", short, diameter.ResultName(code, exp))
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

// dialRetry connects to a server that is starting.
func dialRetry(ctx context.Context, n *peer.Node, addr string) (*peer.Conn, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := n.Dial(ctx, "tcp", addr)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return c, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
