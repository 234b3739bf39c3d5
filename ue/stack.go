package ue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// stack is one UE's SIP user agent: a sipgo UA whose server answers the
// requests the network sends (NOTIFY) and whose client sends REGISTER and
// SUBSCRIBE, all on the UE's own port.
type stack struct {
	ua      *sipgo.UserAgent
	client  *sipgo.Client
	tcp     *sipgo.Client // over TCP when the UE sends over UDP: from an ephemeral port
	srv     *sipgo.Server
	pc      net.PacketConn // UDP socket
	ln      net.Listener   // TCP listener, on the same port
	udpAddr string         // the UDP socket's address, when the UE sends over UDP
	flow    *connListener  // attached: the TCP connection to the P-CSCF through the tunnel
	contact sip.Uri
	wg      sync.WaitGroup
}

// openStack listens on the UE's local address, UDP and TCP on one port;
// serve starts serving. Over UDP the UE sends from the very socket it
// listens on, so the P-CSCF sees requests come from the Contact address
// (the flow it records, TS 24.229 §5.2.2); over TCP it keeps the
// connection it opened to the P-CSCF. Either way it accepts requests on
// both: a request over 1300 bytes (a NOTIFY with several contacts) must
// come over TCP (RFC 3261 §18.1.1).
func openStack(u *UE) (_ *stack, err error) {
	log := u.log.With("layer", "sipgo")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(u.cfg.UserAgent), sipgo.WithUserAgentHostname(u.id.Domain),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log),
			// A response after its transaction ended (a late retransmission).
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				log.Debug("response without a transaction: ignored", "response", r.Short())
			}),
			// Over TCP, a closed connection ends the transactions on it at once.
			sip.WithTransactionLayerTerminateOnConnClose()))
	if err != nil {
		return nil, fmt.Errorf("SIP stack: %w", err)
	}
	st := &stack{ua: ua}
	defer func() {
		if err != nil {
			_ = st.close()
		}
	}()
	if st.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(log)); err != nil {
		return nil, fmt.Errorf("SIP stack: %w", err)
	}
	st.srv.OnNotify(u.handle(u.onNotify))
	st.srv.OnInvite(u.handle(u.onInvite))
	st.srv.OnAck(u.handle(u.onAck))
	st.srv.OnPrack(u.handle(u.onPrack))
	st.srv.OnBye(u.handle(u.onBye))
	st.srv.OnUpdate(u.handle(u.onInDialog))
	st.srv.OnInfo(u.handle(u.onInDialog))
	st.srv.OnOptions(u.handle(func(req *sip.Request, tx sip.ServerTransaction) {
		u.respond(req, tx, 200, "OK")
	}))

	if u.attachment != nil {
		// Attached: every socket is in the UE's stack, inside the GTP-U
		// tunnel, on the address the PGW gave.
		p := u.attachment.Plane
		pc, err := p.ListenUDP(tunnelSIPPort)
		if err != nil {
			return nil, err
		}
		st.pc = eofIsClosed{pc}
		ln, err := p.ListenTCP(tunnelSIPPort)
		if err != nil {
			return nil, err
		}
		st.ln = addrListener{ln}
	} else if st.pc, st.ln, err = listenBoth(u.cfg.LocalAddr); err != nil {
		return nil, err
	}
	local := st.pc.LocalAddr()
	host, portStr, _ := net.SplitHostPort(local.String())
	port, _ := strconv.Atoi(portStr)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if host, err = outboundIP(u.pcscf); err != nil {
			return nil, err
		}
	}
	opts := []sipgo.ClientOption{sipgo.WithClientLogger(log), sipgo.WithClientHostname(host), sipgo.WithClientPort(port)}
	if st.tcp, err = sipgo.NewClient(ua, opts...); err != nil {
		return nil, fmt.Errorf("SIP stack: %w", err)
	}
	if u.cfg.Transport == "udp" {
		// Send from the listening socket, not from a new ephemeral one.
		opts = append(opts, sipgo.WithClientConnectionAddr(local.String()))
		st.udpAddr = local.String()
	}
	if st.client, err = sipgo.NewClient(ua, opts...); err != nil {
		return nil, fmt.Errorf("SIP stack: %w", err)
	}
	st.contact = sip.Uri{Scheme: "sip", User: u.impu.User, Host: host, Port: port,
		UriParams: sip.HeaderParams{{K: "transport", V: u.cfg.Transport}}}
	return st, nil
}

// tunnelSIPPort is the UE's SIP port in its own IP stack when attached.
const tunnelSIPPort = 5060

// connListener hands one connection the UE opened (to the P-CSCF, through
// the tunnel) to sipgo as if accepted, so that sipgo's pool reuses it for
// every request to that address (sipgo dials with the kernel's sockets,
// which cannot reach into the tunnel).
type connListener struct {
	conn   net.Conn
	once   sync.Once
	closed chan struct{}
	addr   net.Addr
}

func newConnListener(c net.Conn) *connListener {
	c = fixedAddrs(c)
	return &connListener{conn: c, closed: make(chan struct{}), addr: c.LocalAddr()}
}

// addrConn is a connection whose addresses are read once: a closed
// gvisor connection reports nil ones, which sipgo's pool does not expect.
type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func fixedAddrs(c net.Conn) net.Conn {
	return &addrConn{Conn: c, local: c.LocalAddr(), remote: c.RemoteAddr()}
}

func (c *addrConn) LocalAddr() net.Addr  { return c.local }
func (c *addrConn) RemoteAddr() net.Addr { return c.remote }

// eofIsClosed reports a closed gvisor UDP socket as net.ErrClosed, as
// the kernel's are, not io.EOF (which sipgo logs as an error).
type eofIsClosed struct{ net.PacketConn }

func (c eofIsClosed) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if errors.Is(err, io.EOF) {
		err = net.ErrClosed
	}
	return n, a, err
}

// addrListener hands out connections with fixed addresses (see addrConn).
type addrListener struct{ net.Listener }

func (l addrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return fixedAddrs(c), nil
}

func (l *connListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *connListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// listenBoth binds UDP and TCP on one port (port 0: a free one for both).
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("local address %q: %w", addr, err)
	}
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listening on udp %s: %w", addr, err)
		}
		_, bound, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := net.Listen("tcp", net.JoinHostPort(host, bound))
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		if port != "0" {
			return nil, nil, fmt.Errorf("listening on tcp %s: %w", addr, err)
		}
	}
	return nil, nil, fmt.Errorf("no port on %s is free for both udp and tcp", host)
}

// serve starts serving requests. The UE must be complete by then: the
// handlers run in sipgo's goroutines.
func (st *stack) serve() error {
	tp := st.ua.TransportLayer()
	st.wg.Go(func() { _ = tp.ServeUDP(st.pc) })
	st.wg.Go(func() { _ = tp.ServeTCP(st.ln) })
	if st.flow != nil {
		st.wg.Go(func() { _ = tp.ServeTCP(st.flow) })
		return waitPooled(tp, "tcp", st.flow.conn.RemoteAddr().String())
	}
	if st.udpAddr != "" {
		return waitListening(st.ua.TransportLayer(), st.udpAddr)
	}
	return nil
}

// waitPooled waits until sipgo has taken the connection to addr into its
// pool (ServeTCP runs in its own goroutine), so that the first request
// goes on it rather than on a connection of its own.
func waitPooled(tp *sip.TransportLayer, network, addr string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if c, err := tp.GetConnection(network, addr); err == nil {
			_, _ = c.TryClose() // GetConnection took a reference
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("SIP stack: the connection to %s is not in use", addr)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitListening waits until sipgo has taken the UDP socket into its pool
// (ServeUDP runs in its own goroutine), so that the first request goes out
// from it.
func waitListening(tp *sip.TransportLayer, addr string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if c, err := tp.GetConnection("udp", addr); err == nil {
			_, _ = c.TryClose()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("SIP stack: the UDP socket %s is not serving", addr)
		}
		time.Sleep(time.Millisecond)
	}
}

// outboundIP is the local address the kernel routes to the P-CSCF from, for
// the Contact when the UE listens on an unspecified address.
func outboundIP(pcscf string) (string, error) {
	c, err := net.Dial("udp", pcscf)
	if err != nil {
		return "", fmt.Errorf("finding the local address towards the P-CSCF %s: %w", pcscf, err)
	}
	defer c.Close()
	host, _, _ := net.SplitHostPort(c.LocalAddr().String())
	return host, nil
}

// clientFor is the client that sends req: over TCP, one that dials from an
// ephemeral port (the UE's own port is its TCP listener's).
func (st *stack) clientFor(req *sip.Request) *sipgo.Client {
	if strings.EqualFold(req.Transport(), "TCP") {
		return st.tcp
	}
	return st.client
}

// close stops serving and closes the socket and every connection.
func (st *stack) close() error {
	var err error
	if st.pc != nil {
		err = st.pc.Close()
	}
	if st.ln != nil {
		err = errors.Join(err, st.ln.Close())
	}
	if st.flow != nil {
		err = errors.Join(err, st.flow.Close(), st.flow.conn.Close())
	}
	err = errors.Join(err, st.ua.Close())
	st.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// send sends a request to the P-CSCF, the UE's outbound proxy (TS 24.229
// §5.1.1.2.1, §5.1.2A.1.1), as one client transaction, and returns the
// final response.
func (u *UE) send(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	// The Via is the UE's own (RFC 3261 §8.1.1.7), set here so that the
	// message is traced whole before it goes (and before its answer).
	u.stampVia(req)
	u.traceSent(req, describeRequest(req))
	tx, err := u.stack.clientFor(req).TransactionRequest(ctx, req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("the P-CSCF %s refuses %s connections (is it running? imslab pcscf --listen %s): %w",
			u.pcscf, u.cfg.Transport, u.pcscf, err)
	}
	if err != nil {
		return nil, fmt.Errorf("sending %s to the P-CSCF %s over %s: %w", req.Method, u.pcscf, u.cfg.Transport, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			u.traceRecv(res, describeResponse(res))
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			err := tx.Err()
			if errors.Is(err, sip.ErrTransactionTimeout) {
				return nil, fmt.Errorf("no answer to %s from the P-CSCF %s over %s (is it running? imslab pcscf --listen %s): %w",
					req.Method, u.pcscf, u.cfg.Transport, u.pcscf, err)
			}
			return nil, fmt.Errorf("%s to the P-CSCF %s over %s: %w", req.Method, u.pcscf, u.cfg.Transport, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s to the P-CSCF %s: %w", req.Method, u.pcscf, ctx.Err())
		}
	}
}

// respond answers a request the network sent.
func (u *UE) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		u.log.Warn("could not answer the network", "method", req.Method, "status", code, "err", err)
		return
	}
	u.traceSent(res, describeResponse(res))
}

// newTag returns a fresh tag or Call-ID part (RFC 3261 §19.3).
func newTag() string { return strings.ToLower(sip.GenerateTagN(16)) }
