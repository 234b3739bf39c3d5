package media

import (
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

func listen(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func mustCrypto(t *testing.T, suite string) Crypto {
	t.Helper()
	c, err := NewCrypto(1, suite)
	if err != nil {
		t.Fatal(err)
	}
	// Exchange through SDP text, as the UEs will.
	c, err = ParseCrypto(c.Line())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runPair runs both sessions until each has received want packets (or 5 s),
// then cancels and checks that Run returns promptly.
func runPair(t *testing.T, a, b *Session, want uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*Session{a, b} {
		wg.Go(func() { errs[i] = s.Run(ctx) })
	}
	for ctx.Err() == nil {
		if sa, sb := a.Stats(), b.Stats(); sa.Packets >= want && sb.Packets >= want {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(60 * time.Millisecond) // let any extra packet arrive
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after ctx was cancelled")
	}
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
}

func newPair(t *testing.T, codec Codec, ka, kb, ra, rb Crypto, srcA, srcB Source) (*Session, *Session) {
	t.Helper()
	ca, cb := listen(t), listen(t)
	a, err := NewSession(Config{Conn: ca, Remote: cb.LocalAddr(), Codec: codec,
		LocalCrypto: ka, RemoteCrypto: rb, Source: srcA, MaxPackets: 50})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSession(Config{Conn: cb, Remote: ca.LocalAddr(), Codec: codec,
		LocalCrypto: kb, RemoteCrypto: ra, Source: srcB, MaxPackets: 50})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestSessionToneBothWays(t *testing.T) {
	for _, suite := range SupportedSuites() {
		for _, codec := range []Codec{PCMU, PCMA} {
			t.Run(suite+"/"+codec.Name, func(t *testing.T) {
				t.Parallel()
				ka, kb := mustCrypto(t, suite), mustCrypto(t, suite)
				a, b := newPair(t, codec, ka, kb, ka, kb, NewTone(1000, 0.5), NewTone(440, 0.5))
				runPair(t, a, b, 50)
				for _, c := range []struct {
					name      string
					s         *Session
					hear, not float64
				}{{"a", a, 440, 1000}, {"b", b, 1000, 440}} {
					st := c.s.Stats()
					if st.Packets != 50 || st.Expected != 50 || st.Lost != 0 || st.AuthFailed != 0 {
						t.Errorf("%s stats: %v", c.name, &st)
					}
					if st.JitterDuration(ClockRate) > 20*time.Millisecond {
						t.Errorf("%s: jitter %v on loopback", c.name, st.JitterDuration(ClockRate))
					}
					if sent, errs := c.s.Sent(); sent != 50 || errs != 0 {
						t.Errorf("%s sent %d (errors %d)", c.name, sent, errs)
					}
					pcm := c.s.Received()
					if len(pcm) != 50*SamplesPerPacket {
						t.Errorf("%s received %d samples", c.name, len(pcm))
					}
					if !DetectTone(pcm, c.hear) || DetectTone(pcm, c.not) {
						t.Errorf("%s: want %v Hz only (power %g / %g)", c.name, c.hear,
							GoertzelPower(pcm, c.hear, ClockRate), GoertzelPower(pcm, c.not, ClockRate))
					}
					if err := c.s.Check(); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
}

func TestSessionWAVAndSilence(t *testing.T) {
	t.Parallel()
	// A plays a WAV file, B sends silence; A's recording of B is silent,
	// B's recording (written to WAV and read back) carries A's tone.
	var wav bytes.Buffer
	if err := WriteWAV(&wav, NewTone(700, 0.4).Samples(ClockRate)); err != nil {
		t.Fatal(err)
	}
	pcm, err := ReadWAV(&wav)
	if err != nil {
		t.Fatal(err)
	}
	ka, kb := mustCrypto(t, SuiteAES128CMSHA1_80), mustCrypto(t, SuiteAES128CMSHA1_80)
	a, b := newPair(t, PCMA, ka, kb, ka, kb, NewSamples(pcm), nil)
	runPair(t, a, b, 50)
	var rec bytes.Buffer
	if err := WriteWAV(&rec, b.Received()); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWAV(&rec)
	if err != nil || !DetectTone(got, 700) {
		t.Fatalf("700 Hz not in B's recording (%d samples, %v)", len(got), err)
	}
	for _, v := range a.Received() {
		if v > 16 || v < -16 {
			t.Fatalf("A received non-silence %d", v)
		}
	}
	if st := a.Stats(); st.Packets != 50 {
		t.Fatalf("A stats %v", &st)
	}
}

func TestSessionKeyMismatch(t *testing.T) {
	t.Parallel()
	ka, kb := mustCrypto(t, SuiteAES128CMSHA1_80), mustCrypto(t, SuiteAES128CMSHA1_80)
	wrongA, wrongB := mustCrypto(t, SuiteAES128CMSHA1_80), mustCrypto(t, SuiteAES128CMSHA1_80)
	ca, cb := listen(t), listen(t)
	a, err := NewSession(Config{Conn: ca, Remote: cb.LocalAddr(), Codec: PCMU,
		LocalCrypto: ka, RemoteCrypto: wrongB, Source: NewTone(1000, 0.5), MaxPackets: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSession(Config{Conn: cb, Remote: ca.LocalAddr(), Codec: PCMU,
		LocalCrypto: kb, RemoteCrypto: wrongA, Source: NewTone(440, 0.5), MaxPackets: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx) })
	wg.Go(func() { _ = b.Run(ctx) })
	for ctx.Err() == nil && (a.Stats().AuthFailed < 10 || b.Stats().AuthFailed < 10) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for _, s := range []*Session{a, b} {
		st := s.Stats()
		if st.Packets != 0 || st.AuthFailed != 10 || len(s.Received()) != 0 {
			t.Errorf("stats %v, received %d samples", &st, len(s.Received()))
		}
		err := s.Check()
		if !errors.Is(err, ErrNoAudio) {
			t.Errorf("Check = %v, want ErrNoAudio", err)
		}
		t.Log(err)
	}
}

func TestSessionConfigErrors(t *testing.T) {
	c := listen(t)
	k := mustCrypto(t, SuiteAES128CMSHA1_80)
	for name, cfg := range map[string]Config{
		"no conn":   {Remote: c.LocalAddr(), Codec: PCMU, LocalCrypto: k, RemoteCrypto: k},
		"no codec":  {Conn: c, Remote: c.LocalAddr(), LocalCrypto: k, RemoteCrypto: k},
		"no crypto": {Conn: c, Remote: c.LocalAddr(), Codec: PCMU, LocalCrypto: k},
	} {
		if _, err := NewSession(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := NewSession(Config{Conn: c, Remote: c.LocalAddr(), Codec: PCMU, LocalCrypto: k, RemoteCrypto: k, MaxPackets: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	before := runtime.NumGoroutine()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Every goroutine Run started has ended (allow the runtime a moment).
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Run, %d before", n, before)
	}
	if st := s.Stats(); st.Packets != 1 {
		t.Fatalf("looped-back packet not received: %v", &st)
	}
	if err := s.Run(ctx); err == nil {
		t.Fatal("second Run accepted")
	}
}

func TestSessionMKI(t *testing.T) {
	t.Parallel()
	// RFC 4568 §6.1 MKI "1:4" on both sides: packets carry a 4-byte MKI.
	ka, kb := mustCrypto(t, SuiteAES128CMSHA1_32), mustCrypto(t, SuiteAES128CMSHA1_32)
	ka.MKI, kb.MKI = "1:4", "2:4"
	a, b := newPair(t, PCMU, ka, kb, ka, kb, NewTone(1000, 0.5), NewTone(440, 0.5))
	runPair(t, a, b, 50)
	if !DetectTone(a.Received(), 440) || !DetectTone(b.Received(), 1000) {
		t.Fatal("tones not received with MKI")
	}
	if sa, sb := a.Stats(), b.Stats(); sa.Lost != 0 || sb.Lost != 0 || sa.Packets != 50 || sb.Packets != 50 {
		t.Fatalf("stats %v / %v", &sa, &sb)
	}
}
