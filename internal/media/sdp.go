package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// Transport protocols of an audio m= line (RFC 3551 §11, RFC 3711 §12,
// RFC 4585 §9, RFC 5124 §6).
const (
	ProtoRTPAVP   = "RTP/AVP"
	ProtoRTPAVPF  = "RTP/AVPF"
	ProtoRTPSAVP  = "RTP/SAVP"
	ProtoRTPSAVPF = "RTP/SAVPF"
)

// DefaultTelephoneEventPT is the dynamic payload type we offer for RFC 4733
// telephone-event/8000.
const DefaultTelephoneEventPT = 101

// Direction is a media direction attribute (RFC 4566 §6, RFC 3264 §5.1),
// seen from the side that wrote the SDP.
type Direction string

// The four directions; an m= line without one is sendrecv (RFC 3264 §5.1).
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Reasons to refuse an offer (488 Not Acceptable Here, RFC 3261 §21.4.26) or
// an answer (tear the call down). Every refusal by Answer and ProcessAnswer
// wraps one of them (only an invalid Local gives a plain error); WarnCode
// gives the Warning to send with the 488.
var (
	ErrSDP               = errors.New("media: malformed SDP")
	ErrNoAudioStream     = errors.New("media: no usable audio stream")
	ErrAddressFamily     = errors.New("media: incompatible network address")
	ErrIncompatibleProto = errors.New("media: incompatible transport protocol")
	ErrNoCommonCodec     = errors.New("media: no common codec")
	ErrNoCommonCrypto    = errors.New("media: no common SRTP crypto suite")
)

// WarnCode returns the RFC 3261 §20.43 warn-code to put in the Warning
// header of a 488 caused by err: 301 address, 302 transport protocol, 304
// media type, 305 media format, 306 attribute (no a=crypto suite in common:
// RFC 4568 names no code; 306 "attribute not understood" is the closest),
// and 399 otherwise.
func WarnCode(err error) int {
	switch {
	case errors.Is(err, ErrAddressFamily):
		return 301
	case errors.Is(err, ErrIncompatibleProto):
		return 302
	case errors.Is(err, ErrNoAudioStream):
		return 304
	case errors.Is(err, ErrNoCommonCodec):
		return 305
	case errors.Is(err, ErrNoCommonCrypto):
		return 306
	}
	return 399
}

// Local is our side of a voice call's audio stream: what Offer puts in an
// offer, and what Answer accepts in the peer's offer.
type Local struct {
	Addr   netip.AddrPort // our RTP address, for c= and the m= port; required
	Codecs []Codec        // PCMU and/or PCMA in preference order; nil = PCMU, PCMA
	// Cryptos are our a=crypto attributes (RFC 4568 §9.1), most preferred
	// first, one per suite, tags 1..n (see NewCryptos). An offer carries
	// them with their keys, which must be fresh for each call; Answer only
	// looks at their suites and answers with a fresh key (RFC 4568 §7.1.2).
	// Empty means plain RTP/AVP only.
	Cryptos []Crypto
	// AllowRTP, with Cryptos set, is RTP fallback: Answer accepts an
	// RTP/AVP offer and ProcessAnswer an RTP/AVP answer, giving plain RTP.
	// Our own offer stays RTP/SAVP: one m= line cannot offer both (that
	// would need RFC 5939 capability negotiation, not implemented).
	AllowRTP         bool
	TelephoneEventPT uint8     // RFC 4733 telephone-event payload type, 96..127; 0 = DefaultTelephoneEventPT
	NoTelephoneEvent bool      // offer and accept no telephone-event
	Direction        Direction // "" = sendrecv
	Username         string    // o= username; "" = "-"
	// SessionID and SessionVersion go into o= (RFC 4566 §5.2); SessionID 0
	// means random. Keep the ID and increment the version for a re-offer
	// (RFC 3264 §8).
	SessionID, SessionVersion uint64
}

// Format is one payload type of an m= line with its a=rtpmap and a=fmtp.
type Format struct {
	PayloadType uint8
	Name        string // encoding name; for static types without a=rtpmap, the RFC 3551 §6 name
	ClockRate   int
	Fmtp        string
}

func (f Format) String() string {
	if f.Name == "" {
		return strconv.Itoa(int(f.PayloadType))
	}
	return fmt.Sprintf("%d %s/%d", f.PayloadType, f.Name, f.ClockRate)
}

// is reports whether f is the static payload type of c (RFC 3551 §6) and
// its a=rtpmap, if any, agrees.
func (f Format) is(c Codec) bool {
	return f.PayloadType == c.PayloadType && strings.EqualFold(f.Name, c.Name) && f.ClockRate == ClockRate
}

// Description is the audio stream of an SDP body: the first m=audio line
// whose port is not 0, or else the first m=audio line. Other m= lines are
// only counted.
type Description struct {
	SessionID, SessionVersion uint64 // o=; a new version means a changed offer (RFC 3264 §8)
	// Addr is where the peer receives RTP: the c= address (media level,
	// else session level) and the m= port. Port 0 means the stream is
	// rejected or disabled (RFC 3264 §5.1, §6).
	Addr             netip.AddrPort
	Proto            string        // e.g. RTP/SAVP
	Formats          []Format      // in m= order, the writer's preference (RFC 3264 §5.1)
	TelephoneEventPT uint8         // telephone-event/8000 payload type; 0 = none
	Ptime            time.Duration // a=ptime; 0 = absent
	// Direction is the writer's a=sendrecv/sendonly/recvonly/inactive, media
	// level over session level. c=0.0.0.0 (RFC 3264 §8.4 old-style hold)
	// removes its receive half.
	Direction Direction
	Cryptos   []string // a=crypto values of the audio stream; parse them with ParseCrypto
	Streams   int      // m= lines in the SDP, of any media type
	index     int      // index of the audio stream among them
}

// Negotiated is the outcome of an offer/answer exchange: what a Session needs.
type Negotiated struct {
	Remote       netip.AddrPort // where to send RTP
	Proto        string         // the answer's proto
	Codec        Codec
	LocalCrypto  Crypto // keys what we send; zero when plain RTP
	RemoteCrypto Crypto // keys what we receive; zero when plain RTP
	SRTP         bool
	// TelephoneEventPT is the telephone-event payload type to send DTMF
	// with: the answer's, which RFC 3264 §6.1 makes the offer's; 0 = none.
	TelephoneEventPT uint8
	Ptime            time.Duration // the peer's a=ptime, else 20 ms
	// Direction is ours after the exchange (RFC 3264 §6.1): Inactive or
	// RecvOnly when the peer holds the call (sendonly, inactive, c=0.0.0.0).
	Direction Direction
}

// SessionConfig returns a Session Config for conn with the negotiated peer
// address, codec and keys; the caller adds Source, Logger and the rest. A
// Session always sends: on hold (Direction without send) the UA should not
// run one.
func (n Negotiated) SessionConfig(conn net.PacketConn) Config {
	return Config{Conn: conn, Remote: net.UDPAddrFromAddrPort(n.Remote), Codec: n.Codec,
		LocalCrypto: n.LocalCrypto, RemoteCrypto: n.RemoteCrypto}
}

// Offer builds an SDP offer with one audio stream (RFC 3264 §5): our codecs,
// telephone-event, a=ptime:20, the direction, and RTP/SAVP with our
// a=crypto lines (RFC 4568 §7.1.1) or RTP/AVP when there are none.
func (l Local) Offer() ([]byte, error) {
	if err := l.check(true); err != nil {
		return nil, err
	}
	proto := ProtoRTPAVP
	if len(l.Cryptos) > 0 {
		proto = ProtoRTPSAVP
	}
	var te uint8
	if !l.NoTelephoneEvent {
		te = l.telephoneEventPT()
	}
	return l.marshal(l.audio(proto, l.codecs(), te, l.Cryptos, l.direction()))
}

// Answer answers an SDP offer (RFC 3264 §6): it keeps the offer's first
// codec that we support (RFC 3264 §6.1), the offer's first a=crypto whose
// suite is in l.Cryptos, answered with the same tag and a fresh key of ours
// (RFC 4568 §7.1.2), and telephone-event with the offer's payload type. The
// answer lists only that codec so that the offerer sends what a Session
// decodes. Every m= line but the audio stream is rejected with port 0
// (RFC 3264 §6). The error wraps one of the sentinel errors (see WarnCode).
func (l Local) Answer(offer []byte) ([]byte, Negotiated, error) {
	if err := l.check(false); err != nil {
		return nil, Negotiated{}, err
	}
	d, r, err := parseSDP(offer)
	if err != nil {
		return nil, Negotiated{}, fmt.Errorf("cannot answer the offer: %w", err)
	}
	n, err := l.negotiateOffer(r)
	if err != nil {
		return nil, Negotiated{}, fmt.Errorf("cannot answer the offer: %w", err)
	}
	var cryptos []Crypto
	if n.SRTP {
		cryptos = []Crypto{n.LocalCrypto}
	}
	media := make([]*sdp.MediaDescription, len(d.MediaDescriptions))
	for i, md := range d.MediaDescriptions {
		if i == r.index {
			media[i] = l.audio(r.Proto, []Codec{n.Codec}, n.TelephoneEventPT, cryptos, n.Direction)
			continue
		}
		// RFC 3264 §6: a rejected stream keeps its media, proto and formats, with port 0.
		media[i] = &sdp.MediaDescription{MediaName: sdp.MediaName{Media: md.MediaName.Media,
			Protos: md.MediaName.Protos, Formats: md.MediaName.Formats}}
	}
	b, err := l.marshal(media...)
	if err != nil {
		return nil, Negotiated{}, err
	}
	return b, n, nil
}

// ProcessAnswer checks the answer to an offer made with l.Offer (RFC 3264
// §7): the audio stream is accepted, its codec is one we offered, and its
// a=crypto has the tag and suite of one of ours (RFC 4568 §7.1.3); with
// AllowRTP an RTP/AVP answer gives plain RTP. The error wraps one of the
// sentinel errors.
func (l Local) ProcessAnswer(answer []byte) (Negotiated, error) {
	if err := l.check(true); err != nil {
		return Negotiated{}, err
	}
	_, r, err := parseSDP(answer)
	if err != nil {
		return Negotiated{}, fmt.Errorf("unusable answer: %w", err)
	}
	n, err := l.negotiateAnswer(r)
	if err != nil {
		return Negotiated{}, fmt.Errorf("unusable answer: %w", err)
	}
	return n, nil
}

// ParseSDP parses an SDP body (RFC 4566) and returns its audio stream.
// pion/sdp refuses media other than audio, video, text, application and
// message, and unregistered proto tokens: such a body is ErrSDP.
func ParseSDP(b []byte) (Description, error) {
	_, r, err := parseSDP(b)
	return r, err
}

func (l Local) negotiateOffer(r Description) (Negotiated, error) {
	if r.Addr.Port() == 0 {
		return Negotiated{}, fmt.Errorf("%w: the offer's audio stream is disabled (port 0)", ErrNoAudioStream)
	}
	if err := l.sameFamily(r.Addr, "offer"); err != nil {
		return Negotiated{}, err
	}
	n := Negotiated{Remote: r.Addr, Proto: r.Proto, Ptime: r.ptime(),
		Direction: directionOf(l.direction().sends() && r.Direction.receives(), l.direction().receives() && r.Direction.sends())}
	switch {
	case isSRTP(r.Proto) && len(l.Cryptos) == 0:
		return Negotiated{}, fmt.Errorf("%w: the offer is %s but we are configured for plain RTP (no a=crypto suites)", ErrIncompatibleProto, r.Proto)
	case isSRTP(r.Proto):
		n.SRTP = true
	case isPlain(r.Proto) && len(l.Cryptos) > 0 && !l.AllowRTP:
		return Negotiated{}, fmt.Errorf("%w: the offer is %s (plain RTP) but SRTP is required; RTP fallback is off", ErrIncompatibleProto, r.Proto)
	case !isPlain(r.Proto):
		return Negotiated{}, fmt.Errorf("%w: the offer's audio is %s; we support %s, %s and %s", ErrIncompatibleProto, r.Proto, ProtoRTPAVP, ProtoRTPSAVP, ProtoRTPSAVPF)
	}
	var ok bool
	if n.Codec, ok = pickCodec(r.Formats, l.codecs()); !ok {
		return Negotiated{}, fmt.Errorf("%w: the offer has [%s], we support [%s]", ErrNoCommonCodec, formatList(r.Formats), codecList(l.codecs()))
	}
	if n.SRTP {
		rc, err := selectCrypto(r.Cryptos, l.Cryptos)
		if err != nil {
			return Negotiated{}, err
		}
		lc, err := NewCrypto(rc.Tag, rc.Suite) // RFC 4568 §7.1.2: the offer's tag, our key
		if err != nil {
			return Negotiated{}, err
		}
		n.LocalCrypto, n.RemoteCrypto = lc, rc
	}
	if !l.NoTelephoneEvent {
		n.TelephoneEventPT = r.TelephoneEventPT
	}
	return n, nil
}

func (l Local) negotiateAnswer(r Description) (Negotiated, error) {
	if r.index != 0 || r.Streams != 1 {
		return Negotiated{}, fmt.Errorf("%w: the answer has %d m= lines with audio at #%d; our offer had one m=audio (RFC 3264 §6)", ErrSDP, r.Streams, r.index+1)
	}
	if r.Addr.Port() == 0 {
		return Negotiated{}, fmt.Errorf("%w: the answerer rejected the audio stream (port 0, RFC 3264 §6)", ErrNoAudioStream)
	}
	if err := l.sameFamily(r.Addr, "answer"); err != nil {
		return Negotiated{}, err
	}
	n := Negotiated{Remote: r.Addr, Proto: r.Proto, Ptime: r.ptime(),
		Direction: directionOf(l.direction().sends() && r.Direction.receives(), l.direction().receives() && r.Direction.sends())}
	offered := ProtoRTPAVP
	if len(l.Cryptos) > 0 {
		offered = ProtoRTPSAVP
	}
	switch {
	case isSRTP(r.Proto) && len(l.Cryptos) > 0:
		n.SRTP = true
	case isPlain(r.Proto) && (len(l.Cryptos) == 0 || l.AllowRTP):
	default:
		return Negotiated{}, fmt.Errorf("%w: the answer is %s to our %s offer (RTP fallback allowed: %t)", ErrIncompatibleProto, r.Proto, offered, l.AllowRTP)
	}
	var ok bool
	if n.Codec, ok = pickCodec(r.Formats, l.codecs()); !ok {
		return Negotiated{}, fmt.Errorf("%w: the answer has [%s], we offered [%s]", ErrNoCommonCodec, formatList(r.Formats), codecList(l.codecs()))
	}
	if n.SRTP {
		var err error
		if n.LocalCrypto, n.RemoteCrypto, err = l.answeredCrypto(r.Cryptos); err != nil {
			return Negotiated{}, err
		}
	}
	if !l.NoTelephoneEvent {
		n.TelephoneEventPT = r.TelephoneEventPT
	}
	return n, nil
}

// selectCrypto picks the first offered a=crypto (the offerer's preference,
// RFC 4568 §7.1.1) that is valid and has a suite of ours (RFC 4568 §7.1.2).
func selectCrypto(offered []string, ours []Crypto) (Crypto, error) {
	if len(offered) == 0 {
		return Crypto{}, fmt.Errorf("%w: the SRTP offer has no a=crypto line (only SDES keying, RFC 4568, is supported)", ErrNoCommonCrypto)
	}
	var why []string
	for _, s := range offered {
		c, err := ParseCrypto(s)
		switch {
		case err != nil:
			why = append(why, err.Error())
		case len(c.Params) > 0:
			// RFC 4568 §7.1.2: an attribute with unsupported elements is not valid.
			why = append(why, fmt.Sprintf("tag %d: session parameters %v are not supported", c.Tag, c.Params))
		case !slices.ContainsFunc(ours, func(o Crypto) bool { return o.Suite == c.Suite }):
			why = append(why, fmt.Sprintf("tag %d: %s is not one of our suites", c.Tag, c.Suite))
		default:
			return c, nil
		}
	}
	return Crypto{}, fmt.Errorf("%w: we support %v; offered: %s", ErrNoCommonCrypto, suites(ours), strings.Join(why, "; "))
}

// answeredCrypto matches the answer's a=crypto to the one of ours with the
// same tag and suite (RFC 4568 §7.1.3). An answer must carry exactly one;
// extra ones are ignored.
func (l Local) answeredCrypto(answered []string) (local, remote Crypto, err error) {
	if len(answered) == 0 {
		return Crypto{}, Crypto{}, fmt.Errorf("%w: the SRTP answer has no a=crypto line (RFC 4568 §7.1.2 requires one)", ErrNoCommonCrypto)
	}
	rc, err := ParseCrypto(answered[0])
	if err != nil {
		return Crypto{}, Crypto{}, fmt.Errorf("%w: the answer's a=crypto: %w", ErrNoCommonCrypto, err)
	}
	for _, c := range l.Cryptos {
		if c.Tag != rc.Tag {
			continue
		}
		if c.Suite != rc.Suite {
			return Crypto{}, Crypto{}, fmt.Errorf("%w: the answer's a=crypto tag %d has %s, we offered %s under that tag", ErrNoCommonCrypto, rc.Tag, rc.Suite, c.Suite)
		}
		return c, rc, nil
	}
	tags := make([]int, len(l.Cryptos))
	for i, c := range l.Cryptos {
		tags[i] = c.Tag
	}
	return Crypto{}, Crypto{}, fmt.Errorf("%w: the answer's a=crypto tag %d is none of our offered tags %v", ErrNoCommonCrypto, rc.Tag, tags)
}

func pickCodec(formats []Format, ours []Codec) (Codec, bool) {
	for _, f := range formats {
		for _, c := range ours {
			if f.is(c) {
				return c, true
			}
		}
	}
	return Codec{}, false
}

// check validates l; an offer also needs usable keys in Cryptos.
func (l Local) check(offer bool) error {
	if !l.Addr.IsValid() || l.Addr.Port() == 0 {
		return fmt.Errorf("media: Local.Addr %v must be an IP address with a non-zero port", l.Addr)
	}
	for _, c := range l.Codecs {
		if k, err := CodecByPayloadType(c.PayloadType); err != nil || k != c {
			return fmt.Errorf("media: Local.Codecs: %v is not PCMU or PCMA", c)
		}
	}
	if pt := l.TelephoneEventPT; pt != 0 && (pt < 96 || pt > 127) {
		return fmt.Errorf("media: Local.TelephoneEventPT %d is not a dynamic payload type 96..127 (RFC 3551 §6)", pt)
	}
	switch l.Direction {
	case "", SendRecv, SendOnly, RecvOnly, Inactive:
	default:
		return fmt.Errorf("media: Local.Direction %q is not sendrecv, sendonly, recvonly or inactive", l.Direction)
	}
	for i, c := range l.Cryptos {
		if _, err := c.Profile(); err != nil {
			return fmt.Errorf("media: Local.Cryptos[%d]: %w", i, err)
		}
		if slices.ContainsFunc(l.Cryptos[:i], func(o Crypto) bool { return o.Tag == c.Tag }) {
			return fmt.Errorf("media: Local.Cryptos: tag %d used twice (RFC 4568 §9.1: tags are unique)", c.Tag)
		}
		if offer {
			if _, err := ParseCrypto(c.String()); err != nil {
				return fmt.Errorf("media: Local.Cryptos[%d] cannot be offered (use NewCrypto): %w", i, err)
			}
		}
	}
	return nil
}

func (l Local) sameFamily(a netip.AddrPort, what string) error {
	if a.Addr().Is4() != l.Addr.Addr().Unmap().Is4() {
		return fmt.Errorf("%w: the %s's c= address %v and ours %v are of different IP versions", ErrAddressFamily, what, a.Addr(), l.Addr.Addr())
	}
	return nil
}

func (l Local) codecs() []Codec {
	if len(l.Codecs) == 0 {
		return []Codec{PCMU, PCMA}
	}
	return l.Codecs
}

func (l Local) telephoneEventPT() uint8 {
	if l.TelephoneEventPT == 0 {
		return DefaultTelephoneEventPT
	}
	return l.TelephoneEventPT
}

func (l Local) direction() Direction {
	if l.Direction == "" {
		return SendRecv
	}
	return l.Direction
}

// audio builds our m=audio line.
func (l Local) audio(proto string, codecs []Codec, te uint8, cryptos []Crypto, dir Direction) *sdp.MediaDescription {
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio",
		Port: sdp.RangedPort{Value: int(l.Addr.Port())}, Protos: strings.Split(proto, "/")}}
	add := func(k, v string) { md.Attributes = append(md.Attributes, sdp.NewAttribute(k, v)) }
	for _, c := range codecs {
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(c.PayloadType)))
		add("rtpmap", fmt.Sprintf("%d %s/%d", c.PayloadType, c.Name, ClockRate))
	}
	if te != 0 {
		// RFC 4733 §2.4.1, §3.2: events 0-15 are the DTMF digits.
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(te)))
		add("rtpmap", fmt.Sprintf("%d telephone-event/%d", te, ClockRate))
		add("fmtp", fmt.Sprintf("%d 0-15", te))
	}
	add("ptime", strconv.Itoa(int(PacketInterval/time.Millisecond))) // RFC 4566 §6
	add(string(dir), "")
	for _, c := range cryptos {
		add("crypto", c.String()) // RFC 4568 §9.1
	}
	return md
}

// marshal wraps media in a session description with our o= and c= (RFC
// 4566 §5) and t=0 0 (RFC 3264 §5).
func (l Local) marshal(media ...*sdp.MediaDescription) ([]byte, error) {
	ip := l.Addr.Addr().Unmap().WithZone("")
	at := "IP4"
	if ip.Is6() {
		at = "IP6"
	}
	user := l.Username
	if user == "" {
		user = "-"
	}
	id := l.SessionID
	if id == 0 {
		id = rand.Uint64N(1<<62) + 1
	}
	d := sdp.SessionDescription{
		Origin: sdp.Origin{Username: user, SessionID: id, SessionVersion: l.SessionVersion,
			NetworkType: "IN", AddressType: at, UnicastAddress: ip.String()},
		SessionName:           "-",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: at, Address: &sdp.Address{Address: ip.String()}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
		MediaDescriptions:     media,
	}
	b, err := d.Marshal()
	if err != nil {
		return nil, fmt.Errorf("media: marshalling SDP: %w", err)
	}
	return b, nil
}

func parseSDP(b []byte) (*sdp.SessionDescription, Description, error) {
	d := new(sdp.SessionDescription)
	if err := d.Unmarshal(b); err != nil {
		return nil, Description{}, fmt.Errorf("%w: %w", ErrSDP, err)
	}
	r := Description{SessionID: d.Origin.SessionID, SessionVersion: d.Origin.SessionVersion,
		Streams: len(d.MediaDescriptions), index: -1, Direction: SendRecv}
	var kinds []string
	for i, md := range d.MediaDescriptions {
		kinds = append(kinds, md.MediaName.Media)
		if md.MediaName.Media != "audio" {
			continue
		}
		if md.MediaName.Port.Value != 0 {
			r.index = i
			break
		}
		if r.index < 0 {
			r.index = i
		}
	}
	if r.index < 0 {
		return d, r, fmt.Errorf("%w: no m=audio line (media: %v)", ErrNoAudioStream, kinds)
	}
	md := d.MediaDescriptions[r.index]
	r.Proto = strings.Join(md.MediaName.Protos, "/")
	if strings.Contains(r.Proto, "RTP") {
		for _, s := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(s, 10, 7)
			if err != nil {
				return d, r, fmt.Errorf("%w: m=audio format %q is not an RTP payload type 0..127", ErrSDP, s)
			}
			r.Formats = append(r.Formats, staticFormat(uint8(pt)))
		}
	}
	if dir, ok := directionAttr(d.Attributes); ok {
		r.Direction = dir
	}
	if dir, ok := directionAttr(md.Attributes); ok {
		r.Direction = dir
	}
	if err := r.parseAttributes(md.Attributes); err != nil {
		return d, r, err
	}
	ci := md.ConnectionInformation
	if ci == nil {
		ci = d.ConnectionInformation
	}
	port := uint16(md.MediaName.Port.Value)
	if ci == nil || ci.Address == nil {
		if port != 0 {
			return d, r, fmt.Errorf("%w: no c= line for the audio stream (RFC 4566 §5.7)", ErrSDP)
		}
		return d, r, nil
	}
	ip, err := connectionAddr(ci)
	if err != nil {
		return d, r, err
	}
	r.Addr = netip.AddrPortFrom(ip, port)
	if ip.IsUnspecified() {
		// RFC 3264 §8.4: c=0.0.0.0 means "do not send to me".
		r.Direction = directionOf(r.Direction.sends(), false)
	}
	return d, r, nil
}

// parseAttributes reads a=rtpmap, a=fmtp (RFC 4566 §6), a=ptime and
// a=crypto (RFC 4568 §9.1) of the audio stream.
func (r *Description) parseAttributes(attrs []sdp.Attribute) error {
	for _, a := range attrs {
		switch a.Key {
		case "rtpmap", "fmtp":
			pt, rest, _ := strings.Cut(a.Value, " ")
			i := slices.IndexFunc(r.Formats, func(f Format) bool { return strconv.Itoa(int(f.PayloadType)) == pt })
			if i < 0 {
				continue // not a payload type of this m= line
			}
			if a.Key == "fmtp" {
				r.Formats[i].Fmtp = strings.TrimSpace(rest)
				continue
			}
			name, rate, _ := strings.Cut(strings.TrimSpace(rest), "/")
			rate, _, _ = strings.Cut(rate, "/") // drop the channel count
			hz, err := strconv.Atoi(rate)
			if name == "" || err != nil || hz <= 0 {
				return fmt.Errorf("%w: a=rtpmap:%s: want <payload type> <encoding name>/<clock rate>", ErrSDP, a.Value)
			}
			r.Formats[i].Name, r.Formats[i].ClockRate = name, hz
		case "ptime":
			ms, err := strconv.ParseFloat(strings.TrimSpace(a.Value), 64)
			if err != nil || ms <= 0 || ms > 10000 {
				return fmt.Errorf("%w: a=ptime:%s is not a packet time in milliseconds", ErrSDP, a.Value)
			}
			r.Ptime = time.Duration(ms * float64(time.Millisecond))
		case "crypto":
			r.Cryptos = append(r.Cryptos, a.Value)
		}
	}
	for _, f := range r.Formats {
		if strings.EqualFold(f.Name, "telephone-event") && f.ClockRate == ClockRate {
			r.TelephoneEventPT = f.PayloadType // RFC 4733 §7.1.1
			break
		}
	}
	return nil
}

func (r Description) ptime() time.Duration {
	if r.Ptime == 0 {
		return PacketInterval
	}
	return r.Ptime
}

// connectionAddr returns the IP of a c= line (RFC 4566 §5.7), without any
// multicast /ttl/range suffix. Host names are not resolved.
func connectionAddr(ci *sdp.ConnectionInformation) (netip.Addr, error) {
	host, _, _ := strings.Cut(ci.Address.Address, "/")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: c= address %q is not an IP address (host names are not resolved)", ErrAddressFamily, host)
	}
	if (ci.AddressType == "IP4") != ip.Is4() {
		return netip.Addr{}, fmt.Errorf("%w: c= says %s but the address is %s", ErrAddressFamily, ci.AddressType, host)
	}
	return ip.WithZone(""), nil
}

// staticFormat names the common static payload types of RFC 3551 §6 Table 4.
func staticFormat(pt uint8) Format {
	names := [...]string{0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 13: "CN", 18: "G729"}
	if int(pt) < len(names) && names[pt] != "" {
		return Format{PayloadType: pt, Name: names[pt], ClockRate: ClockRate}
	}
	return Format{PayloadType: pt}
}

func directionAttr(attrs []sdp.Attribute) (Direction, bool) {
	for _, a := range attrs {
		switch d := Direction(a.Key); d {
		case SendRecv, SendOnly, RecvOnly, Inactive:
			return d, true
		}
	}
	return "", false
}

func (d Direction) sends() bool    { return d == SendRecv || d == SendOnly }
func (d Direction) receives() bool { return d == SendRecv || d == RecvOnly }

// directionOf is the direction of a side that sends and/or receives; the
// answer's direction follows RFC 3264 §6.1.
func directionOf(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	}
	return Inactive
}

func isSRTP(proto string) bool  { return proto == ProtoRTPSAVP || proto == ProtoRTPSAVPF }
func isPlain(proto string) bool { return proto == ProtoRTPAVP || proto == ProtoRTPAVPF }

func formatList(fs []Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.String()
	}
	return strings.Join(s, ", ")
}

func codecList(cs []Codec) string {
	fs := make([]Format, len(cs))
	for i, c := range cs {
		fs[i] = Format{PayloadType: c.PayloadType, Name: c.Name, ClockRate: ClockRate}
	}
	return formatList(fs)
}

func suites(cs []Crypto) []string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.Suite
	}
	return s
}
