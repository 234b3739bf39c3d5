// Package hss is imslab's HSS: the subscriber database that the IMS (Cx,
// TS 29.228/29.229) and the access network (S6a, TS 29.272) ask for
// authentication vectors and profiles. It is tiny in size, not in
// correctness: one SQN per subscriber shared by Cx and S6a, committed before
// a vector leaves, resynchronised from AUTS, and every authentication
// explained in one log line.
package hss

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"

	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
)

// Lab defaults (PLMN 001/01), TS 23.003 §13 and §19.
const (
	DefaultListen      = "127.0.0.1:3868"
	DefaultAPIListen   = "127.0.0.1:3880"
	DefaultOriginHost  = "hss.ims.mnc001.mcc001.3gppnetwork.org"
	DefaultOriginRealm = "ims.mnc001.mcc001.3gppnetwork.org"
	DefaultDB          = "imslab-hss.db"
	DefaultSCSCFPeer   = "scscf.ims.mnc001.mcc001.3gppnetwork.org"
	DefaultMMEPeer     = "mme.epc.mnc001.mcc001.3gppnetwork.org"
	// MaxVectors bounds SIP-Number-Auth-Items and Number-Of-Requested-Vectors.
	MaxVectors = 5
)

// Config configures the HSS. The zero value, with defaults filled by New,
// is the local lab's HSS.
type Config struct {
	DB          string   // SQLite file, created on first run
	Listen      string   // Diameter address
	Network     string   // "tcp" (default) or "sctp"
	APIListen   string   // HTTP JSON API; "-" to disable
	OriginHost  string   // Diameter identity
	OriginRealm string   // Diameter realm
	AllowPeers  []string // Origin-Hosts allowed to connect; default the lab's S-CSCF and MME
	// ServerCapabilities: what a UAA for a first registration offers the
	// I-CSCF (TS 29.228 §6.7); with no S-CSCF name stored, a UAA names
	// SCSCFName when set, else capabilities only.
	SCSCFName string
	// RoamingAllowed lists the visited networks (Visited-Network-Identifier
	// in UAR) from which users may register; "*" (the default) allows any.
	// Others get DIAMETER_ERROR_ROAMING_NOT_ALLOWED (TS 29.228 §6.1.1.1).
	RoamingAllowed []string
	Logger         *slog.Logger
	// Trace sees every Diameter message (ladder, pcap).
	Trace func(peer.Event)
	// Rand, for tests only, makes RAND deterministic.
	Rand func(imsi string, sqn uint64) []byte
}

// HSS is the running server.
type HSS struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	node  *peer.Node

	sessions atomic.Uint64 // Session-Id counter

	mu      sync.Mutex
	scscfs  map[string]string // S-CSCF Server-Name → its Diameter Origin-Host (for RTR/PPR)
	ln      net.Listener
	apiLn   net.Listener
	started chan struct{}
}

// New opens the database (creating it) and prepares the server.
func New(cfg Config) (*HSS, error) {
	if cfg.DB == "" {
		cfg.DB = DefaultDB
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.APIListen == "" {
		cfg.APIListen = DefaultAPIListen
	}
	if cfg.OriginHost == "" {
		cfg.OriginHost = DefaultOriginHost
	}
	if cfg.OriginRealm == "" {
		cfg.OriginRealm = DefaultOriginRealm
	}
	if cfg.AllowPeers == nil {
		cfg.AllowPeers = []string{DefaultSCSCFPeer, DefaultMMEPeer}
	}
	if len(cfg.RoamingAllowed) == 0 {
		cfg.RoamingAllowed = []string{"*"}
	}
	if cfg.Network != "tcp" && cfg.Network != "sctp" {
		return nil, fmt.Errorf("hss: transport %q: want tcp or sctp", cfg.Network)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("hss: opening the subscriber database: %w", err)
	}
	h := &HSS{cfg: cfg, log: log, store: st, scscfs: map[string]string{}, started: make(chan struct{})}
	node, err := peer.New(peer.Config{
		OriginHost: cfg.OriginHost, OriginRealm: cfg.OriginRealm, ProductName: "imslab-hss",
		Apps:       []peer.App{{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP}, {ID: diameter.AppS6a, Vendor: diameter.Vendor3GPP}},
		AllowHosts: cfg.AllowPeers, Dict: diameter.Dictionary(), Logger: log, Trace: cfg.Trace,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	h.node = node
	h.registerCx()
	h.registerS6a()
	return h, nil
}

// Store gives access to the subscriber store (for provisioning in tests).
func (h *HSS) Store() *store.Store { return h.store }

// Addr returns the Diameter listening address once Run has started.
func (h *HSS) Addr() net.Addr {
	<-h.started
	return h.ln.Addr()
}

// APIAddr returns the HTTP API address once Run has started (nil if disabled).
func (h *HSS) APIAddr() net.Addr {
	<-h.started
	if h.apiLn == nil {
		return nil
	}
	return h.apiLn.Addr()
}

// Run serves Diameter (and the HTTP API) until ctx ends, then closes every
// connection and the database.
func (h *HSS) Run(ctx context.Context) error {
	defer h.store.Close()
	ln, err := diam.Listen(h.cfg.Network, h.cfg.Listen)
	if err != nil && h.cfg.Network == "sctp" {
		return fmt.Errorf("hss: SCTP on %s: %w (the kernel needs the sctp module: modprobe sctp; or use --transport tcp)", h.cfg.Listen, err)
	}
	if err != nil {
		return fmt.Errorf("hss: listening on %s/%s: %w (is another HSS running? choose another address with --listen)", h.cfg.Network, h.cfg.Listen, err)
	}
	h.ln = ln
	var srv *http.Server
	if h.cfg.APIListen != "-" {
		aln, err := net.Listen("tcp", h.cfg.APIListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("hss: HTTP API on %s: %w (choose another with --api, or --api - to disable it)", h.cfg.APIListen, err)
		}
		h.apiLn = aln
		srv = &http.Server{Handler: h.apiHandler(), ReadHeaderTimeout: 5 * time.Second}
	}
	close(h.started)
	h.log.Info("HSS listening", "diameter", ln.Addr().String(), "transport", h.cfg.Network, "origin_host", h.cfg.OriginHost,
		"api", addrString(h.apiLn), "db", h.cfg.DB, "allowed_peers", h.cfg.AllowPeers)
	errc := make(chan error, 2)
	go func() { errc <- h.node.Serve(ctx, ln) }()
	if srv != nil {
		go func() {
			if err := srv.Serve(h.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
	}
	<-ctx.Done()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	err = <-errc
	if srv != nil {
		if e2 := <-errc; err == nil {
			err = e2
		}
	}
	h.log.Info("HSS stopped")
	return err
}

func addrString(l net.Listener) string {
	if l == nil {
		return "off"
	}
	return l.Addr().String()
}
