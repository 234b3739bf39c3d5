package trace

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// PcapInfo says what WritePcap or WritePcapNG wrote and how to have it
// decoded.
type PcapInfo struct {
	// Written counts the events written as frames.
	Written int
	// Skipped counts the events the file cannot carry: for a pcap, those
	// without UDP or TCP endpoints (NAS, SCTP) or with endpoints of two IP
	// families; for a pcapng, the same but for NAS PDUs, which it carries.
	Skipped int
	// DecodeAs are the tshark arguments that decode the protocols found on
	// ports Wireshark does not assign them ("-d", "udp.port==6060,sip",
	// ...); see DecodeAs.
	DecodeAs []string
	// Args are all the tshark arguments the file needs: DecodeAs, then,
	// for a pcapng with NAS PDUs, the user DLT table that maps its USER0
	// and USER1 interfaces to nas-eps and nas-5gs ("-o",
	// `uat:user_dlts:"User 0 (DLT=147)","nas-eps","0","","0",""`).
	Args []string
}

// WritePcap writes every event that has UDP or TCP endpoints as frames of
// a pcap file (see PcapWriter: Ethernet, IP, UDP or TCP with synthetic
// handshakes), in the order given: merge first.
func WritePcap(w io.Writer, events []Event) (PcapInfo, error) {
	var info PcapInfo
	pw, err := NewPcapWriter(w)
	if err != nil {
		return info, err
	}
	for _, e := range events {
		if !pcapable(e) {
			info.Skipped++
			continue
		}
		p := Packet{Time: e.Time, Src: e.Src, Dst: e.Dst, Proto: strings.ToLower(e.Network), Payload: e.Raw}
		if err := pw.Write(p); err != nil {
			return info, err
		}
		info.Written++
	}
	info.DecodeAs = DecodeAs(events)
	info.Args = slices.Clone(info.DecodeAs)
	return info, nil
}

// pcapable tells whether PcapWriter can write e as UDP or TCP frames.
func pcapable(e Event) bool {
	src, dst := unmap(e.Src), unmap(e.Dst)
	if !src.IsValid() || !dst.IsValid() || src.Addr().Is4() != dst.Addr().Is4() {
		return false
	}
	switch strings.ToLower(e.Network) {
	case "udp":
		return len(e.Raw) <= maxUDPPayload
	case "tcp":
		return true
	}
	return false
}

// defaultPorts are where Wireshark looks for a protocol without being told
// (its dissectors' registered ports).
var defaultPorts = map[string]bool{
	"udp.port==5060,sip": true, "tcp.port==5060,sip": true, "tcp.port==3868,diameter": true,
	"udp.port==2123,gtp": true, "udp.port==2152,gtp": true,
}

// dissector names Wireshark's dissector for an event's protocol, "" if
// there is none to ask for.
func dissector(e Event) string {
	switch strings.ToUpper(e.Protocol) {
	case "SIP":
		return "sip"
	case "DIAMETER":
		return "diameter"
	case "RTP", "SRTP":
		if isRTCP(e.Raw) {
			return "rtcp"
		}
		return "rtp"
	case "RTCP", "SRTCP":
		return "rtcp"
	case "GTP", "GTP-U", "GTPV2", "GTP-C", "GTPV2-C":
		// tshark 4.0's udp.port table has no "gtpv2": its "gtp" dissector
		// takes GTPv2-C and hands it on (GTP-U and GTPv2 on 2152 and 2123).
		return "gtp"
	}
	return ""
}

// DecodeAs returns the tshark (and Wireshark: Analyze > Decode As) rules
// that decode the events' protocols on their ports: "-d",
// "udp.port==6060,sip", "-d", "tcp.port==3869,diameter", "-d",
// "udp.port==40000,rtp"... A UDP rule names the receiving port of each
// message; a TCP rule names the port of the side that was sent the flow's
// first message (the server). Ports Wireshark already decodes so (SIP
// 5060, Diameter 3868) are left out; a port shared by two protocols goes
// to the first seen (RTP before RTCP, for rtcp-mux, RFC 5761).
func DecodeAs(events []Event) []string {
	type rule struct {
		network string
		port    uint16
	}
	chosen := map[rule]string{}
	servers := map[[2]string]uint16{} // TCP flow (sorted endpoints) to server port
	for _, e := range events {
		d := dissector(e)
		if d == "" || !pcapable(e) {
			continue
		}
		network := strings.ToLower(e.Network)
		port := e.Dst.Port()
		if network == "tcp" {
			a, b := unmap(e.Src).String(), unmap(e.Dst).String()
			flow := [2]string{min(a, b), max(a, b)}
			if p, ok := servers[flow]; ok {
				port = p
			} else {
				servers[flow] = port
			}
		}
		r := rule{network, port}
		if prev, ok := chosen[r]; !ok || prev == "rtcp" && d == "rtp" {
			chosen[r] = d
		}
	}
	rules := make([]rule, 0, len(chosen))
	for r := range chosen {
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(a, b rule) int {
		return cmp.Or(cmp.Compare(a.network, b.network), cmp.Compare(a.port, b.port))
	})
	var args []string
	for _, r := range rules {
		s := fmt.Sprintf("%s.port==%d,%s", r.network, r.port, chosen[r])
		if !defaultPorts[s] {
			args = append(args, "-d", s)
		}
	}
	return args
}
