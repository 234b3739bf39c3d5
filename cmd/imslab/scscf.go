package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/scscf"
)

func newSCSCFCmd(logger func() *slog.Logger) *cobra.Command {
	var cfg scscf.Config
	var tracePath string
	c := &cobra.Command{
		Use:   "scscf",
		Short: "Run the S-CSCF: the IMS registrar (IMS-AKA and SIP Digest over Cx), reg event, call routing with forking, and the I-CSCF's Cx queries",
		Long: `Run the S-CSCF. With no flag it serves the local lab: SIP on 127.0.0.1:6060 (UDP and TCP),
the HSS at 127.0.0.1:3868 (Diameter Origin-Host scscf.ims.mnc001.mcc001.3gppnetwork.org, which
the lab's HSS accepts), requests only from the P-CSCF at 127.0.0.1, and the registrations kept
in imslab-scscf.json so that a restart loses no user. Start "imslab hss" first (the S-CSCF
waits for it), then "imslab pcscf".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			tf, err := openTrace(tracePath, "S-CSCF", cfg.Logger)
			if err != nil {
				return err
			}
			cfg.Trace = tf.scscfTrace()
			s, err := scscf.New(cfg)
			if err == nil {
				err = s.Run(cmd.Context())
			}
			return errors.Join(err, tf.close())
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Listen, "listen", scscf.DefaultListen, "SIP address (UDP and TCP)")
	f.StringVar(&cfg.Advertise, "advertise", "", "host:port P-CSCFs reach the S-CSCF at, put in Service-Route (default: the listening address)")
	f.StringVar(&cfg.Name, "name", scscf.DefaultName, "the S-CSCF's SIP URI, its Server-Name on Cx")
	f.StringVar(&cfg.Domain, "domain", scscf.DefaultDomain, "home network domain (the AKA realm)")
	f.StringVar(&cfg.HSS, "hss", scscf.DefaultHSS, "the HSS's Diameter address (TCP)")
	f.StringVar(&cfg.OriginHost, "origin-host", scscf.DefaultOriginHost, "the S-CSCF's Diameter identity (the HSS must allow it: imslab hss --allow-peer)")
	f.StringVar(&cfg.OriginRealm, "origin-realm", "", "the S-CSCF's Diameter realm (default: the domain)")
	f.StringSliceVar(&cfg.TrustedPCSCF, "trusted-pcscf", []string{"127.0.0.1"}, "P-CSCF address or CIDR allowed to send requests (repeat for several); others get 403")
	f.StringVar(&cfg.StateFile, "state", scscf.DefaultStateFile, `file keeping registrations across restarts ("-": none)`)
	f.DurationVar(&cfg.MaxExpires, "max-expires", scscf.DefaultMaxExpires, "longest registration granted")
	f.DurationVar(&cfg.MinExpires, "min-expires", scscf.DefaultMinExpires, "shortest registration accepted (423 below)")
	f.DurationVar(&cfg.NoAnswerTimeout, "no-answer", scscf.DefaultNoAnswerTimeout, "how long a call rings before the S-CSCF cancels it and answers the caller 408")
	f.StringVar(&tracePath, "trace", "", traceFlagUsage)
	return c
}
