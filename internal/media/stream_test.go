package media

import (
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
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

func mustCrypto(t testing.TB, suite string) Crypto {
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
					// Jitter depends on the machine's load: measured by the
					// benchmark, not asserted here (its arithmetic is
					// tested in stats_test.go).
					t.Logf("%s: jitter %v", c.name, st.JitterDuration(ClockRate))
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
		"no conn":         {Remote: c.LocalAddr(), Codec: PCMU, LocalCrypto: k, RemoteCrypto: k},
		"no codec":        {Conn: c, Remote: c.LocalAddr(), LocalCrypto: k, RemoteCrypto: k},
		"no crypto":       {Conn: c, Remote: c.LocalAddr(), Codec: PCMU, LocalCrypto: k},
		"no local crypto": {Conn: c, Remote: c.LocalAddr(), Codec: PCMU, RemoteCrypto: k},
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

func TestSessionPlainRTP(t *testing.T) {
	// Both cryptos zero: plain RTP (RTP fallback). The wire carries RTP
	// that anyone can parse.
	var mu sync.Mutex
	var wire [][]byte
	tap := func(sent bool, _, _ net.Addr, p []byte) {
		if sent {
			mu.Lock()
			wire = append(wire, append([]byte(nil), p...))
			mu.Unlock()
		}
	}
	ca, cb := listen(t), listen(t)
	a, err := NewSession(Config{Conn: ca, Remote: cb.LocalAddr(), Codec: PCMA, Source: NewTone(1000, 0.5), MaxPackets: 50, Tap: tap})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSession(Config{Conn: cb, Remote: ca.LocalAddr(), Codec: PCMA, Source: NewTone(440, 0.5), MaxPackets: 50})
	if err != nil {
		t.Fatal(err)
	}
	runPair(t, a, b, 50)
	if !DetectTone(a.Received(), 440) || !DetectTone(b.Received(), 1000) {
		t.Fatal("tones not received over plain RTP")
	}
	if sa, sb := a.Stats(), b.Stats(); sa.Packets != 50 || sb.Packets != 50 || sa.AuthFailed+sb.AuthFailed != 0 {
		t.Fatalf("stats %v / %v", &sa, &sb)
	}
	mu.Lock()
	defer mu.Unlock()
	var pkt rtp.Packet
	if len(wire) != 50 || pkt.Unmarshal(wire[0]) != nil || len(wire[0]) != 12+SamplesPerPacket ||
		pkt.PayloadType != PCMA.PayloadType || !pkt.Marker || pkt.SSRC != a.SSRC() {
		t.Fatalf("%d packets on the wire, first %x", len(wire), wire[0])
	}
}

func TestSessionTap(t *testing.T) {
	type tapped struct {
		sent          bool
		local, remote string
		packet        []byte
	}
	var mu sync.Mutex
	var returned bool
	taps := map[string][]tapped{}
	tap := func(name string) func(bool, net.Addr, net.Addr, []byte) {
		return func(sent bool, local, remote net.Addr, p []byte) {
			mu.Lock()
			defer mu.Unlock()
			if returned {
				t.Errorf("%s: Tap called after Run returned", name)
			}
			taps[name] = append(taps[name], tapped{sent, local.String(), remote.String(), append([]byte(nil), p...)})
		}
	}
	ka, kb := mustCrypto(t, SuiteAES128CMSHA1_80), mustCrypto(t, SuiteAES128CMSHA1_80)
	ca, cb := listen(t), listen(t)
	a, err := NewSession(Config{Conn: ca, Remote: cb.LocalAddr(), Codec: PCMU, LocalCrypto: ka, RemoteCrypto: kb,
		Source: NewTone(1000, 0.5), MaxPackets: 20, Tap: tap("a")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSession(Config{Conn: cb, Remote: ca.LocalAddr(), Codec: PCMU, LocalCrypto: kb, RemoteCrypto: ka,
		Source: NewTone(440, 0.5), MaxPackets: 20, Tap: tap("b")})
	if err != nil {
		t.Fatal(err)
	}
	runPair(t, a, b, 20)
	mu.Lock()
	returned = true
	mu.Unlock()
	time.Sleep(50 * time.Millisecond) // a late Tap would be caught now

	mu.Lock()
	defer mu.Unlock()
	split := func(name string) (sent, recv []tapped) {
		for _, p := range taps[name] {
			if p.sent {
				sent = append(sent, p)
			} else {
				recv = append(recv, p)
			}
		}
		return sent, recv
	}
	aSent, aRecv := split("a")
	bSent, bRecv := split("b")
	if len(aSent) != 20 || len(bRecv) != 20 || len(bSent) != 20 || len(aRecv) != 20 {
		t.Fatalf("tapped a %d/%d, b %d/%d (sent/received)", len(aSent), len(aRecv), len(bSent), len(bRecv))
	}
	for i := range aSent {
		// The SRTP bytes: RTP header, 160 encrypted bytes, 10-byte tag (RFC 3711 §3.1).
		s, r := aSent[i], bRecv[i]
		if !bytes.Equal(s.packet, r.packet) || len(s.packet) != 12+SamplesPerPacket+10 {
			t.Fatalf("packet %d: sent %x, received %x", i, s.packet, r.packet)
		}
		if s.local != ca.LocalAddr().String() || s.remote != cb.LocalAddr().String() ||
			r.local != cb.LocalAddr().String() || r.remote != ca.LocalAddr().String() {
			t.Fatalf("packet %d addresses: sent %s→%s, received %s←%s", i, s.local, s.remote, r.local, r.remote)
		}
	}
	var pkt rtp.Packet
	plain := PCMU.Encode(make([]int16, SamplesPerPacket))
	if err := pkt.Unmarshal(aSent[0].packet); err != nil || pkt.SSRC != a.SSRC() || bytes.Contains(aSent[0].packet, plain[:16]) {
		t.Fatalf("not an SRTP packet of A: %x (%v)", aSent[0].packet, err)
	}
}

// One packet sent and one received allocate nothing once the recording is
// full (Codec.Encode, in send, allocates the payload).
func TestSessionPacketAllocs(t *testing.T) {
	if bi, ok := debug.ReadBuildInfo(); ok && slices.Contains(bi.Settings, debug.BuildSetting{Key: "-race", Value: "true"}) {
		t.Skip("the race detector adds allocations")
	}
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
	for _, suite := range append(SupportedSuites(), "") {
		var ka, kb Crypto
		if suite != "" {
			ka, kb = mustCrypto(t, suite), mustCrypto(t, suite)
		}
		c := listen(t)
		a, errA := NewSession(Config{Conn: c, Remote: from, Codec: PCMU, LocalCrypto: ka, RemoteCrypto: kb, MaxRecord: time.Second})
		b, errB := NewSession(Config{Conn: c, Remote: from, Codec: PCMU, LocalCrypto: kb, RemoteCrypto: ka, MaxRecord: time.Second})
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		payload := PCMU.Encode(make([]int16, SamplesPerPacket))
		roundTrip := func() {
			w, err := a.packet(false, payload)
			if err != nil {
				t.Fatal(err)
			}
			b.handle(w, from, 0)
		}
		for range 60 { // fill the 1 s recording
			roundTrip()
		}
		if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
			t.Errorf("%q: %v allocations per packet", suite, n)
		}
		if st := b.Stats(); st.Packets != 261 || st.Lost != 0 {
			t.Errorf("%q: stats %v", suite, &st)
		}
	}
}

func BenchmarkSessionPacket(b *testing.B) {
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
	ka, kb := mustCrypto(b, SuiteAES128CMSHA1_80), mustCrypto(b, SuiteAES128CMSHA1_80)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tx, _ := NewSession(Config{Conn: c, Remote: from, Codec: PCMU, LocalCrypto: ka, RemoteCrypto: kb, MaxRecord: time.Second})
	rx, _ := NewSession(Config{Conn: c, Remote: from, Codec: PCMU, LocalCrypto: kb, RemoteCrypto: ka, MaxRecord: time.Second})
	pcm := make([]int16, SamplesPerPacket)
	b.ReportAllocs()
	for b.Loop() {
		w, err := tx.packet(false, PCMU.Encode(pcm))
		if err != nil {
			b.Fatal(err)
		}
		rx.handle(w, from, 0)
	}
}

// An offer/answer exchange configures two Sessions that hear each other.
func TestSessionFromOfferAnswer(t *testing.T) {
	for name, answerer := range map[string]Local{
		"srtp":         {Cryptos: mustCryptos(t, SuiteAES128CMSHA1_32, SuiteAES128CMSHA1_80), Codecs: []Codec{PCMA}},
		"rtp fallback": {},
	} {
		t.Run(name, func(t *testing.T) {
			ca, cb := listen(t), listen(t)
			offerer := Local{Addr: ca.LocalAddr().(*net.UDPAddr).AddrPort(), Cryptos: mustCryptos(t), AllowRTP: true}
			answerer.Addr = cb.LocalAddr().(*net.UDPAddr).AddrPort()
			offer, err := offerer.Offer()
			if err != nil {
				t.Fatal(err)
			}
			if len(answerer.Cryptos) == 0 {
				// A plain-RTP peer refuses RTP/SAVP (RFC 3264 §6); this one
				// is sent an RTP/AVP offer and we accept its RTP/AVP answer.
				offer = bytes.Replace(offer, []byte("RTP/SAVP"), []byte("RTP/AVP"), 1)
			}
			answer, na, err := answerer.Answer(offer)
			if err != nil {
				t.Fatal(err)
			}
			no, err := offerer.ProcessAnswer(answer)
			if err != nil {
				t.Fatal(err)
			}
			if no.SRTP != (name == "srtp") {
				t.Fatalf("negotiated %+v", no)
			}
			cfgA, cfgB := no.SessionConfig(ca), na.SessionConfig(cb)
			cfgA.Source, cfgA.MaxPackets = NewTone(1000, 0.5), 50
			cfgB.Source, cfgB.MaxPackets = NewTone(440, 0.5), 50
			a, err := NewSession(cfgA)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewSession(cfgB)
			if err != nil {
				t.Fatal(err)
			}
			runPair(t, a, b, 50)
			if !DetectTone(a.Received(), 440) || !DetectTone(b.Received(), 1000) {
				t.Fatalf("tones not heard: %v / %v", a.Check(), b.Check())
			}
		})
	}
}
