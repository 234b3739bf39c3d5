package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/sim"
	"github.com/imslab/imslab/ue"
)

// newUECmd is `imslab ue`: the simulated phone.
func newUECmd(logger func() *slog.Logger) *cobra.Command {
	// The phone prints its ladder and what happens; its log adds only
	// warnings, unless -v.
	logger = quieter(logger)
	c := &cobra.Command{
		Use:   "ue",
		Short: "The simulated phone: register to the IMS with its SIM (IMS-AKA), make and answer calls with SRTP voice",
	}
	c.AddCommand(newUERegisterCmd(logger), newUECallCmd(logger), newUEAnswerCmd(logger))
	return c
}

// ueRegisterFlags are the flags of `imslab ue register`.
type ueRegisterFlags struct {
	card, reader, pin, app string
	pcscf, transport       string
	local                  string
	attach                 string
	expires                int
	once, messages         bool
}

func newUERegisterCmd(logger func() *slog.Logger) *cobra.Command {
	var fl ueRegisterFlags
	c := &cobra.Command{
		Use:   "register --card CARD.yaml|--reader pcsc[:N] [--pcscf HOST:PORT] [--once]",
		Short: "Register to the IMS through the P-CSCF with the SIM, print the ladder and what the network said",
		Long: `Register to the IMS as a phone does (TS 24.229 §5.1.1): read the identities from
the card, send REGISTER to the P-CSCF, answer the AKAv1-MD5 challenge with the
card (resynchronising with AUTS if the card refuses the SQN, refusing the
network if the card finds the MAC wrong), then print what the network said:
Service-Route, P-Associated-URI, expiry. The UE then stays registered,
refreshing the registration and its reg-event subscription, until Ctrl-C,
when it de-registers. With --once it de-registers and exits at once.

The P-CSCF is --pcscf, else the ISIM's EF_PCSCF (port 5060), else 127.0.0.1:5060.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUERegister(cmd.Context(), cmd.OutOrStdout(), logger(), fl)
		},
	}
	fl.add(c)
	f := c.Flags()
	f.BoolVar(&fl.once, "once", false, "de-register and exit once registered")
	return c
}

func runUERegister(ctx context.Context, w io.Writer, log *slog.Logger, fl ueRegisterFlags) (err error) {
	card, err := fl.openCard(ctx, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, card.Close()) }()
	out := &lockedWriter{w: w}
	cfg := fl.config(card, log, out)
	if !fl.once {
		cfg.OnEvent = func(ev ue.Event) { printUEEvent(out, ev) }
		fmt.Fprintln(out, "(Ctrl-C de-registers and exits)")
	}
	u, err := ue.New(cfg)
	if err != nil {
		return err
	}
	if fl.once {
		return registerOnce(ctx, out, u)
	}
	if err := u.Run(ctx); err != nil {
		return explainUEError(err)
	}
	return nil
}

// openCard opens the card --card or --reader names.
func (fl ueRegisterFlags) openCard(ctx context.Context, log *slog.Logger) (sim.Transport, error) {
	spec, err := fl.cardSpec()
	if err != nil {
		return nil, err
	}
	card, err := sim.Open(ctx, spec, sim.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("opening the card: %w", err)
	}
	return card, nil
}

// config is the UE's configuration from the flags, with the ladder (and
// the messages with --messages) printed to out.
func (fl ueRegisterFlags) config(card sim.Transport, log *slog.Logger, out io.Writer) ue.Config {
	cfg := ue.Config{Card: card, PIN: fl.pin, App: fl.app, PCSCF: fl.pcscf, Transport: fl.transport,
		LocalAddr: fl.local, Expires: time.Duration(fl.expires) * time.Second, Logger: log, Ladder: out, Attach: fl.attach}
	if fl.messages {
		cfg.Messages = out
	}
	return cfg
}

// quieter logs warnings and errors only, unless the logger logs debug (-v).
func quieter(logger func() *slog.Logger) func() *slog.Logger {
	return func() *slog.Logger {
		l := logger()
		if l.Enabled(context.Background(), slog.LevelDebug) {
			return l
		}
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
}

// cardSpec turns --card or --reader into a sim.Open spec.
func (fl ueRegisterFlags) cardSpec() (string, error) {
	switch {
	case fl.card != "" && fl.reader != "":
		return "", errors.New("give --card or --reader, not both")
	case fl.card != "":
		return "soft:" + fl.card, nil
	case fl.reader != "":
		return fl.reader, nil
	}
	return "", errors.New("which card? --card CARD.yaml (a software card: imslab sim new --isim --out CARD.yaml) or --reader pcsc[:N]")
}

// registerOnce registers, prints what the network said, and de-registers.
func registerOnce(ctx context.Context, w io.Writer, u *ue.UE) (err error) {
	defer func() { err = errors.Join(err, u.Close()) }()
	reg, err := u.Register(ctx)
	if err != nil {
		return explainUEError(err)
	}
	if a := u.Attachment(); a != nil {
		fmt.Fprintf(w, "\nattached          %s on APN %s (EPS AKA%s), P-CSCF from the PCO %v\n", a.Addr, a.APN,
			map[bool]string{true: ", after a resynchronisation", false: ""}[a.Resynchronised], a.PCSCF)
	}
	fmt.Fprintf(w, "\nP-CSCF            %s: %s\n", u.PCSCF(), u.PCSCFSource())
	fmt.Fprint(w, "\n", reg, "\n")
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := u.Deregister(dctx); err != nil {
		return fmt.Errorf("registered, but the de-registration failed: %w", explainUEError(err))
	}
	fmt.Fprintln(w, "\nde-registered")
	return nil
}

// printUEEvent says what happened, between the ladder's lines.
func printUEEvent(w io.Writer, ev ue.Event) {
	switch ev.Kind {
	case ue.Registered:
		fmt.Fprint(w, "\n", ev.Registration, "\n")
		if ev.PCSCFSource != "" {
			fmt.Fprintf(w, "P-CSCF            %s: %s\n", ev.Registration.PCSCF, ev.PCSCFSource)
		}
	case ue.Refreshed:
		fmt.Fprintln(w, ev.Text)
	case ue.RegState, ue.Subscribed, ue.SubscriptionFailed, ue.NetworkDeregistered, ue.Deregistered:
		fmt.Fprintln(w, ev.Text)
	case ue.CallDialing, ue.CallRinging, ue.CallAnswered, ue.CallEstablished, ue.CallFailed, ue.CallEnded, ue.Attached, ue.Detached:
		fmt.Fprintln(w, ev.Text)
	}
}

// explainUEError turns a UE error into what the user reads.
func explainUEError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted before the registration completed: %w", err)
	case errors.Is(err, sim.ErrPINRequired):
		return fmt.Errorf("%w (--pin)", err)
	}
	return err
}

// lockedWriter serialises the ladder, the messages and the event lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
