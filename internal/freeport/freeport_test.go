package freeport

import (
	"net"
	"net/netip"
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

func TestLoopbackIP(t *testing.T) {
	a, err := LoopbackIP(5060)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoopbackIP(5060)
	if err != nil || a == b {
		t.Fatalf("two addresses: %s %s (%v)", a, b, err)
	}
	for _, ip := range []netip.Addr{a, b} {
		if !netip.MustParsePrefix("127.3.0.0/16").Contains(ip) {
			t.Errorf("%s outside 127.3.0.0/16", ip)
		}
		l, err := net.Listen("tcp", netip.AddrPortFrom(ip, 5060).String())
		if err != nil {
			t.Fatalf("TCP %s:5060: %v", ip, err)
		}
		l.Close()
	}
}
