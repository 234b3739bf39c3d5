package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopbackPortsAreFreeAndBelowTheEphemeralRange(t *testing.T) {
	addrs, err := Loopback(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		_, ps, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(ps)
		if p < low || p >= ephemeralStart() {
			t.Errorf("port %d outside %s", p, Describe())
		}
		u, err := net.ListenPacket("udp", a)
		if err != nil {
			t.Fatalf("UDP %s: %v", a, err)
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("TCP %s: %v", a, err)
		}
		u.Close()
		l.Close()
	}
}
