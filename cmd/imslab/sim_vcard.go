package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/sim"
)

func newSimVcardCmd(logger func() *slog.Logger) *cobra.Command {
	var card, addr string
	c := &cobra.Command{
		Use:   "vcard --card CARD.yaml [--vpcd HOST:PORT]",
		Short: "Serve the software card to pcscd's vpcd virtual reader, so every PC/SC program sees it",
		Long: `Serve the software card to the vpcd virtual reader of pcscd (Debian package
vsmartcard-vpcd): pcsc_scan, "imslab sim read --reader pcsc" or pySim then see a
card in the reader "Virtual PCD 00 00". The card keeps its state in CARD.yaml.
It waits for vpcd, reconnects when pcscd restarts, and exits on Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if card == "" {
				return fmt.Errorf("--card CARD.yaml is required (make one with: imslab sim new --out CARD.yaml)")
			}
			log := logger()
			sc, err := sim.OpenSoftCard(card, sim.WithLogger(log))
			if err != nil {
				return err
			}
			p := sc.Profile()
			log.Info("serving card to vpcd", "card", card, "iccid", p.ICCID, "imsi", p.IMSI, "vpcd", addr)
			v := &sim.VPCD{Addr: addr, Card: sc, Log: log}
			runErr := v.Run(cmd.Context())
			closeErr := sc.Close()
			if runErr != nil {
				return runErr
			}
			if closeErr != nil {
				return fmt.Errorf("card state not saved: %w", closeErr)
			}
			log.Info("card removed, state saved", "card", card)
			return nil
		},
	}
	c.Flags().StringVar(&card, "card", "", "card description file (from imslab sim new)")
	c.Flags().StringVar(&addr, "vpcd", sim.DefaultVPCDAddr, "address of vpcd (reader 0: port 35963, reader 1: 35964)")
	return c
}
