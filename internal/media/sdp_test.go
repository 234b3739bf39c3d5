package media

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A real offer from baresip 3.x (ssrc cname made valid).
const baresipOffer = `v=0
o=- 1846282409 3215573916 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10002 RTP/SAVP 0 101
b=AS:64
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=rtcp-rsize
a=ssrc:3218937036 cname:1c6b8e6a-0e4c-4c1b-9d8e-3f7b1d2a5c40
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:2J8vPAmkoNXCMGIzqS7Q2gjQnDfXhJ4TW0QtYm5V
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:bVQEHzz+dfnXtZB2fP0xU7x8eYjPtcE1NgF9e5CB
a=ptime:20
`

// The offer of RFC 4568 §8, with "udp" written "UDP": pion/sdp only takes
// registered proto tokens.
const rfc4568Offer = "v=0\r\n" +
	"o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n" +
	"s=SDP Seminar\r\n" +
	"i=A Seminar on the session description protocol\r\n" +
	"u=http://www.example.com/seminars/sdp.pdf\r\n" +
	"e=j.doe@example.com (Jane Doe)\r\n" +
	"c=IN IP4 161.44.17.12/127\r\n" +
	"t=2873397496 2873404696\r\n" +
	"m=video 51372 RTP/SAVP 31\r\n" +
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\r\n" +
	"m=audio 49170 RTP/SAVP 0\r\n" +
	"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32\r\n" +
	"m=application 32416 UDP wb\r\n" +
	"a=orient:portrait\r\n"

// The offer of RFC 3264 §10.1: audio and video, host names in c=.
const rfc3264Offer = `v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
`

// rfc3264OfferIP is rfc3264Offer with a documentation address (RFC 5737)
// for the host name, which ParseSDP does not resolve.
var rfc3264OfferIP = strings.ReplaceAll(rfc3264Offer, "host.atlanta.example.com", "192.0.2.10")

const (
	key80 = "inline:2J8vPAmkoNXCMGIzqS7Q2gjQnDfXhJ4TW0QtYm5V" // 30 bytes
	keyGC = "inline:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+fw==" // AEAD_AES_128_GCM: 16-byte key, 12-byte salt (RFC 7714)
)

// offerSDP builds an audio offer: proto, formats, and extra media attributes.
func offerSDP(proto, formats string, attrs ...string) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n")
	b.WriteString("m=audio 4000 " + proto + " " + formats + "\r\n")
	for _, a := range attrs {
		b.WriteString("a=" + a + "\r\n")
	}
	return b.String()
}

func mustCryptos(t testing.TB, suites ...string) []Crypto {
	t.Helper()
	cs, err := NewCryptos(suites...)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

var (
	local4 = netip.MustParseAddrPort("192.0.2.2:5000")
	local6 = netip.MustParseAddrPort("[2001:db8::2]:5000")
)

func TestOfferRoundTrip(t *testing.T) {
	for name, tc := range map[string]struct {
		l       Local
		proto   string
		formats []string
		te      uint8
		dir     Direction
	}{
		"srtp defaults": {Local{Addr: local4, Cryptos: mustCryptos(t)},
			ProtoRTPSAVP, []string{"0 PCMU/8000", "8 PCMA/8000", "101 telephone-event/8000"}, 101, SendRecv},
		"plain ipv6": {Local{Addr: local6, Codecs: []Codec{PCMA, PCMU}, SessionID: 7, SessionVersion: 3},
			ProtoRTPAVP, []string{"8 PCMA/8000", "0 PCMU/8000", "101 telephone-event/8000"}, 101, SendRecv},
		"pcma only, no dtmf, sendonly": {Local{Addr: local4, Codecs: []Codec{PCMA}, NoTelephoneEvent: true, Direction: SendOnly, Cryptos: mustCryptos(t, SuiteAES128CMSHA1_80)},
			ProtoRTPSAVP, []string{"8 PCMA/8000"}, 0, SendOnly},
		"dtmf pt 96, fallback allowed": {Local{Addr: local4, TelephoneEventPT: 96, AllowRTP: true, Cryptos: mustCryptos(t, SuiteAES128CMSHA1_32)},
			ProtoRTPSAVP, []string{"0 PCMU/8000", "8 PCMA/8000", "96 telephone-event/8000"}, 96, SendRecv},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := tc.l.Offer()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", b)
			for _, want := range []string{"v=0\r\n", "s=-\r\n", "t=0 0\r\n", "a=ptime:20\r\n", "a=" + string(tc.dir) + "\r\n"} {
				if !bytes.Contains(b, []byte(want)) {
					t.Errorf("offer lacks %q", want)
				}
			}
			if tc.te != 0 && !bytes.Contains(b, []byte("a=fmtp:"+strconv.Itoa(int(tc.te))+" 0-15\r\n")) {
				t.Error("offer lacks the telephone-event fmtp (RFC 4733 §2.4.1)")
			}
			d, err := ParseSDP(b)
			if err != nil {
				t.Fatal(err)
			}
			if d.Addr != tc.l.Addr || d.Proto != tc.proto ||
				d.TelephoneEventPT != tc.te || d.Ptime != 20*time.Millisecond || d.Direction != tc.dir || d.Streams != 1 {
				t.Errorf("parsed %+v", d)
			}
			if tc.l.SessionID != 0 && (d.SessionID != tc.l.SessionID || d.SessionVersion != tc.l.SessionVersion) {
				t.Errorf("o= %d %d, want %d %d", d.SessionID, d.SessionVersion, tc.l.SessionID, tc.l.SessionVersion)
			}
			if d.SessionID == 0 {
				t.Error("o= session id 0")
			}
			var got []string
			for _, f := range d.Formats {
				got = append(got, f.String())
			}
			if !slices.Equal(got, tc.formats) {
				t.Errorf("formats %q, want %q", got, tc.formats)
			}
			if len(d.Cryptos) != len(tc.l.Cryptos) {
				t.Fatalf("%d a=crypto, want %d", len(d.Cryptos), len(tc.l.Cryptos))
			}
			for i, s := range d.Cryptos {
				c, err := ParseCrypto(s)
				if err != nil || c.String() != tc.l.Cryptos[i].String() || c.Tag != i+1 {
					t.Errorf("a=crypto %q (%v), want %q", s, err, tc.l.Cryptos[i])
				}
			}
		})
	}
}

func TestAnswerSelection(t *testing.T) {
	all := Local{Addr: local4, Cryptos: mustCryptos(t)}
	cm := Local{Addr: local4, Cryptos: mustCryptos(t, SuiteAES128CMSHA1_80, SuiteAES128CMSHA1_32)}
	for name, tc := range map[string]struct {
		l     Local
		offer string
		codec Codec
		tag   int
		suite string // "" = plain RTP
		te    uint8
		dir   Direction
	}{
		"offerer's codec order": {all, offerSDP("RTP/SAVP", "8 0", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMA, 1, SuiteAES128CMSHA1_80, 0, SendRecv},
		"our only codec": {Local{Addr: local4, Codecs: []Codec{PCMA}, Cryptos: cm.Cryptos}, offerSDP("RTP/SAVP", "0 8", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMA, 1, SuiteAES128CMSHA1_80, 0, SendRecv},
		"unknown codec first": {all, offerSDP("RTP/SAVP", "18 96 0", "rtpmap:96 AMR/8000", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMU, 1, SuiteAES128CMSHA1_80, 0, SendRecv},
		"80 then 32": {all, offerSDP("RTP/SAVP", "0", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80, "crypto:2 AES_CM_128_HMAC_SHA1_32 "+key80),
			PCMU, 1, SuiteAES128CMSHA1_80, 0, SendRecv},
		"32 first is the offerer's choice": {all, offerSDP("RTP/SAVP", "0", "crypto:4 AES_CM_128_HMAC_SHA1_32 "+key80, "crypto:9 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMU, 4, SuiteAES128CMSHA1_32, 0, SendRecv},
		"gcm": {all, offerSDP("RTP/SAVP", "0", "crypto:1 AEAD_AES_128_GCM "+keyGC, "crypto:2 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMU, 1, SuiteAEADAES128GCM, 0, SendRecv},
		"gcm not ours": {cm, offerSDP("RTP/SAVP", "0", "crypto:1 AEAD_AES_128_GCM "+keyGC, "crypto:2 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMU, 2, SuiteAES128CMSHA1_80, 0, SendRecv},
		"aes256 and session params skipped": {all, offerSDP("RTP/SAVP", "0",
			"crypto:1 AES_256_CM_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj",
			"crypto:2 AES_CM_128_HMAC_SHA1_80 "+key80+" UNENCRYPTED_SRTP",
			"crypto:3 AES_CM_128_HMAC_SHA1_80 "+key80+"|2^31|7:2"),
			PCMU, 3, SuiteAES128CMSHA1_80, 0, SendRecv},
		"telephone-event echoed": {all, offerSDP("RTP/SAVP", "0 96 97", "rtpmap:96 telephone-event/16000", "rtpmap:97 telephone-event/8000", "fmtp:97 0-16", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMU, 1, SuiteAES128CMSHA1_80, 97, SendRecv},
		"telephone-event not wanted": {Local{Addr: local4, Cryptos: all.Cryptos, NoTelephoneEvent: true}, offerSDP("RTP/SAVP", "0 101", "rtpmap:101 telephone-event/8000", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMU, 1, SuiteAES128CMSHA1_80, 0, SendRecv},
		"sendonly offer": {all, offerSDP("RTP/SAVP", "0", "sendonly", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMU, 1, SuiteAES128CMSHA1_80, 0, RecvOnly},
		"recvonly offer to our sendonly": {Local{Addr: local4, Cryptos: all.Cryptos, Direction: SendOnly}, offerSDP("RTP/SAVP", "0", "recvonly", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMU, 1, SuiteAES128CMSHA1_80, 0, SendOnly},
		"inactive offer": {all, offerSDP("RTP/SAVP", "0", "inactive", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMU, 1, SuiteAES128CMSHA1_80, 0, Inactive},
		"c=0.0.0.0 hold": {all, strings.Replace(offerSDP("RTP/SAVP", "0", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80), "c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0", 1),
			PCMU, 1, SuiteAES128CMSHA1_80, 0, RecvOnly},
		"savpf": {all, offerSDP("RTP/SAVPF", "8", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			PCMA, 1, SuiteAES128CMSHA1_80, 0, SendRecv},
		"rtp fallback": {Local{Addr: local4, Cryptos: all.Cryptos, AllowRTP: true}, offerSDP("RTP/AVP", "0 101", "rtpmap:101 telephone-event/8000"),
			PCMU, 0, "", 101, SendRecv},
		"plain only":     {Local{Addr: local4}, offerSDP("RTP/AVP", "8 0"), PCMA, 0, "", 0, SendRecv},
		"baresip":        {all, baresipOffer, PCMU, 1, SuiteAES128CMSHA1_80, 101, SendRecv},
		"rfc 4568 §8":    {all, rfc4568Offer, PCMU, 1, SuiteAES128CMSHA1_32, 0, SendRecv},
		"rfc 3264 §10.1": {Local{Addr: local4, AllowRTP: true, Cryptos: all.Cryptos}, rfc3264OfferIP, PCMU, 0, "", 0, SendRecv},
	} {
		t.Run(name, func(t *testing.T) {
			b, n, err := tc.l.Answer([]byte(tc.offer))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", b)
			offer, _ := ParseSDP([]byte(tc.offer))
			if n.Codec != tc.codec || n.TelephoneEventPT != tc.te || n.Direction != tc.dir || n.SRTP != (tc.suite != "") ||
				n.Remote != offer.Addr || n.Proto != offer.Proto || n.Ptime != 20*time.Millisecond {
				t.Errorf("negotiated %+v", n)
			}
			a, err := ParseSDP(b)
			if err != nil {
				t.Fatal(err)
			}
			want := []Format{{PayloadType: tc.codec.PayloadType, Name: tc.codec.Name, ClockRate: ClockRate}}
			if tc.te != 0 {
				want = append(want, Format{PayloadType: tc.te, Name: "telephone-event", ClockRate: ClockRate, Fmtp: "0-15"})
			}
			if a.Addr != local4 || a.Proto != offer.Proto || !slices.Equal(a.Formats, want) || a.Direction != tc.dir || a.Streams != offer.Streams {
				t.Errorf("answer %+v, want formats %v", a, want)
			}
			if tc.suite == "" {
				if len(a.Cryptos) != 0 || n.LocalCrypto.Suite != "" || n.RemoteCrypto.Suite != "" {
					t.Errorf("plain RTP answer with crypto: %v / %+v", a.Cryptos, n)
				}
				return
			}
			// RFC 4568 §7.1.2: one a=crypto, the offer's tag and suite, our fresh key.
			if len(a.Cryptos) != 1 {
				t.Fatalf("answer has %d a=crypto", len(a.Cryptos))
			}
			ac, err := ParseCrypto(a.Cryptos[0])
			if err != nil || ac.Tag != tc.tag || ac.Suite != tc.suite || ac.String() != n.LocalCrypto.String() {
				t.Errorf("answer a=crypto %q, negotiated local %v (%v)", a.Cryptos[0], n.LocalCrypto, err)
			}
			if n.RemoteCrypto.Tag != tc.tag || n.RemoteCrypto.Suite != tc.suite || bytes.Equal(n.RemoteCrypto.Key, n.LocalCrypto.Key) {
				t.Errorf("remote crypto %v, local %v", n.RemoteCrypto, n.LocalCrypto)
			}
		})
	}
}

func TestAnswerBaresipKeys(t *testing.T) {
	l := Local{Addr: local4, Cryptos: mustCryptos(t)}
	_, n, err := l.Answer([]byte(baresipOffer))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(key80, "inline:"))
	if got := append(append([]byte{}, n.RemoteCrypto.Key...), n.RemoteCrypto.Salt...); !bytes.Equal(got, raw) {
		t.Fatalf("remote key||salt %x, want %x", got, raw)
	}
	if n.Remote != netip.MustParseAddrPort("127.0.0.1:10002") {
		t.Fatalf("remote %v", n.Remote)
	}
}

// RFC 3264 §6: the streams we do not take are answered with port 0, in order.
func TestAnswerRejectsOtherStreams(t *testing.T) {
	disabledFirst := strings.Replace(offerSDP("RTP/AVP", "0"), "m=audio 4000", "m=audio 0", 1) +
		"m=audio 4002 RTP/AVP 8\r\nc=IN IP4 192.0.2.9\r\n"
	for name, tc := range map[string]struct {
		offer  string
		want   []string // m= lines of the answer
		remote string
	}{
		"rfc 4568 §8": {rfc4568Offer, []string{"m=video 0 RTP/SAVP 31", "m=audio 5000 RTP/SAVP 0", "m=application 0 UDP wb"},
			"161.44.17.12:49170"},
		"rfc 3264 §10.1": {rfc3264OfferIP, []string{"m=audio 5000 RTP/AVP 0", "m=video 0 RTP/AVP 31 32"}, "192.0.2.10:49170"},
		"second audio": {offerSDP("RTP/AVP", "0") + "m=audio 4002 RTP/AVP 8\r\n",
			[]string{"m=audio 5000 RTP/AVP 0", "m=audio 0 RTP/AVP 8"}, "192.0.2.1:4000"},
		"first audio disabled": {disabledFirst, []string{"m=audio 0 RTP/AVP 0", "m=audio 5000 RTP/AVP 8"}, "192.0.2.9:4002"},
	} {
		t.Run(name, func(t *testing.T) {
			b, n, err := Local{Addr: local4, AllowRTP: true, Cryptos: mustCryptos(t)}.Answer([]byte(tc.offer))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for line := range strings.SplitSeq(string(b), "\r\n") {
				if strings.HasPrefix(line, "m=") {
					got = append(got, strings.TrimSuffix(line, " 101"))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("answer m= lines %q, want %q\n%s", got, tc.want, b)
			}
			if n.Remote != netip.MustParseAddrPort(tc.remote) {
				t.Errorf("remote %v, want %s", n.Remote, tc.remote)
			}
		})
	}
}

func TestAnswerRefusals(t *testing.T) {
	srtp := Local{Addr: local4, Cryptos: mustCryptos(t)}
	for name, tc := range map[string]struct {
		l        Local
		offer    string
		sentinel error
		warn     int
		says     []string
	}{
		"no common codec": {srtp, offerSDP("RTP/SAVP", "18 9 96", "rtpmap:96 AMR-WB/16000", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			ErrNoCommonCodec, 305, []string{"offer has [18 G729/8000, 9 G722/8000, 96 AMR-WB/16000]", "support [0 PCMU/8000, 8 PCMA/8000]"}},
		"pcmu remapped": {srtp, offerSDP("RTP/SAVP", "0", "rtpmap:0 PCMA/8000", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			ErrNoCommonCodec, 305, []string{"0 PCMA/8000"}},
		"no common suite": {Local{Addr: local4, Cryptos: mustCryptos(t, SuiteAEADAES128GCM)}, offerSDP("RTP/SAVP", "0", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80, "crypto:2 AES_256_CM_HMAC_SHA1_80 "+key80),
			ErrNoCommonCrypto, 306, []string{"AEAD_AES_128_GCM", "tag 1: AES_CM_128_HMAC_SHA1_80 is not one of our suites", "AES_256_CM_HMAC_SHA1_80"}},
		"bad key length": {srtp, offerSDP("RTP/SAVP", "0", "crypto:1 AEAD_AES_128_GCM "+key80),
			ErrNoCommonCrypto, 306, []string{"needs 28 bytes"}},
		"savp without crypto": {srtp, offerSDP("RTP/SAVP", "0", "fingerprint:sha-256 AB:CD"),
			ErrNoCommonCrypto, 306, []string{"no a=crypto"}},
		"rtp offered, srtp required": {srtp, offerSDP("RTP/AVP", "0"),
			ErrIncompatibleProto, 302, []string{"RTP/AVP", "SRTP is required"}},
		"srtp offered, plain configured": {Local{Addr: local4}, offerSDP("RTP/SAVP", "0", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80),
			ErrIncompatibleProto, 302, []string{"RTP/SAVP", "plain RTP"}},
		"dtls-srtp": {srtp, offerSDP("UDP/TLS/RTP/SAVPF", "0"),
			ErrIncompatibleProto, 302, []string{"UDP/TLS/RTP/SAVPF"}},
		"video only": {srtp, strings.Replace(offerSDP("RTP/AVP", "31"), "m=audio", "m=video", 1),
			ErrNoAudioStream, 304, []string{"no m=audio", "video"}},
		"audio disabled": {srtp, strings.Replace(offerSDP("RTP/SAVP", "0"), "m=audio 4000", "m=audio 0", 1),
			ErrNoAudioStream, 304, []string{"port 0"}},
		"ipv6 offer, ipv4 us": {srtp, strings.Replace(offerSDP("RTP/SAVP", "0", "crypto:1 AES_CM_128_HMAC_SHA1_80 "+key80), "c=IN IP4 192.0.2.1", "c=IN IP6 2001:db8::1", 1),
			ErrAddressFamily, 301, []string{"2001:db8::1", "IP versions"}},
		"ipv4 offer, ipv6 us": {Local{Addr: local6, Cryptos: srtp.Cryptos}, baresipOffer,
			ErrAddressFamily, 301, []string{"127.0.0.1"}},
		"host name":        {srtp, rfc3264Offer, ErrAddressFamily, 301, []string{"host.atlanta.example.com", "not resolved"}},
		"c= type mismatch": {srtp, strings.Replace(baresipOffer, "c=IN IP4", "c=IN IP6", 1), ErrAddressFamily, 301, []string{"IP6"}},
		"no c=":            {srtp, strings.Replace(baresipOffer, "c=IN IP4 127.0.0.1\n", "", 1), ErrSDP, 399, []string{"no c= line"}},
		"garbage":          {srtp, "hello", ErrSDP, 399, nil},
		"bad rtpmap":       {srtp, offerSDP("RTP/SAVP", "0", "rtpmap:0 PCMU"), ErrSDP, 399, []string{"a=rtpmap:0 PCMU"}},
		"bad format":       {srtp, offerSDP("RTP/SAVP", "0 200"), ErrSDP, 399, []string{`"200"`}},
		"bad ptime":        {srtp, offerSDP("RTP/SAVP", "0", "ptime:x"), ErrSDP, 399, []string{"a=ptime:x"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := tc.l.Answer([]byte(tc.offer))
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			if WarnCode(err) != tc.warn {
				t.Errorf("WarnCode = %d, want %d", WarnCode(err), tc.warn)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
			t.Log(err)
		})
	}
}

// offerAnswer runs a full exchange between an offerer and an answerer.
func offerAnswer(t *testing.T, offerer, answerer Local) (o, a Negotiated) {
	t.Helper()
	offer, err := offerer.Offer()
	if err != nil {
		t.Fatal(err)
	}
	answer, a, err := answerer.Answer(offer)
	if err != nil {
		t.Fatal(err)
	}
	o, err = offerer.ProcessAnswer(answer)
	if err != nil {
		t.Fatal(err)
	}
	return o, a
}

func TestOfferAnswer(t *testing.T) {
	for name, tc := range map[string]struct {
		offerer, answerer Local
		codec             Codec
		suite             string
		te                uint8
	}{
		"srtp": {Local{Addr: local4, Cryptos: mustCryptos(t, SuiteAES128CMSHA1_32, SuiteAES128CMSHA1_80), Codecs: []Codec{PCMA, PCMU}, TelephoneEventPT: 98},
			Local{Addr: local4, Cryptos: mustCryptos(t, SuiteAES128CMSHA1_80)}, PCMA, SuiteAES128CMSHA1_80, 98},
		"gcm ipv6": {Local{Addr: local6, Cryptos: mustCryptos(t)}, Local{Addr: local6, Cryptos: mustCryptos(t)}, PCMU, SuiteAEADAES128GCM, 101},
		"plain":    {Local{Addr: local4}, Local{Addr: local4, Codecs: []Codec{PCMA}}, PCMA, "", 101},
	} {
		t.Run(name, func(t *testing.T) {
			o, a := offerAnswer(t, tc.offerer, tc.answerer)
			if o.Codec != tc.codec || a.Codec != tc.codec || o.TelephoneEventPT != tc.te || a.TelephoneEventPT != tc.te {
				t.Errorf("offerer %+v\nanswerer %+v", o, a)
			}
			if o.SRTP != (tc.suite != "") || a.SRTP != o.SRTP || o.LocalCrypto.Suite != tc.suite {
				t.Errorf("suite %q/%q, want %q", o.LocalCrypto.Suite, a.LocalCrypto.Suite, tc.suite)
			}
			// Each side receives with the key the other sends with (RFC 4568 §6.1).
			if o.LocalCrypto.String() != a.RemoteCrypto.String() || a.LocalCrypto.String() != o.RemoteCrypto.String() {
				t.Errorf("keys do not cross:\n%v / %v\n%v / %v", o.LocalCrypto, a.RemoteCrypto, a.LocalCrypto, o.RemoteCrypto)
			}
			if o.Remote != tc.answerer.Addr || a.Remote != tc.offerer.Addr {
				t.Errorf("addresses %v %v", o.Remote, a.Remote)
			}
		})
	}
}

func TestProcessAnswerRefusals(t *testing.T) {
	l := Local{Addr: local4, Cryptos: mustCryptos(t, SuiteAES128CMSHA1_80, SuiteAES128CMSHA1_32)}
	crypto := func(tag, suite string) string { return "crypto:" + tag + " " + suite + " " + key80 }
	for name, tc := range map[string]struct {
		l        Local
		answer   string
		sentinel error
		says     string
	}{
		"rejected":                {l, strings.Replace(offerSDP("RTP/SAVP", "0"), "m=audio 4000", "m=audio 0", 1), ErrNoAudioStream, "rejected"},
		"unknown tag":             {l, offerSDP("RTP/SAVP", "0", crypto("3", SuiteAES128CMSHA1_80)), ErrNoCommonCrypto, "tag 3 is none of our offered tags [1 2]"},
		"tag of other suite":      {l, offerSDP("RTP/SAVP", "0", crypto("1", SuiteAES128CMSHA1_32)), ErrNoCommonCrypto, "we offered AES_CM_128_HMAC_SHA1_80 under that tag"},
		"no crypto":               {l, offerSDP("RTP/SAVP", "0"), ErrNoCommonCrypto, "no a=crypto"},
		"bad crypto":              {l, offerSDP("RTP/SAVP", "0", "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA"), ErrNoCommonCrypto, "needs 30 bytes"},
		"codec not offered":       {Local{Addr: local4, Codecs: []Codec{PCMU}, Cryptos: l.Cryptos}, offerSDP("RTP/SAVP", "8", crypto("1", SuiteAES128CMSHA1_80)), ErrNoCommonCodec, "we offered [0 PCMU/8000]"},
		"rtp answer, no fallback": {l, offerSDP("RTP/AVP", "0"), ErrIncompatibleProto, "fallback allowed: false"},
		"srtp answer to rtp":      {Local{Addr: local4}, offerSDP("RTP/SAVP", "0", crypto("1", SuiteAES128CMSHA1_80)), ErrIncompatibleProto, "RTP/SAVP to our RTP/AVP offer"},
		"two m= lines":            {l, offerSDP("RTP/SAVP", "0", crypto("1", SuiteAES128CMSHA1_80)) + "m=video 0 RTP/AVP 31\r\n", ErrSDP, "2 m= lines"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.l.ProcessAnswer([]byte(tc.answer))
			if !errors.Is(err, tc.sentinel) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.sentinel, tc.says)
			}
		})
	}
	// An RTP/AVP answer is RTP fallback when allowed.
	l.AllowRTP = true
	n, err := l.ProcessAnswer([]byte(offerSDP("RTP/AVP", "0 101", "rtpmap:101 telephone-event/8000")))
	if err != nil || n.SRTP || n.LocalCrypto.Suite != "" || n.TelephoneEventPT != 101 {
		t.Fatalf("fallback answer: %+v, %v", n, err)
	}
}

func TestLocalErrors(t *testing.T) {
	cs := mustCryptos(t)
	keyless := []Crypto{{Tag: 1, Suite: SuiteAES128CMSHA1_80}}
	for name, tc := range map[string]struct {
		l             Local
		offer, answer bool // which fail
	}{
		"no addr":                  {Local{}, true, true},
		"port 0":                   {Local{Addr: netip.AddrPortFrom(local4.Addr(), 0)}, true, true},
		"bad codec":                {Local{Addr: local4, Codecs: []Codec{{Name: "G729", PayloadType: 18}}}, true, true},
		"static te":                {Local{Addr: local4, TelephoneEventPT: 13}, true, true},
		"direction":                {Local{Addr: local4, Direction: "both"}, true, true},
		"dup tags":                 {Local{Addr: local4, Cryptos: []Crypto{cs[0], cs[0]}}, true, true},
		"bad suite":                {Local{Addr: local4, Cryptos: []Crypto{{Tag: 1, Suite: "NULL"}}}, true, true},
		"keyless ok for answering": {Local{Addr: local4, Cryptos: keyless}, true, false},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := tc.l.Offer(); (err != nil) != tc.offer {
				t.Errorf("Offer: %v", err)
			}
			if _, _, err := tc.l.Answer([]byte(baresipOffer)); (err != nil) != tc.answer {
				t.Errorf("Answer: %v", err)
			}
		})
	}
}

func TestParseSDP(t *testing.T) {
	d, err := ParseSDP([]byte(rfc4568Offer))
	if err != nil {
		t.Fatal(err)
	}
	// c= with a multicast TTL; the audio stream is the second m= line.
	if d.Addr != netip.MustParseAddrPort("161.44.17.12:49170") || d.Streams != 3 || d.index != 1 || len(d.Cryptos) != 1 ||
		d.Ptime != 0 || d.Direction != SendRecv || d.SessionVersion != 2890842807 {
		t.Fatalf("%+v", d)
	}
	c, err := ParseCrypto(d.Cryptos[0])
	if err != nil || c.Lifetime != "2^20" || c.MKI != "1:32" {
		t.Fatalf("%v %v", c, err)
	}
	// Media-level c= and direction win over the session level.
	d, err = ParseSDP([]byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=recvonly\r\n" +
		"m=audio 7000 RTP/AVP 0\r\nc=IN IP6 2001:db8::7\r\na=ptime:30\r\na=sendonly\r\n"))
	if err != nil || d.Addr != netip.MustParseAddrPort("[2001:db8::7]:7000") || d.Direction != SendOnly || d.Ptime != 30*time.Millisecond {
		t.Fatalf("%+v %v", d, err)
	}
}
