// Package peer is the Diameter base protocol (RFC 6733) that imslab's nodes
// speak over one transport connection: capabilities exchange (CER/CEA §5.3),
// watchdog (DWR/DWA §5.5), disconnection (DPR/DPA §5.4), request/answer
// matching by hop-by-hop identifier (§6), protocol-error answers (§7), and
// dispatch of application requests to handlers. Messages are encoded and
// decoded with github.com/fiorix/go-diameter; this package owns the
// connection so that a server answers malformed requests as RFC 6733 §7.1
// says instead of dropping the connection, and so that either side can send
// requests (the HSS sends RTR and PPR to the S-CSCF that connected to it).
package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/imslab/imslab/internal/diameter"
)

// Base protocol commands (RFC 6733 §3.1), and the largest message accepted.
const (
	cmdCE = diameter.CmdCE
	cmdDW = diameter.CmdDW
	cmdDP = diameter.CmdDP
	// maxMessage bounds a message's length: larger is garbage here.
	maxMessage = 1 << 20
)

// App is an application advertised in CER/CEA.
type App struct {
	ID     uint32
	Vendor uint32 // 0: plain Auth-Application-Id; else Vendor-Specific-Application-Id
}

// Direction of a traced message.
type Direction int

// Directions.
const (
	In Direction = iota
	Out
)

// Event is one message sent or received, for traces (ladder, pcap).
type Event struct {
	Time          time.Time
	Dir           Direction
	Local, Remote net.Addr
	Network       string
	Raw           []byte
	Msg           *diam.Message // nil when Raw did not decode
}

// Handler answers a request; a nil answer sends nothing.
type Handler func(ctx context.Context, c *Conn, req *diam.Message) *diam.Message

// Config configures a Node.
type Config struct {
	OriginHost  string
	OriginRealm string
	ProductName string // default "imslab"
	Apps        []App
	// AllowHosts, for a server: the Origin-Hosts accepted in CER; empty accepts any.
	AllowHosts []string
	Dict       *dict.Parser
	Logger     *slog.Logger
	// Watchdog is Tw (RFC 3539 §3.4.1): a DWR after this long without traffic;
	// the connection is dropped when the next one finds the last unanswered.
	// Default 30s.
	Watchdog time.Duration
	// Trace, if set, sees every message sent and received.
	Trace func(Event)
}

// Node is one Diameter node: a server (Serve), a client (Dial), or both.
type Node struct {
	cfg      Config
	log      *slog.Logger
	handlers map[[2]uint32]Handler
	allow    map[string]bool
	stateID  uint32

	mu    sync.Mutex
	peers map[string]*Conn // by the peer's Origin-Host
	conns map[*Conn]bool
	wg    sync.WaitGroup
}

// New returns a node; register handlers before Serve or Dial.
func New(cfg Config) (*Node, error) {
	if cfg.OriginHost == "" || cfg.OriginRealm == "" {
		return nil, errors.New("diameter: Origin-Host and Origin-Realm are required")
	}
	if cfg.Dict == nil {
		return nil, errors.New("diameter: no dictionary")
	}
	if cfg.ProductName == "" {
		cfg.ProductName = "imslab"
	}
	if cfg.Watchdog <= 0 {
		cfg.Watchdog = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: log, handlers: map[[2]uint32]Handler{}, allow: map[string]bool{},
		stateID: uint32(time.Now().Unix()), peers: map[string]*Conn{}, conns: map[*Conn]bool{}}
	for _, h := range cfg.AllowHosts {
		n.allow[h] = true
	}
	return n, nil
}

// Handle registers the handler of requests of an application's command.
func (n *Node) Handle(app, code uint32, h Handler) { n.handlers[[2]uint32{app, code}] = h }

// Dict returns the node's dictionary.
func (n *Node) Dict() *dict.Parser { return n.cfg.Dict }

// OriginHost returns the node's own Origin-Host.
func (n *Node) OriginHost() string { return n.cfg.OriginHost }

// OriginRealm returns the node's own Origin-Realm.
func (n *Node) OriginRealm() string { return n.cfg.OriginRealm }

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection and waits for their goroutines.
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				n.closeAll()
				n.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			n.closeAll()
			n.wg.Wait()
			return fmt.Errorf("diameter: accept: %w", err)
		}
		c := n.newConn(ctx, nc, false)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			c.run(ctx)
		}()
	}
}

// Dial connects to a server, exchanges capabilities (CER/CEA) and returns
// the open connection; it serves the server's requests until ctx ends or
// the connection closes.
func (n *Node) Dial(ctx context.Context, network, addr string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("diameter: connecting to %s: %w", addr, err)
	}
	c := n.newConn(ctx, nc, true)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		c.run(ctx)
	}()
	select {
	case <-c.ready:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("diameter: capabilities exchange with %s failed: %w", addr, c.Err())
	case <-ctx.Done():
		c.Abort()
		return nil, ctx.Err()
	case <-time.After(10 * time.Second):
		c.Abort()
		return nil, fmt.Errorf("diameter: no CEA from %s within 10s", addr)
	}
}

// Peer returns the open connection to the peer with that Origin-Host.
func (n *Node) Peer(host string) (*Conn, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.peers[host]
	return c, ok
}

// PeersWith returns the open connections whose peer advertised app.
func (n *Node) PeersWith(app uint32) []*Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*Conn
	for _, c := range n.peers {
		if slices.Contains(c.PeerApps, app) {
			out = append(out, c)
		}
	}
	return out
}

// Wait waits until every connection's goroutines have ended.
func (n *Node) Wait() { n.wg.Wait() }

func (n *Node) register(c *Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.peers[c.PeerHost]; ok && old != c {
		n.log.Info("diameter: peer reconnected, dropping its old connection", "peer", c.PeerHost)
		go old.Abort()
	}
	n.peers[c.PeerHost] = c
}

func (n *Node) track(c *Conn, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if on {
		n.conns[c] = true
		return
	}
	delete(n.conns, c)
	if n.peers[c.PeerHost] == c {
		delete(n.peers, c.PeerHost)
	}
}

func (n *Node) closeAll() {
	n.mu.Lock()
	var cs []*Conn
	for c := range n.conns {
		cs = append(cs, c)
	}
	n.mu.Unlock()
	for _, c := range cs {
		c.Abort()
	}
}
