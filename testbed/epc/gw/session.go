package gw

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/imslab/imslab/internal/uplane"
)

// session is one PDN connection with its default bearer.
type session struct {
	imsi, msisdn, apn string
	ebi               uint8
	ue                netip.Addr
	ctrlTEID          uint32         // ours on S11
	mmeTEID           uint32         // the MME's on S11 (Sender F-TEID)
	mme               netip.AddrPort // where the Create Session Request came from
	ulTEID            uint32         // ours on S1-U
	chargingID        uint32
	created           time.Time
	meter             uplane.Meter

	mu     sync.Mutex
	dlTEID uint32         // the eNB's on S1-U
	enb    netip.AddrPort // the eNB's S1-U endpoint
	udp    map[uint16]*net.UDPConn
	tcp    map[io.Closer]struct{}
	closed bool
	// pending holds downlink packets that came before the eNB's F-TEID
	// (Modify Bearer): the SGW buffers them (TS 23.401 §5.3.4.3).
	pending [][]byte
}

// maxPending bounds the downlink packets buffered before Modify Bearer.
const maxPending = 64

// hold buffers a downlink packet while the eNB's endpoint is unknown; false
// when the buffer is full or the session has ended.
func (s *session) hold(ip []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.dlTEID != 0 || len(s.pending) >= maxPending {
		return false
	}
	s.pending = append(s.pending, append([]byte(nil), ip...))
	return true
}

// takePending returns and forgets the buffered downlink packets.
func (s *session) takePending() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// setDownlink records the eNB's S1-U F-TEID (TS 29.274 §7.2.7). The
// F-TEID has no port: GTP-U is on 2152 (TS 29.281 §4.4.2), unless latch
// learns another from the uplink.
func (s *session) setDownlink(addr netip.Addr, teid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	port := uint16(uplane.Port)
	if s.enb.Addr() == addr {
		port = s.enb.Port()
	}
	s.enb, s.dlTEID = netip.AddrPortFrom(addr, port), teid
}

// latch takes the port of uplink T-PDUs coming from the eNB's address:
// in the lab, each UE's eNB side is a GTP-U socket on a port of its own.
func (s *session) latch(from netip.AddrPort) {
	s.mu.Lock()
	if s.enb.Addr() == from.Addr() || !s.enb.IsValid() {
		s.enb = from
	}
	s.mu.Unlock()
}

// downlink returns where downlink T-PDUs go, false before Modify Bearer.
func (s *session) downlink() (netip.AddrPort, uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enb, s.dlTEID, s.dlTEID != 0 && s.enb.IsValid() && !s.closed
}

// addConn registers a relayed TCP connection for closing at the end;
// false if the session has ended.
func (s *session) addConn(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.tcp[c] = struct{}{}
	return true
}

func (s *session) removeConn(c io.Closer) {
	s.mu.Lock()
	delete(s.tcp, c)
	s.mu.Unlock()
}

// close marks the session ended and closes its SGi sockets and
// connections.
func (s *session) close() {
	s.mu.Lock()
	s.closed = true
	var cs []io.Closer
	for _, c := range s.udp {
		cs = append(cs, c)
	}
	for c := range s.tcp {
		cs = append(cs, c)
	}
	s.udp, s.tcp = map[uint16]*net.UDPConn{}, map[io.Closer]struct{}{}
	s.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

func (s *session) info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SessionInfo{IMSI: s.imsi, MSISDN: s.msisdn, APN: s.apn, EBI: s.ebi, UE: s.ue, ControlTEID: s.ctrlTEID,
		UplinkTEID: s.ulTEID, DownlinkTEID: s.dlTEID, ENB: s.enb, Counters: s.meter.Counters()}
}

// table indexes the sessions and owns the address pool.
type table struct {
	mu     sync.RWMutex
	pool   *pool
	byCtrl map[uint32]*session
	byUL   map[uint32]*session
	ues    map[netip.Addr]*session
}

func newTable(p *pool) *table {
	return &table{pool: p, byCtrl: map[uint32]*session{}, byUL: map[uint32]*session{}, ues: map[netip.Addr]*session{}}
}

// create assigns s an address and its TEIDs and adds it; errPoolFull when
// no address is left.
func (t *table) create(s *session) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ue, err := t.pool.get()
	if err != nil {
		return err
	}
	s.ue = ue
	s.ctrlTEID = freshTEID(t.byCtrl)
	s.ulTEID = freshTEID(t.byUL)
	s.udp, s.tcp = map[uint16]*net.UDPConn{}, map[io.Closer]struct{}{}
	t.byCtrl[s.ctrlTEID], t.byUL[s.ulTEID], t.ues[ue] = s, s, s
	return nil
}

// freshTEID picks a random TEID unused in m.
func freshTEID(m map[uint32]*session) uint32 {
	for {
		if t := uplane.NewTEID(); m[t] == nil {
			return t
		}
	}
}

// remove takes s out and frees its address; false if it was not in.
func (t *table) remove(s *session) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byCtrl[s.ctrlTEID] != s {
		return false
	}
	delete(t.byCtrl, s.ctrlTEID)
	delete(t.byUL, s.ulTEID)
	delete(t.ues, s.ue)
	t.pool.put(s.ue)
	return true
}

func (t *table) byControl(teid uint32) *session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byCtrl[teid]
}

func (t *table) byUplink(teid uint32) *session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byUL[teid]
}

func (t *table) byUE(a netip.Addr) *session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ues[a]
}

// find returns the session of an IMSI on an APN, nil if none.
func (t *table) find(imsi, apn string) *session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, s := range t.byCtrl {
		if s.imsi == imsi && s.apn == apn {
			return s
		}
	}
	return nil
}

func (t *table) all() []*session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*session, 0, len(t.byCtrl))
	for _, s := range t.byCtrl {
		out = append(out, s)
	}
	return out
}

// release ends a session: out of the table, address freed, tunnel torn
// down, SGi sockets closed, its traffic logged.
func (g *Gateway) release(s *session, why string) {
	if !g.sessions.remove(s) {
		return
	}
	s.close()
	g.log.Info("session deleted", "imsi", s.imsi, "ue", s.ue, "reason", why, "lasted", time.Since(s.created).Round(time.Millisecond).String(),
		"traffic", s.meter.Counters().String())
}
