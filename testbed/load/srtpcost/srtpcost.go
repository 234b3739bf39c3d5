// Package srtpcost measures what protecting and unprotecting one voice
// packet costs: pion/srtp (what the lab's media sessions use) for each
// SDES suite, against the raw floor of the same transforms done with the
// standard library and the session keys already derived (RFC 3711 §4.1.1
// AES-CM, §4.2.1 HMAC-SHA1; RFC 7714 §8 AES-GCM). The functions are
// benchmark bodies: `go test -bench` runs them from internal/media, and
// Measure runs them with testing.Benchmark from the load tool.
package srtpcost

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"slices"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/imslab/imslab/internal/media"
)

// The packet measured: one 20 ms G.711 frame behind a plain RTP header.
const (
	HeaderLen  = 12  // RFC 3550 §5.1, no CSRC, no extension
	PayloadLen = 160 // 20 ms of G.711 at 8 kHz (RFC 3551 §4.5.14)
	ssrc       = 0x1234abcd
	batch      = 4096 // packets protected, untimed, per unprotect round
)

// rtpPacket is a PCMU packet with sequence number seq.
func rtpPacket(seq uint16) []byte {
	p := make([]byte, HeaderLen+PayloadLen)
	p[0] = 0x80 // V=2
	p[1] = media.PCMU.PayloadType
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], uint32(seq)*media.SamplesPerPacket)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	for i := HeaderLen; i < len(p); i++ {
		p[i] = byte(i)
	}
	return p
}

// contexts makes a send and a receive pion/srtp context for suite, keyed
// alike; the receiver has the 128-packet replay window media.Session uses
// (RFC 3711 §3.3.2).
func contexts(tb testing.TB, suite string) (enc, dec *srtp.Context) {
	c, err := media.NewCrypto(1, suite)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := c.Profile()
	if err != nil {
		tb.Fatal(err)
	}
	if enc, err = srtp.CreateContext(c.Key, c.Salt, p); err != nil {
		tb.Fatal(err)
	}
	if dec, err = srtp.CreateContext(c.Key, c.Salt, p, srtp.SRTPReplayProtection(128)); err != nil {
		tb.Fatal(err)
	}
	return enc, dec
}

// ManySessions is how many sessions the cold-cache cases take in turn:
// the legs of 1,000 calls.
const ManySessions = 2000

// session is one leg's SRTP state as media.Session keeps it: its own
// contexts and buffers.
type session struct {
	enc, dec         *srtp.Context
	pkt, wire, plain []byte
	hdr              rtp.Header
	seq              uint16
}

func newSessions(tb testing.TB, suite string, n int) []*session {
	ss := make([]*session, n)
	for i := range ss {
		enc, dec := contexts(tb, suite)
		ss[i] = &session{enc: enc, dec: dec, pkt: rtpPacket(0), wire: make([]byte, 0, 256), plain: make([]byte, 0, 256)}
	}
	return ss
}

// protect protects the session's next packet into s.wire.
func (s *session) protect() error {
	binary.BigEndian.PutUint16(s.pkt[2:], s.seq)
	s.seq++
	var err error
	s.wire, err = s.enc.EncryptRTP(s.wire[:0], s.pkt, &s.hdr)
	return err
}

// Protect measures pion/srtp protecting one packet (RFC 3711 §3.3: encrypt,
// then authenticate), a new sequence number each time as on the wire.
func Protect(b *testing.B, suite string) { ProtectSessions(b, suite, 1) }

// Unprotect measures pion/srtp unprotecting one packet (RFC 3711 §3.3:
// replay check, verify, decrypt).
func Unprotect(b *testing.B, suite string) { UnprotectSessions(b, suite, 1) }

// ProtectSessions is Protect over n sessions taken in turn: with many, each
// packet finds its context out of the CPU caches, as in a loaded lab.
func ProtectSessions(b *testing.B, suite string, n int) {
	ss := newSessions(b, suite, n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ss[i%n].protect(); err != nil {
			b.Fatal(err)
		}
	}
}

// UnprotectSessions is Unprotect over n sessions taken in turn. The
// packets are protected beforehand, in untimed batches, so that each is
// new to its replay window.
func UnprotectSessions(b *testing.B, suite string, n int) {
	ss := newSessions(b, suite, n)
	wire := make([][]byte, batch)
	for j := range wire {
		wire[j] = make([]byte, 0, 256)
	}
	var hdr rtp.Header
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		m := min(batch, b.N-done)
		b.StopTimer()
		for j := range m {
			s := ss[(done+j)%n]
			if err := s.protect(); err != nil {
				b.Fatal(err)
			}
			wire[j] = append(wire[j][:0], s.wire...)
		}
		b.StartTimer()
		for j := range m {
			s := ss[(done+j)%n]
			var err error
			if s.plain, err = s.dec.DecryptRTP(s.plain[:0], wire[j], &hdr); err != nil {
				b.Fatal(err)
			}
		}
		done += m
	}
}

// protectLoop times protect, each time on a packet with the next sequence
// number.
func protectLoop(b *testing.B, protect func(dst, pkt []byte, i int) ([]byte, error)) {
	pkt := rtpPacket(0)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		var err error
		if dst, err = protect(dst[:0], pkt, i); err != nil {
			b.Fatal(err)
		}
	}
}

// rawCM is AES_CM_128_HMAC_SHA1_80 with the session keys already derived
// (RFC 3711 §4.3 not measured): crypto/aes in counter mode, crypto/hmac.
type rawCM struct {
	block cipher.Block
	salt  [14]byte // k_s, 112 bits
	mac   hash.Hash
	sum   [sha1.Size]byte
	ks    []byte  // keystream
	roc   [4]byte // the ROC as authenticated
}

// Tag length of AES_CM_128_HMAC_SHA1_80 (RFC 3711 §5.2, RFC 4568 §6.2).
const tagLen = 10

func newRawCM() (*rawCM, error) {
	var key [16]byte
	var auth [20]byte // n_a = 160 bits (RFC 3711 §5.2)
	r := &rawCM{}
	for _, b := range [][]byte{key[:], r.salt[:], auth[:]} {
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
	}
	var err error
	if r.block, err = aes.NewCipher(key[:]); err != nil {
		return nil, err
	}
	r.mac = hmac.New(sha1.New, auth[:])
	return r, nil
}

// iv is the AES-CM counter block of RFC 3711 §4.1.1:
// IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), i = ROC * 2^16 + SEQ.
func (r *rawCM) iv(ssrc uint32, index uint64) [16]byte {
	var iv [16]byte
	copy(iv[:], r.salt[:])
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], ssrc)
	for k := range 4 {
		iv[4+k] ^= s[k]
	}
	var i [8]byte
	binary.BigEndian.PutUint64(i[:], index)
	for k := 2; k < 8; k++ { // 48 bits, octets 8..13
		iv[6+k] ^= i[k]
	}
	return iv
}

// xorKeyStream encrypts src into dst in AES counter mode from iv (RFC 3711
// §4.1.1: block j is E(k_e, IV + j)). It builds every counter block, then
// encrypts them in a row, which lets the CPU pipeline AES-NI rounds; unlike
// cipher.NewCTR it allocates nothing per packet.
func (r *rawCM) xorKeyStream(dst, src []byte, iv [16]byte) {
	n := (len(src) + aes.BlockSize - 1) / aes.BlockSize * aes.BlockSize
	r.ks = slices.Grow(r.ks[:0], n)[:n]
	for j := 0; j*aes.BlockSize < n; j++ {
		b := r.ks[j*aes.BlockSize : (j+1)*aes.BlockSize]
		copy(b, iv[:])
		binary.BigEndian.PutUint16(b[14:], uint16(j)) // the IV's low 16 bits are 0
	}
	for off := 0; off < n; off += aes.BlockSize {
		r.block.Encrypt(r.ks[off:], r.ks[off:])
	}
	subtle.XORBytes(dst, src, r.ks)
}

// tag is HMAC-SHA1 over the packet and the ROC (RFC 3711 §4.2: M = Authenticated
// Portion || ROC), truncated to tagLen.
func (r *rawCM) tag(pkt []byte, roc uint32) []byte {
	binary.BigEndian.PutUint32(r.roc[:], roc)
	r.mac.Reset()
	r.mac.Write(pkt)
	r.mac.Write(r.roc[:])
	return r.mac.Sum(r.sum[:0])[:tagLen]
}

// protect writes the SRTP packet for the RTP packet pkt into dst.
func (r *rawCM) protect(dst, pkt []byte, roc uint32) []byte {
	n := len(pkt)
	dst = slices.Grow(dst[:0], n+tagLen)[:n]
	copy(dst, pkt[:HeaderLen])
	seq := binary.BigEndian.Uint16(pkt[2:])
	iv := r.iv(binary.BigEndian.Uint32(pkt[8:]), uint64(roc)<<16|uint64(seq))
	r.xorKeyStream(dst[HeaderLen:n], pkt[HeaderLen:], iv)
	return append(dst, r.tag(dst[:n], roc)...)
}

// unprotect checks the tag and decrypts into dst; ok is false when the
// tag is wrong.
func (r *rawCM) unprotect(dst, wire []byte, roc uint32) (out []byte, ok bool) {
	n := len(wire) - tagLen
	if !hmac.Equal(r.tag(wire[:n], roc), wire[n:]) {
		return nil, false
	}
	dst = slices.Grow(dst[:0], n)[:n]
	copy(dst, wire[:HeaderLen])
	seq := binary.BigEndian.Uint16(wire[2:])
	iv := r.iv(binary.BigEndian.Uint32(wire[8:]), uint64(roc)<<16|uint64(seq))
	r.xorKeyStream(dst[HeaderLen:n], wire[HeaderLen:n], iv)
	return dst, true
}

// RawAESCMHMAC measures the floor of AES_CM_128_HMAC_SHA1_80 protect:
// AES-128-CTR over the 160-byte payload, HMAC-SHA1 over the 172-byte
// packet and the 4-byte ROC.
func RawAESCMHMAC(b *testing.B) {
	r, err := newRawCM()
	if err != nil {
		b.Fatal(err)
	}
	protectLoop(b, func(dst, pkt []byte, i int) ([]byte, error) { return r.protect(dst, pkt, uint32(i>>16)), nil })
}

// RawAESCMHMACVerify measures the floor of the unprotect: HMAC-SHA1 check,
// then AES-128-CTR over the payload.
func RawAESCMHMACVerify(b *testing.B) {
	r, err := newRawCM()
	if err != nil {
		b.Fatal(err)
	}
	wire := r.protect(nil, rtpPacket(7), 0)
	plain := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var ok bool
		if plain, ok = r.unprotect(plain, wire, 0); !ok {
			b.Fatal("raw AES-CM/HMAC: tag check failed")
		}
	}
}

// rawGCM is AEAD_AES_128_GCM with the session key and salt already
// derived: crypto/cipher's GCM.
type rawGCM struct {
	aead cipher.AEAD
	salt [12]byte
	iv   [12]byte
}

func newRawGCM() (*rawGCM, error) {
	var key [16]byte
	r := &rawGCM{}
	for _, b := range [][]byte{key[:], r.salt[:]} {
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	r.aead, err = cipher.NewGCM(block)
	return r, err
}

// nonce is the 12-octet IV of RFC 7714 §8.1:
// (00 00 || SSRC || ROC || SEQ) XOR salt.
func (r *rawGCM) nonce(pkt []byte, roc uint32) []byte {
	r.iv = [12]byte{}
	copy(r.iv[2:6], pkt[8:12])
	binary.BigEndian.PutUint32(r.iv[6:10], roc)
	copy(r.iv[10:12], pkt[2:4])
	for k := range r.iv {
		r.iv[k] ^= r.salt[k]
	}
	return r.iv[:]
}

// RawAESGCM measures the floor of AEAD_AES_128_GCM protect (RFC 7714 §8):
// AES-128-GCM sealing the payload with the header as associated data.
func RawAESGCM(b *testing.B) {
	r, err := newRawGCM()
	if err != nil {
		b.Fatal(err)
	}
	protectLoop(b, func(dst, pkt []byte, i int) ([]byte, error) {
		dst = append(dst, pkt[:HeaderLen]...)
		return r.aead.Seal(dst, r.nonce(pkt, uint32(i>>16)), pkt[HeaderLen:], pkt[:HeaderLen]), nil
	})
}

// RawAESGCMOpen measures the floor of AEAD_AES_128_GCM unprotect: the tag
// checked and the payload decrypted in one AES-128-GCM Open.
func RawAESGCMOpen(b *testing.B) {
	r, err := newRawGCM()
	if err != nil {
		b.Fatal(err)
	}
	pkt := rtpPacket(7)
	wire := append([]byte(nil), pkt[:HeaderLen]...)
	wire = r.aead.Seal(wire, r.nonce(pkt, 0), pkt[HeaderLen:], pkt[:HeaderLen])
	plain := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plain = append(plain[:0], wire[:HeaderLen]...)
		if plain, err = r.aead.Open(plain, r.nonce(wire, 0), wire[HeaderLen:], wire[:HeaderLen]); err != nil {
			b.Fatal(err)
		}
	}
}
