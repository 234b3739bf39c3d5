package peertest

import (
	"net"
	"strings"
	"testing"
	"time"
)

// A registrar of a few lines answers baresip's REGISTER with 200 OK: the
// runner sees the registration in baresip's console.
func TestBaresipRunner(t *testing.T) {
	Require(t, "baresip")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := string(buf[:n])
			if !strings.HasPrefix(req, "REGISTER ") {
				continue
			}
			var keep []string
			for _, l := range strings.Split(req, "\r\n")[1:] {
				for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:", "Contact:"} {
					if strings.HasPrefix(l, h) {
						if h == "To:" {
							l += ";tag=x1"
						}
						keep = append(keep, l)
					}
				}
			}
			resp := "SIP/2.0 200 OK\r\n" + strings.Join(keep, "\r\n") + "\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
			pc.WriteTo([]byte(resp), from)
		}
	}()
	b := StartBaresip(t, BaresipConfig{Account: "<sip:alice@example.org>;auth_pass=x;outbound=\"sip:" + pc.LocalAddr().String() + "\";regint=600"})
	if line := b.WaitRegistered("alice@example.org", 10*time.Second); !strings.Contains(line, "1 binding") {
		t.Fatalf("registration line: %s", line)
	}
}
