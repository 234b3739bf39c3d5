package media_test

import (
	"fmt"
	"testing"

	"github.com/imslab/imslab/internal/media"
	"github.com/imslab/imslab/testbed/load/srtpcost"
)

// SRTP cost of one 20 ms G.711 packet (12-byte header, 160-byte payload),
// pion/srtp against the raw AES-CM + HMAC-SHA1 floor (RFC 3711 §4.1.1,
// §4.2.1, keys already derived). `imslab load calls` reports the same.

// sessions=2000 takes 2,000 sessions in turn, as the legs of 1,000 calls:
// each packet finds its context out of the CPU caches.

func BenchmarkSRTPProtect(b *testing.B) {
	for _, s := range media.SupportedSuites() {
		for _, n := range []int{1, srtpcost.ManySessions} {
			b.Run(fmt.Sprintf("%s/sessions=%d", s, n), func(b *testing.B) { srtpcost.ProtectSessions(b, s, n) })
		}
	}
}

func BenchmarkSRTPUnprotect(b *testing.B) {
	for _, s := range media.SupportedSuites() {
		for _, n := range []int{1, srtpcost.ManySessions} {
			b.Run(fmt.Sprintf("%s/sessions=%d", s, n), func(b *testing.B) { srtpcost.UnprotectSessions(b, s, n) })
		}
	}
}

func BenchmarkRawAESCMHMAC(b *testing.B) { srtpcost.RawAESCMHMAC(b) }

func BenchmarkRawAESCMHMACVerify(b *testing.B) { srtpcost.RawAESCMHMACVerify(b) }

func BenchmarkRawAESGCM(b *testing.B) { srtpcost.RawAESGCM(b) }

func BenchmarkRawAESGCMOpen(b *testing.B) { srtpcost.RawAESGCMOpen(b) }
