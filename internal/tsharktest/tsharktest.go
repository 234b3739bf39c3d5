// Package tsharktest lets tests check pcap files with tshark (Wireshark's
// dissectors), the reference for "a trace that Wireshark decodes without
// errors" (DESIGN.md, Observability). It is a normal package, not a _test
// one, so that every package's tests can import it.
//
// tshark is a peer nobody in this project wrote: Require skips the test when
// it is missing, except under CI (env CI set), where a missing peer fails.
// Install: DEBIAN_FRONTEND=noninteractive apt-get install -y
// --no-install-recommends tshark (Debian 12: tshark 4.0.17).
//
// Every tshark run gets an empty HOME and XDG_CONFIG_HOME, so that a
// developer's Wireshark preferences (decode-as rules, disabled protocols)
// cannot change what a test sees.
package tsharktest

import (
	"github.com/imslab/imslab/internal/peertest"

	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Install is the command that brings tshark on Debian.
const Install = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tshark"

// CleanFilter is the display filter of a clean capture (PEERS.md, tshark):
// no frame may match it. _ws.malformed alone misses expert-only errors.
const CleanFilter = "_ws.malformed || _ws.unreassembled || _ws.expert.severity >= error"

// desegmentOff turns TCP reassembly off: with reassembly on, a truncated
// Diameter PDU is silently held back instead of flagged (PEERS.md).
const desegmentOff = "tcp.desegment_tcp_streams:FALSE"

// runTimeout bounds one tshark run.
const runTimeout = 2 * time.Minute

// Require skips the test if tshark is not installed, or fails it when the
// environment variable CI is set (a missing peer is a failure in CI).
func Require(t testing.TB) {
	t.Helper()
	peertest.Require(t, "tshark")
}

// UserDLT returns the tshark options that decode link type USER0 (DLT 147)
// frames as protocol proto, e.g. "nas-eps" or "nas-5gs" (PEERS.md): pass
// them as extraArgs for pcaps written with trace.LinkTypeUser0.
func UserDLT(proto string) []string {
	return []string{"-o", fmt.Sprintf(`uat:user_dlts:"User 0 (DLT=147)","%s","0","","0",""`, proto)}
}

// Check fails the test unless tshark dissects every frame of pcap cleanly:
// no frame may match CleanFilter.
//
// Two passes. The first is PEERS.md's, with TCP reassembly off, so that a
// truncated PDU is flagged rather than silently held. A PDU that spans
// several TCP segments (trace.PcapWriter splits payloads larger than
// trace.MaxSegment) is flagged there too, as unreassembled; the second pass,
// with reassembly on, checks each reassembled PDU for errors and names the
// frames it covers: a frame flagged by the first pass is excused only if a
// PDU that the second pass reassembled cleanly covers it.
//
// extraArgs go to tshark, e.g. "-d", "tcp.port==3869,diameter",
// UserDLT("nas-eps") or ValidateChecksums().
func Check(t testing.TB, pcap string, extraArgs ...string) {
	t.Helper()
	Require(t)
	base := slices.Concat([]string{"-r", pcap}, extraArgs)
	pass1 := slices.Concat(base, []string{"-o", desegmentOff})

	flagged := frames(t, pass1, CleanFilter)
	if len(flagged) == 0 {
		return // no frame flagged, hence no PDU spanning segments either
	}
	bad := frames(t, base, CleanFilter)
	covered := map[string]bool{}
	for _, row := range Fields(t, pcap, []string{"frame.number", "tcp.segment"}, slices.Concat(extraArgs, []string{"-Y", "tcp.segment"})...) {
		if slices.Contains(bad, row[0]) {
			continue
		}
		for _, f := range strings.Split(row[1], ",") {
			covered[f] = true
		}
	}
	var unexplained []string
	for _, f := range flagged {
		if !covered[f] {
			unexplained = append(unexplained, f)
		}
	}
	if len(unexplained) == 0 && len(bad) == 0 {
		return
	}
	// Say why: the expert summary and the offending frames in full.
	var why strings.Builder
	if len(unexplained) > 0 {
		sel := "frame.number in {" + strings.Join(unexplained, ",") + "}"
		fmt.Fprintf(&why, "with TCP reassembly off, frames %v match %q:\n%s\n%s",
			unexplained, CleanFilter, Run(t, slices.Concat(pass1, []string{"-q", "-z", "expert,note"})...), Run(t, slices.Concat(pass1, []string{"-V", "-Y", sel})...))
	}
	if len(bad) > 0 {
		sel := "frame.number in {" + strings.Join(bad, ",") + "}"
		fmt.Fprintf(&why, "with TCP reassembly on, frames %v match %q:\n%s\n%s",
			bad, CleanFilter, Run(t, slices.Concat(base, []string{"-q", "-z", "expert,note"})...), Run(t, slices.Concat(base, []string{"-V", "-Y", sel})...))
	}
	msg := why.String()
	const max = 30000
	if len(msg) > max {
		msg = msg[:max] + "\n[... cut]"
	}
	t.Errorf("tshark does not dissect %s cleanly: %s", pcap, msg)
}

// ValidateChecksums returns the tshark options that verify IPv4, TCP and
// UDP checksums (off by default in Wireshark): a bad one is then an expert
// error that Check reports. Only for synthetic captures: real loopback
// captures carry offloaded, unfilled checksums.
func ValidateChecksums() []string {
	return []string{"-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"}
}

// frames returns the numbers of the frames that match filter.
func frames(t testing.TB, args []string, filter string) []string {
	t.Helper()
	out := Run(t, slices.Concat(args, []string{"-T", "fields", "-e", "frame.number", "-Y", filter})...)
	return strings.Fields(out)
}

// Fields runs tshark -T fields on pcap (TCP reassembly on, so that PDUs
// spanning several segments are dissected whole) and returns one row per
// frame, one column per field. A field that occurs several times in a frame
// is joined with ",". extraArgs go to tshark, e.g. "-Y", "diameter".
func Fields(t testing.TB, pcap string, fields []string, extraArgs ...string) [][]string {
	t.Helper()
	Require(t)
	args := []string{"-r", pcap, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,", "-E", "quote=n"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out := Run(t, slices.Concat(args, extraArgs)...)
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		row := strings.Split(line, "\t")
		for len(row) < len(fields) {
			row = append(row, "")
		}
		rows = append(rows, row)
	}
	return rows
}

// unknownAVP matches the expert info Wireshark's Diameter dissector attaches
// to an AVP it has no dictionary entry for (packet-diameter.c, expert field
// diameter.avp.code.unknown, severity warning: CleanFilter does not see it).
var unknownAVP = regexp.MustCompile(`Unknown AVP (\d+) \(vendor=([^)]*)\)`)

// UnknownDiameterAVPs returns the Diameter AVPs of pcap that Wireshark does
// not know, as "frame N: AVP code (vendor=name)", in frame order. An empty
// result means every AVP was dissected with a name from the dictionary.
// extraArgs go to tshark (e.g. "-d", "tcp.port==N,diameter").
func UnknownDiameterAVPs(t testing.TB, pcap string, extraArgs ...string) []string {
	t.Helper()
	Require(t)
	args := append([]string{"-r", pcap}, extraArgs...)
	args = append(args, "-Y", "diameter.avp.code.unknown", "-T", "fields",
		"-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=\x1f", "-E", "quote=n",
		"-e", "frame.number", "-e", "_ws.expert.message")
	out := Run(t, args...)
	var unknown []string
	for _, line := range strings.Split(out, "\n") {
		frame, msgs, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		for _, m := range unknownAVP.FindAllStringSubmatch(msgs, -1) {
			unknown = append(unknown, fmt.Sprintf("frame %s: AVP %s (vendor=%s)", frame, m[1], m[2]))
		}
	}
	return unknown
}

// Run runs tshark with args and returns its standard output; it fails the
// test if tshark exits with an error. Standard error (tshark warns there
// when run as root) is reported only on failure.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, "tshark", args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
