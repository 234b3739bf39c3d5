package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/ue"
)

// writeArtefacts merges every trace and writes the demo's artefacts: the
// JSON trace, the text ladder, the Mermaid ladder, the pcap and the keys
// that decrypt what the pcap holds.
func (d *demo) writeArtefacts(calls []*ue.Call) error {
	all, err := d.events()
	if err != nil {
		return err
	}
	opt := trace.Options{Names: d.namesFor(all), Order: demoOrder, Width: ladderWidth}
	path := func(n string) string { return filepath.Join(d.dir, n) }

	jw, err := trace.CreateJSON(path("trace.jsonl"))
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := jw.Write(e); err != nil {
			jw.Close()
			return err
		}
	}
	if err := jw.Close(); err != nil {
		return err
	}
	var ladder, mermaid, pcap bytes.Buffer
	// The diagrams draw what travels inside the GTP-U tunnels, not each
	// tunnelled packet again; the pcap has both.
	var drawn []trace.Event
	for _, e := range all {
		if e.Protocol != "GTP-U" {
			drawn = append(drawn, e)
		}
	}
	if err := trace.WriteLadder(&ladder, drawn, opt); err != nil {
		return err
	}
	if err := trace.WriteMermaid(&mermaid, drawn, opt); err != nil {
		return err
	}
	info, err := trace.WritePcapNG(&pcap, all)
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"ladder.txt": ladder.Bytes(), "ladder.mmd": mermaid.Bytes(), "demo.pcapng": pcap.Bytes(),
		"keys.txt": d.keys(all, calls)} {
		if err := os.WriteFile(path(name), b, 0o644); err != nil {
			return err
		}
	}
	count := map[string]int{}
	for _, e := range all {
		count[e.Protocol]++
	}
	w := d.w
	fmt.Fprintf(w, "\nTraces: %d SIP messages, %d Diameter, %d NAS, %d GTPv2-C, %d GTP-U packets, %d RTP/SRTP packets. In %s:\n",
		count["SIP"], count["Diameter"], count["NAS-EPS"], count["GTPv2"], count["GTP-U"], count["SRTP"]+count["RTP"], d.dir)
	fmt.Fprintf(w, "  trace.jsonl   every message, merged from all the nodes (JSON Lines; imslab trace ladder|mermaid|pcap trace.jsonl)\n")
	fmt.Fprintf(w, "  ladder.txt    the ladder diagram of the whole run\n")
	fmt.Fprintf(w, "  ladder.mmd    the same as a Mermaid sequence diagram (paste it into a Markdown file)\n")
	fmt.Fprintf(w, "  demo.pcapng   %d frames for Wireshark/tshark (IP traffic, and the NAS PDUs on a link type of their own):\n", info.Written)
	fmt.Fprintf(w, "                tshark -r demo.pcapng %s\n", strings.Join(quoteArgs(info.Args), " "))
	fmt.Fprintf(w, "  keys.txt      the SRTP master keys of each direction and the CK/IK of each IMS-AKA challenge\n")
	fmt.Fprintf(w, "  *.card.yaml   the SIM cards; hss.db the HSS; *.log each service's log; *.trace.jsonl each service's trace\n")
	return nil
}

func quoteArgs(a []string) []string {
	out := make([]string, len(a))
	for i, s := range a {
		if strings.ContainsAny(s, " =,") && !strings.HasPrefix(s, "-") {
			s = "'" + s + "'"
		}
		out[i] = s
	}
	return out
}

var ckik = regexp.MustCompile(`(?i)\b(ck|ik)="?([0-9a-f]{32})"?`)

// keys says what decrypts the capture: each call's SRTP keys per
// direction (RFC 4568 inline key||salt) and the CK/IK the S-CSCF got from
// the HSS for each challenge (TS 33.203 §6.1; IPsec would use them).
func (d *demo) keys(all []trace.Event, calls []*ue.Call) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# imslab demo keys (%s). For teaching only: these keys decrypt the capture.\n\n", time.Now().Format(time.RFC3339))
	fmt.Fprintf(&b, "## SRTP (RFC 3711), keys exchanged in SDP a=crypto (RFC 4568): inline = base64(master key || master salt)\n")
	for _, c := range calls {
		n := c.Media()
		if n.Codec == "" {
			continue
		}
		fmt.Fprintf(&b, "call %s (%s side, peer %s): %s\n", c.ID(), c.Direction(), c.Peer(), n.Summary())
		fmt.Fprintf(&b, "  %s → %s  %s inline:%s\n", n.Local, n.Remote, n.Suite, n.LocalKey)
		fmt.Fprintf(&b, "  %s → %s  %s inline:%s\n", n.Remote, n.Local, n.Suite, n.RemoteKey)
	}
	fmt.Fprintf(&b, "\n## IMS-AKA: CK and IK of each 401 the S-CSCF sent the P-CSCF (TS 24.229 §5.4.1.2.1; the P-CSCF removes them)\n")
	for _, e := range all {
		if e.Protocol != "SIP" || !bytes.HasPrefix(e.Raw, []byte("SIP/2.0 401")) {
			continue
		}
		m := ckik.FindAllSubmatch(e.Raw, -1)
		if len(m) < 2 {
			continue
		}
		to := ""
		if i := bytes.Index(e.Raw, []byte("\nTo:")); i >= 0 {
			line := e.Raw[i+4:]
			if j := bytes.IndexByte(line, '\r'); j >= 0 {
				to = strings.TrimSpace(string(line[:j]))
			}
		}
		fmt.Fprintf(&b, "%s  %s  %s=%s %s=%s\n", e.Time.Format("15:04:05.000"), to, m[0][1], m[0][2], m[1][1], m[1][2])
	}
	return b.Bytes()
}
