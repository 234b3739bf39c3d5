package main

import (
	"github.com/imslab/imslab/internal/cardfile"

	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/sim"
)

// The demo, until the IMS services exist: a SIM made, read as a phone reads
// it, and authenticated as the network (the HSS's side of AKA, internal/aka)
// will challenge it: success, a replay answered with AUTS and resynchronised,
// and a false network refused.
func newDemoCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the lab's demonstration (today: the SIM and AKA, step by step)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "imslab-demo-")
				if err != nil {
					return err
				}
				dir = d
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), dir)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory for the card file and traces (default: a new temporary directory)")
	return c
}

type demo struct {
	w    io.Writer
	step int
}

func (d *demo) say(format string, a ...any) {
	d.step++
	fmt.Fprintf(d.w, "\n[%d] %s\n", d.step, fmt.Sprintf(format, a...))
}

func (d *demo) detail(format string, a ...any) { fmt.Fprintf(d.w, "    "+format+"\n", a...) }

func runDemo(ctx context.Context, w io.Writer, dir string) error {
	d := &demo{w: w}
	cardPath := filepath.Join(dir, "alice.card.yaml")
	d.say("Make a SIM for Alice (USIM + ISIM), written to %s", cardPath)
	p, err := cardfile.New(cardfile.Options{IMSI: "001010000000001", MSISDN: "+15550001", ISIM: true, PCSCF: []string{"127.0.0.1"}})
	if err != nil {
		return fmt.Errorf("step %d: %w", d.step, err)
	}
	if err := p.Save(cardPath); err != nil {
		return fmt.Errorf("step %d: %w", d.step, err)
	}
	d.detail("IMSI %s  K %s  OPc %s  AMF %s", p.IMSI, p.K, p.OPc, p.AMF)
	d.detail("K never leaves the card; the HSS holds the same K and OPc (it imports this file).")

	card, err := sim.OpenSoftCard(cardPath)
	if err != nil {
		return fmt.Errorf("step %d: %w", d.step, err)
	}
	defer card.Close()
	tracePath := filepath.Join(dir, "sim-read.apdu.txt")
	var trace bytes.Buffer
	r := sim.NewReader(&sim.TraceTransport{Transport: card, W: &trace})

	d.say("The phone boots and reads its card (every APDU is in %s)", tracePath)
	id, err := r.ReadIdentities(ctx)
	if err != nil {
		return fmt.Errorf("step %d (reading the card): %w", d.step, err)
	}
	if err := os.WriteFile(tracePath, trace.Bytes(), 0o644); err != nil {
		return err
	}
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(id.String())), []byte("\n")) {
		d.detail("%s", line)
	}

	k, opc, amf, err := p.Keys()
	if err != nil {
		return err
	}
	network, err := aka.New(k, opc)
	if err != nil {
		return err
	}
	sqn := aka.MakeSQN(1, 1)
	vec, err := vector(network, sqn, amf)
	if err != nil {
		return err
	}
	d.say("The network challenges the ISIM (IMS-AKA): RAND and AUTN with SQN %s", aka.FormatSQN(sqn))
	d.detail("RAND %x", vec.RAND)
	d.detail("AUTN %x  = SQN⊕AK ‖ AMF ‖ MAC-A (TS 33.102 §6.3.2)", vec.AUTN)
	res, err := r.Authenticate(ctx, sim.AppISIM, vec.RAND, vec.AUTN)
	if err != nil {
		return fmt.Errorf("step %d: the card refused a genuine challenge: %w", d.step, err)
	}
	if !bytes.Equal(res.RES, vec.XRES) {
		return fmt.Errorf("step %d: RES %x differs from the network's XRES %x", d.step, res.RES, vec.XRES)
	}
	d.detail("the card checked MAC-A and SQN, and answered RES %x", res.RES)
	d.detail("RES = XRES: the network knows this is Alice's card. CK %x IK %x", res.CK, res.IK)

	d.say("An attacker replays the same challenge")
	_, err = r.Authenticate(ctx, sim.AppISIM, vec.RAND, vec.AUTN)
	var sf *sim.SyncFailureError
	if !errors.As(err, &sf) {
		return fmt.Errorf("step %d: a replayed AUTN was not refused (%v)", d.step, err)
	}
	d.detail("the card refuses the SQN as already used and answers AUTS %x", sf.AUTS)
	sqnMS, err := network.VerifyAUTS(vec.RAND, sf.AUTS)
	if err != nil {
		return fmt.Errorf("step %d: the network could not verify AUTS: %w", d.step, err)
	}
	d.detail("the network verifies MAC-S in AUTS and learns SQN_MS %s (TS 33.102 §6.3.5)", aka.FormatSQN(sqnMS))
	next := aka.MakeSQN(aka.SEQ(sqnMS)+1, aka.IND(sqnMS)+1)
	vec2, err := vector(network, next, amf)
	if err != nil {
		return err
	}
	if _, err := r.Authenticate(ctx, sim.AppISIM, vec2.RAND, vec2.AUTN); err != nil {
		return fmt.Errorf("step %d: the card refused the resynchronised challenge: %w", d.step, err)
	}
	d.detail("resynchronised: a new challenge with SQN %s is accepted", aka.FormatSQN(next))

	d.say("A false network, which does not know Alice's K, challenges the card")
	fake := make([]byte, 16)
	if _, err := rand.Read(fake); err != nil {
		return err
	}
	impostor, err := aka.New(fake, opc)
	if err != nil {
		return err
	}
	vec3, err := vector(impostor, aka.MakeSQN(aka.SEQ(next)+1, 0), amf)
	if err != nil {
		return err
	}
	if _, err := r.Authenticate(ctx, sim.AppUSIM, vec3.RAND, vec3.AUTN); !errors.Is(err, sim.ErrMACFailure) {
		return fmt.Errorf("step %d: a false network was not refused (%v)", d.step, err)
	}
	d.detail("the card answers 98 62: MAC-A is wrong. The phone rejects this network.")

	if err := card.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nAll %d steps succeeded. The card's state (SQN array) is in %s;\nthe APDU trace of the phone's read is in %s.\n", d.step, cardPath, tracePath)
	return nil
}

func vector(m *aka.Milenage, sqn uint64, amf uint16) (*aka.Vector, error) {
	rnd := make([]byte, aka.RandLen)
	if _, err := rand.Read(rnd); err != nil {
		return nil, err
	}
	v, err := m.Vector(rnd, sqn, amf)
	if err != nil {
		return nil, err
	}
	return v, nil
}
