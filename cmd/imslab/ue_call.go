package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imslab/imslab/internal/media"
	"github.com/imslab/imslab/ue"
)

// ueMediaFlags are what a phone sends and accepts in a call.
type ueMediaFlags struct {
	tone     float64
	play     string
	silence  bool
	record   string
	expect   float64
	codecs   string
	suites   string
	allowRTP bool
}

func (m *ueMediaFlags) add(c *cobra.Command, defTone float64) {
	f := c.Flags()
	f.Float64Var(&m.tone, "tone", defTone, "send a sine tone of this frequency in Hz")
	f.StringVar(&m.play, "play", "", "send this WAV file (8 kHz mono 16-bit PCM) instead of a tone")
	f.BoolVar(&m.silence, "silence", false, "send silence instead of a tone")
	f.StringVar(&m.record, "record", "", "write the audio received to this WAV file")
	f.Float64Var(&m.expect, "expect-tone", 0, "check that the audio received holds a tone of this frequency in Hz (exit 4 if not)")
	f.StringVar(&m.codecs, "codecs", "PCMU,PCMA", "codecs offered or accepted, in preference order")
	f.StringVar(&m.suites, "srtp", strings.Join(ue.DefaultSuites, ","), "SRTP suites (RFC 4568) offered or accepted, in preference order")
	f.BoolVar(&m.allowRTP, "allow-rtp", false, "accept a call without SRTP (plain RTP/AVP); off: SRTP is required")
}

// options turns the flags into the UE's media options.
func (m *ueMediaFlags) options() (ue.MediaOptions, error) {
	o := ue.MediaOptions{Codecs: splitComma(m.codecs), Suites: splitComma(m.suites), AllowRTP: m.allowRTP, ExpectTone: m.expect}
	switch {
	case m.play != "":
		f, err := os.Open(m.play)
		if err != nil {
			return o, fmt.Errorf("--play: %w", err)
		}
		defer f.Close()
		pcm, err := media.ReadWAV(f)
		if err != nil {
			return o, fmt.Errorf("--play %s: %w", m.play, err)
		}
		o.Source = media.NewSamples(pcm)
	case m.silence:
		o.Source = media.Silence{}
	case m.tone > 0:
		o.Source = media.NewTone(m.tone, 0.3)
	}
	return o, nil
}

// writeRecording saves what a call received, if asked to.
func (m *ueMediaFlags) writeRecording(w io.Writer, c *ue.Call) error {
	if m.record == "" || c == nil {
		return nil
	}
	f, err := os.Create(m.record)
	if err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	pcm := c.Received()
	if err := media.WriteWAV(f, pcm); err != nil {
		f.Close()
		return fmt.Errorf("--record %s: %w", m.record, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--record %s: %w", m.record, err)
	}
	fmt.Fprintf(w, "recorded %.1f s of received audio to %s\n", float64(len(pcm))/8000, m.record)
	return nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// errToneMissing makes `ue call`/`ue answer` exit 4.
var errToneMissing = errors.New("the expected tone was not heard")

func newUECallCmd(logger func() *slog.Logger) *cobra.Command {
	var (
		fl       ueRegisterFlags
		mf       ueMediaFlags
		to       string
		duration time.Duration
		ring     time.Duration
		jsonOut  bool
	)
	c := &cobra.Command{
		Use:   "call --card CARD.yaml --to tel:+1555...|sip:USER@DOMAIN [--duration 5s] [--play F.wav] [--record OUT.wav]",
		Short: "Register, call someone with SRTP voice, hang up after --duration, print the call's statistics",
		Long: `Register with the SIM (as imslab ue register does), then call --to (TS 24.229 §5.1.3):
INVITE with an SDP offer of RTP/SAVP and a=crypto keys (RFC 4568), PRACK for reliable
provisional responses (RFC 3262), ACK, then SRTP voice (RFC 3711) for --duration, BYE,
and the statistics of the audio received (RFC 3550: packets, loss, jitter). The phone
sends a tone (--tone), a WAV file (--play) or silence, and can record what it hears.
Exit codes: 0 the call went through, 1 error, 5 the call did not connect
(the network's answer is printed: 404 unknown, 480 not registered, 486 busy...),
4 the expected tone (--expect-tone) was not heard.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return errors.New("who to call? --to tel:+15550001 or --to sip:user@domain")
			}
			mo, err := mf.options()
			if err != nil {
				return err
			}
			return runUESession(cmd.Context(), cmd.OutOrStdout(), logger(), fl, ue.AnswerPolicy{Mode: ue.AnswerBusy}, func(ctx context.Context, w io.Writer, u *ue.UE) error {
				call, err := u.Dial(ctx, ue.CallOptions{To: to, Media: mo, RingTimeout: ring})
				if err != nil {
					var ce *ue.CallError
					if errors.As(err, &ce) {
						return &exitError{code: 5, err: err}
					}
					return err
				}
				select {
				case <-time.After(duration):
					hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
					err = call.Hangup(hctx)
					cancel()
				case <-call.Done():
				case <-ctx.Done():
					hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
					err = call.Hangup(hctx)
					cancel()
				}
				<-call.Done()
				return finishCall(w, call, mf, jsonOut, err)
			})
		},
	}
	fl.add(c)
	mf.add(c, 440)
	f := c.Flags()
	f.StringVar(&to, "to", "", "callee: tel:+15550001, sip:+15550001@DOMAIN;user=phone or sip:USER@DOMAIN")
	f.DurationVar(&duration, "duration", 5*time.Second, "how long to talk before hanging up")
	f.DurationVar(&ring, "ring-timeout", 60*time.Second, "give up (CANCEL) if not answered within this")
	f.BoolVar(&jsonOut, "json", false, "print the call's result as JSON")
	return c
}

func newUEAnswerCmd(logger func() *slog.Logger) *cobra.Command {
	var (
		fl      ueRegisterFlags
		mf      ueMediaFlags
		rings   int
		period  time.Duration
		mode    string
		calls   int
		hangup  time.Duration
		jsonOut bool
	)
	c := &cobra.Command{
		Use:   "answer --card CARD.yaml [--rings N] [--mode auto|busy|never|decline] [--calls N]",
		Short: "Register and answer incoming calls automatically after N rings, with SRTP voice",
		Long: `Register with the SIM, then wait for calls (TS 24.229 §5.1.4): each INVITE is answered with
a reliable 180 Ringing (RFC 3262, when the caller supports 100rel), then after --rings rings of
--ring-period with a 200 OK carrying the SDP answer (RFC 3264: the first offered codec and SRTP
suite both sides support). The phone sends a tone (--tone), a WAV file (--play) or silence
until the caller hangs up, then prints the call's statistics. --mode busy answers 486,
decline 603, never lets it ring. Ctrl-C (or --calls N ended calls) de-registers and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mo, err := mf.options()
			if err != nil {
				return err
			}
			pol := ue.AnswerPolicy{After: time.Duration(rings) * period, Media: mo, HangupAfter: hangup}
			switch mode {
			case "auto":
			case "busy":
				pol.Mode = ue.AnswerBusy
			case "never":
				pol.Mode = ue.AnswerNever
			case "decline":
				pol.Mode = ue.AnswerDecline
			default:
				return fmt.Errorf("--mode %q: want auto, busy, never or decline", mode)
			}
			return runUESession(cmd.Context(), cmd.OutOrStdout(), logger(), fl, pol, func(ctx context.Context, w io.Writer, u *ue.UE) error {
				fmt.Fprintln(w, "waiting for calls (Ctrl-C de-registers and exits)")
				var bad error
				for n := 0; calls == 0 || n < calls; n++ {
					call, err := u.NextCall(ctx)
					if err != nil {
						return bad
					}
					<-call.Done()
					if err := finishCall(w, call, mf, jsonOut, nil); err != nil {
						bad = err
					}
				}
				return bad
			})
		},
	}
	fl.add(c)
	mf.add(c, 1000)
	f := c.Flags()
	f.IntVar(&rings, "rings", 1, "rings before answering")
	f.DurationVar(&period, "ring-period", time.Second, "length of one ring")
	f.StringVar(&mode, "mode", "auto", "auto (answer), busy (486), never (ring), decline (603)")
	f.IntVar(&calls, "calls", 0, "exit after this many answered calls have ended (0: until Ctrl-C)")
	f.DurationVar(&hangup, "hangup-after", 0, "hang up an answered call after this long (0: wait for the caller's BYE)")
	f.BoolVar(&jsonOut, "json", false, "print each call's result as JSON")
	return c
}

// add declares the card and registration flags shared by the ue commands.
func (fl *ueRegisterFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&fl.card, "card", "", "software card file: CARD.yaml, as imslab sim new writes it")
	f.StringVar(&fl.reader, "reader", "", "card reader: pcsc (first reader), pcsc:N, or soft:CARD.yaml")
	f.StringVar(&fl.pin, "pin", "", "PIN1, for a PIN-protected card")
	f.StringVar(&fl.app, "app", "", "application that authenticates: isim or usim (default: the ISIM when the card has one)")
	f.StringVar(&fl.pcscf, "pcscf", "", "P-CSCF HOST:PORT (default: the ISIM's EF_PCSCF, else "+ue.DefaultPCSCF+")")
	f.StringVar(&fl.transport, "transport", ue.DefaultTransport, "SIP transport: udp or tcp")
	f.StringVar(&fl.local, "local", ue.DefaultLocalAddr, "local SIP address (the Contact)")
	f.IntVar(&fl.expires, "expires", int(ue.DefaultExpires/time.Second), "registration expiry to ask for, in seconds")
	f.BoolVar(&fl.messages, "messages", false, "also print every SIP message in full")
	f.StringVar(&fl.attach, "attach", "", "attach to the EPC first (its MME, e.g. 127.0.0.1:36412: imslab epc); the P-CSCF then comes from the PCO, and SIP and RTP go through GTP-U")
}

// runUESession opens the card, registers (keeping the registration up
// while body runs), runs body, then de-registers.
func runUESession(ctx context.Context, w io.Writer, log *slog.Logger, fl ueRegisterFlags, pol ue.AnswerPolicy,
	body func(ctx context.Context, w io.Writer, u *ue.UE) error) (err error) {
	card, err := fl.openCard(ctx, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, card.Close()) }()
	out := &lockedWriter{w: w}
	registered := make(chan struct{})
	var once bool
	cfg := fl.config(card, log, out)
	cfg.Answer = pol
	cfg.OnEvent = func(ev ue.Event) {
		if ev.Kind == ue.Registered && !once {
			once = true
			close(registered)
		}
		printUEEvent(out, ev)
	}
	u, err := ue.New(cfg)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- u.Run(runCtx) }()
	select {
	case <-registered:
	case err := <-runErr:
		if err == nil {
			err = errors.New("stopped before registering")
		}
		return explainUEError(err)
	}
	bodyErr := body(ctx, out, u)
	stop()
	if err := <-runErr; err != nil && bodyErr == nil {
		bodyErr = explainUEError(err)
	}
	return bodyErr
}

// finishCall prints a call's result and saves its recording.
func finishCall(w io.Writer, c *ue.Call, mf ueMediaFlags, jsonOut bool, hangupErr error) error {
	r := c.Result()
	if r == nil {
		return errors.New("the call has no result")
	}
	if jsonOut {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintln(w, string(b))
	} else {
		fmt.Fprintf(w, "\ncall %s %s: set up in %s, lasted %s, ended by the %s side (%s)\n    %s\n",
			r.Direction, r.Peer, r.Setup.Round(time.Millisecond), r.Duration, r.EndedBy, r.Reason, r.Media.Summary())
	}
	if err := mf.writeRecording(w, c); err != nil {
		return err
	}
	if hangupErr != nil {
		return hangupErr
	}
	if mf.expect > 0 && !r.Media.ToneHeard {
		return &exitError{code: 4, err: fmt.Errorf("%w: no %.0f Hz in the audio received", errToneMissing, mf.expect)}
	}
	return nil
}
