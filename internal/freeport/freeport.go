// Package freeport finds loopback ports for the lab's processes that are
// free for both UDP and TCP and lie below the kernel's ephemeral port
// range: a port handed out by the kernel to some socket bound to port 0
// (an RTP socket, an outgoing TCP connection) can then never take the port
// between the moment it is found free and the moment the process binds it.
package freeport

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
)

// low is the bottom of the range searched; the top is the start of the
// ephemeral range (net.ipv4.ip_local_port_range, default 32768).
const low = 20000

var (
	mu      sync.Mutex
	taken   = map[int]bool{}        // handed out by this process: never twice
	takenIP = map[netip.Addr]bool{} // likewise, LoopbackIP's addresses
)

// ephemeralStart reads the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > low+1000 {
				return n
			}
		}
	}
	return 32768
}

// Port returns a port free on host for both UDP and TCP.
func Port(host string) (int, error) {
	top := ephemeralStart()
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		p := low + int(binary.BigEndian.Uint32(b[:])%uint32(top-low))
		if taken[p] || !free(host, p) {
			continue
		}
		taken[p] = true
		return p, nil
	}
	return 0, errors.New("freeport: no port free for both UDP and TCP below the ephemeral range")
}

// Addr returns "host:port" with a port free for both UDP and TCP.
func Addr(host string) (string, error) {
	p, err := Port(host)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// Loopback returns n distinct 127.0.0.1 addresses free for UDP and TCP.
func Loopback(n int) ([]string, error) {
	out := make([]string, 0, n)
	for range n {
		a, err := Addr("127.0.0.1")
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func free(host string, p int) bool {
	addr := net.JoinHostPort(host, strconv.Itoa(p))
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	defer u.Close()
	t, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	t.Close()
	return true
}

// LoopbackIP returns a loopback address of its own, in 127.3.0.0/16,
// whose port is free for UDP and TCP: for a service that must listen on a
// well-known port (a P-CSCF on 5060 named by address only, TS 24.229
// §9.2.1) beside a lab that may already use it on 127.0.0.1.
func LoopbackIP(port int) (netip.Addr, error) {
	mu.Lock()
	defer mu.Unlock()
	var b [2]byte
	for range 200 {
		if _, err := rand.Read(b[:]); err != nil {
			return netip.Addr{}, err
		}
		ip := netip.AddrFrom4([4]byte{127, 3, b[0], b[1] | 1})
		if !takenIP[ip] && free(ip.String(), port) {
			takenIP[ip] = true
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("freeport: no address in 127.3.0.0/16 with port %d free for UDP and TCP", port)
}

// Describe says which range the ports come from (for error messages).
func Describe() string {
	return fmt.Sprintf("%d-%d", low, ephemeralStart()-1)
}
