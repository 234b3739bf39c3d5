package uplane

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/imslab/imslab/internal/trace"
)

// Counters count the IP packets (and their bytes, IP header included) that
// went through a tunnel: Up towards the PGW, Down towards the UE; Dropped
// counts those that could not be delivered.
type Counters struct {
	UpPackets, UpBytes     uint64
	DownPackets, DownBytes uint64
	Dropped                uint64
}

// String says "up 12 packets/1834 bytes, down 11 packets/1612 bytes, 0 dropped".
func (c Counters) String() string {
	return fmt.Sprintf("up %d packets/%d bytes, down %d packets/%d bytes, %d dropped",
		c.UpPackets, c.UpBytes, c.DownPackets, c.DownBytes, c.Dropped)
}

// Meter counts packets concurrently; the zero Meter is ready.
type Meter struct {
	upP, upB, downP, downB, drop atomic.Uint64
}

// Up counts one uplink packet of n bytes.
func (m *Meter) Up(n int) { m.upP.Add(1); m.upB.Add(uint64(n)) }

// Down counts one downlink packet of n bytes.
func (m *Meter) Down(n int) { m.downP.Add(1); m.downB.Add(uint64(n)) }

// Drop counts one packet dropped.
func (m *Meter) Drop() { m.drop.Add(1) }

// Counters returns the counts so far.
func (m *Meter) Counters() Counters {
	return Counters{UpPackets: m.upP.Load(), UpBytes: m.upB.Load(), DownPackets: m.downP.Load(),
		DownBytes: m.downB.Load(), Dropped: m.drop.Load()}
}

// TraceEvent records one GTP-U message for the lab's traces: Protocol
// "GTP-U", Raw the whole GTP-U message (copied), Summary from Summarize.
func TraceEvent(node string, sent bool, src, dst netip.AddrPort, raw []byte) trace.Event {
	return trace.Event{Time: time.Now(), Node: node, Protocol: "GTP-U", Sent: sent, Network: "udp",
		Src: src, Dst: dst, Summary: Summarize(raw), Raw: append([]byte(nil), raw...)}
}

// describeIP labels an inner IPv4 packet: "UDP 40000>5062", "TCP
// 40000>5062", "IPv4 proto 1", "not IPv4".
func describeIP(b []byte) string {
	ip := header.IPv4(b)
	if !ip.IsValid(len(b)) {
		return "not IPv4"
	}
	if ip.FragmentOffset() != 0 {
		return "IPv4 fragment"
	}
	p := ip.Payload()
	switch ip.TransportProtocol() {
	case header.UDPProtocolNumber:
		if len(p) >= header.UDPMinimumSize {
			u := header.UDP(p)
			return fmt.Sprintf("UDP %d>%d", u.SourcePort(), u.DestinationPort())
		}
	case header.TCPProtocolNumber:
		if len(p) >= header.TCPMinimumSize {
			t := header.TCP(p)
			return fmt.Sprintf("TCP %d>%d", t.SourcePort(), t.DestinationPort())
		}
	}
	return fmt.Sprintf("IPv4 proto %d", ip.Protocol())
}
