package main

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imslab/imslab/hss"
	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
	"github.com/spf13/cobra"
)

func newSubListCmd(open openStore) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the subscribers: IMSI, MSISDN, identities, SQN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return open(false, func(st *store.Store) error {
				subs, err := st.List(cmd.Context())
				if err != nil {
					return err
				}
				if len(subs) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no subscribers: add one with `imslab hss subscriber add` or `import`")
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "IMSI\tMSISDN\tIMPIs\tIMPUs\tSQN")
				for _, s := range subs {
					var impis, impus []string
					for _, p := range s.Private {
						impis = append(impis, p.IMPI)
					}
					for _, p := range s.Public {
						impus = append(impus, p.IMPU)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tSEQ %d IND %d\n", s.IMSI, cmp.Or(s.MSISDN, "-"),
						strings.Join(impis, ","), strings.Join(impus, ","), aka.SEQ(s.SQN), aka.IND(s.SQN))
				}
				return tw.Flush()
			})
		},
	}
}

func newSubShowCmd(open openStore) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show IMSI|IMPI|IMPU|MSISDN",
		Short: "Show everything of a subscriber (keys in hex), its registrations and serving MME",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return open(false, func(st *store.Store) error {
				ctx := cmd.Context()
				sub, err := st.Find(ctx, args[0])
				if err != nil {
					return err
				}
				regs, err := st.Registrations(ctx, sub.IMSI)
				if err != nil {
					return err
				}
				host, realm, err := st.MME(ctx, sub.IMSI)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					v := showJSON{SubscriberJSON: hss.ToJSON(sub), OPc: hex.EncodeToString(sub.OPc), Registrations: regs}
					if host != "" {
						v.MME = map[string]string{"host": host, "realm": realm}
					}
					return enc.Encode(v)
				}
				return printSubscriber(cmd.OutOrStdout(), sub, regs, host, realm)
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON for machines")
	return c
}

// printSubscriber prints a subscriber for a student: keys in hex, SQN decoded.
func printSubscriber(w io.Writer, s *store.Subscriber, regs []store.Registration, mme, realm string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, a...)...) }
	line("IMSI", "%s", s.IMSI)
	line("ICCID", "%s", cmp.Or(s.ICCID, "-"))
	line("MSISDN", "%s", cmp.Or(s.MSISDN, "-"))
	line("K", "%x", s.K)
	line("OPc", "%x", s.OPc)
	if s.OP != nil {
		line("OP", "%x", s.OP)
	}
	line("AMF", "%04x", s.AMF)
	next := aka.MakeSQN(aka.SEQ(s.SQN)+1, (aka.IND(s.SQN)+1)%aka.IndSize)
	line("SQN", "%s, next vector SEQ %d IND %d", aka.FormatSQN(s.SQN), aka.SEQ(next), aka.IND(next))
	line("barred", "%v", s.Barred)
	line("domain", "%s", s.Domain)
	for _, p := range s.Private {
		auth := string(p.Scheme)
		if p.Scheme == store.SchemeDigest {
			auth += fmt.Sprintf(", password %q", p.Password)
		}
		line("IMPI", "%s (%s) registers %s", p.IMPI, auth, strings.Join(p.IMPUs, " "))
	}
	for _, p := range s.Public {
		note := fmt.Sprintf("(implicit set %d", p.IRS)
		if p.Default {
			note += ", default"
		}
		if p.Barred {
			note += ", barred"
		}
		for _, r := range regs {
			if store.NormalizeIMPU(r.IMPU) == store.NormalizeIMPU(p.IMPU) {
				note += fmt.Sprintf(", %s at %s by %s since %s", r.State, cmp.Or(r.SCSCF, "-"), cmp.Or(r.IMPI, "-"), r.Updated.Format(time.DateTime))
			}
		}
		line("IMPU", "%s %s)", p.IMPU, note)
	}
	for _, f := range s.IFCs {
		line("iFC", "priority %d: %s", f.Priority, strings.Join(strings.Fields(f.XML), " "))
	}
	if mme != "" {
		line("MME", "%s (realm %s)", mme, realm)
	}
	return tw.Flush()
}

// showJSON is `show --json`: the HSS API's form of a subscriber (keys in
// hex), with OPc always, the registrations and the serving MME.
type showJSON struct {
	hss.SubscriberJSON
	OPc           string               `json:"opc"`
	Registrations []store.Registration `json:"registrations,omitempty"`
	MME           map[string]string    `json:"mme,omitempty"`
}

func newSubImportCmd(open openStore) *cobra.Command {
	var replace bool
	var domain string
	var mncLen int
	c := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import card files (imslab sim new: .yaml, .yml) and SIM vendor CSV files (.csv)",
		Long: `Import subscribers from card description files (what "imslab sim new" writes)
and from the CSV files SIM vendors ship with a batch of cards (columns ICCID,
IMSI, Ki, OPc or OP, optional MSISDN and AMF). A subscriber already present is
skipped with a note, or replaced with --replace (its SQN is kept).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files := make([][]*store.Subscriber, len(args)) // all read before any is added
			for i, file := range args {
				var err error
				if files[i], err = store.ReadFile(file, domain, mncLen); err != nil {
					return err
				}
			}
			return open(true, func(st *store.Store) error {
				w := cmd.OutOrStdout()
				var added, replaced, skipped int
				for i, subs := range files {
					for _, sub := range subs {
						err := st.Add(cmd.Context(), sub)
						if errors.Is(err, store.ErrExists) && replace {
							if err = st.Update(cmd.Context(), sub); err == nil {
								fmt.Fprintf(w, "replaced %s (%s; SQN kept)\n", sub.IMSI, args[i])
								replaced++
								continue
							}
						}
						switch {
						case err == nil:
							fmt.Fprintf(w, "added    %s (%s)\n", sub.IMSI, args[i])
							added++
						case errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrNotFound):
							fmt.Fprintf(w, "skipped  %s (%s): %v\n", sub.IMSI, args[i], err)
							skipped++
						default:
							return fmt.Errorf("%s: %w", args[i], err)
						}
					}
				}
				fmt.Fprintf(w, "%d added, %d replaced, %d skipped", added, replaced, skipped)
				if skipped > 0 && !replace {
					fmt.Fprint(w, " (--replace overwrites those present)")
				}
				fmt.Fprintln(w)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&replace, "replace", false, "replace subscribers already present (keeping their SQN)")
	c.Flags().StringVar(&domain, "domain", "", "domain of the MSISDN identities of cards without an ISIM (default: derived from the IMSI)")
	c.Flags().IntVar(&mncLen, "mnc-len", 2, "MNC length of the IMSIs in CSV files, 2 or 3 (card files say it themselves)")
	return c
}
