package media

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
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

// Config configures a Session. Conn, Remote and Codec are required, and so
// are LocalCrypto and RemoteCrypto unless both are zero (plain RTP).
// Negotiated.SessionConfig fills them from an offer/answer exchange.
type Config struct {
	Conn   net.PacketConn // local RTP socket; the caller owns and closes it (Run leaves its read deadline expired)
	Remote net.Addr       // where to send RTP (the peer's c=/m= address)
	Codec  Codec          // PCMU or PCMA
	// LocalCrypto is the a=crypto we put in our SDP: it keys what we send.
	// RemoteCrypto is the a=crypto from the peer's SDP: it keys what we receive
	// (RFC 4568 §6.1: each direction uses the key of its sender).
	// When both are the zero Crypto (Suite ""), the Session sends and
	// receives plain RTP (RFC 3550, RTP/AVP): only for a call whose
	// offer/answer fell back to RTP (Local.AllowRTP).
	LocalCrypto, RemoteCrypto Crypto
	Source                    Source        // nil means Silence
	MaxPackets                int           // stop sending after this many packets; 0 = no limit
	SSRC                      uint32        // 0 = random (RFC 3550 §8)
	MaxRecord                 time.Duration // received audio kept; 0 = DefaultMaxRecord
	Logger                    *slog.Logger  // nil = discard
	// Tap, if set, sees every packet as it goes on the wire (sent is true;
	// after a successful write) or comes off it (before any SRTP check):
	// the SRTP bytes, or RTP for plain sessions. It is for writing a pcap.
	// It is called from Run's send and receive goroutines, possibly at the
	// same time, and never after Run returns. It runs on the media path, so
	// it must be quick; packet is reused once Tap returns: copy what you keep.
	Tap func(sent bool, local, remote net.Addr, packet []byte)
}

// Session sends and receives one SRTP (or plain RTP) audio stream. Create
// it with NewSession, drive it with Run, and read Stats/Received afterwards
// (or concurrently: they are safe for concurrent use).
type Session struct {
	cfg  Config
	log  *slog.Logger
	enc  *srtp.Context // nil for plain RTP
	dec  *srtp.Context // nil for plain RTP
	ssrc uint32
	seq  uint16
	ts   uint32

	// Buffers reused for every packet, owned by the send goroutine ...
	sendHdr       rtp.Header
	sendRaw, wire []byte
	// ... and by the receive goroutine.
	recvHdr rtp.Header
	recvPkt rtp.Packet
	plain   []byte

	mu       sync.Mutex
	stats    Stats
	received []byte // G.711 payloads of cfg.Codec, decoded by Received
	sent     uint64
	sendErrs uint64
	lastErr  error
	ran      bool
}

// NewSession validates cfg and creates the SRTP contexts (RFC 3711 §3.2.1:
// one cryptographic context per direction), unless both cryptos are zero.
func NewSession(cfg Config) (*Session, error) {
	if cfg.Conn == nil || cfg.Remote == nil {
		return nil, errors.New("media: Config.Conn and Config.Remote are required")
	}
	if _, err := CodecByPayloadType(cfg.Codec.PayloadType); err != nil || cfg.Codec.Name == "" {
		return nil, fmt.Errorf("media: Config.Codec must be PCMU or PCMA: %v", cfg.Codec)
	}
	s := &Session{cfg: cfg}
	switch plain := cfg.LocalCrypto.Suite == ""; {
	case plain != (cfg.RemoteCrypto.Suite == ""):
		return nil, fmt.Errorf("media: Config.LocalCrypto (%q) and RemoteCrypto (%q) must both be set for SRTP or both be zero for plain RTP",
			cfg.LocalCrypto.Suite, cfg.RemoteCrypto.Suite)
	case !plain:
		var err error
		if s.enc, s.dec, err = srtpContexts(cfg.LocalCrypto, cfg.RemoteCrypto); err != nil {
			return nil, err
		}
	}
	if s.cfg.Source == nil {
		s.cfg.Source = Silence{}
	}
	if s.cfg.MaxRecord <= 0 {
		s.cfg.MaxRecord = DefaultMaxRecord
	}
	s.log = cfg.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// RFC 3550 §5.1: random initial SSRC, sequence number and timestamp.
	var r [10]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("media: random RTP initial values: %w", err)
	}
	s.ssrc = binary.BigEndian.Uint32(r[0:4])
	s.seq = binary.BigEndian.Uint16(r[4:6])
	s.ts = binary.BigEndian.Uint32(r[6:10])
	if cfg.SSRC != 0 {
		s.ssrc = cfg.SSRC
	}
	return s, nil
}

// srtpContexts creates the send context keyed by local and the receive
// context keyed by remote.
func srtpContexts(local, remote Crypto) (enc, dec *srtp.Context, err error) {
	encProfile, err := local.Profile()
	if err != nil {
		return nil, nil, fmt.Errorf("media: local crypto: %w", err)
	}
	decProfile, err := remote.Profile()
	if err != nil {
		return nil, nil, fmt.Errorf("media: remote crypto: %w", err)
	}
	// RFC 3711 §3.1: an MKI from the a=crypto line is carried in each packet.
	encMKI, err := local.MKIBytes()
	if err != nil {
		return nil, nil, fmt.Errorf("media: local crypto: %w", err)
	}
	decMKI, err := remote.MKIBytes()
	if err != nil {
		return nil, nil, fmt.Errorf("media: remote crypto: %w", err)
	}
	enc, err = srtp.CreateContext(local.Key, local.Salt, encProfile, srtp.MasterKeyIndicator(encMKI))
	if err != nil {
		return nil, nil, fmt.Errorf("media: creating send SRTP context (%s): %w", local.Suite, err)
	}
	// RFC 3711 §3.3.2: replay protection on the receiver.
	dec, err = srtp.CreateContext(remote.Key, remote.Salt, decProfile, srtp.SRTPReplayProtection(128), srtp.MasterKeyIndicator(decMKI))
	if err != nil {
		return nil, nil, fmt.Errorf("media: creating receive SRTP context (%s): %w", remote.Suite, err)
	}
	return enc, dec, nil
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
	local := s.cfg.Conn.LocalAddr()
	go func() { recvErr <- s.receive(ctx, start, local) }()
	go func() { defer close(sendDone); s.send(ctx, local) }()

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

func (s *Session) send(ctx context.Context, local net.Addr) {
	t := time.NewTicker(PacketInterval)
	defer t.Stop()
	pcm := make([]int16, SamplesPerPacket)
	for n := 0; s.cfg.MaxPackets == 0 || n < s.cfg.MaxPackets; n++ {
		if !s.cfg.Source.Fill(pcm) {
			s.log.Debug("media source exhausted", "packets", n)
			return
		}
		// RFC 3551 §4.1: marker set on the first packet of a talkspurt.
		wire, err := s.packet(n == 0, s.cfg.Codec.Encode(pcm))
		if err == nil {
			_, err = s.cfg.Conn.WriteTo(wire, s.cfg.Remote)
		}
		if err == nil && s.cfg.Tap != nil {
			s.cfg.Tap(true, local, s.cfg.Remote, wire)
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

// packet builds the next RTP packet around payload and protects it (RFC 3711
// §3.3) unless the session is plain RTP. The result is valid until the next call.
func (s *Session) packet(marker bool, payload []byte) ([]byte, error) {
	pkt := rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         marker,
			PayloadType:    s.cfg.Codec.PayloadType,
			SequenceNumber: s.seq,
			Timestamp:      s.ts,
			SSRC:           s.ssrc,
		},
		Payload: payload,
	}
	s.seq++
	s.ts += SamplesPerPacket // RFC 3550 §5.1: timestamp advances by samples
	size := pkt.MarshalSize()
	s.sendRaw = slices.Grow(s.sendRaw[:0], size)[:size]
	if _, err := pkt.MarshalTo(s.sendRaw); err != nil {
		return nil, err
	}
	if s.enc == nil {
		return s.sendRaw, nil
	}
	var err error
	s.wire, err = s.enc.EncryptRTP(s.wire[:0], s.sendRaw, &s.sendHdr)
	return s.wire, err
}

func (s *Session) receive(ctx context.Context, start time.Time, local net.Addr) error {
	buf := make([]byte, 1500)
	udp, _ := s.cfg.Conn.(*net.UDPConn)
	var lastFrom netip.AddrPort
	var from net.Addr
	for {
		var n int
		var err error
		if udp != nil {
			// Avoids a net.Addr allocation per packet; from is remade only when the source changes.
			var ap netip.AddrPort
			n, ap, err = udp.ReadFromUDPAddrPort(buf)
			if err == nil && (from == nil || ap != lastFrom) {
				lastFrom, from = ap, net.UDPAddrFromAddrPort(ap)
			}
		} else {
			n, from, err = s.cfg.Conn.ReadFrom(buf)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("media: reading RTP: %w", err)
		}
		if s.cfg.Tap != nil {
			s.cfg.Tap(false, local, from, buf[:n])
		}
		// Arrival time in RTP timestamp units (RFC 3550 A.8).
		s.handle(buf[:n], from, uint32(time.Since(start)*ClockRate/time.Second))
	}
}

// handle unprotects (RFC 3711 §3.3) and accounts one received packet.
func (s *Session) handle(wire []byte, from net.Addr, arrival uint32) {
	plain := wire
	if s.dec != nil {
		var err error
		s.plain, err = s.dec.DecryptRTP(s.plain[:0], wire, &s.recvHdr)
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
			return
		}
		plain = s.plain
	}
	pkt := &s.recvPkt
	if err := pkt.Unmarshal(plain); err != nil || pkt.Version != 2 { // RFC 3550 A.1: version 2
		s.mu.Lock()
		s.stats.Invalid++
		s.lastErr = fmt.Errorf("media: dropping invalid RTP packet from %s (%d bytes)", from, len(wire))
		s.mu.Unlock()
		return
	}
	maxSamples := int(s.cfg.MaxRecord / time.Second * ClockRate)
	s.mu.Lock()
	// All payload types share the SSRC's sequence space (RFC 3550 §5.1),
	// so telephone-event packets count in the stats but are not audio.
	s.stats.Update(pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp, arrival, len(pkt.Payload))
	if pkt.PayloadType == s.cfg.Codec.PayloadType && len(s.received) < maxSamples {
		s.received = append(s.received, pkt.Payload...) // G.711: one byte per sample
	}
	s.mu.Unlock()
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
	if len(s.received) == 0 {
		return nil
	}
	return s.cfg.Codec.Decode(s.received)
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
