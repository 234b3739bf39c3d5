package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/internal/diameter/peer"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/pcscf"
	"github.com/imslab/imslab/scscf"
)

// traceFlagUsage is the help of every service's --trace flag.
const traceFlagUsage = `write every message sent and received to this file, as JSON lines ("-": stdout); read it with "imslab trace"`

// traceFile is a service's --trace FILE: JSON lines, complete when the
// service returns.
type traceFile struct {
	w    *trace.JSONWriter
	node string
	log  *slog.Logger
	once sync.Once // the first write error is logged, not the others
}

// openTrace opens path for a service's trace ("-" is stdout); "" traces
// nothing and returns nil, whose methods do nothing.
func openTrace(path, node string, log *slog.Logger) (*traceFile, error) {
	switch path {
	case "":
		return nil, nil
	case "-":
		return &traceFile{w: trace.NewJSONWriter(os.Stdout), node: node, log: log}, nil
	}
	w, err := trace.CreateJSON(path)
	if err != nil {
		return nil, fmt.Errorf("--trace: %w", err)
	}
	return &traceFile{w: w, node: node, log: log}, nil
}

// write records one event under the service's name.
func (t *traceFile) write(e trace.Event) {
	e.Node = t.node
	if err := t.w.Write(e); err != nil {
		t.once.Do(func() {
			t.log.Error("trace file: "+err.Error()+"; later messages may be missing from it", "protocol", e.Protocol)
		})
	}
}

// close flushes and closes the file.
func (t *traceFile) close() error {
	if t == nil {
		return nil
	}
	return t.w.Close()
}

// diameterTrace is hss.Config.Trace (peer.Event) writing to t; nil for no
// file.
func (t *traceFile) diameterTrace() func(peer.Event) {
	if t == nil {
		return nil
	}
	return func(e peer.Event) { t.write(diameterEvent(e)) }
}

// scscfTrace is scscf.Config.Trace writing to t; nil for no file.
func (t *traceFile) scscfTrace() func(scscf.Event) {
	if t == nil {
		return nil
	}
	return func(e scscf.Event) { t.write(scscfEvent(e)) }
}

// pcscfTrace is pcscf.Config.Trace writing to t; nil for no file.
func (t *traceFile) pcscfTrace() func(pcscf.TraceEvent) {
	if t == nil {
		return nil
	}
	return func(e pcscf.TraceEvent) { t.write(pcscfEvent(e)) }
}

// traceEndpoints orders a message's local and remote addresses as source and
// destination.
func traceEndpoints(sent bool, local, remote netip.AddrPort) (src, dst netip.AddrPort) {
	if sent {
		return local, remote
	}
	return remote, local
}

// diameterEvent converts a Diameter peer's event.
func diameterEvent(e peer.Event) trace.Event {
	sent := e.Dir == peer.Out
	src, dst := traceEndpoints(sent, netAddrPort(e.Local), netAddrPort(e.Remote))
	return trace.Event{Time: e.Time, Protocol: "Diameter", Sent: sent, Network: strings.ToLower(e.Network),
		Src: src, Dst: dst, Summary: trace.SummarizeDiameter(e.Raw), Raw: e.Raw}
}

// scscfEvent converts an S-CSCF event (SIP or Diameter).
func scscfEvent(e scscf.Event) trace.Event {
	src, dst := traceEndpoints(e.Out, parseAddrPortOrZero(e.Local), parseAddrPortOrZero(e.Remote))
	sum := trace.Summarize(e.Protocol, e.Raw)
	if sum == "" {
		sum = e.Summary
	}
	return trace.Event{Time: e.Time, Protocol: e.Protocol, Sent: e.Out, Network: strings.ToLower(e.Network),
		Src: src, Dst: dst, Summary: sum, Raw: e.Raw}
}

// pcscfEvent converts a P-CSCF event (SIP, garbage included).
func pcscfEvent(e pcscf.TraceEvent) trace.Event {
	src, dst := traceEndpoints(e.Sent, e.Local, e.Remote)
	return trace.Event{Time: e.Time, Protocol: "SIP", Sent: e.Sent, Network: strings.ToLower(e.Network),
		Src: src, Dst: dst, Summary: trace.SummarizeSIP(e.Raw), Raw: e.Raw}
}

// netAddrPort is a socket address as netip, IPv4-mapped addresses as IPv4;
// for SCTP ("10.0.0.1/10.0.0.2:3868") the first address. Zero if unknown.
func netAddrPort(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case nil:
		return netip.AddrPort{}
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.UDPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	s := a.String()
	if i, j := strings.IndexByte(s, '/'), strings.LastIndexByte(s, ':'); i >= 0 && j > i {
		s = s[:i] + s[j:]
	}
	return parseAddrPortOrZero(s)
}

func parseAddrPortOrZero(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// traceOptions are the flags every "imslab trace" renderer shares.
type traceOptions struct {
	output string
	names  []string
	order  []string
	width  int
}

func newTraceCmd() *cobra.Command {
	var o traceOptions
	c := &cobra.Command{
		Use:   "trace",
		Short: "Merge the services' trace files (--trace) into a ladder, a Mermaid diagram, a pcap or one JSON trace",
		Long: `Merge trace files written by "imslab hss|scscf|pcscf --trace FILE" (and by imslab demo):
a message traced by both its sender and its receiver appears once. Participants are named
after the node that sent from (or received at) each address; --name names the others,
e.g. a softphone: --name 127.0.0.1:5080="Bob (baresip)".`,
		Example: `  imslab trace ladder hss.jsonl scscf.jsonl pcscf.jsonl
  imslab trace mermaid --order "UE alice,P-CSCF,S-CSCF,HSS" -o call.mmd *.jsonl
  imslab trace pcap -o call.pcap *.jsonl     # then: tshark -r call.pcap <the -d options it prints>`,
	}
	pf := c.PersistentFlags()
	pf.StringVarP(&o.output, "output", "o", "", "write to this file (default: stdout)")
	pf.StringArrayVar(&o.names, "name", nil, `name a participant: ADDR=NAME, ADDR being IP:PORT or an IP (repeat for several)`)
	pf.StringSliceVar(&o.order, "order", nil, `participants left to right, comma-separated (default: in order of appearance)`)
	render := func(use, short string, f func(io.Writer, io.Writer, []trace.Event, trace.Options) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " FILE...",
			Short: short,
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return o.run(cmd, args, f)
			},
		}
	}
	ladder := render("ladder", "Draw a text ladder diagram", func(w, _ io.Writer, ev []trace.Event, opt trace.Options) error {
		return trace.WriteLadder(w, ev, opt)
	})
	ladder.Flags().IntVar(&o.width, "width", 0, "column width (default: fit the labels, 20 to 40)")
	c.AddCommand(ladder,
		render("mermaid", "Write a Mermaid sequence diagram (paste it into Markdown in a ```mermaid block)",
			func(w, _ io.Writer, ev []trace.Event, opt trace.Options) error { return trace.WriteMermaid(w, ev, opt) }),
		render("pcap", "Write a pcap for Wireshark/tshark, and print the tshark options that decode it",
			func(w, stderr io.Writer, ev []trace.Event, _ trace.Options) error {
				return writeTracePcap(w, stderr, o.output, ev)
			}),
		render("json", "Write the merged trace as JSON lines", func(w, _ io.Writer, ev []trace.Event, _ trace.Options) error {
			jw := trace.NewJSONWriter(w)
			for _, e := range ev {
				if e.Summary == "" {
					e.Summary = trace.Summarize(e.Protocol, e.Raw)
				}
				if err := jw.Write(e); err != nil {
					return err
				}
			}
			return jw.Close()
		}),
	)
	return c
}

// run reads and merges the files, names the participants, and renders to
// the output.
func (o *traceOptions) run(cmd *cobra.Command, files []string, render func(io.Writer, io.Writer, []trace.Event, trace.Options) error) error {
	var lists [][]trace.Event
	for _, f := range files {
		ev, err := readTraceFile(cmd.InOrStdin(), f)
		if err != nil {
			return err
		}
		lists = append(lists, ev)
	}
	names := trace.NamesFrom(lists...)
	for _, n := range o.names {
		if err := names.Parse(n); err != nil {
			return fmt.Errorf("--name: %w", err)
		}
	}
	events := trace.Merge(lists...)
	opt := trace.Options{Names: names, Order: o.order, Width: o.width}
	if o.output == "" || o.output == "-" {
		return render(cmd.OutOrStdout(), cmd.ErrOrStderr(), events, opt)
	}
	f, err := os.Create(o.output)
	if err != nil {
		return err
	}
	err = render(f, cmd.ErrOrStderr(), events, opt)
	return errors.Join(err, f.Close())
}

// readTraceFile reads one trace file ("-": standard input).
func readTraceFile(stdin io.Reader, path string) ([]trace.Event, error) {
	if path == "-" {
		ev, err := trace.ReadJSON(stdin)
		if err != nil {
			return nil, fmt.Errorf("standard input: %w", err)
		}
		return ev, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ev, err := trace.ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (is it a file written by --trace?)", path, err)
	}
	return ev, nil
}

// writeTracePcap writes the pcap and says on stderr how to read it.
func writeTracePcap(w, stderr io.Writer, output string, events []trace.Event) error {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return errors.New("a pcap is binary: give -o FILE.pcap, or redirect the output")
		}
	}
	info, err := trace.WritePcap(w, events)
	if err != nil {
		return err
	}
	name := output
	if name == "" || name == "-" {
		name = "FILE"
	}
	plural := "s"
	if info.Written == 1 {
		plural = ""
	}
	fmt.Fprintf(stderr, "%d message%s written", info.Written, plural)
	if info.Skipped > 0 {
		fmt.Fprintf(stderr, ", %d left out (no UDP or TCP endpoints: NAS, SCTP)", info.Skipped)
	}
	fmt.Fprintf(stderr, ".\nRead it with: %s\n", strings.Join(append([]string{"tshark", "-r", name}, info.DecodeAs...), " "))
	if len(info.DecodeAs) > 0 {
		fmt.Fprintln(stderr, "(in Wireshark: Analyze > Decode As, the same port rules)")
	}
	return nil
}
