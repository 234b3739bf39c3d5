// Package nassec implements the NAS security algorithms and key derivations
// of TS 33.401 that the lab uses for EPS NAS:
//
//   - 128-EEA2, AES-128 in counter mode (Annex B.1.3), and EEA0 (no
//     ciphering);
//   - 128-EIA2, AES-CMAC truncated to 32 bits (Annex B.2.3), and EIA0 (the
//     null integrity algorithm, MAC 0, emergency calls only, §5.1.4.1);
//   - AES-CMAC itself (RFC 4493, NIST SP 800-38B), for messages of any bit
//     length as Annex C's test data needs;
//   - K_NASenc and K_NASint from K_ASME (Annex A.7), with the KDF of
//     internal/aka.
//
// The inputs of every algorithm are the 32-bit COUNT, the 5-bit BEARER
// (always 0 for NAS), the DIRECTION (0 uplink, 1 downlink) and the 128-bit
// key (Annex B.1.1, B.2.1). 128-EEA1/EIA1 (SNOW 3G) and 128-EEA3/EIA3 (ZUC)
// are not implemented: ErrUnsupportedAlgorithm.
//
// The 5GS algorithms 128-NEA2/NIA2 are the same functions (TS 33.501 Annex
// D.4 reuses these test sets); only the key derivation (TS 33.501 A.8) and
// the BEARER value differ.
package nassec
