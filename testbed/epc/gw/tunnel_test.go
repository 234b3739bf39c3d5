package gw

import (
	"bytes"
	"context"
	"crypto/rand"
	"github.com/imslab/imslab/internal/nas/eps"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/internal/uplane"
)

// ue is a simulated UE with its eNB side: a session and its user plane.
type ue struct {
	s    *Session
	p    *uplane.Plane
	gtpu netip.AddrPort // the eNB side's GTP-U socket
}

// attach does what the MME and the UE's eNB side do: Create Session, a
// GTP-U socket and a downlink TEID, Modify Bearer, then the user plane.
func attach(t testing.TB, c *Client, imsi string, tr func(trace.Event)) ue {
	t.Helper()
	ctx := ctxT(t)
	s, err := c.CreateSession(ctx, CreateSessionParams{IMSI: imsi, PCO: RequestPCO(eps.PCOPCSCFIPv4)})
	if err != nil {
		t.Fatal(err)
	}
	// The eNB side's GTP-U socket, on the loopback of the gateway's family.
	enb := netip.MustParseAddr("127.0.0.1")
	if s.SGWUserPlane.Addr().Is6() {
		enb = netip.IPv6Loopback()
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(enb, 0)))
	if err != nil {
		t.Fatal(err)
	}
	dl := uplane.NewTEID()
	if err := c.ModifyBearer(ctx, s, enb, dl); err != nil {
		t.Fatal(err)
	}
	p, err := uplane.Open(context.Background(), uplane.Config{Addr: s.UE, SGW: s.SGWUserPlane, UplinkTEID: s.UplinkTEID,
		Conn: conn, DownlinkTEID: dl, Node: "UE " + imsi, Logger: testLogger(t), Trace: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return ue{s, p, conn.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// udpRoundTrip sends msg on c and reads the echo.
func udpRoundTrip(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no echo of %d bytes: %v", len(msg), err)
	}
	if !bytes.Equal(buf[:n], msg) {
		t.Fatalf("echo of %d bytes differs (%d bytes)", len(msg), n)
	}
}

// TestUDPThroughTunnel: the UE's UDP reaches a plain UDP echo server on
// 127.0.0.1 through GTP-U and the PGW, from the UE's pool address, and the
// answer comes back down; a 4000-byte datagram (fragmented by the UE's
// stack at MTU 1400, reassembled by the PGW's) too.
func TestUDPThroughTunnel(t *testing.T) {
	g := startGW(t, Config{})
	u := attach(t, dialGW(t, g, nil), imsi1, nil)
	echo := startUDPEcho(t)
	c, err := u.p.DialUDP(5060, echo.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := make([]byte, 4000)
	rand.Read(big)
	udpRoundTrip(t, c, []byte("REGISTER sip:ims.mnc001.mcc001.3gppnetwork.org SIP/2.0\r\n\r\n"))
	udpRoundTrip(t, c, big)
	if seen := echo.sources(); seen[u.s.UE] != 2 || len(seen) != 1 {
		t.Errorf("echo server saw sources %v, want only %v twice", seen, u.s.UE)
	}
	// 1 + 3 fragments up, 2 down (the big answer in one packet). The
	// gateway counts a packet once sent: the UE may have it first.
	var info SessionInfo
	var uc uplane.Counters
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		info, _ = g.Session(u.s.UE)
		uc = u.p.Counters()
		ok := info.Counters.UpPackets == 4 && info.Counters.DownPackets == 2 && uc.UpPackets == 4 && uc.DownPackets == 2
		if ok || time.Now().After(deadline) {
			if !ok {
				t.Errorf("counters gateway %v, UE %v; want 4 packets up, 2 down", info.Counters, uc)
			}
			break
		}
	}
	t.Logf("gateway: %v; UE: %v", info.Counters, uc)
	if info.ENB != u.gtpu {
		t.Errorf("downlink goes to %v, want the eNB side's socket %v (learnt from the uplink)", info.ENB, u.gtpu)
	}
	// Delete Session closes the flow's SGi socket: its address is free.
	c2 := dialGW(t, g, nil)
	if err := c2.DeleteSession(ctxT(t), u.s); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(u.s.UE, 5060)))
	if err != nil {
		t.Fatalf("SGi socket still open after Delete Session: %v", err)
	}
	l.Close()
}

// TestTCPThroughTunnel: a TCP connection dialled through the tunnel
// reaches a plain TCP echo server from the UE's pool address and port;
// 256 KiB go there and back.
func TestTCPThroughTunnel(t *testing.T) {
	g := startGW(t, Config{})
	u := attach(t, dialGW(t, g, nil), imsi1, nil)
	echo := startTCPEcho(t)
	c, err := u.p.DialTCP(ctxT(t), echo.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 256<<10)
	rand.Read(msg)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echoed bytes differ")
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	if r := echo.remotes(); len(r) != 1 || r[0] != netip.AddrPortFrom(u.s.UE, local.Port()) {
		t.Errorf("echo server saw %v, want the UE's %v:%d", r, u.s.UE, local.Port())
	}
	info, _ := g.Session(u.s.UE)
	t.Logf("gateway: %v; UE: %v", info.Counters, u.p.Counters())
	if info.Counters.UpBytes < uint64(len(msg)) || info.Counters.DownBytes < uint64(len(msg)) {
		t.Errorf("counters %v: fewer bytes than the %d echoed", info.Counters, len(msg))
	}
	// Delete Session closes the relayed connection: the server sees EOF.
	if err := dialGW(t, g, nil).DeleteSession(ctxT(t), u.s); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for echo.ended() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the SGi connection is still open after Delete Session")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUEToUE: a packet from one UE to another's pool address goes from
// tunnel to tunnel inside the gateway.
func TestUEToUE(t *testing.T) {
	g := startGW(t, Config{})
	c := dialGW(t, g, nil)
	a, b := attach(t, c, imsi1, nil), attach(t, c, imsi2, nil)
	echo := startUDPEcho(t)
	// b's eNB side sends first: the gateway learns its GTP-U port.
	cb, err := b.p.ListenUDP(4000)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	if _, err := cb.WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(echo.addr())); err != nil {
		t.Fatal(err)
	}
	cb.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	if _, _, err := cb.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	ca, err := a.p.DialUDP(4002, netip.AddrPortFrom(b.s.UE, 4000))
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if _, err := ca.Write([]byte("RTP")); err != nil {
		t.Fatal(err)
	}
	n, from, err := cb.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "RTP" || from.String() != netip.AddrPortFrom(a.s.UE, 4002).String() {
		t.Fatalf("b got %q from %v (%v), want RTP from %v:4002", buf[:n], from, err, a.s.UE)
	}
}

// TestIPv6Transport: GTPv2-C and GTP-U over ::1 (F-TEIDs with IPv6
// addresses) carry the UE's IPv4 PDN just the same.
func TestIPv6Transport(t *testing.T) {
	g := startGW(t, Config{Listen: "[::1]:0", UserPlane: "[::1]:0"})
	u := attach(t, dialGW(t, g, nil), imsi1, nil)
	if !u.s.SGWUserPlane.Addr().Is6() {
		t.Fatalf("S1-U SGW endpoint %v, want ::1", u.s.SGWUserPlane)
	}
	echo := startUDPEcho(t)
	c, err := u.p.DialUDP(0, echo.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	udpRoundTrip(t, c, []byte("SIP over GTP-U over IPv6"))
	if info, _ := g.Session(u.s.UE); info.ENB != u.gtpu {
		t.Errorf("downlink to %v, want %v", info.ENB, u.gtpu)
	}
}
