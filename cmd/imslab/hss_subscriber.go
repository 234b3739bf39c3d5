package main

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

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
