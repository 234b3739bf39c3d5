package eps

import "errors"

// Errors callers can branch on (with errors.Is).
var (
	// ErrMissingIE: the message ends before one of its mandatory IEs (TS
	// 24.301 §7.5.1 "missing mandatory information"). The error text names
	// the message and the IE.
	ErrMissingIE = errors.New("eps: mandatory IE missing")
	// ErrInvalidIE: an IE's length or contents are not valid (a length that
	// runs past the message, a bad BCD digit, an unknown IEI marked
	// comprehension required...). The error text names the IE.
	ErrInvalidIE = errors.New("eps: invalid IE")
	// ErrUnknownMessage: the protocol discriminator or message type is not
	// one this package decodes, or is not the one asked for.
	ErrUnknownMessage = errors.New("eps: unknown message")
	// ErrSecurityProtected: a security protected message (security header
	// type 1 to 4) was given to a plain decoder; use Unprotect first.
	ErrSecurityProtected = errors.New("eps: security protected message (use SecurityContext.Unprotect)")
	// ErrNotProtected: Unprotect was given a plain message.
	ErrNotProtected = errors.New("eps: not a security protected message")
	// ErrMACFailure: the MAC of a security protected message does not verify
	// with the context's key and the estimated NAS COUNT (a forged, damaged
	// or replayed message), TS 24.301 §4.4.3.3.
	ErrMACFailure = errors.New("eps: NAS MAC does not verify")
)
