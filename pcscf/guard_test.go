package pcscf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// torture is the expected outcome of one RFC 4475 message sent to the
// P-CSCF from an unregistered source.
type torture struct {
	file string
	// udp is the guard's answer over UDP, sent back to the source; 0 when
	// the message goes on to sipgo and the proxy (which answer, per RFC
	// 3261 §18.2.2, to the Via port) or is dropped.
	udp int
	// tcp are the answers on a TCP connection of its own, in any order.
	tcp []int
	// end: "probe" the connection serves the next message; "closed" the
	// P-CSCF closes it (no message boundary left); "half" the message is
	// incomplete, the test half-closes and the P-CSCF drops it; "udp"
	// the message is about datagrams and is not sent on TCP.
	end string
}

var tortures = []torture{
	// §3.1: valid, however odd: handled like any request. From an
	// unregistered source: REGISTER goes to the S-CSCF (401), the rest 403.
	{"valid/dblreq", 0, nil, "udp"}, // a REGISTER and extra bytes in one datagram: the REGISTER counts
	{"valid/esc01", 0, []int{403}, "probe"},
	{"valid/esc02", 0, []int{403}, "probe"},
	{"valid/escnull", 0, []int{401}, "probe"},
	{"valid/intmeth", 0, []int{403}, "probe"},
	{"valid/longreq", 0, []int{403}, "probe"},
	{"valid/lwsdisp", 0, []int{403}, "probe"},
	{"valid/mpart01", 0, []int{403}, "probe"},
	{"valid/noreason", 0, nil, "probe"}, // a response matching nothing
	{"valid/semiuri", 0, []int{403}, "probe"},
	{"valid/transports", 0, []int{403}, "probe"},
	{"valid/unreason", 0, nil, "probe"},
	// Valid, but sipgo keeps the blanks around "=" in "tag = 98asjd8" and
	// the branch has no magic cookie: no transaction key (RFC 3261
	// §17.2.3), so the guard answers 400 rather than sipgo failing on it.
	{"valid/wsinv", 0, []int{400}, "probe"},
	// §3.3: invalid.
	{"invalid/badaspec", 400, []int{400}, "probe"},
	{"invalid/badbranch", 0, []int{403}, "probe"},
	{"invalid/baddn", 400, nil, "half"}, // no empty line after the headers
	{"invalid/badinv01", 400, []int{400}, "probe"},
	{"invalid/badvers", 505, []int{505}, "probe"},
	{"invalid/bcast", 0, nil, "probe"},
	{"invalid/bigcode", 0, nil, "probe"}, // a response: never answered
	{"invalid/clerr", 400, nil, "half"},  // Content-Length beyond the body
	{"invalid/cparam01", 0, []int{401}, "probe"},
	{"invalid/insuf", 400, []int{400}, "probe"},
	{"invalid/inv2543", 400, []int{400}, "closed"}, // no Content-Length: framing lost on TCP
	{"invalid/ltgtruri", 400, []int{400}, "probe"},
	{"invalid/lwsruri", 400, []int{400}, "probe"},
	{"invalid/lwsstart", 400, []int{400}, "probe"},
	{"invalid/mcl01", 400, []int{400}, "closed"},
	{"invalid/mismatch01", 400, []int{400}, "probe"},
	{"invalid/mismatch02", 400, []int{400}, "probe"},
	{"invalid/multi01", 400, []int{400}, "probe"},
	{"invalid/ncl", 400, []int{400}, "closed"},
	{"invalid/novelsc", 400, []int{400}, "probe"},
	{"invalid/quotbal", 400, []int{400}, "probe"},
	{"invalid/regaut01", 0, []int{401}, "probe"},
	{"invalid/scalar02", 400, []int{400}, "probe"},
	{"invalid/scalarlg", 0, nil, "probe"},
	{"invalid/sdp01", 0, []int{403}, "probe"},
	{"invalid/test", 0, nil, "probe"}, // no Via: nowhere to answer
	{"invalid/trws", 400, []int{400}, "probe"},
	{"invalid/unkscm", 416, []int{416}, "probe"},
	{"invalid/zeromf", 0, []int{483}, "probe"},
}

func readTorture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc4475/" + name + ".dat")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// probe is a plain request whose 403 tells that everything sent before it
// on the same socket went through the guard.
func probe(transport string, n int) (callID string, raw []byte) {
	callID = fmt.Sprintf("probe-%d", n)
	return callID, []byte(fmt.Sprintf("OPTIONS sip:probe@%s SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:9;rport;branch=z9hG4bK-probe%d\r\n"+
		"From: <sip:probe@%s>;tag=p\r\nTo: <sip:probe@%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		domain, transport, n, domain, domain, callID))
}

// rawCallID finds the Call-ID of a message without parsing it.
func rawCallID(data []byte) string {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	for _, l := range unfold(head) {
		if name, v, ok := strings.Cut(l, ":"); ok && canonical[strings.ToLower(strings.TrimSpace(name))] == "call-id" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rawResponse reads the status and Call-ID of what the P-CSCF sent,
// without a full parse: a 400 copies the request's headers as they came,
// broken ones included.
func rawResponse(t *testing.T, b []byte) (status int, callID string) {
	t.Helper()
	if _, err := fmt.Sscanf(string(b), "SIP/2.0 %d ", &status); err != nil {
		t.Fatalf("P-CSCF sent something that is not a response: %q", b)
	}
	return status, rawCallID(b)
}

func TestTortureTCP(t *testing.T) {
	l := startLab(t)
	for i, tc := range tortures {
		if tc.end == "udp" {
			continue
		}
		t.Run(tc.file, func(t *testing.T) {
			data := readTorture(t, tc.file)
			c, err := net.Dial("tcp", l.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(wait))
			probeID, p := probe("TCP", i)
			switch tc.end {
			case "probe":
				data = append(data, p...)
			}
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			if tc.end == "half" {
				_ = c.(*net.TCPConn).CloseWrite()
			}
			var got []int
			probed := false
			var buf []byte
			chunk := make([]byte, 4096)
			for !(probed && len(got) >= len(tc.tcp)) {
				n, err := c.Read(chunk)
				buf = append(buf, chunk[:n]...)
				for {
					size, ferr := frame(buf)
					if ferr != nil || size == 0 {
						break
					}
					status, id := rawResponse(t, buf[:size])
					buf = buf[size:]
					switch {
					case id == probeID:
						probed = true
					case status >= 200:
						got = append(got, status)
					}
				}
				if errors.Is(err, io.EOF) {
					if tc.end == "probe" {
						t.Fatalf("connection closed; answers %v", got)
					}
					break
				}
				if err != nil {
					t.Fatalf("answers %v, probe answered %v: %v", got, probed, err)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.tcp) {
				t.Errorf("answers %v, want %v", got, tc.tcp)
			}
		})
	}
	if !l.logs.has("malformed SIP answered", "network=tcp", "why=") || !l.logs.has("malformed SIP dropped", "network=tcp") {
		t.Error("malformed input not logged")
	}
	// Still serving.
	l.registered(t, "TCP", "alice")
	l.registered(t, "UDP", "bob")
}

func TestTortureUDP(t *testing.T) {
	l := startLab(t)
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp", l.addr)
	buf := make([]byte, 65535)
	for i, tc := range tortures {
		data := readTorture(t, tc.file)
		id := rawCallID(data)
		probeID, p := probe("UDP", i)
		for _, d := range [][]byte{data, p} {
			if _, err := c.WriteTo(d, dst); err != nil {
				t.Fatal(err)
			}
		}
		var got []int
		_ = c.SetReadDeadline(time.Now().Add(wait))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("%s: no answer to the probe: %v", tc.file, err)
			}
			status, cid := rawResponse(t, buf[:n])
			if cid == probeID {
				break
			}
			if cid == id {
				got = append(got, status)
			}
		}
		// The guard answers before it reads the probe; the proxy's answers
		// go to the Via port (RFC 3261 §18.2.2), not this socket.
		if tc.udp != 0 && !slices.Contains(got, tc.udp) {
			t.Errorf("%s: answers %v, want %d", tc.file, got, tc.udp)
		}
	}
	if !l.logs.has("malformed SIP answered", "network=udp") || !l.logs.has("malformed SIP dropped", "network=udp") {
		t.Error("malformed input not logged")
	}
	l.registered(t, "UDP", "alice")
}

// TestTCPFraming sends a REGISTER byte by byte, pipelined requests and
// keep-alives on one connection.
func TestTCPFraming(t *testing.T) {
	l := startLab(t)
	c, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	read := func(n int) string {
		b := make([]byte, n)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if _, err := c.Write([]byte("\r\n\r\n")); err != nil { // RFC 5626 §4.4.1 ping
		t.Fatal(err)
	}
	if got := read(2); got != "\r\n" {
		t.Fatalf("pong %q", got)
	}
	_, p1 := probe("TCP", 1)
	_, p2 := probe("TCP", 2)
	for _, b := range p1 {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(append(append([]byte("\r\n"), p2...), "\r\n"...)); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	seen := map[string]bool{}
	for len(seen) < 2 {
		chunk := make([]byte, 2048)
		n, err := c.Read(chunk)
		if err != nil {
			t.Fatalf("answers %v: %v", seen, err)
		}
		buf = append(buf, chunk[:n]...)
		for {
			size, err := frame(buf)
			if err != nil {
				t.Fatal(err)
			}
			if size == 0 {
				break
			}
			m, err := sip.NewParser().ParseSIP(buf[:size])
			if err != nil {
				t.Fatal(err)
			}
			seen[callID(m)] = true
			buf = buf[size:]
		}
	}
}

func TestRejectRaw(t *testing.T) {
	req := "INVITE sip:x@y SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b\r\n" +
		"f: <sip:a@b>;tag=1\r\nt: <sip:x@y>\r\n\t;p=1\r\ni: cid\r\nCSeq: 1 INVITE\r\nX: \x00\r\n\r\n"
	got := string(rejectRaw([]byte(req), 400, "Bad Request", "bad \"thing\"\r\nInjected: 1", "p:5060"))
	for _, want := range []string{"SIP/2.0 400 Bad Request\r\n", "Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b\r\n",
		"From: <sip:a@b>;tag=1\r\n", "To: <sip:x@y> ;p=1;tag=", "Call-ID: cid\r\n", "CSeq: 1 INVITE\r\n",
		"Warning: 399 p:5060 \"bad ?thing???Injected: 1\"\r\n", "Content-Length: 0\r\n\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if _, err := sip.NewParser().ParseSIP([]byte(got)); err != nil {
		t.Errorf("our 400 does not parse: %v", err)
	}
	for _, none := range []string{
		"ACK sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP a\r\n\r\n", // never answer an ACK
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a\r\n\r\n",      // nor a response
		"INVITE sip:x@y SIP/2.0\r\nFrom: <sip:a@b>\r\n\r\n", // nowhere to answer
		"\x00\x01\x02", "", "INVITE sip:x@y SIP/2.0\r\nVia:\r\n", // garbage
	} {
		if r := rejectRaw([]byte(none), 400, "Bad Request", "x", "p"); r != nil {
			t.Errorf("answered %q with\n%s", none, r)
		}
	}
}

func TestFrame(t *testing.T) {
	for _, c := range []struct {
		in   string
		size int
		err  bool
	}{
		{"OPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabcNEXT", 47, false},
		{"OPTIONS sip:a SIP/2.0\r\nl:3\r\n\r\nab", 0, false},
		{"OPTIONS sip:a SIP/2.0\r\nContent-Length: 3", 0, false},
		{"OPTIONS sip:a SIP/2.0\r\n\r\n", 0, true},
		{"OPTIONS sip:a SIP/2.0\r\nContent-Length: +3\r\n\r\nabc", 0, true},
		{"OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n", 0, true},
		{"OPTIONS sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab", 0, true},
		{"OPTIONS sip:a SIP/2.0\r\nX: " + strings.Repeat("x", maxHeaders), 0, true},
	} {
		size, err := frame([]byte(c.in))
		if size != c.size || (err != nil) != c.err {
			t.Errorf("frame(%.50q) = %d, %v; want %d, error %v", c.in, size, err, c.size, c.err)
		}
	}
}
