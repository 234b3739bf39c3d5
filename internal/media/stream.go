package media

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// PacketInterval is the packetisation time (RFC 3551 §4.5: 20 ms default for G.711).
const PacketInterval = 20 * time.Millisecond

// DefaultMaxRecord bounds how much received audio a Session keeps.
const DefaultMaxRecord = 10 * time.Minute

// ErrNoAudio is wrapped by Session.Check when nothing usable was received.
var ErrNoAudio = errors.New("media: no audio received")

// Config configures a Session. Conn, Remote, Codec, Local and Remote crypto are required.
type Config struct {
	Conn   net.PacketConn // local RTP socket; the caller owns and closes it (Run leaves its read deadline expired)
	Remote net.Addr       // where to send RTP (the peer's c=/m= address)
	Codec  Codec          // PCMU or PCMA
	// LocalCrypto is the a=crypto we put in our SDP: it keys what we send.
	// RemoteCrypto is the a=crypto from the peer's SDP: it keys what we receive
	// (RFC 4568 §6.1: each direction uses the key of its sender).
	LocalCrypto, RemoteCrypto Crypto
	Source                    Source        // nil means Silence
	MaxPackets                int           // stop sending after this many packets; 0 = no limit
	SSRC                      uint32        // 0 = random (RFC 3550 §8)
	MaxRecord                 time.Duration // received audio kept; 0 = DefaultMaxRecord
	Logger                    *slog.Logger  // nil = discard
}

// Session sends and receives one SRTP audio stream. Create it with
// NewSession, drive it with Run, and read Stats/Received afterwards (or
// concurrently: they are safe for concurrent use).
type Session struct {
	cfg  Config
	log  *slog.Logger
	enc  *srtp.Context
	dec  *srtp.Context
	ssrc uint32
	seq  uint16
	ts   uint32

	mu       sync.Mutex
	stats    Stats
	received []int16
	sent     uint64
	sendErrs uint64
	lastErr  error
	ran      bool
}

// NewSession validates cfg and creates the SRTP contexts (RFC 3711 §3.2.1:
// one cryptographic context per direction).
func NewSession(cfg Config) (*Session, error) {
	if cfg.Conn == nil || cfg.Remote == nil {
		return nil, errors.New("media: Config.Conn and Config.Remote are required")
	}
	if _, err := CodecByPayloadType(cfg.Codec.PayloadType); err != nil || cfg.Codec.Name == "" {
		return nil, fmt.Errorf("media: Config.Codec must be PCMU or PCMA: %v", cfg.Codec)
	}
	encProfile, err := cfg.LocalCrypto.Profile()
	if err != nil {
		return nil, fmt.Errorf("media: local crypto: %w", err)
	}
	decProfile, err := cfg.RemoteCrypto.Profile()
	if err != nil {
		return nil, fmt.Errorf("media: remote crypto: %w", err)
	}
	// RFC 3711 §3.1: an MKI from the a=crypto line is carried in each packet.
	encMKI, err := cfg.LocalCrypto.MKIBytes()
	if err != nil {
		return nil, fmt.Errorf("media: local crypto: %w", err)
	}
	decMKI, err := cfg.RemoteCrypto.MKIBytes()
	if err != nil {
		return nil, fmt.Errorf("media: remote crypto: %w", err)
	}
	enc, err := srtp.CreateContext(cfg.LocalCrypto.Key, cfg.LocalCrypto.Salt, encProfile, srtp.MasterKeyIndicator(encMKI))
	if err != nil {
		return nil, fmt.Errorf("media: creating send SRTP context (%s): %w", cfg.LocalCrypto.Suite, err)
	}
	// RFC 3711 §3.3.2: replay protection on the receiver.
	dec, err := srtp.CreateContext(cfg.RemoteCrypto.Key, cfg.RemoteCrypto.Salt, decProfile, srtp.SRTPReplayProtection(128), srtp.MasterKeyIndicator(decMKI))
	if err != nil {
		return nil, fmt.Errorf("media: creating receive SRTP context (%s): %w", cfg.RemoteCrypto.Suite, err)
	}
	if cfg.Source == nil {
		cfg.Source = Silence{}
	}
	if cfg.MaxRecord <= 0 {
		cfg.MaxRecord = DefaultMaxRecord
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// RFC 3550 §5.1: random initial SSRC, sequence number and timestamp.
	var r [10]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("media: random RTP initial values: %w", err)
	}
	s := &Session{cfg: cfg, log: log, enc: enc, dec: dec,
		ssrc: binary.BigEndian.Uint32(r[0:4]),
		seq:  binary.BigEndian.Uint16(r[4:6]),
		ts:   binary.BigEndian.Uint32(r[6:10]),
	}
	if cfg.SSRC != 0 {
		s.ssrc = cfg.SSRC
	}
	return s, nil
}

// SSRC returns the SSRC this Session sends with.
func (s *Session) SSRC() uint32 { return s.ssrc }

// Run sends one packet every 20 ms and receives until ctx ends; then it
// stops all its goroutines and returns nil. It returns an error only if the
// socket fails for a reason other than ctx ending. Run may be called once.
func (s *Session) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errors.New("media: Session.Run called twice")
	}
	s.ran = true
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Unblock ReadFrom when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = s.cfg.Conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	start := time.Now()
	recvErr := make(chan error, 1)
	sendDone := make(chan struct{})
	go func() { recvErr <- s.receive(ctx, start) }()
	go func() { defer close(sendDone); s.send(ctx) }()

	var err error
	select {
	case <-ctx.Done():
		err = <-recvErr
	case err = <-recvErr: // socket failed: stop sending too
		cancel()
	}
	<-sendDone
	return err
}

func (s *Session) send(ctx context.Context) {
	t := time.NewTicker(PacketInterval)
	defer t.Stop()
	pcm := make([]int16, SamplesPerPacket)
	var out []byte
	for n := 0; s.cfg.MaxPackets == 0 || n < s.cfg.MaxPackets; n++ {
		if !s.cfg.Source.Fill(pcm) {
			s.log.Debug("media source exhausted", "packets", n)
			return
		}
		pkt := rtp.Packet{
			Header: rtp.Header{
				Version: 2,
				// RFC 3551 §4.1: marker set on the first packet of a talkspurt.
				Marker:         n == 0,
				PayloadType:    s.cfg.Codec.PayloadType,
				SequenceNumber: s.seq,
				Timestamp:      s.ts,
				SSRC:           s.ssrc,
			},
			Payload: s.cfg.Codec.Encode(pcm),
		}
		s.seq++
		s.ts += SamplesPerPacket // RFC 3550 §5.1: timestamp advances by samples
		raw, err := pkt.Marshal()
		if err == nil {
			out, err = s.enc.EncryptRTP(out[:0], raw, nil)
		}
		if err == nil {
			_, err = s.cfg.Conn.WriteTo(out, s.cfg.Remote)
		}
		s.mu.Lock()
		if err != nil {
			s.sendErrs++
			s.lastErr = fmt.Errorf("media: sending RTP to %s: %w", s.cfg.Remote, err)
		} else {
			s.sent++
		}
		s.mu.Unlock()
		if err != nil {
			s.log.Warn("rtp send failed", "remote", s.cfg.Remote.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Session) receive(ctx context.Context, start time.Time) error {
	buf := make([]byte, 1500)
	var plain []byte
	maxSamples := int(s.cfg.MaxRecord / time.Second * ClockRate)
	for {
		n, from, err := s.cfg.Conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("media: reading RTP: %w", err)
		}
		// Arrival time in RTP timestamp units (RFC 3550 A.8).
		arrival := uint32(time.Since(start) * ClockRate / time.Second)
		var hdr rtp.Header
		plain, err = s.dec.DecryptRTP(plain[:0], buf[:n], &hdr)
		if err != nil {
			s.mu.Lock()
			if errors.Is(err, srtp.ErrFailedToVerifyAuthTag) {
				s.stats.AuthFailed++
			} else {
				s.stats.Invalid++
			}
			s.lastErr = fmt.Errorf("media: dropping SRTP packet from %s (check the a=crypto keys): %w", from, err)
			s.mu.Unlock()
			s.log.Debug("srtp unprotect failed", "from", from.String(), "err", err)
			continue
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(plain); err != nil {
			s.mu.Lock()
			s.stats.Invalid++
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		// All payload types share the SSRC's sequence space (RFC 3550 §5.1),
		// so telephone-event packets count in the stats but are not audio.
		s.stats.Update(pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp, arrival, len(pkt.Payload))
		if pkt.PayloadType == s.cfg.Codec.PayloadType && len(s.received) < maxSamples {
			s.received = append(s.received, s.cfg.Codec.Decode(pkt.Payload)...)
		}
		s.mu.Unlock()
	}
}

// Stats returns a snapshot of the receive statistics.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Sent returns the number of packets sent and the number of send errors.
func (s *Session) Sent() (packets, errs uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.sendErrs
}

// Received returns a copy of the decoded audio received so far, in arrival
// order (no jitter buffer, lost packets are not concealed).
func (s *Session) Received() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.received...)
}

// Check returns nil if audio was received, otherwise an error wrapping
// ErrNoAudio that explains why (e.g. every packet failed SRTP authentication).
func (s *Session) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats.Packets > 0 {
		return nil
	}
	if s.stats.AuthFailed > 0 {
		return fmt.Errorf("%w: %d packets failed SRTP authentication (RFC 3711 §3.3); the peer's a=crypto key does not match: %w",
			ErrNoAudio, s.stats.AuthFailed, s.lastErr)
	}
	if s.stats.Invalid > 0 {
		return fmt.Errorf("%w: %d invalid packets: %w", ErrNoAudio, s.stats.Invalid, s.lastErr)
	}
	return fmt.Errorf("%w: no packets arrived on %s", ErrNoAudio, s.cfg.Conn.LocalAddr())
}
