// Package nas holds what the lab's NAS (Non-Access Stratum) codecs share:
// the Message interface. The codecs themselves are subpackages, one per
// system, so that a 5GS codec (TS 24.501, e.g. built on github.com/free5gc/nas)
// can sit beside the EPS one without either importing the other:
//
//   - nas/eps: EPS NAS messages, TS 24.301 (EMM §8.2, ESM §8.3, IEs §9, the
//     IEs shared with TS 24.008 §10.5), and the security protected NAS
//     message (TS 24.301 §9.1, §4.4): Protect and Unprotect.
//   - nas/nassec: NAS security algorithms and keys, TS 33.401: 128-EEA2
//     (AES-CTR), 128-EIA2 (AES-CMAC, RFC 4493), the NAS key derivation of
//     Annex A.7. The 5GS NEA2/NIA2 are the same algorithms (TS 33.501 D.4).
//
// K_ASME itself (TS 33.401 A.2) and the generic KDF (TS 33.220 B.2) are in
// internal/aka, next to MILENAGE, because the HSS computes K_ASME too.
package nas
