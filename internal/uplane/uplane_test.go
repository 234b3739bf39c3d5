package uplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/trace"
)

// backToBack wires two user planes to each other: each one's SGW is the
// other's GTP-U socket, each one's uplink TEID the other's downlink TEID.
// Their stacks then talk through GTP-U without a gateway.
func backToBack(t *testing.T, tr func(trace.Event)) (a, b *Plane) {
	t.Helper()
	ca, cb := listen(t), listen(t)
	ta, tb := NewTEID(), NewTEID()
	var err error
	a, err = Open(context.Background(), Config{Addr: netip.MustParseAddr("127.0.100.2"), SGW: addrOf(cb), UplinkTEID: tb,
		Conn: ca, DownlinkTEID: ta, Node: "A", Trace: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = Open(context.Background(), Config{Addr: netip.MustParseAddr("127.0.100.3"), SGW: addrOf(ca), UplinkTEID: ta,
		Conn: cb, DownlinkTEID: tb, Node: "B", Trace: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addrOf(c net.PacketConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// TestTCPAndUDPBackToBack: TCP (ListenTCP, DialTCP, 1 MiB each way) and
// UDP (ListenUDP, Dial "udp", a 3000-byte datagram fragmented at MTU
// 1400) between two user planes; the peers see each other's addresses.
func TestTCPAndUDPBackToBack(t *testing.T) {
	var mu sync.Mutex
	var events []trace.Event
	a, b := backToBack(t, func(e trace.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ln, err := b.ListenTCP(5060)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	remote := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		remote <- c.RemoteAddr()
		io.Copy(c, c)
	}()
	c, err := a.DialTCP(ctx, netip.MustParseAddrPort("127.0.100.3:5060"))
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	go c.Write(msg)
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("TCP echo: %v (equal %v); A %v, B %v", err, bytes.Equal(got, msg), a.Counters(), b.Counters())
	}
	c.Close()
	if r := <-remote; !strings.HasPrefix(r.String(), "127.0.100.2:") {
		t.Errorf("B saw the connection from %v, want A's 127.0.100.2", r)
	}

	pc, err := b.ListenUDP(4000)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	uc, err := a.Dial(ctx, "udp", "127.0.100.3:4000")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	big := bytes.Repeat([]byte("RTP "), 750)
	if _, err := uc.Write(big); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := pc.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], big) || from.String() != uc.LocalAddr().String() {
		t.Fatalf("UDP: %d bytes from %v (%v), want %d from %v", n, from, err, len(big), uc.LocalAddr())
	}

	ca, cb := a.Counters(), b.Counters()
	t.Logf("A %v; B %v", ca, cb)
	if ca.UpPackets != cb.DownPackets || ca.UpBytes != cb.DownBytes || ca.UpBytes < 1<<20 || ca.Dropped != 0 {
		t.Errorf("A sent %v, B received %v", ca, cb)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) == 0 || events[0].Protocol != "GTP-U" || !strings.HasPrefix(events[0].Summary, "T-PDU TCP ") {
		t.Errorf("first trace event %+v", events[0])
	}
}

// TestEchoAndUnknownTEID: the eNB side answers Echo Requests and sends an
// Error Indication for a T-PDU on a TEID it did not give (TS 29.281).
func TestEchoAndUnknownTEID(t *testing.T) {
	a, _ := backToBack(t, nil)
	peer := listen(t)
	defer peer.Close()
	to := net.UDPAddrFromAddrPort(a.local)
	ask := func(msg []byte) Datagram {
		t.Helper()
		if _, err := peer.WriteTo(msg, to); err != nil {
			t.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 1500)
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := ask(EchoRequest(33)); d.Type != MsgEchoResponse || d.Seq != 33 {
		t.Errorf("echo answered %+v", d)
	}
	if d := ask(TPDU(a.cfg.DownlinkTEID+1, []byte{0x45})); d.Type != MsgErrorIndication || d.ErrorTEID != a.cfg.DownlinkTEID+1 {
		t.Errorf("unknown TEID answered %+v", d)
	}
}

// TestOpenChecks: what Open refuses.
func TestOpenChecks(t *testing.T) {
	c := listen(t)
	defer c.Close()
	good := Config{Addr: netip.MustParseAddr("127.0.100.2"), SGW: netip.MustParseAddrPort("127.0.0.1:2152"), UplinkTEID: 1, Conn: c, DownlinkTEID: 2}
	for name, mod := range map[string]func(*Config){
		"IPv6 UE":     func(c *Config) { c.Addr = netip.MustParseAddr("::1") },
		"no SGW":      func(c *Config) { c.SGW = netip.AddrPort{} },
		"no socket":   func(c *Config) { c.Conn = nil },
		"uplink TEID": func(c *Config) { c.UplinkTEID = 0 },
	} {
		cfg := good
		mod(&cfg)
		if p, err := Open(context.Background(), cfg); err == nil {
			p.Close()
			t.Errorf("%s: opened", name)
		}
	}
	// The context ends the plane.
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Open(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := p.ListenUDP(0); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still open after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := p.DialTCP(context.Background(), netip.MustParseAddrPort("[::1]:80")); err == nil {
		t.Error("dialled IPv6 on an IPv4 PDN")
	}
}
