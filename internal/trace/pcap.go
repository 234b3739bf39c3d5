// Package trace turns application-level message records into artefacts that
// standard tools read. This file writes pcap files: each record (a SIP
// message, a Diameter PDU, a GTP packet...) becomes one or more synthetic
// frames that Wireshark/tshark dissect as if they had been captured.
//
// Framing. With LINKTYPE_ETHERNET (the default) every record is wrapped in
// Ethernet + IPv4/IPv6 + UDP/TCP with correct lengths and checksums (RFC 791,
// RFC 8200, RFC 768, RFC 9293). TCP flows are made to look clean to a
// dissector: the first record of a flow is preceded by a synthetic
// SYN, SYN-ACK, ACK; sequence and acknowledgement numbers are kept per flow so
// that consecutive payloads of one direction are contiguous; payloads larger
// than MaxSegment are split into several segments. LINKTYPE_RAW does the same
// without the Ethernet header. Any other link type (e.g. USER0, DLT 147, for
// raw NAS PDUs) writes the payload alone as the frame.
//
// PcapWriter writes classic pcap, one link type per file; WritePcapNG
// (pcapng.go) writes the same synthetic frames and the NAS PDUs, each on an
// interface of its own link type, into one pcapng file.
package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one application-level record to write as a frame (or, for a
// large TCP payload, several frames).
type Packet struct {
	// Time is the capture timestamp. A zero Time means "right after the
	// previous record" (previous timestamp + 1 µs).
	Time time.Time
	// Src and Dst are the transport endpoints. They must be of the same IP
	// family (IPv4-mapped IPv6 addresses count as IPv4). Ignored by
	// payload-only link types.
	Src, Dst netip.AddrPort
	// Proto is "tcp" or "udp". Ignored by payload-only link types.
	Proto string
	// Payload is the application data (one or several whole PDUs).
	Payload []byte
}

const (
	// MaxSegment is the largest TCP payload put in one synthetic segment.
	MaxSegment = 1400
	// snapLen is the snapshot length written in the file header. It exceeds
	// the largest frame we write (a 65507-byte UDP payload + headers).
	snapLen = 262144
	// maxUDPPayload is the largest UDP payload an IPv4 datagram can carry
	// (65535 - 20 - 8); IPv6 allows 65527 but we keep one bound.
	maxUDPPayload = 65507
	// LinkTypeUser0 is DLT_USER0 (147), the link type PEERS.md uses for raw
	// NAS PDUs (decoded with tshark's uat:user_dlts).
	LinkTypeUser0 = layers.LinkType(147)
)

// PcapWriter writes a classic pcap file (microsecond timestamps). It is safe
// for concurrent use.
type PcapWriter struct {
	mu sync.Mutex
	fr framer
}

// framer turns Packets into frames of one link type and hands them to
// emit: the frame synthesis (IP/UDP/TCP headers, TCP flow state) that the
// pcap and the pcapng writers share.
type framer struct {
	linkType layers.LinkType
	last     time.Time
	ipID     uint16
	flows    map[flowKey]*tcpFlow
	emit     func(ts time.Time, frame []byte) error
}

func newFramer(lt layers.LinkType, emit func(ts time.Time, frame []byte) error) framer {
	return framer{linkType: lt, flows: make(map[flowKey]*tcpFlow), emit: emit}
}

// flowKey identifies a TCP connection regardless of direction: a is the
// endpoint that sent the flow's first record (the "client").
type flowKey struct{ a, b netip.AddrPort }

// tcpFlow is the sequence state of one synthetic TCP connection.
type tcpFlow struct {
	// next sequence number to send, from the client and from the server.
	nextC, nextS uint32
}

// NewPcapWriter writes a pcap file header for LINKTYPE_ETHERNET to w and
// returns a writer for it.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	return NewPcapWriterLinkType(w, layers.LinkTypeEthernet)
}

// NewPcapWriterLinkType writes a pcap file header with the given link type.
// layers.LinkTypeEthernet and layers.LinkTypeRaw synthesise IP/UDP/TCP
// headers; any other link type writes each Packet's Payload as is (e.g.
// LinkTypeUser0 for NAS PDUs).
func NewPcapWriterLinkType(w io.Writer, lt layers.LinkType) (*PcapWriter, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(snapLen, lt); err != nil {
		return nil, fmt.Errorf("pcap: writing file header: %w", err)
	}
	return &PcapWriter{fr: newFramer(lt, func(ts time.Time, frame []byte) error {
		if err := checkSnapLen(frame); err != nil {
			return err
		}
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame)}
		if err := pw.WritePacket(ci, frame); err != nil {
			return fmt.Errorf("pcap: writing frame: %w", err)
		}
		return nil
	})}, nil
}

// Write appends p to the file: one frame for UDP and payload-only link
// types, the handshake (first record of a flow) and one frame per segment for
// TCP.
func (pw *PcapWriter) Write(p Packet) error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.fr.write(p)
}

// write synthesises p's frames and emits them (see PcapWriter.Write).
func (fr *framer) write(p Packet) error {
	ts := p.Time
	if ts.IsZero() {
		ts = fr.last.Add(time.Microsecond)
	}
	fr.last = ts

	if !fr.synthesises() {
		return fr.emit(ts, p.Payload)
	}
	src, dst := unmap(p.Src), unmap(p.Dst)
	if !src.Addr().IsValid() || !dst.Addr().IsValid() {
		return fmt.Errorf("pcap: invalid endpoints %v -> %v", p.Src, p.Dst)
	}
	if src.Addr().Is4() != dst.Addr().Is4() {
		return fmt.Errorf("pcap: mixed IP families %v -> %v", p.Src, p.Dst)
	}
	switch p.Proto {
	case "udp":
		if len(p.Payload) > maxUDPPayload {
			return fmt.Errorf("pcap: UDP payload of %d bytes exceeds %d", len(p.Payload), maxUDPPayload)
		}
		return fr.writeFrame(ts, src, dst, &layers.UDP{
			SrcPort: layers.UDPPort(src.Port()),
			DstPort: layers.UDPPort(dst.Port()),
		}, p.Payload)
	case "tcp":
		return fr.writeTCP(ts, src, dst, p.Payload)
	default:
		return fmt.Errorf("pcap: unknown protocol %q (want \"tcp\" or \"udp\")", p.Proto)
	}
}

func (fr *framer) synthesises() bool {
	return fr.linkType == layers.LinkTypeEthernet || fr.linkType == layers.LinkTypeRaw
}

// writeTCP writes the handshake if the flow is new, then the payload in
// segments of at most MaxSegment bytes, each with PSH|ACK (RFC 9293 §3.1).
func (fr *framer) writeTCP(ts time.Time, src, dst netip.AddrPort, payload []byte) error {
	f, fromClient := fr.flow(src, dst)
	if f == nil {
		f = fr.newFlow(src, dst)
		fromClient = true
		// SYN, SYN-ACK, ACK: each SYN consumes one sequence number.
		isnC, isnS := f.nextC, f.nextS
		if err := fr.writeSegment(ts, src, dst, isnC, 0, segSYN, nil); err != nil {
			return err
		}
		if err := fr.writeSegment(ts, dst, src, isnS, isnC+1, segSYN|segACK, nil); err != nil {
			return err
		}
		f.nextC, f.nextS = isnC+1, isnS+1
		if err := fr.writeSegment(ts, src, dst, f.nextC, f.nextS, segACK, nil); err != nil {
			return err
		}
	}
	for len(payload) > 0 {
		n := min(len(payload), MaxSegment)
		seg := payload[:n]
		payload = payload[n:]
		var err error
		if fromClient {
			err = fr.writeSegment(ts, src, dst, f.nextC, f.nextS, segPSH|segACK, seg)
			f.nextC += uint32(n)
		} else {
			err = fr.writeSegment(ts, src, dst, f.nextS, f.nextC, segPSH|segACK, seg)
			f.nextS += uint32(n)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// flow returns the flow between src and dst, if any, and whether src is its
// client.
func (fr *framer) flow(src, dst netip.AddrPort) (*tcpFlow, bool) {
	if f, ok := fr.flows[flowKey{src, dst}]; ok {
		return f, true
	}
	if f, ok := fr.flows[flowKey{dst, src}]; ok {
		return f, false
	}
	return nil, false
}

func (fr *framer) newFlow(client, server netip.AddrPort) *tcpFlow {
	// Deterministic initial sequence numbers derived from the endpoints, so
	// that the same trace always produces the same file.
	h := fnv.New64a()
	h.Write([]byte(client.String() + ">" + server.String()))
	sum := h.Sum64()
	f := &tcpFlow{nextC: uint32(sum), nextS: uint32(sum >> 32)}
	fr.flows[flowKey{client, server}] = f
	return f
}

type segFlags uint8

const (
	segSYN segFlags = 1 << iota
	segACK
	segPSH
)

func (fr *framer) writeSegment(ts time.Time, src, dst netip.AddrPort, seq, ack uint32, fl segFlags, payload []byte) error {
	return fr.writeFrame(ts, src, dst, &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()),
		DstPort: layers.TCPPort(dst.Port()),
		Seq:     seq,
		Ack:     ack,
		SYN:     fl&segSYN != 0,
		ACK:     fl&segACK != 0,
		PSH:     fl&segPSH != 0,
		Window:  65535,
	}, payload)
}

// transport is the UDP or TCP layer of a frame; both can compute their
// checksum over the IP pseudo-header.
type transport interface {
	gopacket.SerializableLayer
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}

// writeFrame serialises [Ethernet +] IP + transport + payload, with lengths
// and checksums computed by gopacket.
func (fr *framer) writeFrame(ts time.Time, src, dst netip.AddrPort, tl transport, payload []byte) error {
	var proto layers.IPProtocol
	switch tl.(type) {
	case *layers.TCP:
		proto = layers.IPProtocolTCP
	case *layers.UDP:
		proto = layers.IPProtocolUDP
	}
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	etherType := layers.EthernetTypeIPv4
	if src.Addr().Is4() {
		fr.ipID++
		v4 := &layers.IPv4{
			Version:  4,
			TTL:      64,
			Id:       fr.ipID,
			Flags:    layers.IPv4DontFragment,
			Protocol: proto,
			SrcIP:    net.IP(src.Addr().AsSlice()),
			DstIP:    net.IP(dst.Addr().AsSlice()),
		}
		ip, ipl = v4, v4
	} else {
		etherType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{
			Version:    6,
			HopLimit:   64,
			NextHeader: proto,
			SrcIP:      net.IP(src.Addr().AsSlice()),
			DstIP:      net.IP(dst.Addr().AsSlice()),
		}
		ip, ipl = v6, v6
	}
	if err := tl.SetNetworkLayerForChecksum(ip); err != nil {
		return fmt.Errorf("pcap: checksum setup: %w", err)
	}
	ls := []gopacket.SerializableLayer{ipl, tl, gopacket.Payload(payload)}
	if fr.linkType == layers.LinkTypeEthernet {
		eth := &layers.Ethernet{
			SrcMAC:       macFor(src.Addr()),
			DstMAC:       macFor(dst.Addr()),
			EthernetType: etherType,
		}
		ls = append([]gopacket.SerializableLayer{eth}, ls...)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		return fmt.Errorf("pcap: serialising %v -> %v: %w", src, dst, err)
	}
	return fr.emit(ts, buf.Bytes())
}

// checkSnapLen refuses a frame larger than the snapshot length written in
// the file (or interface) header.
func checkSnapLen(frame []byte) error {
	if len(frame) > snapLen {
		return errors.New("pcap: frame larger than the snapshot length")
	}
	return nil
}

// macFor returns a locally administered unicast MAC address derived from an
// IP address, so that each synthetic host has a stable, distinct MAC.
func macFor(a netip.Addr) net.HardwareAddr {
	h := fnv.New32a()
	h.Write(a.AsSlice())
	mac := make(net.HardwareAddr, 6)
	mac[0] = 0x02 // locally administered, unicast
	binary.BigEndian.PutUint32(mac[2:], h.Sum32())
	return mac
}

// unmap turns an IPv4-mapped IPv6 endpoint into a plain IPv4 one.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
