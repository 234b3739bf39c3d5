package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/spf13/cobra"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/cardfile"
	"github.com/imslab/imslab/internal/freeport"
	"github.com/imslab/imslab/internal/media"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/sim"
	"github.com/imslab/imslab/ue"
)

// The demonstration a newcomer runs first (`make demo`): SIMs made and
// provisioned in the HSS; the HSS, the S-CSCF, the P-CSCF and the EPC
// started as their own processes; Alice's phone and Bob's attach over LTE
// (his card resynchronises) and register through GTP-U, her tablet over
// Wi-Fi; Bob calls Alice, both her devices ring, her phone answers, SRTP
// voice flows both ways, Bob hangs up; everyone de-registers and every
// process stops. A ladder of every message is printed step by step, and
// the traces are left in the lab directory: JSON, text ladder, Mermaid,
// pcapng, keys.
func newDemoCmd() *cobra.Command {
	var (
		dir  string
		talk time.Duration
	)
	c := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Run the whole lab: HSS, S-CSCF, P-CSCF, EPC and three phones; LTE attach, IMS-AKA registration and a call with SRTP voice, step by step",
		Long: `Run the whole lab on loopback with no configuration: make SIM cards, provision them in the
HSS, start the HSS, the S-CSCF, the P-CSCF and the EPC (MME + SGW/PGW) as separate processes;
Alice's phone and Bob's attach over LTE (EPS AKA; Bob's card is ahead of the HSS:
resynchronisation), get an address and the P-CSCF in the PCO and register through GTP-U; Alice's
tablet registers over Wi-Fi; Bob calls Alice: both her devices ring, her phone answers, SRTP
voice flows both ways, Bob hangs up; then everyone de-registers and detaches, and every process
stops. Each step is narrated with a ladder of its NAS, GTPv2-C, SIP and Diameter messages; at the
end a summary, and the traces in DIR: trace.jsonl, ladder.txt, ladder.mmd (Mermaid), demo.pcapng
(tshark/Wireshark), keys.txt (SRTP keys, CK/IK). Exit code 0 only if every step succeeded.`,
		Args: cobra.NoArgs,
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
			return runDemo(cmd.Context(), cmd.OutOrStdout(), dir, talk)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory for the cards, database, logs and traces (default: a new temporary directory)")
	c.Flags().DurationVar(&talk, "talk", 3*time.Second, "how long the call's voice flows")
	return c
}

// demo is the narrative and the traces collected so far.
type demo struct {
	w     io.Writer
	dir   string
	step  int
	fixed map[netip.AddrPort]string // the services' and phones' addresses

	mu     sync.Mutex
	ue     []trace.Event // traced by the phones (in this process)
	shown  time.Time     // events up to here were drawn
	traces []string      // the services' trace files
}

func (d *demo) say(format string, a ...any) {
	d.step++
	fmt.Fprintf(d.w, "\n[%d] %s\n", d.step, fmt.Sprintf(format, a...))
}

func (d *demo) detail(format string, a ...any) { fmt.Fprintf(d.w, "    "+format+"\n", a...) }

func (d *demo) fail(err error) error { return fmt.Errorf("step %d: %w", d.step, err) }

// traceUE is a phone's Config.Trace: its events under its name.
func (d *demo) traceUE(name string) func(trace.Event) {
	return func(e trace.Event) {
		e.Node = name
		d.mu.Lock()
		d.ue = append(d.ue, e)
		d.mu.Unlock()
	}
}

// events merges what every node traced so far (the services flush their
// files within a fraction of a second: wait that long first).
func (d *demo) events() ([]trace.Event, error) {
	lists := [][]trace.Event{}
	for _, p := range d.traces {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ev, err := trace.ReadJSON(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		lists = append(lists, ev)
	}
	d.mu.Lock()
	lists = append(lists, append([]trace.Event(nil), d.ue...))
	d.mu.Unlock()
	return trace.Merge(lists...), nil
}

// ladder draws the messages of the step that just ended.
func (d *demo) ladder() {
	time.Sleep(traceSettle)
	all, err := d.events()
	if err != nil {
		d.detail("(no ladder: %v)", err)
		return
	}
	var fresh []trace.Event
	for _, e := range all {
		if e.Time.After(d.shown) && e.Protocol != "GTP-U" { // the tunnel's packets: their insides are drawn
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return
	}
	d.shown = fresh[len(fresh)-1].Time
	fmt.Fprintln(d.w)
	if err := trace.WriteLadder(d.w, fresh, trace.Options{Names: d.namesFor(all), Order: demoOrder, Width: ladderWidth}); err != nil {
		d.detail("(no ladder: %v)", err)
	}
}

// ladderWidth is the width of one column of the printed ladders.
const ladderWidth = 19

// namesFor names the endpoints of the events: the addresses the demo
// knows, those each node sent from, and the ephemeral port of a TCP
// connection after the Via of the requests sent on it (RFC 3261 §18.1.1:
// the Via names the sender's own address).
func (d *demo) namesFor(events []trace.Event) *trace.Names {
	n := trace.NamesFrom(events)
	for ap, name := range d.fixed {
		n.Set(ap, name)
	}
	for _, e := range events {
		if e.Protocol != "SIP" || n.Name(e.Src) != e.Src.String() || bytes.HasPrefix(e.Raw, []byte("SIP/")) {
			continue
		}
		if via := topViaSentBy(e.Raw); via.IsValid() {
			if name := n.Name(via); name != via.String() {
				n.Set(e.Src, name)
			}
		}
	}
	return n
}

// topViaSentBy is the host:port of a SIP message's first Via.
func topViaSentBy(raw []byte) netip.AddrPort {
	for _, line := range strings.Split(string(raw), "\r\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "via") && !strings.EqualFold(strings.TrimSpace(name), "v") {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 2 {
			return netip.AddrPort{}
		}
		hp, _, _ := strings.Cut(f[1], ";")
		hp, _, _ = strings.Cut(hp, ",")
		ap, _ := netip.ParseAddrPort(hp)
		return ap
	}
	return netip.AddrPort{}
}

// traceSettle is how long the services take to flush their trace files.
const traceSettle = 400 * time.Millisecond

// demoOrder is the ladder's columns, left to right.
var demoOrder = []string{"Bob", "Alice phone", "Alice tablet", "MME", "SGW/PGW", "P-CSCF", "S-CSCF", "HSS"}

// phone is one of the demo's UEs.
type demoPhone struct {
	name   string
	card   *sim.SoftCard
	ue     *ue.UE
	events chan ue.Event
	stop   context.CancelFunc
	done   chan error
}

// startPhone starts a phone that attaches through mme, or, with mme ""
// (a device on Wi-Fi), registers straight to pcscf.
func (d *demo) startPhone(ctx context.Context, name, cardPath, mme, pcscf string, answer ue.AnswerPolicy) (*demoPhone, error) {
	card, err := sim.OpenSoftCard(cardPath)
	if err != nil {
		return nil, err
	}
	p := &demoPhone{name: name, card: card, events: make(chan ue.Event, 64), done: make(chan error, 1)}
	u, err := ue.New(ue.Config{Card: card, Attach: mme, PCSCF: pcscf, Answer: answer, Trace: d.traceUE(name),
		OnEvent: func(e ue.Event) {
			select {
			case p.events <- e:
			default:
			}
		}})
	if err != nil {
		card.Close()
		return nil, err
	}
	p.ue = u
	runCtx, stop := context.WithCancel(ctx)
	p.stop = stop
	go func() { p.done <- u.Run(runCtx) }()
	return p, nil
}

// await waits for an event of one of the kinds; a registration failure
// or the phone stopping is an error.
func (p *demoPhone) await(timeout time.Duration, kinds ...ue.EventKind) (ue.Event, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case e := <-p.events:
			for _, k := range kinds {
				if e.Kind == k {
					return e, nil
				}
			}
			if e.Kind == ue.RegistrationFailed || e.Kind == ue.SubscriptionFailed {
				return e, fmt.Errorf("%s: %s", p.name, e.Text)
			}
		case err := <-p.done:
			p.done <- err
			return ue.Event{}, fmt.Errorf("%s stopped: %v", p.name, err)
		case <-t.C:
			return ue.Event{}, fmt.Errorf("%s: no %v within %s (see scscf.log, pcscf.log)", p.name, kinds, timeout)
		}
	}
}

// shutdown de-registers the phone and closes its card.
func (p *demoPhone) shutdown() error {
	p.stop()
	err := <-p.done
	p.done <- err
	return errors.Join(err, p.card.Close())
}

func runDemo(ctx context.Context, w io.Writer, dir string, talk time.Duration) (err error) {
	d := &demo{w: w, dir: dir, fixed: map[netip.AddrPort]string{}}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()

	// 1. The cards.
	alicePath := filepath.Join(dir, "alice.card.yaml")
	tabletPath := filepath.Join(dir, "alice-tablet.card.yaml")
	bobPath := filepath.Join(dir, "bob.card.yaml")
	d.say("Make the SIM cards: Alice's (USIM + ISIM, +15550001), a second device with her subscription, and Bob's (USIM only, +15550002)")
	alice, err := cardfile.New(cardfile.Options{IMSI: "001010000000001", MSISDN: "+15550001", ISIM: true, PCSCF: []string{"127.0.0.1"}})
	if err != nil {
		return d.fail(err)
	}
	if err := alice.Save(alicePath); err != nil {
		return d.fail(err)
	}
	// The tablet: another card of the same subscription (same IMSI, keys
	// and ISIM identities; its own ICCID, so its own +sip.instance, and its
	// own SQN memory).
	tabletCard, err := cardfile.New(cardfile.Options{IMSI: alice.IMSI, K: alice.K, OPc: alice.OPc, MSISDN: alice.MSISDN, ISIM: true, PCSCF: []string{"127.0.0.1"}})
	if err != nil {
		return d.fail(err)
	}
	if err := tabletCard.Save(tabletPath); err != nil {
		return d.fail(err)
	}
	d.detail("Alice  IMSI %s  K %s  OPc %s  AMF %s", alice.IMSI, alice.K, alice.OPc, alice.AMF)
	d.detail("       IMPI %s, IMPUs %s", alice.ISIM.IMPI, strings.Join(alice.ISIM.IMPUs, ", "))
	bob, err := cardfile.New(cardfile.Options{IMSI: "001010000000002", MSISDN: "+15550002"})
	if err != nil {
		return d.fail(err)
	}
	bob.State.SEQ = make([]uint64, aka.IndSize)
	bob.State.SEQ[9] = 40 // the card has seen SEQ 40: it is ahead of a new HSS
	if err := bob.Save(bobPath); err != nil {
		return d.fail(err)
	}
	d.detail("Bob    IMSI %s  K %s  OPc %s  (his card has already seen SQN SEQ 40)", bob.IMSI, bob.K, bob.OPc)

	// 2. Provisioning.
	db := filepath.Join(dir, "hss.db")
	d.say("Provision both subscriptions in the HSS from the card files: imslab hss subscriber import")
	out, err := exec.CommandContext(ctx, self, "hss", "subscriber", "import", "--db", db, alicePath, bobPath).CombinedOutput()
	if err != nil {
		return d.fail(fmt.Errorf("import: %v: %s", err, out))
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		d.detail("%s", line)
	}

	// 3. The core, as processes.
	addrs, err := freeport.Loopback(4)
	if err != nil {
		return d.fail(err)
	}
	hssAddr, scscfAddr, mmeAddr, gtpcAddr := addrs[0], addrs[1], addrs[2], addrs[3]
	gtpuAddr, err := freeport.Addr("127.0.0.1")
	if err != nil {
		return d.fail(err)
	}
	// The P-CSCF on port 5060 of a loopback address of its own: the PCO
	// gives the phones an address, they use port 5060 (TS 24.229 §9.2.1).
	pcscfIP, err := freeport.LoopbackIP(5060)
	if err != nil {
		return d.fail(err)
	}
	pcscfAddr := netip.AddrPortFrom(pcscfIP, 5060).String()
	d.say("Start the HSS, the S-CSCF, the P-CSCF and the EPC (MME + SGW/PGW), each its own process, each writing a trace of its messages")
	var stops []func() error
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			if serr := stops[i](); serr != nil && err == nil {
				err = serr
			}
		}
	}()
	for _, s := range []struct {
		name, log, trace string
		args             []string
	}{
		{"HSS", "hss.log", "hss.trace.jsonl", []string{"hss", "--db", db, "--listen", hssAddr, "--api", "-"}},
		{"S-CSCF", "scscf.log", "scscf.trace.jsonl", []string{"scscf", "--listen", scscfAddr, "--hss", hssAddr, "--state", filepath.Join(dir, "scscf.state"),
			"--trusted-pcscf", "127.0.0.0/8"}},
		{"P-CSCF", "pcscf.log", "pcscf.trace.jsonl", []string{"pcscf", "--listen", pcscfAddr, "--scscf", scscfAddr}},
		{"EPC", "epc.log", "epc.trace.jsonl", []string{"epc", "--listen", mmeAddr, "--hss", hssAddr, "--pcscf", pcscfIP.String(),
			"--gtpc", gtpcAddr, "--gtpu", gtpuAddr}},
	} {
		tr := filepath.Join(dir, s.trace)
		d.traces = append(d.traces, tr)
		stop, err := startProcess(self, filepath.Join(dir, s.log), append(s.args, "--trace", tr)...)
		if err != nil {
			return d.fail(err)
		}
		stops = append(stops, stop)
		d.detail("%-6s imslab %s  (log %s)", s.name, strings.Join(s.args, " "), s.log)
	}
	if err := waitLogLine(filepath.Join(dir, "scscf.log"), "connected to the HSS", 10*time.Second); err != nil {
		return d.fail(err)
	}
	if err := waitTCP(pcscfAddr, 10*time.Second); err != nil {
		return d.fail(err)
	}
	if err := waitTCP(mmeAddr, 10*time.Second); err != nil {
		return d.fail(err)
	}
	for name, a := range map[string]string{"HSS": hssAddr, "S-CSCF": scscfAddr, "P-CSCF": pcscfAddr, "MME": mmeAddr,
		"SGW/PGW": gtpcAddr, "SGW/PGW ": gtpuAddr} {
		name = strings.TrimSpace(name)
		if ap, err := netip.ParseAddrPort(a); err == nil {
			d.fixed[ap] = name
		}
	}
	d.ladder()
	d.detail("S-CSCF %s (Service-Route <sip:orig@%s;lr>), P-CSCF %s (Path <sip:term@%s;lr>), HSS %s", scscfAddr, scscfAddr, pcscfAddr, pcscfAddr, hssAddr)
	d.detail("MME %s (UEs attach there), SGW/PGW GTPv2-C %s, GTP-U %s, UE addresses from 127.0.100.0/24, P-CSCF %s given in the PCO", mmeAddr, gtpcAddr, gtpuAddr, pcscfIP)

	// 4-6. Registrations.
	phoneMedia := ue.MediaOptions{Source: media.NewTone(1000, 0.3), ExpectTone: 440}
	alicePhone, err := d.register(ctx, "Alice phone", alicePath, mmeAddr, "", ue.AnswerPolicy{After: 2 * time.Second, Media: phoneMedia},
		"Alice's phone attaches to the LTE network (EPS AKA with its USIM, NAS security, a default bearer on APN ims: its IP address and the P-CSCF), "+
			"then registers to the IMS through GTP-U (IMS-AKA with its ISIM) and subscribes to her reg event")
	if err != nil {
		return err
	}
	defer alicePhone.shutdown()
	// One IMSI attaches once to LTE: the tablet is on Wi-Fi, with no attach.
	tablet, err := d.register(ctx, "Alice tablet", tabletPath, "", pcscfAddr, ue.AnswerPolicy{Mode: ue.AnswerNever},
		"Alice's tablet, on Wi-Fi (no LTE attach: one IMSI attaches once), registers straight to the P-CSCF: her public identities now have two contacts")
	if err != nil {
		return err
	}
	defer tablet.shutdown()
	bobPhone, err := d.register(ctx, "Bob", bobPath, mmeAddr, "", ue.AnswerPolicy{Mode: ue.AnswerBusy},
		"Bob's phone attaches; his card is ahead of the HSS and refuses the first EPS challenge (AUTS), the HSS resynchronises (AIR); then it registers")
	if err != nil {
		return err
	}
	defer bobPhone.shutdown()

	// 7. The call.
	d.say("Bob calls Alice at tel:+15550001: the S-CSCF forks the INVITE to both her devices; her phone answers after 2 s, the tablet gets CANCEL")
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	call, err := bobPhone.ue.Dial(callCtx, ue.CallOptions{To: "tel:+15550001", Media: ue.MediaOptions{Source: media.NewTone(440, 0.3), ExpectTone: 1000}})
	if err != nil {
		return d.fail(err)
	}
	in, err := alicePhone.ue.NextCall(callCtx)
	if err != nil {
		return d.fail(fmt.Errorf("the call did not reach Alice's phone: %w", err))
	}
	if _, err := alicePhone.await(10*time.Second, ue.CallEstablished); err != nil {
		return d.fail(err)
	}
	d.ladder()
	n := call.Media()
	d.detail("set up in %s; %s", call.Setup().Round(time.Millisecond), n.Summary())

	// 8. Voice.
	d.say("%s of voice both ways, SRTP %s: Bob's phone sends a 440 Hz tone, Alice's 1000 Hz", talk, n.Suite)
	time.Sleep(talk)
	d.ladder()

	// 9. Hang up.
	d.say("Bob hangs up (BYE)")
	if err := call.Hangup(callCtx); err != nil {
		return d.fail(err)
	}
	select {
	case <-in.Done():
	case <-time.After(5 * time.Second):
		return d.fail(errors.New("the call did not end on Alice's phone after Bob's BYE"))
	}
	d.ladder()
	br, ar := call.Result(), in.Result()

	// 10. The end.
	d.say("Everyone de-registers; every process stops")
	for _, p := range []*demoPhone{bobPhone, tablet, alicePhone} {
		if err := p.shutdown(); err != nil {
			return d.fail(err)
		}
	}
	for i := len(stops) - 1; i >= 0; i-- {
		if err := stops[i](); err != nil {
			return d.fail(err)
		}
	}
	stops = nil
	d.ladder()

	// Summary and artefacts.
	fmt.Fprintf(w, "\nSummary (%s in all)\n", time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintf(w, "  call set-up (INVITE → 200 OK at Bob's phone): %s\n", br.Setup.Round(time.Millisecond))
	var bad []string
	for _, r := range []struct {
		who string
		r   *ue.CallResult
	}{{"Bob hears Alice", br}, {"Alice hears Bob", ar}} {
		m := r.r.Media
		fmt.Fprintf(w, "  %-16s %d packets received of %d sent, lost %d (%.2f%%), jitter %.2f ms, %.0f Hz tone heard: %v\n",
			r.who+":", m.PacketsReceived, m.PacketsSent, max(m.Lost, 0), m.LossPercent, float64(m.Jitter)/float64(time.Millisecond), m.ToneExpected, m.ToneHeard)
		if !m.ToneHeard || m.PacketsReceived == 0 {
			bad = append(bad, r.who+": "+m.Summary())
		}
	}
	if err := d.writeArtefacts([]*ue.Call{call, in}); err != nil {
		return err
	}
	if len(bad) > 0 {
		d.step++
		return d.fail(fmt.Errorf("the audio check failed: %s", strings.Join(bad, "; ")))
	}
	fmt.Fprintf(w, "\nAll %d steps succeeded.\n", d.step)
	return nil
}

// register starts a phone and waits for its registration (and reg event).
func (d *demo) register(ctx context.Context, name, cardPath, mme, pcscf string, pol ue.AnswerPolicy, what string) (*demoPhone, error) {
	d.say("%s", what)
	p, err := d.startPhone(ctx, name, cardPath, mme, pcscf, pol)
	if err != nil {
		return nil, d.fail(err)
	}
	ev, err := p.await(15*time.Second, ue.Registered)
	if err != nil {
		p.shutdown()
		return nil, d.fail(err)
	}
	if _, err := p.await(10*time.Second, ue.Subscribed); err != nil {
		p.shutdown()
		return nil, d.fail(err)
	}
	var contact sip.Uri
	if err := sip.ParseUri(p.ue.Contact(), &contact); err == nil {
		if ap, err := netip.ParseAddrPort(net.JoinHostPort(contact.Host, strconv.Itoa(contact.Port))); err == nil {
			d.fixed[ap] = name
		}
	}
	d.ladder()
	reg := ev.Registration
	if a := p.ue.Attachment(); a != nil {
		d.detail("attached: %s on APN %s, P-CSCF %v from the PCO%s", a.Addr, a.APN, a.PCSCF,
			map[bool]string{true: " (after an EPS resynchronisation: the card sent AUTS, the MME asked the HSS with RAND‖AUTS)", false: ""}[a.Resynchronised])
	}
	d.detail("registered %s (contact %s, %s)", reg.IMPU, reg.Contact, secsOf(reg.Expires))
	if reg.Resynchronised {
		d.detail("resynchronised: the card sent AUTS, the S-CSCF sent RAND‖AUTS to the HSS (MAR), which moved its SQN")
	}
	d.detail("the network registered together: %s", strings.Join(reg.AssociatedURIs, ", "))
	d.detail("contacts of this identity now: %d", len(reg.Contacts))
	return p, nil
}

func secsOf(t time.Duration) string { return fmt.Sprintf("%d s", int(t/time.Second)) }

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

// startProcess runs this binary with args as a child process logging to a
// file; stop interrupts it and waits (SIGKILL after 5 s). The child dies
// with the demo (Pdeathsig).
func startProcess(self, logPath string, args ...string) (stop func() error, err error) {
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
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("imslab %s exited: %v (see %s)", args[0], err, logPath)
			}
			return nil
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("imslab %s did not stop within 5 s after SIGINT (killed)", args[0])
		}
	}, nil
}
