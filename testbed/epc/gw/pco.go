package gw

import (
	"net/netip"

	"github.com/imslab/imslab/internal/nas/eps"
)

// The Protocol Configuration Options (TS 24.008 §10.5.6.3) are the same
// bytes in NAS and in the GTPv2 PCO IE (type 78, TS 29.274 §8.13): the
// codec and the container identifiers are internal/nas/eps's.

// RequestPCO returns the PCO value a UE sends to ask for the given
// containers (empty contents, MS to network), e.g.
// RequestPCO(eps.PCOPCSCFIPv4, eps.PCODNSIPv4).
func RequestPCO(ids ...uint16) []byte {
	p := &eps.PCO{}
	for _, id := range ids {
		p.Add(id, nil)
	}
	b, _ := p.Marshal() // empty containers always fit
	return b
}

// answerPCO builds the network's PCO for a request: one P-CSCF IPv4
// address container per address when 000CH was asked, DNS (000DH) and the
// IPv4 link MTU (0010H) likewise; nil when nothing asked was answerable.
func answerPCO(req *eps.PCO, pcscf, dns []netip.Addr, mtu int) []byte {
	p := &eps.PCO{}
	add := func(id uint16, addrs []netip.Addr) {
		for _, a := range addrs {
			if a.Is4() {
				b := a.As4()
				p.Add(id, b[:])
			}
		}
	}
	if req.Has(eps.PCOPCSCFIPv4) {
		add(eps.PCOPCSCFIPv4, pcscf)
	}
	if req.Has(eps.PCODNSIPv4) {
		add(eps.PCODNSIPv4, dns)
	}
	if req.Has(eps.PCOIPv4LinkMTU) && mtu > 0 {
		p.Add(eps.PCOIPv4LinkMTU, []byte{byte(mtu >> 8), byte(mtu)})
	}
	if len(p.Items) == 0 {
		return nil
	}
	b, err := p.Marshal()
	if err != nil {
		return nil // more addresses than a PCO holds (251 octets)
	}
	return b
}
