package trace

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Options tells the diagram renderers who is who and in which order.
type Options struct {
	// Names names the endpoints; nil shows addresses.
	Names *Names
	// Order lists participants to draw first, left to right; the others
	// follow in the order they appear. Names absent from the events are
	// left out.
	Order []string
	// Width is the ladder's column width; 0 fits the labels (20 to 40).
	Width int
}

// row is one arrow of a diagram: a message, or a whole media stream.
type row struct {
	from, to, label string
	media           bool
	note            bool // a message without endpoints (NAS): a note on from
}

// stream counts the packets of one RTP/SRTP (or RTCP) stream, one
// direction.
type stream struct {
	row     int
	proto   string
	rtcp    bool
	pts     []byte
	packets int
}

// label says "SRTP PCMU 250 packets".
func (s *stream) label() string {
	var b strings.Builder
	b.WriteString(s.proto)
	for i, pt := range s.pts {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteByte('/')
		}
		b.WriteString(payloadName(pt))
	}
	if s.packets == 1 {
		b.WriteString(" 1 packet")
	} else {
		fmt.Fprintf(&b, " %d packets", s.packets)
	}
	return b.String()
}

// isMedia tells RTP, SRTP and their RTCP apart from signalling.
func isMedia(protocol string) bool {
	switch strings.ToUpper(protocol) {
	case "RTP", "SRTP", "RTCP", "SRTCP":
		return true
	}
	return false
}

// layout turns events into participants (in order) and rows, one per
// message, one per media stream and direction (at its first packet).
func layout(events []Event, opt Options) ([]string, []row) {
	var rows []row
	var seen []string
	see := func(n string) {
		if !slices.Contains(seen, n) {
			seen = append(seen, n)
		}
	}
	streams := map[string]*stream{}
	var order []*stream
	for _, e := range events {
		if !e.Src.IsValid() || !e.Dst.IsValid() {
			who := e.Node
			if who == "" {
				who = opt.Names.Name(cmp.Or(e.Src, e.Dst))
			}
			see(who)
			rows = append(rows, row{from: who, to: who, label: e.Label(), note: true})
			continue
		}
		from, to := opt.Names.Name(e.Src), opt.Names.Name(e.Dst)
		see(from)
		see(to)
		if !isMedia(e.Protocol) {
			rows = append(rows, row{from: from, to: to, label: e.Label()})
			continue
		}
		rtcp := isRTCP(e.Raw) || strings.HasSuffix(strings.ToUpper(e.Protocol), "RTCP")
		key := fmt.Sprint(strings.ToUpper(e.Protocol), " ", e.Src, " ", e.Dst, " ", rtcp)
		s := streams[key]
		if s == nil {
			proto := "RTP"
			if rtcp {
				proto = "RTCP"
			}
			if strings.HasPrefix(strings.ToUpper(e.Protocol), "S") {
				proto = "S" + proto
			}
			s = &stream{row: len(rows), rtcp: rtcp, proto: proto}
			streams[key] = s
			order = append(order, s)
			rows = append(rows, row{from: from, to: to, media: true})
		}
		s.packets++
		if !rtcp && len(e.Raw) >= 12 && e.Raw[0]>>6 == 2 && !slices.Contains(s.pts, e.Raw[1]&0x7f) {
			s.pts = append(s.pts, e.Raw[1]&0x7f)
		}
	}
	for _, s := range order {
		rows[s.row].label = s.label()
	}
	var parts []string
	for _, n := range opt.Order {
		if slices.Contains(seen, n) && !slices.Contains(parts, n) {
			parts = append(parts, n)
		}
	}
	for _, n := range seen {
		if !slices.Contains(parts, n) {
			parts = append(parts, n)
		}
	}
	return parts, rows
}

// errWriter keeps the first write error of a renderer.
type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) Write(p []byte) (int, error) {
	if ew.err != nil {
		return 0, ew.err
	}
	n, err := ew.w.Write(p)
	ew.err = err
	return n, err
}

// WriteLadder draws the events as a text ladder (see Ladder), a media
// stream as one arrow per direction, a message without endpoints (NAS) as a
// note on its node.
func WriteLadder(w io.Writer, events []Event, opt Options) error {
	parts, rows := layout(events, opt)
	width := opt.Width
	if width <= 0 {
		width = 20
		for _, r := range rows {
			width = max(width, min(len([]rune(r.label))+8, 40))
		}
		for _, p := range parts {
			width = max(width, len([]rune(p))+2)
		}
	}
	ew := &errWriter{w: w}
	l := NewLadder(ew, width, parts...)
	for _, r := range rows {
		if r.note {
			l.Note(r.from, r.label)
		} else {
			l.Arrow(r.from, r.to, r.label)
		}
	}
	return ew.err
}

// WriteMermaid writes the events as a Mermaid sequenceDiagram: one
// participant line each, in order, one "A->>B: label" per message, and
// one dotted "A--)B: SRTP PCMU 250 packets" per media stream and
// direction; a message without endpoints (NAS) is a note over its node.
func WriteMermaid(w io.Writer, events []Event, opt Options) error {
	parts, rows := layout(events, opt)
	ids := mermaidIDs(parts)
	ew := &errWriter{w: w}
	fmt.Fprintln(ew, "sequenceDiagram")
	for _, p := range parts {
		if ids[p] == p {
			fmt.Fprintf(ew, "    participant %s\n", p)
		} else {
			fmt.Fprintf(ew, "    participant %s as %s\n", ids[p], mermaidEscape(p))
		}
	}
	for _, r := range rows {
		if r.note {
			fmt.Fprintf(ew, "    Note over %s: %s\n", ids[r.from], mermaidEscape(r.label))
			continue
		}
		arrow := "->>"
		if r.media {
			arrow = "--)"
		}
		fmt.Fprintf(ew, "    %s%s%s: %s\n", ids[r.from], arrow, ids[r.to], mermaidEscape(r.label))
	}
	return ew.err
}

// mermaidKeywords cannot be participant identifiers.
var mermaidKeywords = []string{"participant", "actor", "as", "end", "loop", "alt", "else", "opt", "par", "and",
	"rect", "note", "over", "left", "right", "of", "activate", "deactivate", "autonumber", "critical", "break",
	"box", "create", "destroy", "links", "link", "title", "sequencediagram"}

// mermaidIDs gives each participant an identifier of letters, digits and
// '_' ("P-CSCF" is P_CSCF, "UE alice" is UE_alice), unique, not a keyword.
func mermaidIDs(parts []string) map[string]string {
	ids := map[string]string{}
	used := map[string]bool{}
	for _, p := range parts {
		id := []rune(p)
		for i, r := range id {
			if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				id[i] = '_'
			}
		}
		s := string(id)
		if s == "" || s[0] >= '0' && s[0] <= '9' {
			s = "n" + s
		}
		if slices.Contains(mermaidKeywords, strings.ToLower(s)) {
			s += "_"
		}
		base := s
		for i := 2; used[s]; i++ {
			s = fmt.Sprintf("%s_%d", base, i)
		}
		used[s] = true
		ids[p] = s
	}
	return ids
}

// mermaidEscape writes the characters Mermaid reads as syntax in a label or
// alias as entity codes (#35; for '#', #59; for ';', #58; for ':'), and
// line breaks as spaces.
var mermaidEscape = strings.NewReplacer(
	"#", "#35;", ";", "#59;", ":", "#58;", "<", "#lt;", ">", "#gt;", "%", "#37;",
	"\r\n", " ", "\n", " ", "\r", " ",
).Replace
