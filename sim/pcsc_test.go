package sim

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/pcsctest"
)

// slogT writes log records to t.Log.
type slogT struct{ t testing.TB }

func (w slogT) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// openWhenPresent retries OpenPCSC until the virtual card is in the reader.
func openWhenPresent(t *testing.T, ctx context.Context, reader string) *PCSC {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := OpenPCSC(ctx, reader)
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("OpenPCSC(%q) for 10s: %v", reader, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPCSCThroughVPCD puts a fake card in a private pcscd's vpcd reader with
// VPCD, then drives it with OpenPCSC and pcsc_scan, across a pcscd restart.
func TestPCSCThroughVPCD(t *testing.T) {
	start := time.Now()
	lap := func(what string) { t.Logf("%-28s %v", what, time.Since(start).Round(time.Millisecond)) }
	pcsctest.Require(t, "pcsc_scan")
	d := pcsctest.Start(t)
	lap("pcscd up")

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	card := &echoCard{}
	log := slog.New(slog.NewTextHandler(slogT{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	runVPCD(t, &VPCD{Addr: d.VPCDAddr, Card: card, Log: log, RetryInterval: 100 * time.Millisecond})

	p := openWhenPresent(t, ctx, "")
	defer p.Close()
	lap("card present, opened")
	if p.Reader() != d.ReaderName {
		t.Errorf("first reader with a card = %q, want %q", p.Reader(), d.ReaderName)
	}
	if !bytes.Equal(p.ATR(), echoATR) {
		t.Errorf("ATR = % X, want % X", p.ATR(), echoATR)
	}
	if got, err := p.Transmit(ctx, mustHex("00A40004023F00")); err != nil || !bytes.Equal(got, []byte{0x90, 0x00}) {
		t.Errorf("SELECT MF -> % X, %v; want 90 00", got, err)
	}
	if got, err := p.Transmit(ctx, mustHex("80EE000003CAFE01")); err != nil || !bytes.Equal(got, mustHex("CAFE019000")) {
		t.Errorf("echo -> % X, %v; want CA FE 01 90 00", got, err)
	}
	if n := card.resetCount(); n < 1 {
		t.Errorf("the card saw %d power on/reset, want at least 1", n)
	}
	lap("APDUs round-tripped")

	readers, err := ListReaders(ctx)
	if err != nil || len(readers) != 2 || readers[0] != d.ReaderName {
		t.Errorf("ListReaders = %q, %v; want [%q, second slot]", readers, err, d.ReaderName)
	}
	// The other ways of naming the reader, and the errors that tell what to do.
	for _, name := range []string{"0", d.ReaderName, "PCD 00 00"} {
		q, err := OpenPCSC(ctx, name)
		if err != nil {
			t.Errorf("OpenPCSC(%q): %v", name, err)
			continue
		}
		if q.Reader() != d.ReaderName {
			t.Errorf("OpenPCSC(%q) opened %q", name, q.Reader())
		}
		q.Close()
	}
	for name, want := range map[string]struct {
		err  error
		text string
	}{
		"7":         {ErrNoReader, `out of range: pcscd has 2 reader(s): 0: "Virtual PCD 00 00"`},
		"1":         {ErrNoCard, "holds no card"},
		"Virtual":   {ErrNoReader, "matches 2 readers"},
		"no-such-1": {ErrNoReader, "no reader named"},
	} {
		_, err := OpenPCSC(ctx, name)
		if !errors.Is(err, want.err) || !strings.Contains(fmtErr(err), want.text) {
			t.Errorf("OpenPCSC(%q) = %v; want %v saying %q", name, err, want.err, want.text)
		}
	}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := p.Transmit(cctx, mustHex("00A40004023F00")); !errors.Is(err, context.Canceled) {
		t.Errorf("Transmit with a cancelled ctx: %v", err)
	}
	lap("reader selection checked")

	// pcsc_scan, a program nobody here wrote, sees the reader and the card.
	scan := func(args ...string) string {
		sctx, scancel := context.WithTimeout(ctx, 8*time.Second)
		defer scancel()
		cmd := exec.CommandContext(sctx, "pcsc_scan", args...)
		cmd.Env = d.Env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("pcsc_scan %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("pcsc_scan %s:\n%s", strings.Join(args, " "), strings.TrimSpace(string(out)))
		return string(out)
	}
	if out := scan("-r"); !strings.Contains(out, "0: "+d.ReaderName) {
		t.Errorf("pcsc_scan -r does not list %q:\n%s", d.ReaderName, out)
	}
	if out := scan("-c", "-n", "-t", "1"); !strings.Contains(out, "3B 9F 96 80 1F C7 80 31 E0 73 FE 21 1B 63 3A 20 4C 03 42 00 5A") {
		t.Errorf("pcsc_scan -c does not show the card's ATR:\n%s", out)
	}
	lap("pcsc_scan saw reader and card")

	// pcscd restarts: the VPCD client must reconnect by itself.
	p.Close()
	resetsBefore := card.resetCount()
	d.Restart()
	lap("pcscd restarted")
	p2 := openWhenPresent(t, ctx, d.ReaderName)
	defer p2.Close()
	lap("card back after restart")
	if got, err := p2.Transmit(ctx, mustHex("00A40004023F00")); err != nil || !bytes.Equal(got, []byte{0x90, 0x00}) {
		t.Errorf("SELECT MF after restart -> % X, %v", got, err)
	}
	if card.resetCount() <= resetsBefore {
		t.Error("the card was not powered on again after the restart")
	}

	// Without pcscd, the error says how to start it.
	p2.Close()
	d.Stop()
	_, err = ListReaders(ctx)
	if !errors.Is(err, ErrNoPCSCD) || !strings.Contains(err.Error(), "pcscd -f") {
		t.Errorf("ListReaders without pcscd = %v; want ErrNoPCSCD saying `pcscd -f`", err)
	}
	lap("done")
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
