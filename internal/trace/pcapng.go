package trace

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// LinkTypeUser1 is DLT_USER1 (148), the link type WritePcapNG uses for raw
// 5GS NAS PDUs (decoded with tshark's uat:user_dlts, as nas-5gs).
const LinkTypeUser1 = layers.LinkType(148)

// Interfaces of the pcapng files WritePcapNG writes: the synthetic IP
// frames first, then one interface per NAS link type.
const (
	ngIfaceIP  = 0
	ngIfaceEPS = 1
	ngIface5GS = 2
)

// ngApplication is the section header's shb_userappl. Nothing else that
// varies with the machine (OS, hardware) is written: the same trace always
// gives the same file.
const ngApplication = "imslab trace"

// nasLink is how WritePcapNG carries one kind of NAS PDU: on its own
// interface, of a user link type that tshark maps to the dissector.
type nasLink struct {
	protocol  string // Event.Protocol, upper case
	linkType  layers.LinkType
	iface     int
	dissector string
	spec      string
}

var nasLinks = []nasLink{
	{"NAS-EPS", LinkTypeUser0, ngIfaceEPS, "nas-eps", "EPS NAS PDUs (TS 24.301)"},
	{"NAS-5GS", LinkTypeUser1, ngIface5GS, "nas-5gs", "5GS NAS PDUs (TS 24.501)"},
}

// nasLinkOf returns the link that carries e, false if e is not a NAS PDU.
func nasLinkOf(e Event) (nasLink, bool) {
	p := strings.ToUpper(e.Protocol)
	for _, l := range nasLinks {
		if p == l.protocol {
			return l, true
		}
	}
	return nasLink{}, false
}

// userDLT returns the tshark option that decodes link type l (a DLT_USERn)
// with dissector d: one record of the user_dlts table (Wireshark's
// Preferences > Protocols > DLT_USER), with no header or trailer.
func userDLT(l layers.LinkType, d string) []string {
	n := int(l) - int(LinkTypeUser0)
	return []string{"-o", fmt.Sprintf(`uat:user_dlts:"User %d (DLT=%d)","%s","0","","0",""`, n, int(l), d)}
}

// WritePcapNG writes events to w as a pcapng file, in the order given
// (merge first: timestamps then follow each other across interfaces):
//
//   - interface 0, LINKTYPE_ETHERNET, holds what WritePcap writes: every
//     event with UDP or TCP endpoints as synthetic Ethernet/IP/UDP/TCP
//     frames, TCP flows with their handshakes and contiguous sequence
//     numbers (see PcapWriter);
//   - interface 1, LINKTYPE_USER0 (DLT 147), holds each "NAS-EPS" event's
//     Raw as the frame, for tshark's nas-eps;
//   - interface 2, LINKTYPE_USER1 (DLT 148), present only if some event is
//     "NAS-5GS", holds those for nas-5gs (one user DLT maps to one
//     dissector).
//
// A NAS event goes to its interface whatever its endpoints; its frame's
// comment says which node traced it, in which direction, between which
// endpoints, and its Summary: "UE sent 127.0.0.1:40000 > 127.0.0.1:36412:
// Attach Request". Other events, and NAS events without bytes, are skipped.
//
// info.Args are the tshark arguments that decode the file: DecodeAs and the
// user DLT table, for the NAS interfaces that hold frames.
func WritePcapNG(w io.Writer, events []Event) (PcapInfo, error) {
	var info PcapInfo
	used := map[int]bool{}
	for _, e := range events {
		if l, ok := nasLinkOf(e); ok && len(e.Raw) > 0 {
			used[l.iface] = true
		}
	}
	ng, err := pcapgo.NewNgWriterInterface(w, pcapgo.NgInterface{
		Name:        "ip",
		Description: "the lab's UDP and TCP messages in synthetic Ethernet/IP frames",
		LinkType:    layers.LinkTypeEthernet,
		SnapLength:  snapLen,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: ngApplication}})
	if err != nil {
		return info, fmt.Errorf("pcapng: writing section header: %w", err)
	}
	for _, l := range nasLinks {
		if l.iface != ngIfaceEPS && !used[l.iface] {
			continue
		}
		if _, err := ng.AddInterface(pcapgo.NgInterface{
			Name:        l.dissector,
			Description: fmt.Sprintf("%s, as the UE or the core traced them (see each packet's comment): decode as %s", l.spec, l.dissector),
			LinkType:    l.linkType,
			SnapLength:  snapLen,
		}); err != nil {
			return info, fmt.Errorf("pcapng: writing interface: %w", err)
		}
	}
	write := func(ts time.Time, frame []byte, iface int, comment string) error {
		if err := checkSnapLen(frame); err != nil {
			return err
		}
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame), InterfaceIndex: iface}
		var opts pcapgo.NgPacketOptions
		if comment != "" {
			opts.Comments = []string{comment}
		}
		if err := ng.WritePacketWithOptions(ci, frame, opts); err != nil {
			return fmt.Errorf("pcapng: writing frame: %w", err)
		}
		return nil
	}
	fr := newFramer(layers.LinkTypeEthernet, func(ts time.Time, frame []byte) error {
		return write(ts, frame, ngIfaceIP, "")
	})
	var last time.Time
	for _, e := range events {
		ts := e.Time
		if ts.IsZero() {
			ts = last.Add(time.Microsecond)
		}
		l, nas := nasLinkOf(e)
		switch {
		case nas && len(e.Raw) > 0:
			err = write(ts, e.Raw, l.iface, nasComment(e))
		case !nas && pcapable(e):
			err = fr.write(Packet{Time: ts, Src: e.Src, Dst: e.Dst, Proto: strings.ToLower(e.Network), Payload: e.Raw})
		default:
			info.Skipped++
			continue
		}
		if err != nil {
			return info, err
		}
		last = ts
		info.Written++
	}
	if err := ng.Flush(); err != nil {
		return info, fmt.Errorf("pcapng: %w", err)
	}
	info.DecodeAs = DecodeAs(events)
	info.Args = append(info.Args, info.DecodeAs...)
	for _, l := range nasLinks {
		if used[l.iface] {
			info.Args = append(info.Args, userDLT(l.linkType, l.dissector)...)
		}
	}
	return info, nil
}

// nasComment is the packet comment of a NAS PDU: who traced it, the
// direction, the endpoints if known, and the summary if any.
func nasComment(e Event) string {
	var b strings.Builder
	b.WriteString(cmp.Or(e.Node, "?"))
	if e.Sent {
		b.WriteString(" sent")
	} else {
		b.WriteString(" received")
	}
	if e.Src.IsValid() && e.Dst.IsValid() {
		fmt.Fprintf(&b, " %v > %v", unmap(e.Src), unmap(e.Dst))
	}
	if e.Summary != "" {
		b.WriteString(": ")
		b.WriteString(e.Summary)
	}
	return b.String()
}
