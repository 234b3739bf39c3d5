package main

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/hss"
	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/ident"
)

// defaultHSSDB is the HSS database the HSS and this CLI use when --db is not given.
const defaultHSSDB = "imslab-hss.db"

// newHSSSubscriberCmd is `imslab hss subscriber`: provisioning on the HSS
// database, safe while the HSS runs (SQLite WAL, one writer at a time).
func newHSSSubscriberCmd() *cobra.Command {
	var db string
	c := &cobra.Command{
		Use:   "subscriber",
		Short: "Provision subscribers in the HSS database (safe while the HSS runs)",
		Long: `Add, list, show, update, delete and import subscribers: IMSI, K, OPc (or OP),
AMF, MSISDN, the SIM's private identity (IMS AKA) and public identities, a
softphone identity (SIP Digest), initial filter criteria, and the SQN.`,
	}
	c.PersistentFlags().StringVar(&db, "db", defaultHSSDB, "HSS database file (SQLite; created on first use)")
	open := func(create bool, f func(*store.Store) error) (err error) {
		if _, err := os.Stat(db); !create && errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no HSS database %s: add a subscriber first (imslab hss subscriber add|import), or give --db", db)
		}
		st, err := store.Open(db)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, st.Close()) }()
		if err = f(st); errors.Is(err, store.ErrNotFound) {
			err = fmt.Errorf("%w (see `imslab hss subscriber list`, or check --db)", err)
		}
		return err
	}
	c.AddCommand(newSubAddCmd(open), newSubListCmd(open), newSubShowCmd(open),
		newSubUpdateCmd(open), newSubDeleteCmd(open), newSubImportCmd(open))
	return c
}

// openStore runs f on the HSS database (create: create it if missing).
type openStore func(create bool, f func(*store.Store) error) error

// subFlags are the flags of add and update.
type subFlags struct {
	imsi, k, op, opc, amf, msisdn, iccid, domain string
	mncLen                                       int
	impi                                         string
	impus                                        []string
	digestIMPI, password                         string
	digestIMPUs, removeIMPI                      []string
	ifc, sqn                                     string
	barred                                       bool
}

func (sf *subFlags) register(c *cobra.Command, update bool) {
	f := c.Flags()
	if !update {
		f.StringVar(&sf.imsi, "imsi", "", "IMSI, 6-15 digits (required)")
	}
	f.StringVar(&sf.k, "k", "", "K, 32 hex digits")
	f.StringVar(&sf.opc, "opc", "", "OPc, 32 hex digits")
	f.StringVar(&sf.op, "op", "", "OP, 32 hex digits (OPc is computed from it)")
	f.StringVar(&sf.amf, "amf", "8000", "AMF, 4 hex digits")
	f.StringVar(&sf.msisdn, "msisdn", "", "MSISDN, e.g. +15550001 (update: public identities change only with --impu or --mnc-len)")
	f.StringVar(&sf.iccid, "iccid", "", "ICCID")
	f.StringVar(&sf.domain, "domain", "", "home domain (default ims.mnc<MNC>.mcc<MCC>.3gppnetwork.org from the IMSI)")
	f.IntVar(&sf.mncLen, "mnc-len", 2, "MNC length in the IMSI, 2 or 3 (update: derive the domain and SIM identities again)")
	f.StringVar(&sf.impi, "impi", "", "the SIM's private identity (default <IMSI>@<home domain>, TS 23.003 §13.3)")
	f.StringArrayVar(&sf.impus, "impu", nil, "public identity the SIM's IMPI registers (repeatable; default sip:<IMSI>@<home domain>, sip:<MSISDN>@<domain>, tel:<MSISDN>)")
	f.StringVar(&sf.digestIMPI, "digest-impi", "", "a softphone identity with SIP Digest (username)")
	f.StringVar(&sf.password, "password", "", "SIP Digest password of --digest-impi")
	f.StringArrayVar(&sf.digestIMPUs, "digest-impu", nil, "public identity --digest-impi registers (repeatable; default sip:<digest-impi>)")
	f.StringVar(&sf.ifc, "ifc", "", "XML file with one or more <InitialFilterCriteria> (TS 29.228 Annex B); update: \"\" removes them")
	f.BoolVar(&sf.barred, "barred", false, "bar the subscriber")
	if update {
		f.StringArrayVar(&sf.removeIMPI, "remove-impi", nil, "remove a private identity (repeatable)")
		f.StringVar(&sf.sqn, "sqn", "", "set the SQN by hand, as SEQ:IND or 48-bit hex (to show a resync: set it behind the card)")
	}
}

func parseKey(flag, v string) ([]byte, error) {
	if v == "" {
		return nil, fmt.Errorf("--%s is required (%d hex digits)", flag, 2*aka.KeyLen)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(v, " ", ""))
	if err != nil || len(b) != aka.KeyLen {
		return nil, fmt.Errorf("--%s must be %d hex digits, got %q", flag, 2*aka.KeyLen, v)
	}
	return b, nil
}

// apply sets on sub what the flags give: on add all of them, on update only
// those given.
func (sf *subFlags) apply(cmd *cobra.Command, sub *store.Subscriber, add bool) error {
	set := func(name string) bool { return add || cmd.Flags().Changed(name) }
	given := cmd.Flags().Changed
	var err error
	if set("k") {
		if sub.K, err = parseKey("k", sf.k); err != nil {
			return err
		}
		if sub.OP != nil {
			sub.OPc = nil // computed again from OP and the new K
		}
	}
	switch {
	case given("op") && given("opc"):
		return errors.New("give --opc or --op, not both")
	case given("opc"):
		sub.OP = nil
		if sub.OPc, err = parseKey("opc", sf.opc); err != nil {
			return err
		}
	case given("op"):
		sub.OPc = nil
		if sub.OP, err = parseKey("op", sf.op); err != nil {
			return err
		}
	case add:
		return errors.New("give --opc, or --op (OPc is then computed from it)")
	}
	if set("amf") {
		b, err := hex.DecodeString(sf.amf)
		if err != nil || len(b) != aka.AMFLen {
			return fmt.Errorf("--amf must be 4 hex digits, e.g. 8000, got %q", sf.amf)
		}
		sub.AMF = uint16(b[0])<<8 | uint16(b[1])
	}
	if set("msisdn") {
		sub.MSISDN = sf.msisdn
	}
	if set("iccid") {
		sub.ICCID = sf.iccid
	}
	if set("barred") {
		sub.Barred = sf.barred
	}
	mcc, mnc, err := ident.SplitIMSI(sub.IMSI, sf.mncLen)
	if err != nil {
		return fmt.Errorf("--imsi %s with --mnc-len %d: %w", sub.IMSI, sf.mncLen, err)
	}
	if given("domain") || given("mnc-len") || sub.Domain == "" {
		sub.Domain = cmp.Or(sf.domain, ident.HomeDomain(mcc, mnc))
	}
	if err := sf.applySIM(cmd, sub, add); err != nil {
		return err
	}
	if err := sf.applyDigest(cmd, sub); err != nil {
		return err
	}
	for _, impi := range sf.removeIMPI {
		if !sub.RemovePrivate(impi) {
			return fmt.Errorf("--remove-impi %s: subscriber %s has no such private identity (see `imslab hss subscriber show %s`)", impi, sub.IMSI, sub.IMSI)
		}
	}
	if given("ifc") {
		sub.IFCs = nil
		if sf.ifc != "" {
			f, err := os.Open(sf.ifc)
			if err != nil {
				return fmt.Errorf("--ifc: %w", err)
			}
			defer f.Close()
			if sub.IFCs, err = store.ParseIFCs(f); err != nil {
				return fmt.Errorf("--ifc %s: %w", sf.ifc, err)
			}
			slices.SortFunc(sub.IFCs, func(a, b store.IFC) int { return a.Priority - b.Priority })
		}
	}
	return nil
}

// applySIM sets the SIM's private identity (IMS AKA) and its public identities.
func (sf *subFlags) applySIM(cmd *cobra.Command, sub *store.Subscriber, add bool) error {
	given := cmd.Flags().Changed
	if !add && !given("impi") && !given("impu") && !given("mnc-len") {
		return nil
	}
	derived := &store.Subscriber{IMSI: sub.IMSI, MSISDN: sub.MSISDN, Domain: sub.Domain}
	if err := derived.DeriveIdentities(sf.mncLen); err != nil {
		return err
	}
	p := derived.Private[0]
	old := sub.AKAIdentity()
	if old != nil && !given("mnc-len") {
		p.IMPI, p.IMPUs = old.IMPI, old.IMPUs
	}
	if given("impi") {
		p.IMPI = sf.impi
	}
	if given("impu") {
		p.IMPUs = sf.impus
	}
	if old != nil {
		sub.RemovePrivate(old.IMPI)
	}
	sub.AddPrivate(p)
	return nil
}

// applyDigest adds or changes the softphone identity (SIP Digest, TS 33.203 Annex N).
func (sf *subFlags) applyDigest(cmd *cobra.Command, sub *store.Subscriber) error {
	given := cmd.Flags().Changed
	if !given("digest-impi") {
		if given("password") || given("digest-impu") {
			return errors.New("--password and --digest-impu go with --digest-impi NAME")
		}
		return nil
	}
	p := store.PrivateID{IMPI: sf.digestIMPI, Scheme: store.SchemeDigest, Password: sf.password, IMPUs: sf.digestIMPUs}
	old := sub.PrivateByIMPI(sf.digestIMPI)
	if old != nil && old.Scheme != store.SchemeDigest {
		return fmt.Errorf("--digest-impi %s is the SIM's identity (IMS AKA): choose another name", sf.digestIMPI)
	}
	if !given("password") {
		if old == nil {
			return fmt.Errorf("--digest-impi %s needs --password", sf.digestIMPI)
		}
		p.Password = old.Password
	}
	if !given("digest-impu") {
		switch {
		case old != nil:
			p.IMPUs = old.IMPUs
		case strings.Contains(sf.digestIMPI, "@"):
			p.IMPUs = []string{"sip:" + sf.digestIMPI}
		default:
			p.IMPUs = []string{"sip:" + sf.digestIMPI + "@" + sub.Domain}
		}
	}
	sub.AddPrivate(p)
	return nil
}

func newSubAddCmd(open openStore) *cobra.Command {
	var sf subFlags
	c := &cobra.Command{
		Use:   "add --imsi IMSI --k K --opc OPC|--op OP [flags]",
		Short: "Add a subscriber",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sf.imsi == "" {
				return errors.New("--imsi is required")
			}
			sub := &store.Subscriber{IMSI: sf.imsi}
			if err := sf.apply(cmd, sub, true); err != nil {
				return err
			}
			return open(true, func(st *store.Store) error {
				if err := st.Add(cmd.Context(), sub); err != nil {
					if errors.Is(err, store.ErrExists) {
						return fmt.Errorf("%w: change it with `imslab hss subscriber update`, or delete it first", err)
					}
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added subscriber %s\n", sub.IMSI)
				return printSubscriber(cmd.OutOrStdout(), sub, nil, "", "")
			})
		},
	}
	sf.register(c, false)
	return c
}

func newSubUpdateCmd(open openStore) *cobra.Command {
	var sf subFlags
	c := &cobra.Command{
		Use:   "update IMSI [flags]",
		Short: "Change a subscriber: only the flags given change (the SQN only with --sqn)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, given := cmd.Flags().NFlag(), cmd.Flags().Changed
			for _, f := range []string{"sqn", "db"} {
				if given(f) {
					n--
				}
			}
			profile := n > 0 // a flag other than --sqn and --db
			if !profile && !given("sqn") {
				return errors.New("nothing to change: give the flags to change (see --help)")
			}
			sqn, err := parseSQN(cmp.Or(sf.sqn, "0"))
			if err != nil {
				return err
			}
			return open(false, func(st *store.Store) error {
				ctx := cmd.Context()
				sub, err := st.Get(ctx, args[0])
				if err != nil {
					return err
				}
				if profile {
					if err := sf.apply(cmd, sub, false); err != nil {
						return err
					}
					if err := st.Update(ctx, sub); err != nil {
						return err
					}
				}
				if given("sqn") {
					if err := st.SetSQN(ctx, sub.IMSI, sqn); err != nil {
						return err
					}
				}
				if sub, err = st.Get(ctx, sub.IMSI); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "updated subscriber %s\n", sub.IMSI)
				return printSubscriber(cmd.OutOrStdout(), sub, nil, "", "")
			})
		},
	}
	sf.register(c, true)
	return c
}

func newSubDeleteCmd(open openStore) *cobra.Command {
	return &cobra.Command{
		Use:   "delete IMSI",
		Short: "Delete a subscriber with its identities, iFCs and registrations",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return open(false, func(st *store.Store) error {
				if err := st.Delete(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted subscriber %s\n", args[0])
				return nil
			})
		},
	}
}

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
