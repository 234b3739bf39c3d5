package gw

import (
	"errors"
	"fmt"
	"net/netip"
)

// Protocol Configuration Options container identifiers, TS 24.008
// §10.5.6.3 (Table 10.5.154). The same identifier names the request (MS to
// network, empty) and the answer (network to MS).
const (
	PCOPCSCFIPv6      uint16 = 0x0001
	PCOIMCNSignalling uint16 = 0x0002
	PCODNSIPv6        uint16 = 0x0003
	PCOIPAddrViaNAS   uint16 = 0x000a
	PCOPCSCFIPv4      uint16 = 0x000c
	PCODNSIPv4        uint16 = 0x000d
	PCOIPv4LinkMTU    uint16 = 0x0010
)

// ErrPCO is wrapped by ParsePCO for a malformed PCO.
var ErrPCO = errors.New("malformed protocol configuration options")

// PCO is the value of a Protocol Configuration Options IE (TS 24.008
// §10.5.6.3, octets 3 onwards; the same bytes in NAS and in the GTPv2 PCO IE,
// type 78, TS 29.274 §8.13).
type PCO struct {
	// Protocol is the configuration protocol, 0 for PPP (the only one
	// defined).
	Protocol   uint8
	Containers []PCOContainer
}

// PCOContainer is one protocol or container: identifier and contents.
type PCOContainer struct {
	ID       uint16
	Contents []byte
}

// ParsePCO decodes a PCO value: octet 3 (ext bit, configuration protocol),
// then containers of ID (2 octets), length (1 octet) and contents.
func ParsePCO(b []byte) (PCO, error) {
	if len(b) < 1 {
		return PCO{}, fmt.Errorf("gw: %w: empty", ErrPCO)
	}
	if b[0]&0x80 == 0 {
		return PCO{}, fmt.Errorf("gw: %w: octet 3 %#02x lacks the ext bit", ErrPCO, b[0])
	}
	p := PCO{Protocol: b[0] & 0x07}
	for rest := b[1:]; len(rest) > 0; {
		if len(rest) < 3 {
			return PCO{}, fmt.Errorf("gw: %w: %d trailing octets", ErrPCO, len(rest))
		}
		id, n := uint16(rest[0])<<8|uint16(rest[1]), int(rest[2])
		if len(rest) < 3+n {
			return PCO{}, fmt.Errorf("gw: %w: container %04XH of %d octets, %d left", ErrPCO, id, n, len(rest)-3)
		}
		p.Containers = append(p.Containers, PCOContainer{ID: id, Contents: append([]byte(nil), rest[3:3+n]...)})
		rest = rest[3+n:]
	}
	return p, nil
}

// Marshal encodes the PCO value. Contents longer than 255 octets are cut.
func (p PCO) Marshal() []byte {
	b := []byte{0x80 | p.Protocol&0x07}
	for _, c := range p.Containers {
		v := c.Contents
		if len(v) > 255 {
			v = v[:255]
		}
		b = append(b, byte(c.ID>>8), byte(c.ID), byte(len(v)))
		b = append(b, v...)
	}
	return b
}

// Has tells whether a container id is present.
func (p PCO) Has(id uint16) bool {
	for _, c := range p.Containers {
		if c.ID == id {
			return true
		}
	}
	return false
}

// IPv4s returns the IPv4 addresses of the containers id (P-CSCF 000CH,
// DNS 000DH), in order.
func (p PCO) IPv4s(id uint16) []netip.Addr {
	var out []netip.Addr
	for _, c := range p.Containers {
		if c.ID == id && len(c.Contents) == 4 {
			out = append(out, netip.AddrFrom4([4]byte(c.Contents)))
		}
	}
	return out
}

// RequestPCO returns the PCO value a UE sends to ask for the given
// containers (empty contents, MS to network), e.g. RequestPCO(PCOPCSCFIPv4,
// PCODNSIPv4).
func RequestPCO(ids ...uint16) []byte {
	p := PCO{}
	for _, id := range ids {
		p.Containers = append(p.Containers, PCOContainer{ID: id})
	}
	return p.Marshal()
}

// answerPCO builds the network's PCO for a request: one P-CSCF IPv4
// address container per address when 000CH was asked, DNS (000DH) and the
// IPv4 link MTU (0010H) likewise; nil when nothing asked was answerable.
func answerPCO(req PCO, pcscf, dns []netip.Addr, mtu int) []byte {
	var p PCO
	add := func(id uint16, addrs []netip.Addr) {
		for _, a := range addrs {
			if a.Is4() {
				b := a.As4()
				p.Containers = append(p.Containers, PCOContainer{ID: id, Contents: b[:]})
			}
		}
	}
	if req.Has(PCOPCSCFIPv4) {
		add(PCOPCSCFIPv4, pcscf)
	}
	if req.Has(PCODNSIPv4) {
		add(PCODNSIPv4, dns)
	}
	if req.Has(PCOIPv4LinkMTU) && mtu > 0 {
		p.Containers = append(p.Containers, PCOContainer{ID: PCOIPv4LinkMTU, Contents: []byte{byte(mtu >> 8), byte(mtu)}})
	}
	if len(p.Containers) == 0 {
		return nil
	}
	return p.Marshal()
}
