package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/hss"
)

func newHSSCmd(logger func() *slog.Logger) *cobra.Command {
	var cfg hss.Config
	var tracePath string
	c := &cobra.Command{
		Use:   "hss",
		Short: "Run the HSS: Diameter Cx (for the CSCFs) and S6a (for the MME), with an embedded subscriber database",
		Long: `Run the HSS. With no flag it serves the local lab: Diameter on 127.0.0.1:3868 (TCP),
the JSON API on 127.0.0.1:3880, the database imslab-hss.db (created on first run),
and accepts the lab's S-CSCF and MME (Origin-Hosts scscf.ims.mnc001.mcc001.3gppnetwork.org
and mme.epc.mnc001.mcc001.3gppnetwork.org). Provision subscribers with
"imslab hss subscriber" (safe while the HSS runs).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			tf, err := openTrace(tracePath, "HSS", cfg.Logger)
			if err != nil {
				return err
			}
			cfg.Trace = tf.diameterTrace()
			h, err := hss.New(cfg)
			if err == nil {
				err = h.Run(cmd.Context())
			}
			return errors.Join(err, tf.close())
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.DB, "db", hss.DefaultDB, "subscriber database (SQLite), created on first run")
	f.StringVar(&cfg.Listen, "listen", hss.DefaultListen, "Diameter address")
	f.StringVar(&cfg.Network, "transport", "tcp", "Diameter transport: tcp or sctp")
	f.StringVar(&cfg.APIListen, "api", hss.DefaultAPIListen, `HTTP JSON API address ("-" to disable)`)
	f.StringVar(&cfg.OriginHost, "origin-host", hss.DefaultOriginHost, "the HSS's Diameter identity")
	f.StringVar(&cfg.OriginRealm, "origin-realm", hss.DefaultOriginRealm, "the HSS's Diameter realm")
	f.StringSliceVar(&cfg.AllowPeers, "allow-peer", []string{hss.DefaultSCSCFPeer, hss.DefaultMMEPeer}, "Origin-Host allowed to connect (repeat for several)")
	f.StringSliceVar(&cfg.RoamingAllowed, "roaming-allowed", []string{"*"}, `visited networks users may register from ("*": any; the home network always)`)
	f.StringVar(&cfg.SCSCFName, "scscf-name", "", "S-CSCF SIP name to give in UAA for a first registration (default: capabilities only)")
	f.StringVar(&tracePath, "trace", "", traceFlagUsage)
	c.AddCommand(newHSSSubscriberCmd(), newHSSDeregisterCmd(), newHSSPushCmd())
	return c
}

// apiCall posts to the running HSS's JSON API and prints its answer.
func apiCall(w io.Writer, api, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post("http://"+api+path, "application/json", rd)
	if err != nil {
		return fmt.Errorf("the HSS's API at %s does not answer (is `imslab hss` running? --api gives its address): %w", api, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return fmt.Errorf("the HSS refused: %s", e.Error)
		}
		return fmt.Errorf("the HSS answered %s", resp.Status)
	}
	_, err = w.Write(out)
	return err
}

func newHSSDeregisterCmd() *cobra.Command {
	var api, info string
	var reason uint32
	c := &cobra.Command{
		Use:   "deregister IMSI|IMPI|IMPU",
		Short: "Network-initiated de-registration: the running HSS sends RTR to the S-CSCF serving the user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return apiCall(cmd.OutOrStdout(), api, "/api/subscribers/"+url.PathEscape(args[0])+"/deregister",
				map[string]any{"reason": reason, "info": info})
		},
	}
	c.Flags().StringVar(&api, "api", hss.DefaultAPIListen, "address of the running HSS's API")
	c.Flags().Uint32Var(&reason, "reason", hss.ReasonPermanentTermination, "Reason-Code: 0 PERMANENT_TERMINATION, 1 NEW_SERVER_ASSIGNED, 2 SERVER_CHANGE, 3 REMOVE_S-CSCF")
	c.Flags().StringVar(&info, "info", "", "Reason-Info text")
	return c
}

func newHSSPushCmd() *cobra.Command {
	var api string
	c := &cobra.Command{
		Use:   "push-profile IMSI|IMPI|IMPU",
		Short: "Send the user's current profile to its S-CSCF (PPR), after a change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return apiCall(cmd.OutOrStdout(), api, "/api/subscribers/"+url.PathEscape(args[0])+"/push-profile", nil)
		},
	}
	c.Flags().StringVar(&api, "api", hss.DefaultAPIListen, "address of the running HSS's API")
	return c
}
