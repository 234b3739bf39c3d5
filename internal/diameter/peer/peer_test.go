package peer

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/imslab/imslab/internal/diameter"
)

const appS6a = 16777251

func newNode(t testing.TB, host string, allow ...string) *Node {
	t.Helper()
	n, err := New(Config{OriginHost: host, OriginRealm: "test.realm", Dict: dict.Default,
		Apps: []App{{ID: appS6a, Vendor: diameter.Vendor3GPP}}, AllowHosts: allow, Watchdog: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// serve starts a server node on a loopback port and returns its address.
func serve(t *testing.T, n *Node) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func air(n *Node, user string) *diam.Message {
	m := diam.NewRequest(318, appS6a, n.Dict())
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("client;1;"+user))
	m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	n.addOrigin(m)
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity("test.realm"))
	m.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(user))
	m.NewAVP(avp.VisitedPLMNID, avp.Mbit|avp.Vbit, diameter.Vendor3GPP, datatype.OctetString("\x00\xf1\x10"))
	return m
}

func TestRequestAnswer(t *testing.T) {
	srv := newNode(t, "hss.test", "mme.test")
	srv.Handle(appS6a, 318, func(_ context.Context, c *Conn, req *diam.Message) *diam.Message {
		a := srv.Answer(req, diameter.ResultSuccess)
		a.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String("answered:"+avpString(req, avp.UserName)+":"+c.PeerHost))
		return a
	})
	addr := serve(t, srv)
	cli := newNode(t, "mme.test")
	ctx := context.Background()
	c, err := cli.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if c.PeerHost != "hss.test" {
		t.Fatalf("PeerHost = %q", c.PeerHost)
	}
	for i := range 3 {
		a, err := c.Request(ctx, air(cli, "001010000000001"))
		if err != nil {
			t.Fatal(i, err)
		}
		if code, _ := ResultCode(a); code != diameter.ResultSuccess || avpString(a, avp.UserName) != "answered:001010000000001:mme.test" {
			t.Fatalf("answer %d: %v", i, a)
		}
		if a.AVP[0].Code != avp.SessionID {
			t.Fatalf("Session-Id is not the first AVP of the answer")
		}
	}
	// The server reaches the client by its Origin-Host (as the HSS sends RTR).
	back, ok := srv.Peer("mme.test")
	if !ok {
		t.Fatal("server does not know the client's connection")
	}
	cli.Handle(appS6a, 318, func(_ context.Context, _ *Conn, req *diam.Message) *diam.Message {
		return cli.Answer(req, diameter.ResultUnableToComply)
	})
	a, err := back.Request(ctx, air(srv, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := ResultCode(a); code != diameter.ResultUnableToComply {
		t.Fatalf("server-initiated request: result %d", code)
	}
	// Watchdog: a quiet connection stays up (DWR answered) for several Tw.
	time.Sleep(700 * time.Millisecond)
	select {
	case <-c.Done():
		t.Fatalf("connection dropped during watchdog: %v", c.Err())
	default:
	}
	if err := c.Close(); err != nil {
		t.Fatalf("DPR/DPA: %v", err)
	}
}

func TestUnknownPeerRefused(t *testing.T) {
	addr := serve(t, newNode(t, "hss.test", "scscf.test"))
	_, err := newNode(t, "intruder.test").Dial(context.Background(), "tcp", addr)
	if err == nil || !strings.Contains(err.Error(), "3010") {
		t.Fatalf("Dial from a peer not allowed: %v", err)
	}
}

func TestNoCommonApplication(t *testing.T) {
	addr := serve(t, newNode(t, "hss.test"))
	n, err := New(Config{OriginHost: "other.test", OriginRealm: "r", Dict: dict.Default, Apps: []App{{ID: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Dial(context.Background(), "tcp", addr); err == nil || !strings.Contains(err.Error(), "5010") {
		t.Fatalf("Dial without a common application: %v", err)
	}
}

// rawConn does the CER/CEA by hand, then lets a test write raw bytes.
func rawConn(t *testing.T, addr string) (net.Conn, *Node) {
	t.Helper()
	cli := newNode(t, "raw.test")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	cer := cli.capabilities(diam.NewRequest(cmdCE, 0, cli.Dict()), nc.LocalAddr())
	if _, err := cer.WriteTo(nc); err != nil {
		t.Fatal(err)
	}
	if code, _ := ResultCode(readMsg(t, nc, cli)); code != diameter.ResultSuccess {
		t.Fatalf("CEA: result %d", code)
	}
	return nc, cli
}

func readMsg(t *testing.T, nc net.Conn, n *Node) *diam.Message {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	raw, err := readFrame(nc)
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	m, _, err := Decode(raw, n)
	if err != nil {
		t.Fatalf("decoding an answer: %v", err)
	}
	return m
}

// Malformed requests get the RFC 6733 §7.1 answers; the connection and the
// server go on.
func TestErrorAnswers(t *testing.T) {
	srv := newNode(t, "hss.test")
	srv.Handle(appS6a, 318, func(_ context.Context, _ *Conn, req *diam.Message) *diam.Message {
		return srv.Answer(req, diameter.ResultSuccess)
	})
	addr := serve(t, srv)
	nc, cli := rawConn(t, addr)

	build := func(code, app uint32) []byte {
		m := air(cli, "u")
		m.Header.CommandCode, m.Header.ApplicationID = code, app
		b, err := m.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := build(318, appS6a)
	badAVPLen := append([]byte(nil), good...)
	// Stretch the length of the last AVP (Visited-PLMN-Id, 3 bytes of data
	// in 12 of header+vendor, padded to 16) beyond the message.
	binary.BigEndian.PutUint32(badAVPLen[len(badAVPLen)-16+4:], uint32(avp.Mbit|avp.Vbit)<<24|40)
	reqWithE := append([]byte(nil), good...)
	reqWithE[4] |= diam.ErrorFlag

	for _, tc := range []struct {
		name string
		raw  []byte
		want uint32
		e    bool
	}{
		{"unknown command", build(9999, appS6a), diameter.ResultCommandUnsupported, true},
		{"unknown application", build(318, 4242), diameter.ResultApplicationUnsupported, true},
		{"request with the E bit", reqWithE, diameter.ResultInvalidHdrBits, true},
		{"AVP length beyond the message", badAVPLen, diameter.ResultInvalidAVPLength, false},
		{"a good one still works", good, diameter.ResultSuccess, false},
	} {
		if _, err := nc.Write(tc.raw); err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		raw, err := readFrame(nc)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// Read without the dictionary: it does not know command 9999.
		got, sid := rawAVPs(raw)
		if got != tc.want || (raw[4]&diam.ErrorFlag != 0) != tc.e || raw[4]&diam.RequestFlag != 0 {
			t.Errorf("%s: Result-Code %d flags %02x, want %d (E bit %v)", tc.name, got, raw[4], tc.want, tc.e)
		}
		if sid != "client;1;u" {
			t.Errorf("%s: Session-Id %q not echoed", tc.name, sid)
		}
	}
	// Garbage (wrong version): the server closes this connection...
	nc.Write([]byte{9, 0, 0, 20, 0x80, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1})
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after garbage: %v, want the connection closed", err)
	}
	// ...and goes on serving others.
	c, err := newNode(t, "again.test").Dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestRequestBeforeCER(t *testing.T) {
	addr := serve(t, newNode(t, "hss.test"))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m := air(newNode(t, "x.test"), "u")
	if _, err := m.WriteTo(nc); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("request before CER: %v, want the connection closed", err)
	}
}

// FuzzDecode feeds arbitrary bytes to the server's decoding path.
func FuzzDecode(f *testing.F) {
	n := newNode(f, "fuzz.test")
	good, _ := air(n, "001010000000001").Serialize()
	cer, _ := n.capabilities(diam.NewRequest(cmdCE, 0, n.Dict()), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}).Serialize()
	f.Add(good)
	f.Add(cer)
	f.Add([]byte{1, 0, 0, 20, 0x80, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, code, err := Decode(b, n)
		if err == nil && m == nil {
			t.Fatal("no message and no error")
		}
		if err != nil && code != 0 && len(b) >= diam.HeaderLength {
			h, herr := diam.DecodeHeader(b[:diam.HeaderLength])
			if herr == nil {
				_ = n.errorAnswer(h, b, code)
			}
		}
		_, _ = rawSessionID(append(b, make([]byte, diam.HeaderLength)...))
	})
}

// rawAVPs reads Result-Code and Session-Id from the top-level AVPs.
func rawAVPs(raw []byte) (result uint32, sid string) {
	sid, _ = rawSessionID(raw)
	b := raw[diam.HeaderLength:]
	for len(b) >= 8 {
		l := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		if binary.BigEndian.Uint32(b) == avp.ResultCode && l == 12 {
			result = binary.BigEndian.Uint32(b[8:])
		}
		b = b[(l+3)&^3:]
	}
	return result, sid
}
