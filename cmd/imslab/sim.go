package main

import (
	"github.com/imslab/imslab/internal/cardfile"

	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/sim"
)

// exitError carries a process exit code other than 1.
type exitError struct {
	code  int
	err   error
	quiet bool // the command already explained it on standard output
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newSimCmd(logger func() *slog.Logger) *cobra.Command {
	c := &cobra.Command{
		Use:   "sim",
		Short: "The SIM: make a card file, read a card as a phone does, authenticate, serve a virtual card",
	}
	c.AddCommand(newSimNewCmd(), newSimReadCmd(logger), newSimAuthCmd(logger), newSimVectorCmd(), newSimVcardCmd(logger))
	return c
}

func newSimNewCmd() *cobra.Command {
	var o cardfile.Options
	var out string
	var force bool
	c := &cobra.Command{
		Use:   "new --out FILE",
		Short: "Write a card description file (random where a value is not given)",
		Long: `Write a card description (YAML): ICCID, IMSI, K, OPc or OP, AMF, MSISDN,
MNC length, PIN, and with --isim the ISIM identities. The same file is what the
software card runs from and what the HSS imports: one source of truth.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			if o.OP != "" && o.OPc != "" {
				return errors.New("give --op or --opc, not both")
			}
			if _, err := os.Stat(out); err == nil && !force {
				return fmt.Errorf("%s exists: it may hold a card's keys and state; use --force to overwrite it", out)
			}
			p, err := cardfile.New(o)
			if err != nil {
				return err
			}
			if err := p.Save(out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s\n", out)
			fmt.Fprintf(w, "  ICCID  %s\n  IMSI   %s\n  MSISDN %s\n  K      %s\n", p.ICCID, p.IMSI, p.MSISDN, p.K)
			if p.OPc != "" {
				fmt.Fprintf(w, "  OPc    %s\n", p.OPc)
			} else {
				fmt.Fprintf(w, "  OP     %s\n", p.OP)
			}
			fmt.Fprintf(w, "  AMF    %s\n", p.AMF)
			if p.ISIM != nil {
				fmt.Fprintf(w, "  ISIM   IMPI %s, IMPUs %s\n", p.ISIM.IMPI, strings.Join(p.ISIM.IMPUs, " "))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "", "card file to write")
	f.BoolVar(&force, "force", false, "overwrite an existing file")
	f.StringVar(&o.ICCID, "iccid", "", "ICCID, 18-20 digits")
	f.StringVar(&o.IMSI, "imsi", "", "IMSI (default: random in PLMN 001/01)")
	f.StringVar(&o.K, "k", "", "K, 32 hex digits")
	f.StringVar(&o.OP, "op", "", "OP, 32 hex digits (OPc is computed from it)")
	f.StringVar(&o.OPc, "opc", "", "OPc, 32 hex digits")
	f.StringVar(&o.AMF, "amf", "", "AMF, 4 hex digits (default 8000)")
	f.IntVar(&o.MNCLength, "mnc-len", 2, "MNC length in the IMSI: 2 or 3")
	f.StringVar(&o.MSISDN, "msisdn", "", "MSISDN, e.g. +15550001 (default: random)")
	f.StringVar(&o.PIN, "pin", "", "PIN1, 4-8 digits (default: no PIN)")
	f.BoolVar(&o.ISIM, "isim", false, "add an ISIM with IMPI, IMPUs and home domain derived from IMSI and MSISDN")
	f.StringSliceVar(&o.PCSCF, "pcscf", nil, "P-CSCF address(es) for the ISIM's EF_PCSCF (implies --isim)")
	return c
}

// cardFlags are the flags shared by the commands that open a card.
type cardFlags struct {
	reader string
	pin    string
	trace  bool
	json   bool
}

func (cf *cardFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&cf.reader, "reader", "", "card: soft:CARD.yaml, pcsc (first reader) or pcsc:N")
	f.StringVar(&cf.pin, "pin", "", "PIN1, for a PIN-protected card")
	f.BoolVar(&cf.trace, "trace", false, "print every APDU and status word (to stderr)")
	f.BoolVar(&cf.json, "json", false, "print JSON for machines")
}

// open opens the card and a phone-side reader over it.
func (cf *cardFlags) open(ctx context.Context, log *slog.Logger, stderr io.Writer) (*sim.Reader, func() error, error) {
	if cf.reader == "" {
		return nil, nil, errors.New("--reader is required: soft:CARD.yaml, pcsc or pcsc:N")
	}
	t, err := sim.Open(ctx, cf.reader, sim.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	var tr sim.Transport = t
	if cf.trace {
		tr = &sim.TraceTransport{Transport: t, W: stderr}
	}
	r := sim.NewReader(tr)
	r.SetPIN(cf.pin)
	return r, t.Close, nil
}

// explainPIN turns a PIN problem into what the user should do.
func explainPIN(ctx context.Context, r *sim.Reader, err error) error {
	var wrong *sim.WrongPINError
	switch {
	case errors.Is(err, sim.ErrPINRequired):
		if _, left, serr := r.PINStatus(ctx); serr == nil {
			return fmt.Errorf("the card is PIN-protected: give --pin (%d tries remain)", left)
		}
	case errors.As(err, &wrong):
		return fmt.Errorf("wrong PIN: %d tries remain before the PIN blocks", wrong.TriesLeft)
	}
	return err
}

func newSimReadCmd(logger func() *slog.Logger) *cobra.Command {
	var cf cardFlags
	c := &cobra.Command{
		Use:   "read --reader soft:CARD.yaml|pcsc[:N]",
		Short: "Read the card as a phone does: ICCID, IMSI, MCC/MNC, MSISDN, IMPI, IMPUs, home domain, P-CSCF",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			ctx := cmd.Context()
			r, closeCard, err := cf.open(ctx, logger(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, closeCard()) }()
			id, err := r.ReadIdentities(ctx)
			if err != nil {
				return explainPIN(ctx, r, err)
			}
			if cf.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(id)
			}
			fmt.Fprint(cmd.OutOrStdout(), id)
			return nil
		},
	}
	cf.add(c)
	return c
}

func newSimAuthCmd(logger func() *slog.Logger) *cobra.Command {
	var cf cardFlags
	var randHex, autnHex, context string
	c := &cobra.Command{
		Use:   "auth --reader ... --rand HEX --autn HEX [--context usim|isim]",
		Short: "Run AUTHENTICATE: prints RES, CK, IK; or AUTS on a sync failure (exit 2); or a MAC failure (exit 3)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			rnd, err := hex.DecodeString(randHex)
			if err != nil || len(rnd) != 16 {
				return fmt.Errorf("--rand must be 32 hex digits")
			}
			autn, err := hex.DecodeString(autnHex)
			if err != nil || len(autn) != 16 {
				return fmt.Errorf("--autn must be 32 hex digits")
			}
			app := sim.AppUSIM
			switch context {
			case "usim", "3g":
			case "isim", "ims":
				app = sim.AppISIM
			default:
				return fmt.Errorf("--context must be usim or isim, got %q", context)
			}
			ctx := cmd.Context()
			r, closeCard, err := cf.open(ctx, logger(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, closeCard()) }()
			res, err := r.Authenticate(ctx, app, rnd, autn)
			return printAuth(cmd.OutOrStdout(), cf.json, res, explainPIN(ctx, r, err))
		},
	}
	cf.add(c)
	f := c.Flags()
	f.StringVar(&randHex, "rand", "", "RAND, 32 hex digits")
	f.StringVar(&autnHex, "autn", "", "AUTN, 32 hex digits")
	f.StringVar(&context, "context", "usim", "usim (3G context, TS 31.102) or isim (IMS AKA context, TS 31.103)")
	return c
}

func printAuth(w io.Writer, asJSON bool, res *sim.AuthResult, err error) error {
	var sync *sim.SyncFailureError
	type out struct {
		Result string `json:"result"`
		RES    string `json:"res,omitempty"`
		CK     string `json:"ck,omitempty"`
		IK     string `json:"ik,omitempty"`
		Kc     string `json:"kc,omitempty"`
		AUTS   string `json:"auts,omitempty"`
		Error  string `json:"error,omitempty"`
	}
	var o out
	var code int
	switch {
	case err == nil:
		o = out{Result: "ok", RES: hex.EncodeToString(res.RES), CK: hex.EncodeToString(res.CK), IK: hex.EncodeToString(res.IK), Kc: hex.EncodeToString(res.Kc)}
	case errors.As(err, &sync):
		o, code = out{Result: "sync_failure", AUTS: hex.EncodeToString(sync.AUTS), Error: err.Error()}, 2
	case errors.Is(err, sim.ErrMACFailure):
		o, code = out{Result: "mac_failure", Error: err.Error()}, 3
	default:
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(o); err != nil {
			return err
		}
	} else {
		switch o.Result {
		case "ok":
			fmt.Fprintf(w, "RES  %s\nCK   %s\nIK   %s\n", o.RES, o.CK, o.IK)
			if o.Kc != "" {
				fmt.Fprintf(w, "Kc   %s\n", o.Kc)
			}
		case "sync_failure":
			fmt.Fprintf(w, "SYNC FAILURE: the card did not accept the SQN in AUTN (replayed, too old, or too far ahead of its own).\nAUTS %s\n(send it to the network: it resynchronises its SQN from it, TS 33.102 §6.3.5)\n", o.AUTS)
		case "mac_failure":
			fmt.Fprintf(w, "MAC FAILURE: the network failed authentication. The card computed a different MAC:\nthe challenge was not made with this card's K/OPc. A phone rejects such a network.\n")
		}
	}
	if code != 0 {
		return &exitError{code: code, err: errors.New(o.Error), quiet: true}
	}
	return nil
}
