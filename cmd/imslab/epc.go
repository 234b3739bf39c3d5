package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/internal/nas/nassec"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/testbed/epc"
	"github.com/imslab/imslab/testbed/epc/gw"
)

func newEPCCmd(logger func() *slog.Logger) *cobra.Command {
	var (
		cfg       epc.Config
		pcscfs    []string
		pool      string
		ciphering string
		tracePath string
	)
	c := &cobra.Command{
		Use:   "epc [--listen ADDR] [--hss ADDR] [--pcscf IP] [--pool CIDR]",
		Short: "Run the access network (EPC-lite): an MME (EPS attach, S6a) and an SGW/PGW (GTPv2-C, GTP-U) that gives UEs an address and the P-CSCF",
		Long: `Run the lab's LTE core network. UEs attach to the MME (imslab ue register --attach ADDR): EPS
attach with a PDN connectivity request for the APN "ims" (TS 24.301), EPS AKA with their SIM
(vectors from the HSS over S6a), NAS security (128-EIA2, 128-EEA2), then the SGW/PGW gives them
an IPv4 address from --pool and the P-CSCF in the PCO (TS 24.008 §10.5.6.3), and carries their
IP packets in GTP-U (TS 29.281), forwarding them as plain IP from that address. With no flag it
serves the local lab: MME on 127.0.0.1:36412 (TCP, the s1lite framing of docs/attach.md), the
HSS at 127.0.0.1:3868, GTPv2-C on 127.0.0.1:2123, GTP-U on 127.0.0.1:2152, P-CSCF 127.0.0.1
(port 5060), UE addresses from 127.0.100.0/24. No root needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			for _, p := range pcscfs {
				a, err := netip.ParseAddr(p)
				if err != nil || !a.Is4() {
					return fmt.Errorf("--pcscf %q: want an IPv4 address (the PCO carries addresses, TS 24.008 §10.5.6.3; the UE uses port 5060)", p)
				}
				cfg.PCSCF = append(cfg.PCSCF, a)
			}
			if pool != "" {
				p, err := netip.ParsePrefix(pool)
				if err != nil {
					return fmt.Errorf("--pool %q: %w (want a CIDR prefix such as 127.0.100.0/24)", pool, err)
				}
				cfg.Pool = p
			}
			switch strings.ToLower(ciphering) {
			case "eea0":
				cfg.Ciphering = nassec.EEA0
			case "eea2":
				cfg.Ciphering = nassec.EEA2
			default:
				return fmt.Errorf("--nas-ciphering %q: want eea0 or eea2", ciphering)
			}
			tf, err := openTrace(tracePath, "EPC", cfg.Logger)
			if err != nil {
				return err
			}
			cfg.Trace = tf.eventTrace()
			e, err := epc.New(cfg)
			if err == nil {
				err = e.Run(cmd.Context())
			}
			return errors.Join(err, tf.close())
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Listen, "listen", epc.DefaultMMEListen, "the MME's address UEs attach to (TCP, s1lite framing)")
	f.StringVar(&cfg.HSS, "hss", "127.0.0.1:3868", "the HSS's Diameter address (S6a)")
	f.StringSliceVar(&pcscfs, "pcscf", []string{"127.0.0.1"}, "P-CSCF IPv4 address given to UEs in the PCO (repeat for several)")
	f.StringVar(&pool, "pool", "127.0.100.0/24", "UE address pool (a 127.0.0.0/8 sub-range needs no root)")
	f.StringVar(&cfg.GTPC, "gtpc", gw.DefaultListen, "the SGW/PGW's GTPv2-C address")
	f.StringVar(&cfg.GTPU, "gtpu", "127.0.0.1:2152", "the SGW/PGW's GTP-U address")
	f.StringVar(&ciphering, "nas-ciphering", "eea0", "NAS ciphering: eea0 (null: every NAS message readable in a capture, the lab's default) or eea2 (128-EEA2, AES); integrity is always 128-EIA2")
	f.StringVar(&tracePath, "trace", "", traceFlagUsage)
	return c
}

// eventTrace passes trace events on as they are, keeping their node
// (the EPC's are "MME" and "SGW/PGW"); nil for no file.
func (t *traceFile) eventTrace() func(trace.Event) {
	if t == nil {
		return nil
	}
	return func(e trace.Event) {
		if e.Node == "" {
			e.Node = t.node
		}
		if err := t.w.Write(e); err != nil {
			t.once.Do(func() { t.log.Error("trace file: " + err.Error()) })
		}
	}
}
