package media

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseSDP feeds arbitrary bodies to ParseSDP, Answer and
// ProcessAnswer: none may panic, every refusal wraps a sentinel error (so a
// UA can always pick a Warning), and every answer parses back to our address.
func FuzzParseSDP(f *testing.F) {
	for _, s := range []string{
		baresipOffer, rfc4568Offer, rfc3264Offer, rfc3264OfferIP,
		strings.ReplaceAll(baresipOffer, "\n", "\r\n"),
		offerSDP("RTP/SAVP", "8 0 101", "rtpmap:101 telephone-event/8000", "sendonly", "crypto:7 AEAD_AES_128_GCM "+keyGC),
		offerSDP("RTP/AVP", "0", "ptime:30", "inactive"),
		strings.Replace(offerSDP("RTP/SAVPF", "0"), "c=IN IP4 192.0.2.1", "c=IN IP6 ::", 1),
	} {
		f.Add([]byte(s))
	}
	locals := []Local{
		{Addr: local4, Cryptos: mustCryptos(f), AllowRTP: true},
		{Addr: local4, Cryptos: mustCryptos(f, SuiteAES128CMSHA1_32)},
		{Addr: local6, Codecs: []Codec{PCMA}, NoTelephoneEvent: true},
	}
	sentinels := []error{ErrSDP, ErrNoAudioStream, ErrAddressFamily, ErrIncompatibleProto, ErrNoCommonCodec, ErrNoCommonCrypto}
	wrapsSentinel := func(err error) bool {
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return true
			}
		}
		return false
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseSDP(b); err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("ParseSDP error wraps no sentinel: %v", err)
			}
			return
		}
		for _, l := range locals {
			answer, n, err := l.Answer(b)
			if err != nil {
				if !wrapsSentinel(err) {
					t.Fatalf("Answer error wraps no sentinel: %v", err)
				}
			} else if a, err := ParseSDP(answer); err != nil || a.Addr != l.Addr || n.Remote.Port() == 0 {
				t.Fatalf("answer %q does not parse back (%v): %+v", answer, err, a)
			}
			if _, err := l.ProcessAnswer(b); err != nil && !wrapsSentinel(err) {
				t.Fatalf("ProcessAnswer error wraps no sentinel: %v", err)
			}
		}
	})
}
