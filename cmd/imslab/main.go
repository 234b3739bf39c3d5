// Command imslab is the one binary of the lab: each subcommand builds a
// service's configuration and runs it (imslab sim ..., later hss, scscf,
// pcscf, ue, epc, demo).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if !ee.quiet {
				fmt.Fprintln(os.Stderr, "imslab:", err)
			}
			stop()
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "imslab:", err)
		stop()
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:           "imslab",
		Short:         "A small, real IMS core and a simulated 4G phone",
		Long:          "imslab: VoLTE is SIP. A SIM, an HSS, P-CSCF and S-CSCF, and UEs, with real protocols on real sockets.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log protocol events (debug level) to stderr")
	logger := func() *slog.Logger { return newLogger(verbose) }
	root.PersistentPreRun = func(*cobra.Command, []string) {
		// Libraries that log through slog's default (sipgo) say only
		// errors, unless -v.
		lvl := slog.LevelError
		if verbose {
			lvl = slog.LevelDebug
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
	}
	root.AddCommand(newSimCmd(logger), newHSSCmd(logger), newSCSCFCmd(logger), newPCSCFCmd(logger), newUECmd(logger), newDemoCmd(), newTraceCmd(), newLoadCmd(logger), newEPCCmd(logger))
	return root
}

// newLogger logs to stderr, at debug level with -v.
func newLogger(verbose bool) *slog.Logger {
	lvl := slog.LevelInfo
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}
