package media

import (
	"math"
	"testing"
	"time"
)

// feed delivers packets with the given sequence offsets from base; each is
// sent at 160-sample intervals and arrives with the given extra delay.
func feed(s *Stats, base uint16, offsets []int, delay func(i int) uint32) {
	for i, off := range offsets {
		seq := base + uint16(off)
		ts := uint32(1000 + 160*off)
		s.Update(0xabc, seq, ts, ts+5000+delay(i), 160)
	}
}

func zero(int) uint32 { return 0 }

func TestStatsInOrder(t *testing.T) {
	var s Stats
	feed(&s, 100, seqRange(0, 50), zero)
	if s.Packets != 50 || s.Expected != 50 || s.Lost != 0 || s.Jitter != 0 {
		t.Fatalf("%v", &s)
	}
}

func TestStatsLossReorderWrap(t *testing.T) {
	var s Stats
	// Start near the wrap: 65530..65535, 0..; lose 3 packets, swap two.
	offs := seqRange(0, 20)
	offs = remove(offs, 4, 8, 12)       // lost
	offs[5], offs[6] = offs[6], offs[5] // reordered across the wrap (offset 6,7)
	feed(&s, 65530, offs, zero)
	if s.Expected != 20 || s.Packets != 17 || s.Lost != 3 {
		t.Fatalf("%v", &s)
	}
	if s.HighestSeq != 1<<16+13 {
		t.Fatalf("extended highest seq %d, want %d", s.HighestSeq, 1<<16+13)
	}
	if f := s.FractionLost(); math.Abs(f-0.15) > 1e-9 {
		t.Fatalf("fraction lost %v", f)
	}
}

func TestStatsDuplicate(t *testing.T) {
	var s Stats
	feed(&s, 7, []int{0, 1, 2, 2, 3}, zero)
	// RFC 3550 A.3: duplicates count as received, so loss may go negative.
	if s.Expected != 4 || s.Packets != 5 || s.Lost != -1 || s.FractionLost() != 0 {
		t.Fatalf("%v", &s)
	}
}

func TestStatsJitter(t *testing.T) {
	var s Stats
	// Alternate 0 and 80 timestamp units (10 ms) of extra delay: |D| = 80
	// for every packet after the first, so J converges to 80 (A.8).
	feed(&s, 0, seqRange(0, 400), func(i int) uint32 { return uint32(80 * (i % 2)) })
	if math.Abs(s.Jitter-80) > 0.5 {
		t.Fatalf("jitter %v, want ~80", s.Jitter)
	}
	if d := s.JitterDuration(ClockRate); d < 9900*time.Microsecond || d > 10100*time.Microsecond {
		t.Fatalf("jitter %v, want ~10ms", d)
	}
	// One step: J = |D|/16 after the second packet.
	var s2 Stats
	s2.Update(1, 0, 0, 100, 1)
	s2.Update(1, 1, 160, 100+160+32, 1)
	if s2.Jitter != 2 {
		t.Fatalf("jitter %v, want 32/16=2", s2.Jitter)
	}
}

func TestStatsTimestampWrap(t *testing.T) {
	var s Stats
	ts := uint32(math.MaxUint32 - 320)
	for i := range 5 {
		s.Update(1, uint16(i), ts, ts+7, 160) // constant transit across the wrap
		ts += 160
	}
	if s.Jitter != 0 {
		t.Fatalf("jitter %v across timestamp wrap", s.Jitter)
	}
}

func TestStatsJumpAndNewSSRC(t *testing.T) {
	var s Stats
	feed(&s, 10, seqRange(0, 5), zero)
	// A single far jump is dropped (RFC 3550 A.1), a second sequential one resyncs.
	s.Update(0xabc, 30000, 0, 0, 160)
	if s.Packets != 5 || s.Invalid != 1 {
		t.Fatalf("%v", &s)
	}
	s.Update(0xabc, 30001, 160, 160, 160)
	if s.Packets != 1 || s.Expected != 1 || s.Lost != 0 {
		t.Fatalf("after resync %v", &s)
	}
	s.Update(0xdef, 5, 0, 0, 160)
	if s.SSRC != 0xdef || s.Packets != 1 {
		t.Fatalf("new SSRC %v", &s)
	}
}

func seqRange(a, b int) []int {
	var r []int
	for i := a; i < b; i++ {
		r = append(r, i)
	}
	return r
}

func remove(s []int, vals ...int) []int {
	var r []int
outer:
	for _, x := range s {
		for _, v := range vals {
			if x == v {
				continue outer
			}
		}
		r = append(r, x)
	}
	return r
}
