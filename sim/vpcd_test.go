package sim

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imslab/imslab/testbed/labtest"
)

// echoATR is a UICC ATR (T=0 and T=1, TS 102 221 §6.3).
var echoATR = mustHex("3B9F96801FC78031E073FE211B633A204C0342005A")

// echoCard is a tiny fake card: 9000 to SELECT MF, its data back to
// CLA=80 INS=EE (an echo), 6D00 to anything else; it counts resets.
type echoCard struct {
	mu     sync.Mutex
	resets int
	apdus  int
	fail   bool
}

func (c *echoCard) Transmit(_ context.Context, apdu []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.apdus++
	if c.fail {
		return nil, io.ErrClosedPipe
	}
	switch {
	case bytes.Equal(apdu, mustHex("00A40004023F00")):
		return []byte{0x90, 0x00}, nil
	case len(apdu) >= 5 && apdu[0] == 0x80 && apdu[1] == 0xEE:
		n := int(apdu[4])
		data := apdu[5:]
		if len(data) > n {
			data = data[:n]
		}
		return append(append([]byte(nil), data...), 0x90, 0x00), nil
	}
	return []byte{0x6D, 0x00}, nil
}

func (c *echoCard) ATR() []byte  { return append([]byte(nil), echoATR...) }
func (c *echoCard) Close() error { return nil }
func (c *echoCard) Reset() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets++
	return c.ATR()
}

func (c *echoCard) resetCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resets
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// fakeVPCD plays vpcd's side of the protocol: it listens, and the card dials.
type fakeVPCD struct {
	t  *testing.T
	ln net.Listener
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeVPCD{t: t, ln: ln}
}

func (f *fakeVPCD) accept() net.Conn {
	f.t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := f.ln.Accept(); ch <- res{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			f.t.Fatalf("accept: %v", r.err)
		}
		f.t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(5 * time.Second):
		f.t.Fatal("the card did not connect to the fake vpcd within 5s")
	}
	return nil
}

// exchange sends one frame and, when want is true, reads the answer frame.
func exchange(t *testing.T, c net.Conn, payload []byte, answer bool) []byte {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := writeVPCDFrame(c, payload); err != nil {
		t.Fatalf("send % X: %v", payload, err)
	}
	if !answer {
		return nil
	}
	resp, err := readVPCDFrame(c)
	if err != nil {
		t.Fatalf("answer to % X: %v", payload, err)
	}
	return resp
}

// runVPCD starts v.Run and returns a stop function that cancels it and checks
// that it returned nil within 2s.
func runVPCD(t *testing.T, v *VPCD) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("Run did not return within 2s of ctx cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func testLogger(buf *labtest.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestVPCDServesCard(t *testing.T) {
	srv := newFakeVPCD(t)
	card := &echoCard{}
	var logs labtest.Buffer
	runVPCD(t, &VPCD{Addr: srv.ln.Addr().String(), Card: card, Log: testLogger(&logs), RetryInterval: 20 * time.Millisecond})
	c := srv.accept()

	exchange(t, c, []byte{vpcdPowerOn}, false)
	if got := exchange(t, c, []byte{vpcdGetATR}, true); !bytes.Equal(got, echoATR) {
		t.Fatalf("ATR = % X, want % X", got, echoATR)
	}
	// GET ATR answered after power on: the power on reached the card first.
	if n := card.resetCount(); n != 1 {
		t.Errorf("resets after power on = %d, want 1", n)
	}
	if got := exchange(t, c, mustHex("00A40004023F00"), true); !bytes.Equal(got, []byte{0x90, 0x00}) {
		t.Errorf("SELECT MF -> % X, want 90 00", got)
	}
	if got := exchange(t, c, mustHex("80EE000003CAFE01"), true); !bytes.Equal(got, mustHex("CAFE019000")) {
		t.Errorf("echo -> % X, want CA FE 01 90 00", got)
	}
	if got := exchange(t, c, mustHex("00FF000000"), true); !bytes.Equal(got, []byte{0x6D, 0x00}) {
		t.Errorf("unknown INS -> % X, want 6D 00", got)
	}
	exchange(t, c, []byte{vpcdReset}, false)
	exchange(t, c, []byte{vpcdPowerOff}, false)
	exchange(t, c, []byte{0x03}, false) // unknown control: ignored
	exchange(t, c, []byte{vpcdGetATR}, true)
	if n := card.resetCount(); n != 3 {
		t.Errorf("resets after power on, reset, power off = %d, want 3", n)
	}
	card.mu.Lock()
	card.fail = true
	card.mu.Unlock()
	if got := exchange(t, c, mustHex("00A40004023F00"), true); !bytes.Equal(got, []byte{0x6F, 0x00}) {
		t.Errorf("failing card -> % X, want 6F 00", got)
	}
	if !strings.Contains(logs.String(), "cmd=00a40004023f00 resp=9000") {
		t.Errorf("APDU not logged at Debug:\n%s", logs.String())
	}
}

func TestVPCDReconnectsAfterClose(t *testing.T) {
	srv := newFakeVPCD(t)
	var logs labtest.Buffer
	runVPCD(t, &VPCD{Addr: srv.ln.Addr().String(), Card: &echoCard{}, Log: testLogger(&logs), RetryInterval: 20 * time.Millisecond})
	c := srv.accept()
	exchange(t, c, []byte{vpcdGetATR}, true)
	c.Close() // vpcd (pcscd) restarted
	c2 := srv.accept()
	if got := exchange(t, c2, []byte{vpcdGetATR}, true); !bytes.Equal(got, echoATR) {
		t.Fatalf("ATR after reconnect = % X", got)
	}
	if !strings.Contains(logs.String(), "reconnecting") {
		t.Errorf("reconnect not logged:\n%s", logs.String())
	}
}

func TestVPCDDropsMalformedInput(t *testing.T) {
	for name, junk := range map[string][]byte{
		"zero length": {0x00, 0x00},
		"cut short":   {0x00, 0x09, 0x00, 0xA4},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newFakeVPCD(t)
			runVPCD(t, &VPCD{Addr: srv.ln.Addr().String(), Card: &echoCard{}, RetryInterval: 20 * time.Millisecond})
			c := srv.accept()
			if _, err := c.Write(junk); err != nil {
				t.Fatal(err)
			}
			if cw, ok := c.(*net.TCPConn); ok {
				_ = cw.CloseWrite()
			}
			c2 := srv.accept()
			if got := exchange(t, c2, []byte{vpcdGetATR}, true); !bytes.Equal(got, echoATR) {
				t.Fatalf("ATR after reconnect = % X", got)
			}
		})
	}
}

func TestVPCDReturnsOnCancel(t *testing.T) {
	srv := newFakeVPCD(t)
	stop := runVPCD(t, &VPCD{Addr: srv.ln.Addr().String(), Card: &echoCard{}, RetryInterval: 20 * time.Millisecond})
	c := srv.accept()
	exchange(t, c, []byte{vpcdGetATR}, true)
	stop()
	// The card side closed its end: the server reads EOF.
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("server read after cancel: %v, want EOF", err)
	}
}

func TestVPCDWaitsForServer(t *testing.T) {
	// Find a free port, then leave it closed for a while.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var logs labtest.Buffer
	stop := runVPCD(t, &VPCD{Addr: addr, Card: &echoCard{}, Log: testLogger(&logs), RetryInterval: 20 * time.Millisecond})
	time.Sleep(150 * time.Millisecond) // several retries
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	srv := &fakeVPCD{t: t, ln: ln}
	t.Cleanup(func() { ln.Close() })
	c := srv.accept()
	if got := exchange(t, c, []byte{vpcdGetATR}, true); !bytes.Equal(got, echoATR) {
		t.Fatalf("ATR = % X", got)
	}
	stop()
	if n := strings.Count(logs.String(), "waiting for vpcd at "+addr); n != 1 {
		t.Errorf("waiting message logged %d times, want once:\n%s", n, logs.String())
	}
}

func TestVPCDReturnsOnCancelWhileWaiting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop := runVPCD(t, &VPCD{Addr: addr, Card: &echoCard{}, RetryInterval: time.Hour})
	time.Sleep(50 * time.Millisecond)
	stop()
}

func TestVPCDNeedsCard(t *testing.T) {
	if err := (&VPCD{}).Run(context.Background()); err == nil {
		t.Error("Run without a card: no error")
	}
}

func TestVPCDFrameRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0xAB}, 0xFFFF)
	for _, p := range [][]byte{{0x01}, mustHex("00A40004023F00"), big} {
		f, err := appendVPCDFrame(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readVPCDFrame(bytes.NewReader(f))
		if err != nil || !bytes.Equal(got, p) {
			t.Errorf("round trip of %d bytes: %d bytes, %v", len(p), len(got), err)
		}
	}
	if _, err := appendVPCDFrame(nil, make([]byte, 0x10000)); err == nil {
		t.Error("65536-byte frame accepted")
	}
}

// FuzzVPCDFrame feeds arbitrary bytes from "vpcd" to the frame decoder and to
// the whole serving loop: no panic, and every frame decoded re-encodes to
// exactly the bytes it came from.
func FuzzVPCDFrame(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x01, 0x00, 0x01, 0x04})                                     // power on, get ATR
	f.Add(append([]byte{0x00, 0x07}, mustHex("00A40004023F00")...))                       // SELECT MF
	f.Add([]byte{0x00, 0x00})                                                             // zero length
	f.Add([]byte{0xFF, 0xFF, 0x00})                                                       // cut short
	f.Add([]byte{0x00})                                                                   // half a header
	f.Add([]byte{0x00, 0x01, 0x02, 0x00, 0x01, 0x00, 0x00, 0x01, 0x03, 0x00, 0x01, 0x04}) // reset, off, unknown, ATR
	f.Add(append([]byte{0x00, 0x08}, mustHex("80EE000003CAFE01")...))                     // echo
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		consumed := 0
		for {
			msg, err := readVPCDFrame(r)
			if err != nil {
				break
			}
			if len(msg) == 0 {
				t.Fatal("empty frame decoded")
			}
			enc, err := appendVPCDFrame(nil, msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, in[consumed:consumed+len(enc)]) {
				t.Fatalf("frame re-encodes to % X, input had % X", enc, in[consumed:consumed+len(enc)])
			}
			consumed += len(enc)
		}
		v := &VPCD{Card: &echoCard{}}
		var out bytes.Buffer
		err := v.serve(context.Background(), bytes.NewReader(in), &out, slog.New(slog.DiscardHandler))
		if err == nil {
			t.Fatal("serve returned nil at the end of the input")
		}
		for o := bytes.NewReader(out.Bytes()); o.Len() > 0; {
			if _, err := readVPCDFrame(o); err != nil {
				t.Fatalf("serve wrote a bad frame: %v", err)
			}
		}
	})
}
