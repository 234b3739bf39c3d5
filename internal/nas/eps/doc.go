// Package eps encodes and decodes the EPS NAS messages (TS 24.301) that the
// lab's EPC-lite exchanges between a simulated UE and the MME: the EMM
// messages of attach, authentication (EPS-AKA), identity, security mode,
// detach and status (§8.2), the ESM messages of the default bearer (§8.3),
// and the security protected NAS message that carries them once a security
// context exists (§9.1, §4.4).
//
// Every message is a struct whose pointer implements Message (and
// nas.Message): Encode returns the octets, Decode reads them, String names
// the message as the specification does. Decode (the function) reads any
// plain message and returns the right type. Mandatory IEs are struct fields;
// the optional IEs the lab uses are fields too (nil or zero when absent);
// every other optional IE is kept in the message's Other field as received,
// so that a decoded message encodes back to the same octets.
//
// Decoding follows TS 24.301 §7.6 and §9.9.1: an optional IE that the
// message does not list is skipped by its format (one octet if bit 8 of the
// IEI is set, else IEI-length-value), an unknown IEI 0x01-0x0F ("comprehension
// required", TS 24.007 §11.2.4) is an error, and a missing mandatory IE is an
// error (ErrMissingIE) that names the IE. Nothing panics on any input (the
// package is fuzzed).
//
// Security: SecurityContext.Protect builds a security protected message
// (security header types 1 to 4: integrity, integrity and ciphering, each
// with or without a new EPS security context) and Unprotect checks its MAC,
// estimates its NAS COUNT (TS 24.301 §4.4.3.1: NAS COUNT = overflow << 8 |
// SQN) and deciphers it. The algorithms are in package nassec.
//
// Layout: a file per message or procedure (attach_request.go,
// authentication.go, ...), per family of IEs (ie_identity.go, ie_pco.go,
// ...); codec.go holds the IE formats of TS 24.007 §11.2 that all messages
// share, security.go the security protected message.
package eps
