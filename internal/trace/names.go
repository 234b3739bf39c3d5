package trace

import (
	"fmt"
	"net/netip"
	"strings"
)

// Names maps endpoints to participant names for the diagrams: an exact
// address and port first ("127.0.0.1:5060" is "P-CSCF"), then the IP alone
// ("10.0.0.7" is "UE bob"). The zero Names is empty and ready to use.
type Names struct {
	addr map[netip.AddrPort]string
	ip   map[netip.Addr]string
}

// NamesFrom names each address the events' nodes sent from or received at
// after their Node ("127.0.0.1:3868" is "HSS" if the HSS traced a message
// it sent from there). The first node to claim an address keeps it.
func NamesFrom(events ...[]Event) *Names {
	n := &Names{}
	for _, l := range events {
		for _, e := range l {
			own := e.Dst
			if e.Sent {
				own = e.Src
			}
			if e.Node == "" || !own.IsValid() {
				continue
			}
			own = unmap(own)
			if _, ok := n.addr[own]; !ok {
				n.Set(own, e.Node)
			}
		}
	}
	return n
}

// Set names an address and port.
func (n *Names) Set(ap netip.AddrPort, name string) {
	if n.addr == nil {
		n.addr = map[netip.AddrPort]string{}
	}
	n.addr[unmap(ap)] = name
}

// SetIP names every port of an IP that has no name of its own.
func (n *Names) SetIP(ip netip.Addr, name string) {
	if n.ip == nil {
		n.ip = map[netip.Addr]string{}
	}
	n.ip[ip.Unmap()] = name
}

// Parse adds a name given as "ADDR=NAME", where ADDR is IP:PORT ([IPv6]:PORT)
// or an IP alone: "127.0.0.1:5080=UE bob", "10.0.0.7=UE bob".
func (n *Names) Parse(spec string) error {
	addr, name, ok := strings.Cut(spec, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("name %q: want ADDR=NAME, e.g. 127.0.0.1:5060=P-CSCF", spec)
	}
	addr = strings.TrimSpace(addr)
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		n.Set(ap, name)
		return nil
	}
	ip, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return fmt.Errorf("name %q: %q is neither IP:PORT nor IP", spec, addr)
	}
	n.SetIP(ip, name)
	return nil
}

// Name returns the name of an endpoint: its own, its IP's, or the address
// itself.
func (n *Names) Name(ap netip.AddrPort) string {
	ap = unmap(ap)
	if n != nil {
		if s, ok := n.addr[ap]; ok {
			return s
		}
		if s, ok := n.ip[ap.Addr()]; ok {
			return s
		}
	}
	if !ap.IsValid() {
		return "?"
	}
	return ap.String()
}
