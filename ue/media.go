package ue

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/imslab/imslab/internal/media"
)

// DefaultSuites are the SRTP crypto suites a UE offers and accepts, in
// preference order (RFC 4568 §6.2, RFC 7714 §14.2: AEAD_AES_128_GCM where
// both sides have it, else the suites every SDES phone has).
var DefaultSuites = []string{"AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"}

// MediaOptions say what a UE sends and accepts in a call.
type MediaOptions struct {
	// Source is what the UE sends: a media.Tone, media.Samples (a WAV
	// file), or nil for silence.
	Source media.Source
	// Codecs are the G.711 codecs offered or accepted, in preference order
	// (default PCMU, PCMA).
	Codecs []string
	// Suites are the SRTP suites offered or accepted (default DefaultSuites).
	Suites []string
	// AllowRTP accepts a call without SRTP (RTP/AVP). Off by default: SRTP
	// is required.
	AllowRTP bool
	// ExpectTone, in Hz, checks that the audio received holds that tone
	// (MediaResult.ToneHeard).
	ExpectTone float64
}

// Negotiated is what offer and answer settled for a call's audio.
type Negotiated struct {
	Local, Remote  netip.AddrPort // RTP addresses
	Codec          string
	SRTP           bool
	Suite          string
	TelephoneEvent uint8 // payload type, 0 = none
	// LocalKey and RemoteKey are the SRTP master key||salt, base64 as in
	// a=crypto inline: (RFC 4568 §6.1): ours keys what this UE sends, the
	// peer's what it receives. For teaching: they decrypt the capture.
	LocalKey, RemoteKey string
}

// Summary says it in one line.
func (n Negotiated) Summary() string {
	if n.Codec == "" {
		return "no media"
	}
	sec := "plain RTP (no SRTP)"
	if n.SRTP {
		sec = "SRTP " + n.Suite
	}
	return fmt.Sprintf("%s, %s, %s ⇄ %s", n.Codec, sec, n.Local, n.Remote)
}

// MediaResult is what a call's media did.
type MediaResult struct {
	Negotiated
	PacketsSent     uint64        `json:"packets_sent"`
	PacketsReceived uint64        `json:"packets_received"`
	Expected        uint64        `json:"packets_expected"`
	Lost            int64         `json:"packets_lost"`
	LossPercent     float64       `json:"loss_percent"`
	Jitter          time.Duration `json:"jitter"` // RFC 3550 §6.4.1 interarrival jitter
	AuthFailed      uint64        `json:"auth_failed"`
	ToneExpected    float64       `json:"tone_expected_hz,omitempty"`
	ToneHeard       bool          `json:"tone_heard"`
	AudioSeconds    float64       `json:"audio_seconds"`
	Error           string        `json:"error,omitempty"`
}

// Summary says it in one line.
func (r MediaResult) Summary() string {
	if r.Codec == "" {
		return "no media"
	}
	s := fmt.Sprintf("%s: sent %d packets, received %d (lost %d, %.2f%%), jitter %.2f ms, %.1f s of audio",
		r.Negotiated.Summary(), r.PacketsSent, r.PacketsReceived, max(r.Lost, 0), r.LossPercent,
		float64(r.Jitter)/float64(time.Millisecond), r.AudioSeconds)
	if r.ToneExpected > 0 {
		if r.ToneHeard {
			s += fmt.Sprintf(", %.0f Hz tone heard", r.ToneExpected)
		} else {
			s += fmt.Sprintf(", %.0f Hz tone NOT heard", r.ToneExpected)
		}
	}
	if r.Error != "" {
		s += " — " + r.Error
	}
	return s
}

// mediaLeg is one call's audio: the RTP socket, offer/answer state and
// the SRTP session.
type mediaLeg struct {
	u     *UE
	opts  MediaOptions
	conn  net.PacketConn
	local media.Local

	mu      sync.Mutex
	sdp     []byte // our last SDP
	neg     media.Negotiated
	have    bool // neg is set
	sess    *media.Session
	cancel  context.CancelFunc
	done    chan struct{}
	stopped *MediaResult
}

// newMediaLeg opens the RTP socket on the UE's address (RFC 3550 §11: an
// even port is customary, not required) and prepares our side of the SDP.
func (u *UE) newMediaLeg(opts MediaOptions) (*mediaLeg, error) {
	codecs := opts.Codecs
	if len(codecs) == 0 {
		codecs = []string{"PCMU", "PCMA"}
	}
	var cs []media.Codec
	for _, n := range codecs {
		c, err := media.CodecByName(n)
		if err != nil {
			return nil, fmt.Errorf("codec %q: %w (imslab has PCMU and PCMA)", n, err)
		}
		cs = append(cs, c)
	}
	suites := opts.Suites
	if len(suites) == 0 {
		suites = DefaultSuites
	}
	cryptos, err := media.NewCryptos(suites...)
	if err != nil {
		return nil, err
	}
	var conn net.PacketConn
	if u.attachment != nil {
		conn, err = u.attachment.Plane.ListenUDP(0) // RTP inside the GTP-U tunnel
	} else {
		conn, err = net.ListenPacket("udp", net.JoinHostPort(u.contact.Host, "0"))
	}
	if err != nil {
		return nil, fmt.Errorf("opening an RTP socket on %s: %w", u.contact.Host, err)
	}
	ap, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return nil, err
	}
	l := media.Local{Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), Codecs: cs, Cryptos: cryptos,
		AllowRTP: opts.AllowRTP, Username: "imslab"}
	return &mediaLeg{u: u, opts: opts, conn: conn, local: l, done: make(chan struct{})}, nil
}

// offer is our SDP offer (RFC 3264 §5).
func (m *mediaLeg) offer() ([]byte, error) {
	b, err := m.local.Offer()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.sdp = b
	m.mu.Unlock()
	return b, nil
}

// answer answers the peer's offer (RFC 3264 §6); the error wraps a media
// Err* saying why nothing is acceptable.
func (m *mediaLeg) answer(offer []byte) ([]byte, error) {
	b, n, err := m.local.Answer(offer)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.sdp, m.neg, m.have = b, n, true
	m.mu.Unlock()
	return b, nil
}

// accept takes the peer's answer to our offer (RFC 3264 §5, §7).
func (m *mediaLeg) accept(answer []byte) error {
	if len(answer) == 0 {
		return errors.New("no SDP answer in the 200 nor in a reliable provisional response (RFC 3264 §5)")
	}
	n, err := m.local.ProcessAnswer(answer)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.neg, m.have = n, true
	m.mu.Unlock()
	return nil
}

// localSDP is our last SDP (for a re-INVITE's answer).
func (m *mediaLeg) localSDP() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sdp
}

// start runs the media session until stop or ctx ends.
func (m *mediaLeg) start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.have || m.sess != nil || m.stopped != nil {
		return
	}
	cfg := m.neg.SessionConfig(m.conn)
	cfg.Source = m.opts.Source
	cfg.Logger = m.u.log
	if m.u.cfg.Trace != nil { // a tap per packet costs, even doing nothing
		proto := "RTP"
		if m.neg.SRTP {
			proto = "SRTP"
		}
		cfg.Tap = func(sent bool, local, remote net.Addr, pkt []byte) { m.u.traceMedia(proto, sent, local, remote, pkt) }
	}
	s, err := media.NewSession(cfg)
	if err != nil {
		m.u.log.Warn("media session not started", "err", err)
		return
	}
	m.sess = s
	ctx, m.cancel = context.WithCancel(ctx)
	m.u.callWG.Add(1)
	go func() {
		defer m.u.callWG.Done()
		defer close(m.done)
		if err := s.Run(ctx); err != nil {
			m.u.log.Warn("media session failed", "err", err)
		}
	}()
}

// negotiated describes the negotiated media.
func (m *mediaLeg) negotiated() Negotiated {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.have {
		return Negotiated{}
	}
	n := Negotiated{Local: m.local.Addr, Remote: m.neg.Remote, Codec: m.neg.Codec.Name, SRTP: m.neg.SRTP,
		TelephoneEvent: m.neg.TelephoneEventPT}
	if m.neg.SRTP {
		n.Suite = m.neg.LocalCrypto.Suite
		n.LocalKey = inlineKey(m.neg.LocalCrypto)
		n.RemoteKey = inlineKey(m.neg.RemoteCrypto)
	}
	return n
}

func inlineKey(c media.Crypto) string {
	return base64.StdEncoding.EncodeToString(append(append([]byte(nil), c.Key...), c.Salt...))
}

// received is the audio received so far.
func (m *mediaLeg) received() []int16 {
	m.mu.Lock()
	s := m.sess
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Received()
}

// stop ends the session, closes the socket and says what the media did.
func (m *mediaLeg) stop() MediaResult {
	m.mu.Lock()
	if m.stopped != nil {
		r := *m.stopped
		m.mu.Unlock()
		return r
	}
	s, cancel := m.sess, m.cancel
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-m.done
	}
	r := MediaResult{Negotiated: m.negotiated(), ToneExpected: m.opts.ExpectTone}
	if s != nil {
		st := s.Stats()
		r.PacketsSent, _ = s.Sent()
		r.PacketsReceived, r.Expected, r.Lost, r.AuthFailed = st.Packets, st.Expected, st.Lost, st.AuthFailed
		r.LossPercent = 100 * st.FractionLost()
		r.Jitter = st.JitterDuration(media.ClockRate)
		pcm := s.Received()
		r.AudioSeconds = float64(len(pcm)) / media.ClockRate
		if r.ToneExpected > 0 {
			r.ToneHeard = media.DetectTone(pcm, r.ToneExpected)
		}
		if err := s.Check(); err != nil {
			r.Error = err.Error()
		}
	}
	_ = m.conn.Close()
	m.mu.Lock()
	m.stopped = &r
	m.mu.Unlock()
	return r
}

// close releases a leg that never started.
func (m *mediaLeg) close() { m.stop() }
