package gw

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wmnsk/go-gtp/gtpv2/message"

	"github.com/imslab/imslab/internal/trace"
)

// testLogger writes the gateway's log lines to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startGW runs a gateway until the test ends, on 127.0.0.1 port 0 unless
// cfg says where.
func startGW(t testing.TB, cfg Config) *Gateway {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen, cfg.UserPlane = "127.0.0.1:0", "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if g.Addr() == nil {
		t.Fatalf("gateway did not start: %v", <-done)
	}
	return g
}

// dialGW returns a client of g, closed when the test ends.
func dialGW(t testing.TB, g *Gateway, tr func(trace.Event)) *Client {
	t.Helper()
	c, err := Dial(context.Background(), ClientConfig{SGW: g.Addr().String(), SGWUserPlanePort: g.uAddr.Port(),
		T3: 500 * time.Millisecond, Logger: testLogger(t), Trace: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// exchange sends raw bytes to addr from a fresh socket and returns the
// answer.
func exchange(t testing.TB, addr net.Addr, b []byte) []byte {
	t.Helper()
	return roundTrip(t, dialUDP(t, addr.String()), b)
}

// rawRequest sends a GTPv2-C message and parses the answer.
func rawRequest(t testing.TB, g *Gateway, m message.Message) message.Message {
	t.Helper()
	b, err := message.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := message.Parse(exchange(t, g.Addr(), b))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// recorder collects trace events from several nodes.
type recorder struct {
	mu     sync.Mutex
	events []trace.Event
}

func (r *recorder) add(e trace.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) all() []trace.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]trace.Event(nil), r.events...)
}

// udpEcho is a plain UDP echo server on 127.0.0.1 that records the
// sources it saw.
type udpEcho struct {
	conn *net.UDPConn
	mu   sync.Mutex
	seen map[netip.Addr]int
}

func startUDPEcho(t testing.TB) *udpEcho {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &udpEcho{conn: c, seen: map[netip.Addr]int{}}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.seen[from.Addr().Unmap()]++
			e.mu.Unlock()
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return e
}

func (e *udpEcho) addr() netip.AddrPort { return e.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (e *udpEcho) sources() map[netip.Addr]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := map[netip.Addr]int{}
	for k, v := range e.seen {
		m[k] = v
	}
	return m
}

// tcpEcho is a plain TCP echo server on 127.0.0.1 that records the
// remote addresses of its connections.
type tcpEcho struct {
	ln   net.Listener
	mu   sync.Mutex
	seen []netip.AddrPort
	done int
}

func startTCPEcho(t testing.TB) *tcpEcho {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &tcpEcho{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.seen = append(e.seen, c.RemoteAddr().(*net.TCPAddr).AddrPort())
			e.mu.Unlock()
			go func() {
				defer c.Close()
				io.Copy(c, c)
				e.mu.Lock()
				e.done++
				e.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return e
}

func (e *tcpEcho) addr() netip.AddrPort { return e.ln.Addr().(*net.TCPAddr).AddrPort() }

// ended counts the connections the peer closed.
func (e *tcpEcho) ended() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done
}

func (e *tcpEcho) remotes() []netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]netip.AddrPort(nil), e.seen...)
}

// dialUDP opens a UDP socket to addr, closed when the test ends.
func dialUDP(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes b on c and reads one answer.
func roundTrip(t testing.TB, c net.Conn, b []byte) []byte {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}
