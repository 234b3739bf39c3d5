package main

import (
	"github.com/imslab/imslab/internal/cardfile"

	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/internal/aka"
)

// newSimVectorCmd computes, from a card file, the authentication vector the
// network (the HSS) would send: the other side of `imslab sim auth`.
func newSimVectorCmd() *cobra.Command {
	var card, sqnArg, randHex string
	var asJSON bool
	c := &cobra.Command{
		Use:   "vector --card CARD.yaml --sqn SEQ:IND [--rand HEX]",
		Short: "Compute the challenge the network would send this card (RAND, AUTN, XRES, CK, IK), as the HSS does",
		Long: `Compute an authentication vector for the subscriber a card file describes, as the
HSS does (TS 33.102 §6.3.2): AUTN = SQN⊕AK ‖ AMF ‖ MAC-A. Feed RAND and AUTN to
"imslab sim auth" to see the card answer. --sqn is SEQ:IND (TS 33.102 Annex C,
5-bit IND) or a 48-bit hex SQN such as 0x000000000021.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if card == "" {
				return fmt.Errorf("--card CARD.yaml is required")
			}
			p, err := cardfile.Load(card)
			if err != nil {
				return err
			}
			sqn, err := parseSQN(sqnArg)
			if err != nil {
				return err
			}
			rnd := make([]byte, aka.RandLen)
			if randHex != "" {
				if rnd, err = hex.DecodeString(randHex); err != nil || len(rnd) != aka.RandLen {
					return fmt.Errorf("--rand must be 32 hex digits")
				}
			} else if _, err := rand.Read(rnd); err != nil {
				return err
			}
			k, opc, amf, err := p.Keys()
			if err != nil {
				return err
			}
			m, err := aka.New(k, opc)
			if err != nil {
				return err
			}
			v, err := m.Vector(rnd, sqn, amf)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]string{"rand": hex.EncodeToString(v.RAND), "autn": hex.EncodeToString(v.AUTN),
					"xres": hex.EncodeToString(v.XRES), "ck": hex.EncodeToString(v.CK), "ik": hex.EncodeToString(v.IK),
					"ak": hex.EncodeToString(v.AK), "sqn": fmt.Sprintf("%012x", sqn)})
			}
			fmt.Fprintf(w, "SQN  %s  AMF %04x\nRAND %x\nAUTN %x\nXRES %x\nCK   %x\nIK   %x\nAK   %x\n",
				aka.FormatSQN(sqn), amf, v.RAND, v.AUTN, v.XRES, v.CK, v.IK, v.AK)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&card, "card", "", "card description file")
	f.StringVar(&sqnArg, "sqn", "1:0", "SQN as SEQ:IND, or 0x followed by 12 hex digits")
	f.StringVar(&randHex, "rand", "", "RAND, 32 hex digits (default: random)")
	f.BoolVar(&asJSON, "json", false, "print JSON for machines")
	return c
}

// parseSQN reads "SEQ:IND" or a hex SQN.
func parseSQN(s string) (uint64, error) {
	if seq, ind, ok := strings.Cut(s, ":"); ok {
		q, err1 := strconv.ParseUint(seq, 10, 64)
		i, err2 := strconv.Atoi(ind)
		if err1 != nil || err2 != nil || q > aka.MaxSEQ || i < 0 || i >= aka.IndSize {
			return 0, fmt.Errorf("--sqn %q: want SEQ:IND with SEQ < 2^43 and IND 0..%d", s, aka.IndSize-1)
		}
		return aka.MakeSQN(q, i), nil
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil || v > aka.MaxSQN {
		return 0, fmt.Errorf("--sqn %q: want SEQ:IND or a 48-bit hex SQN", s)
	}
	return v, nil
}
