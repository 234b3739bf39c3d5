package peer

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/imslab/imslab/internal/diameter"
)

// addOrigin adds Origin-Host and Origin-Realm.
func (n *Node) addOrigin(m *diam.Message) {
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(n.cfg.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(n.cfg.OriginRealm))
}

// Answer starts the answer to req: same command, application and
// identifiers, the Session-Id first when the request has one (RFC 6733
// §3, the "< Session-Id >" fixed position), then Result-Code (if not 0),
// Origin-Host and Origin-Realm. 3xxx protocol errors set the E bit (§7.1.3).
func (n *Node) Answer(req *diam.Message, result uint32) *diam.Message {
	return n.answer(req, result)
}

func (n *Node) answer(req *diam.Message, result uint32) *diam.Message {
	flags := req.Header.CommandFlags &^ diam.RequestFlag &^ diam.RetransmittedFlag
	if result >= 3000 && result < 4000 {
		flags |= diam.ErrorFlag
	}
	a := diam.NewMessage(req.Header.CommandCode, flags, req.Header.ApplicationID,
		req.Header.HopByHopID, req.Header.EndToEndID, n.cfg.Dict)
	if sid, err := req.FindAVP(avp.SessionID, 0); err == nil {
		a.AddAVP(sid)
	}
	if result != 0 {
		a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(result))
	}
	n.addOrigin(a)
	return a
}

// errorAnswer answers a request that could not be decoded, from its header
// and, when it can be found, its Session-Id.
func (n *Node) errorAnswer(h *diam.Header, raw []byte, result uint32) *diam.Message {
	flags := h.CommandFlags&^diam.RequestFlag&^diam.RetransmittedFlag | diam.ErrorFlag
	if result >= 4000 {
		flags &^= diam.ErrorFlag
	}
	a := diam.NewMessage(h.CommandCode, flags, h.ApplicationID, h.HopByHopID, h.EndToEndID, n.cfg.Dict)
	if sid, ok := rawSessionID(raw); ok {
		a.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(sid))
	}
	a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(result))
	n.addOrigin(a)
	return a
}

// rawSessionID finds the Session-Id AVP (263) among the top-level AVPs of
// raw without the dictionary.
func rawSessionID(raw []byte) (string, bool) {
	b := raw[diam.HeaderLength:]
	for len(b) >= 8 {
		code := binary.BigEndian.Uint32(b[:4])
		l := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		if l < 8 || l > len(b) {
			return "", false
		}
		if code == avp.SessionID && b[4]&avp.Vbit == 0 {
			return string(b[8:l]), true
		}
		l = (l + 3) &^ 3
		if l > len(b) {
			return "", false
		}
		b = b[l:]
	}
	return "", false
}

// capabilities completes a CER or CEA (RFC 6733 §5.3.1, §5.3.2).
func (n *Node) capabilities(m *diam.Message, local net.Addr) *diam.Message {
	if m.Header.CommandFlags&diam.RequestFlag != 0 {
		n.addOrigin(m)
	}
	ip := net.IPv4(127, 0, 0, 1)
	if ta, ok := local.(*net.TCPAddr); ok {
		ip = ta.IP
	} else if ap, err := netip.ParseAddrPort(local.String()); err == nil {
		ip = ap.Addr().AsSlice()
	}
	m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(ip))
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String(n.cfg.ProductName))
	m.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(n.stateID))
	m.NewAVP(avp.SupportedVendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.Vendor3GPP))
	for _, app := range n.cfg.Apps {
		if app.Vendor == 0 {
			m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(app.ID))
			continue
		}
		m.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(app.Vendor)),
			diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(app.ID)),
		}})
	}
	m.NewAVP(avp.FirmwareRevision, 0, 0, datatype.Unsigned32(1))
	return m
}

// supports tells whether the node serves an application.
func (n *Node) supports(app uint32) bool {
	for _, a := range n.cfg.Apps {
		if a.ID == app {
			return true
		}
	}
	return false
}

// appsOf lists the applications a CER or CEA advertises.
func appsOf(m *diam.Message) []uint32 {
	var ids []uint32
	for _, a := range m.AVP {
		switch a.Code {
		case avp.AuthApplicationID, avp.AcctApplicationID:
			if v, ok := a.Data.(datatype.Unsigned32); ok {
				ids = append(ids, uint32(v))
			}
		case avp.VendorSpecificApplicationID:
			if g, ok := a.Data.(*diam.GroupedAVP); ok {
				for _, in := range g.AVP {
					if in.Code == avp.AuthApplicationID || in.Code == avp.AcctApplicationID {
						if v, ok := in.Data.(datatype.Unsigned32); ok {
							ids = append(ids, uint32(v))
						}
					}
				}
			}
		}
	}
	return ids
}

// commonApp tells whether a CER names an application the node serves (or
// the relay application, RFC 6733 §2.4).
func (n *Node) commonApp(m *diam.Message) bool {
	for _, id := range appsOf(m) {
		if id == 0xFFFFFFFF || n.supports(id) {
			return true
		}
	}
	return len(n.cfg.Apps) == 0
}

// avpString returns a top-level AVP's value as a string ("" if absent).
func avpString(m *diam.Message, code uint32) string {
	a, err := m.FindAVP(code, 0)
	if err != nil {
		return ""
	}
	return diameter.String(a)
}

// ResultCode returns an answer's Result-Code, or its Experimental-Result-Code
// (experimental=true).
func ResultCode(m *diam.Message) (code uint32, experimental bool) {
	if a, err := m.FindAVP(avp.ResultCode, 0); err == nil {
		if v, ok := a.Data.(datatype.Unsigned32); ok {
			return uint32(v), false
		}
	}
	if a, err := m.FindAVP(avp.ExperimentalResultCode, 0); err == nil {
		if v, ok := a.Data.(datatype.Unsigned32); ok {
			return uint32(v), true
		}
	}
	return 0, false
}

func cmdName(code uint32) string {
	switch code {
	case cmdCE:
		return "CER/CEA"
	case cmdDW:
		return "DWR/DWA"
	case cmdDP:
		return "DPR/DPA"
	}
	return fmt.Sprintf("command %d", code)
}

func (n *Node) trace(c *Conn, dir Direction, raw []byte, m *diam.Message) {
	if n.cfg.Trace == nil {
		return
	}
	n.cfg.Trace(Event{Time: time.Now(), Dir: dir, Local: c.nc.LocalAddr(), Remote: c.nc.RemoteAddr(),
		Network: c.nc.LocalAddr().Network(), Raw: append([]byte(nil), raw...), Msg: m})
}
