package epc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/imslab/imslab/internal/nas/nassec"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/testbed/epc/gw"
)

// Config configures the EPC-lite: the MME and the SGW/PGW. The zero value,
// with the defaults, serves the local lab.
type Config struct {
	// Listen is the MME's s1lite address (UEs attach there), default
	// 127.0.0.1:36412; port 0 picks a free one.
	Listen string
	// HSS is the HSS's Diameter address (S6a), default 127.0.0.1:3868.
	HSS string
	// PCSCF is the P-CSCF the PGW gives in the PCO, default 127.0.0.1.
	PCSCF []netip.Addr
	// Pool holds the UE addresses, default 127.0.100.0/24.
	Pool netip.Prefix
	// GTPC and GTPU are the gateway's GTPv2-C and GTP-U addresses, default
	// 127.0.0.1:2123 and 127.0.0.1:2152.
	GTPC, GTPU string
	// Ciphering is the MME's NAS ciphering (see MMEConfig.Ciphering).
	Ciphering nassec.EEA
	Logger    *slog.Logger
	// Trace sees every NAS PDU, S6a, GTPv2-C and GTP-U message.
	Trace func(trace.Event)
}

// EPC is the running access network.
type EPC struct {
	cfg     Config
	log     *slog.Logger
	gw      *gw.Gateway
	mme     *MME
	started chan struct{}
}

// New checks the configuration.
func New(cfg Config) (*EPC, error) {
	if cfg.GTPC == "" {
		cfg.GTPC = gw.DefaultListen
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g, err := gw.New(gw.Config{Listen: cfg.GTPC, UserPlane: cfg.GTPU, Pool: cfg.Pool, PCSCF: cfg.PCSCF,
		Logger: log.With("node", "SGW/PGW"), Trace: cfg.Trace})
	if err != nil {
		return nil, err
	}
	return &EPC{cfg: cfg, log: log, gw: g, started: make(chan struct{})}, nil
}

// Addr is the MME's address once Run listens (nil if it failed to).
func (e *EPC) Addr() net.Addr {
	<-e.started
	if e.mme == nil {
		return nil
	}
	return e.mme.Addr()
}

// Gateway is the SGW/PGW (its sessions and counters).
func (e *EPC) Gateway() *gw.Gateway { return e.gw }

// Run serves until ctx ends.
func (e *EPC) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gwErr := make(chan error, 1)
	go func() { gwErr <- e.gw.Run(ctx) }()
	if e.gw.Addr() == nil {
		close(e.started)
		return errors.Join(errors.New("epc: the SGW/PGW did not start"), <-gwErr)
	}
	up, _ := netip.ParseAddrPort(e.gw.UserPlaneAddr().String())
	m, err := NewMME(MMEConfig{Listen: e.cfg.Listen, HSS: e.cfg.HSS, SGW: e.gw.Addr().String(),
		SGWUserPlanePort: up.Port(), Ciphering: e.cfg.Ciphering, Logger: e.log.With("node", "MME"), Trace: e.cfg.Trace})
	if err == nil {
		err = m.listen(ctx)
	}
	if err != nil {
		close(e.started)
		cancel()
		return errors.Join(err, <-gwErr)
	}
	e.mme = m
	close(e.started)
	e.log.Info("EPC listening", "mme", m.Addr().String(), "gtpc", e.gw.Addr().String(), "gtpu", e.gw.UserPlaneAddr().String(),
		"hss", m.cfg.HSS, "pcscf", fmt.Sprint(e.cfg.PCSCF))
	m.serve(ctx)
	cancel()
	return <-gwErr
}
