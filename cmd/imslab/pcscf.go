package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/pcscf"
)

func newPCSCFCmd(logger func() *slog.Logger) *cobra.Command {
	var cfg pcscf.Config
	var tracePath string
	c := &cobra.Command{
		Use:   "pcscf",
		Short: "Run the P-CSCF: the UE's first hop (Path, P-Asserted-Identity, CK/IK removal, registered flows only)",
		Long: `Run the P-CSCF, a stateful SIP proxy on UDP and TCP. With no flag it serves the local
lab: it listens on 127.0.0.1:5060, sends REGISTERs to the S-CSCF at 127.0.0.1:6060
(run "imslab scscf"), and accepts requests towards UEs from the S-CSCF's address.
UEs register through it ("imslab ue register --pcscf 127.0.0.1:5060"); anything
else they send before registering is refused with 403, and logged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			tf, err := openTrace(tracePath, "P-CSCF", cfg.Logger)
			if err != nil {
				return err
			}
			cfg.Trace = tf.pcscfTrace()
			p, err := pcscf.New(cfg)
			if err == nil {
				err = p.Run(cmd.Context())
			}
			return errors.Join(err, tf.close())
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Listen, "listen", pcscf.DefaultListen, "UDP and TCP address UEs send to")
	f.StringVar(&cfg.SCSCF, "scscf", pcscf.DefaultSCSCF, "S-CSCF address REGISTERs go to (host:port)")
	f.StringVar(&cfg.SCSCFTransport, "scscf-transport", "udp", "transport towards the S-CSCF: udp or tcp")
	f.StringVar(&cfg.Advertise, "advertise", "", "host:port put in Path, Record-Route and Via (default: the listen address)")
	f.StringVar(&cfg.VisitedNetworkID, "visited-network", pcscf.DefaultVisitedNetworkID, "P-Visited-Network-ID value")
	f.StringSliceVar(&cfg.Core, "core", nil, "IP or CIDR allowed to send requests towards UEs (repeat; default: the S-CSCF's IP)")
	f.StringVar(&tracePath, "trace", "", traceFlagUsage)
	return c
}
