package eps

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Protocol and container identifiers of the PCO, TS 24.008 §10.5.6.3. The
// container identifiers mean a request (empty contents) from the UE and
// the value from the network.
const (
	PCOPCSCFIPv6       uint16 = 0x0001 // P-CSCF IPv6 address (request)
	PCOIMCNSignalling  uint16 = 0x0002 // IM CN subsystem signalling flag
	PCODNSIPv6         uint16 = 0x0003 // DNS server IPv6 address (request)
	PCOIPAddressViaNAS uint16 = 0x000A // IP address allocation via NAS signalling
	PCOPCSCFIPv4       uint16 = 0x000C // P-CSCF IPv4 address (request)
	PCODNSIPv4         uint16 = 0x000D // DNS server IPv4 address (request)
	PCOIPv4LinkMTU     uint16 = 0x0010 // IPv4 link MTU (request)
	PCOIPCP            uint16 = 0x8021 // IPCP (carried as opaque octets)
	PCOPAP             uint16 = 0xC023
	PCOCHAP            uint16 = 0xC223
)

// PCO is the protocol configuration options IE, TS 24.008 §10.5.6.3 (TS
// 24.301 §9.9.4.11): the configuration protocol (0, PPP for use with IP
// PDP type or IP PDN type) and the protocol and container items in order.
type PCO struct {
	Protocol uint8
	Items    []PCOItem
}

// PCOItem is one protocol or container of the PCO: its identifier and
// contents (at most 255 octets).
type PCOItem struct {
	ID       uint16
	Contents []byte
}

// Add appends an item.
func (p *PCO) Add(id uint16, contents []byte) {
	p.Items = append(p.Items, PCOItem{ID: id, Contents: clone(contents)})
}

// Has tells whether the PCO holds an item with identifier id (a request
// from the UE such as PCOPCSCFIPv4).
func (p *PCO) Has(id uint16) bool {
	for _, it := range p.Items {
		if it.ID == id {
			return true
		}
	}
	return false
}

// IPv4 returns the IPv4 addresses of the items with identifier id, in
// order: the P-CSCF addresses (PCOPCSCFIPv4) or DNS servers (PCODNSIPv4)
// the network gave. Items that are not 4 octets long are skipped.
func (p *PCO) IPv4(id uint16) []netip.Addr {
	var out []netip.Addr
	for _, it := range p.Items {
		if it.ID == id && len(it.Contents) == 4 {
			out = append(out, netip.AddrFrom4([4]byte(it.Contents)))
		}
	}
	return out
}

// Marshal encodes the PCO value (octets 3 onwards): the same bytes in NAS
// and in the GTPv2 PCO IE (type 78, TS 29.274 §8.13).
func (p *PCO) Marshal() ([]byte, error) { return p.encode() }

// ParsePCO decodes a PCO value, from NAS or from a GTPv2 PCO IE.
func ParsePCO(b []byte) (*PCO, error) {
	p, err := decodePCO(b)
	if err != nil {
		return nil, fmt.Errorf("%w: protocol configuration options: %w", ErrInvalidIE, err)
	}
	return p, nil
}

func (p *PCO) encode() ([]byte, error) {
	if p.Protocol > 7 {
		return nil, fmt.Errorf("%w: PCO configuration protocol %d does not fit 3 bits", ErrInvalidIE, p.Protocol)
	}
	out := []byte{0x80 | p.Protocol}
	for _, it := range p.Items {
		if len(it.Contents) > 0xFF {
			return nil, fmt.Errorf("%w: PCO item %04xH of %d octets, at most 255", ErrInvalidIE, it.ID, len(it.Contents))
		}
		out = binary.BigEndian.AppendUint16(out, it.ID)
		out = append(out, byte(len(it.Contents)))
		out = append(out, it.Contents...)
	}
	if len(out) > 251 {
		return nil, fmt.Errorf("%w: PCO of %d octets, at most 251", ErrInvalidIE, len(out))
	}
	return out, nil
}

func decodePCO(b []byte) (*PCO, error) {
	if len(b) == 0 || len(b) > 251 {
		return nil, fmt.Errorf("%d octets, want 1 to 251", len(b))
	}
	if b[0]&0x80 == 0 {
		return nil, fmt.Errorf("octet 3 without the extension bit")
	}
	p := &PCO{Protocol: b[0] & 7}
	for b = b[1:]; len(b) > 0; {
		if len(b) < 3 {
			return nil, fmt.Errorf("item header of %d octets, want 3", len(b))
		}
		n := int(b[2])
		if len(b) < 3+n {
			return nil, fmt.Errorf("item %04xH of %d octets with %d left", binary.BigEndian.Uint16(b), n, len(b)-3)
		}
		p.Items = append(p.Items, PCOItem{ID: binary.BigEndian.Uint16(b), Contents: clone(b[3 : 3+n])})
		b = b[3+n:]
	}
	return p, nil
}
