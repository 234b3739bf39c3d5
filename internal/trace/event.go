package trace

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event is one message a node of the lab sent or received: the common
// record that every service writes (JSON Lines) and that the renderers
// (ladder, Mermaid, pcap) read.
type Event struct {
	Time time.Time `json:"time"`
	// Node is who recorded the message: "HSS", "S-CSCF", "P-CSCF",
	// "UE alice".
	Node string `json:"node,omitempty"`
	// Protocol is "SIP", "Diameter", "RTP", "SRTP", "NAS", "GTP"...
	Protocol string `json:"protocol"`
	// Sent is true when Node sent the message, false when it received it.
	Sent bool `json:"sent"`
	// Network is "udp" or "tcp" (or "sctp": not written to pcaps).
	Network string `json:"network,omitempty"`
	// Src and Dst are the packet's endpoints, whichever the direction.
	Src netip.AddrPort `json:"src,omitzero"`
	Dst netip.AddrPort `json:"dst,omitzero"`
	// Summary is the arrow's label: "INVITE tel:+15550001", "180 Ringing",
	// "MAR", "MAA 2001". Empty: the renderers call Summarize.
	Summary string `json:"summary,omitempty"`
	// Raw is the message as on the wire (one SIP message, one Diameter
	// PDU, one RTP packet).
	Raw []byte `json:"raw,omitempty"`
}

// Label is the event's Summary, or Summarize's, or the protocol and size.
func (e Event) Label() string {
	if e.Summary != "" {
		return e.Summary
	}
	if s := Summarize(e.Protocol, e.Raw); s != "" {
		return s
	}
	return e.Protocol + " (" + strconv.Itoa(len(e.Raw)) + " bytes)"
}

// Merge joins the traces of several nodes into one, sorted by time (stable:
// records of equal times keep their order). A message traced by both its
// sender and its receiver appears once, as the sender's record at the
// earlier of the two times (see paired); a message only its receiver
// traced (peers such as baresip trace nothing) is kept.
//
// A sent and a received record are the same message when they have the
// same Network, Src, Dst and Raw bytes, or, for SIP, the same start line,
// Call-ID, CSeq and top Via branch (a receiver that re-serialises what it
// parsed changes bytes, not these). Retransmissions pair one to one, in
// order.
func Merge(lists ...[]Event) []Event {
	var all []Event
	for _, l := range lists {
		all = append(all, l...)
	}
	slices.SortStableFunc(all, func(a, b Event) int { return a.Time.Compare(b.Time) })

	drop := make([]bool, len(all))
	type pending struct{ sent, recv []int }
	open := map[string]*pending{}
	for i, e := range all {
		k := matchKey(e)
		p := open[k]
		if p == nil {
			p = &pending{}
			open[k] = p
		}
		if e.Sent {
			if len(p.recv) > 0 {
				drop[p.recv[0]] = true
				all[i] = paired(e, all[p.recv[0]])
				p.recv = p.recv[1:]
				continue
			}
			p.sent = append(p.sent, i)
			continue
		}
		if len(p.sent) > 0 {
			drop[i] = true
			all[p.sent[0]] = paired(all[p.sent[0]], e)
			p.sent = p.sent[1:]
			continue
		}
		p.recv = append(p.recv, i)
	}
	out := make([]Event, 0, len(all))
	for i, e := range all {
		if !drop[i] {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out
}

// paired is the record kept for a message both ends traced: the sender's,
// with the endpoints each side knows for sure. Each side knows its peer's
// address (the receiver the connection's source, the sender where it
// sent) but not always its own (a TCP connection's ephemeral port), and
// the receiver knows the transport it arrived on.
//
// Its time is the earlier of the two: a sender may record a message after
// its write returned, when the receiver already has it.
func paired(sent, recv Event) Event {
	if recv.Time.Before(sent.Time) {
		sent.Time = recv.Time
	}
	if recv.Src.IsValid() {
		sent.Src = recv.Src
	}
	if recv.Network != "" {
		sent.Network = recv.Network
	}
	return sent
}

// matchKey identifies a message on the wire for Merge. A SIP message is
// identified by its start line, Call-ID, CSeq and top Via branch, not by
// its endpoints: each hop adds its own Via (RFC 3261 §16.6 step 8), and a
// sender over TCP may not know its own ephemeral port.
func matchKey(e Event) string {
	var b strings.Builder
	if strings.EqualFold(e.Protocol, "SIP") {
		if id, ok := sipIdentity(e.Raw); ok {
			b.WriteString("sip ")
			b.WriteString(id)
			return b.String()
		}
	}
	b.WriteString(strings.ToLower(e.Network))
	b.WriteByte(' ')
	b.WriteString(e.Src.String())
	b.WriteByte(' ')
	b.WriteString(e.Dst.String())
	b.WriteByte(' ')
	b.WriteString("raw ")
	b.Write(e.Raw)
	return b.String()
}

// sipIdentity returns a SIP message's start line, Call-ID, CSeq and top Via
// branch (RFC 3261 §17.1.3, §17.2.3: what identifies a transaction's
// message), false if one is missing.
func sipIdentity(raw []byte) (string, bool) {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "SIP/2.0") {
		return "", false
	}
	var callID, cseq, branch string
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "call-id", "i":
			callID = value
		case "cseq":
			cseq = strings.Join(strings.Fields(value), " ")
		case "via", "v":
			if branch == "" {
				branch = viaBranch(value)
			}
		}
	}
	if callID == "" || cseq == "" || branch == "" {
		return "", false
	}
	return strings.Join([]string{strings.TrimSpace(lines[0]), callID, cseq, branch}, "\x00"), true
}

// viaBranch returns the branch parameter of a Via value's first entry.
func viaBranch(via string) string {
	first, _, _ := strings.Cut(via, ",")
	for _, p := range strings.Split(first, ";")[1:] {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "branch") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
