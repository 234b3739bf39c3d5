// Package media is the RTP/SRTP media plane used by imslab UEs for voice calls.
//
// A call's media goes in three steps:
//
//   - SDP offer/answer (sdp.go, RFC 3264, RFC 4566): a Local describes our
//     address, G.711 codecs, SDES a=crypto lines (crypto.go, RFC 4568) and
//     RFC 4733 telephone-event; Local.Offer, Local.Answer and
//     Local.ProcessAnswer give a Negotiated, or an error that wraps one of
//     the sentinel errors so that the UA can refuse with 488 and WarnCode.
//   - Negotiated.SessionConfig gives the Config of a Session (stream.go),
//     which sends one 20 ms G.711 packet at a time from a Source and
//     receives, over SRTP (pion/srtp) or, for RTP fallback, plain RTP.
//   - Stats (RFC 3550 loss and jitter), Received and Check tell what was
//     heard; DetectTone and the WAV helpers check it.
package media
