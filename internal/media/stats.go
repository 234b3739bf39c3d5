package media

import (
	"fmt"
	"time"
)

// Stats are receive statistics for one RTP source (RFC 3550 §6.4.1, A.1, A.3, A.8).
type Stats struct {
	Packets     uint64  // packets accepted (duplicates included, RFC 3550 A.3)
	Bytes       uint64  // payload bytes accepted
	Expected    uint64  // extended highest seq - base seq + 1 (RFC 3550 A.3)
	Lost        int64   // Expected - Packets; may be negative with duplicates (A.3)
	Jitter      float64 // interarrival jitter in RTP timestamp units (A.8)
	AuthFailed  uint64  // packets dropped because SRTP authentication/decryption failed
	Invalid     uint64  // packets dropped as not parseable RTP or wrong payload type
	SSRC        uint32
	HighestSeq  uint32 // extended highest sequence number (cycles<<16 | seq)
	initialized bool
	baseSeq     uint32
	maxSeq      uint16
	cycles      uint32
	transit     int64
	haveTransit bool
	badSeq      uint32 // RFC 3550 A.1 bad_seq
}

// JitterDuration returns the jitter in wall-clock time for clockRate Hz.
func (s *Stats) JitterDuration(clockRate int) time.Duration {
	return time.Duration(s.Jitter / float64(clockRate) * float64(time.Second))
}

// FractionLost returns Lost/Expected clamped to [0,1].
func (s *Stats) FractionLost() float64 {
	if s.Expected == 0 || s.Lost <= 0 {
		return 0
	}
	return float64(s.Lost) / float64(s.Expected)
}

func (s *Stats) String() string {
	return fmt.Sprintf("ssrc=%08x packets=%d expected=%d lost=%d jitter=%.1fts(%v) authFailed=%d invalid=%d",
		s.SSRC, s.Packets, s.Expected, s.Lost, s.Jitter, s.JitterDuration(ClockRate), s.AuthFailed, s.Invalid)
}

// Constants of RFC 3550 A.1.
const (
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
)

// Update records one received packet with sequence number seq, RTP
// timestamp ts, and arrival time expressed in RTP timestamp units.
// It follows RFC 3550 A.1 (update_seq, without probation: the first packet
// starts the source, as SRTP already authenticated it) and A.8 (jitter).
func (s *Stats) Update(ssrc uint32, seq uint16, ts uint32, arrival uint32, payloadLen int) {
	if !s.initialized || ssrc != s.SSRC {
		*s = Stats{AuthFailed: s.AuthFailed, Invalid: s.Invalid}
		s.initialized = true
		s.SSRC = ssrc
		s.baseSeq = uint32(seq)
		s.maxSeq = seq
		s.badSeq = seqMod + 1
	} else {
		udelta := seq - s.maxSeq
		switch {
		case udelta < maxDropout:
			// In order, with permissible gap.
			if seq < s.maxSeq {
				s.cycles += seqMod // sequence number wrapped
			}
			s.maxSeq = seq
		case udelta <= seqMod-maxMisorder:
			// Very large jump: RFC 3550 A.1 resyncs after two sequential
			// packets; we restart the counts on the jump.
			if uint32(seq) == s.badSeq {
				// Two sequential packets: the sender restarted; resync.
				*s = Stats{AuthFailed: s.AuthFailed, Invalid: s.Invalid, initialized: true,
					SSRC: ssrc, baseSeq: uint32(seq), maxSeq: seq, badSeq: seqMod + 1}
			} else {
				s.badSeq = uint32(seq+1) & (seqMod - 1)
				s.Invalid++
				return
			}
		default:
			// Duplicate or reordered packet: counted, maxSeq unchanged.
		}
	}
	s.Packets++
	s.Bytes += uint64(payloadLen)
	s.HighestSeq = s.cycles + uint32(s.maxSeq)
	s.Expected = uint64(s.HighestSeq - s.baseSeq + 1)
	s.Lost = int64(s.Expected) - int64(s.Packets)

	// RFC 3550 A.8: D = (Rj - Ri) - (Sj - Si); J += (|D| - J)/16.
	transit := int64(int32(arrival - ts))
	if s.haveTransit {
		d := transit - s.transit
		if d < 0 {
			d = -d
		}
		s.Jitter += (float64(d) - s.Jitter) / 16
	}
	s.transit = transit
	s.haveTransit = true
}
