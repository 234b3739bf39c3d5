package gw

import (
	"errors"
	"fmt"
	"net/netip"
)

// errPoolFull: every address of the pool is assigned (cause 84).
var errPoolFull = errors.New("all addresses in use")

// pool hands out the UE addresses of an IPv4 prefix, leaving out the
// network address, the broadcast address and the gateway's own (the first
// host). It goes round the pool rather than reusing the address just freed,
// so that a new UE does not inherit the previous one's connections in
// TIME_WAIT. Not safe for concurrent use: the session table guards it.
type pool struct {
	prefix    netip.Prefix
	first     netip.Addr // first assignable
	last      netip.Addr // last assignable
	next      netip.Addr
	used      map[netip.Addr]bool
	gatewayIP netip.Addr
}

// newPool prepares the pool of prefix (IPv4, at most /30).
func newPool(prefix netip.Prefix) (*pool, error) {
	prefix = prefix.Masked()
	if !prefix.Addr().Is4() || prefix.Bits() > 30 {
		return nil, fmt.Errorf("gw: UE pool %v: want an IPv4 prefix of /30 or larger", prefix)
	}
	gw := prefix.Addr().Next()
	last := broadcast(prefix).Prev()
	return &pool{prefix: prefix, first: gw.Next(), last: last, next: gw.Next(), used: map[netip.Addr]bool{}, gatewayIP: gw}, nil
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// size is the number of assignable addresses.
func (p *pool) size() int { return 1<<(32-p.prefix.Bits()) - 3 }

// get assigns the next free address.
func (p *pool) get() (netip.Addr, error) {
	for range p.size() {
		a := p.next
		p.next = a.Next()
		if p.next.Compare(p.last) > 0 {
			p.next = p.first
		}
		if !p.used[a] {
			p.used[a] = true
			return a, nil
		}
	}
	return netip.Addr{}, errPoolFull
}

// put frees an address.
func (p *pool) put(a netip.Addr) { delete(p.used, a) }

// inUse counts the assigned addresses.
func (p *pool) inUse() int { return len(p.used) }
