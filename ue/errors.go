package ue

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Errors callers branch on.
var (
	// ErrNetworkNotGenuine: the card found the MAC in AUTN wrong, so the
	// challenge was not made with this card's K/OPc: the network failed
	// authentication and the UE refuses it (TS 33.102 §6.3.3).
	ErrNetworkNotGenuine = errors.New("the network failed authentication (MAC failure): not our operator's network")
	// ErrNetworkDeregistered: the network ended the registration and asked
	// the UE not to register again (reg event, contact terminated with
	// event "rejected", TS 24.229 §5.1.1.7).
	ErrNetworkDeregistered = errors.New("the network de-registered this UE")
)

// RefusedError is a final answer other than 2xx to REGISTER, with what it
// most likely means.
type RefusedError struct {
	Op      string // "registration", "re-registration", "de-registration"
	Code    int
	Reason  string
	Warning string // the Warning header, if any (RFC 3261 §20.43)
	Hint    string
}

func (e *RefusedError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s refused: %d %s", e.Op, e.Code, e.Reason)
	if e.Hint != "" {
		sb.WriteString(" — " + e.Hint)
	}
	if e.Warning != "" {
		sb.WriteString(" [Warning: " + e.Warning + "]")
	}
	return sb.String()
}

// Temporary reports whether trying again later may succeed (RFC 3261
// §21: timeouts and server failures, not refusals).
func (e *RefusedError) Temporary() bool {
	switch e.Code {
	case 408, 480, 500, 503, 504:
		return true
	}
	return false
}

// Names of the REGISTER exchanges, for errors.
const (
	opRegister   = "registration"
	opRefresh    = "re-registration"
	opDeregister = "de-registration"
)

// refused explains a final answer to REGISTER.
func refused(op string, res *sip.Response, st *authState) *RefusedError {
	e := &RefusedError{Op: op, Code: res.StatusCode, Reason: res.Reason, Warning: header(res, "Warning")}
	switch {
	case res.StatusCode == 403 && st.sentRES:
		e.Hint = "the network did not accept RES (wrong K or OPc in the card or the HSS?)"
	case res.StatusCode == 403 && st.sentAUTS:
		e.Hint = "the network did not accept the resynchronisation: AUTS did not verify (wrong K or OPc in the card or the HSS?)"
	case res.StatusCode == 403:
		e.Hint = "the network does not let this identity register here (is the subscriber in the HSS? imslab hss subscriber import CARD.yaml)"
	case res.StatusCode == 404:
		e.Hint = "the network does not know this identity (IMPI/IMPU not in the HSS?)"
	case res.StatusCode == 400:
		e.Hint = "the P-CSCF or S-CSCF found the REGISTER malformed"
	case res.StatusCode == 420 || res.StatusCode == 421:
		e.Hint = "the network requires an extension this UE does not have (Unsupported/Require: " + header(res, "Unsupported") + header(res, "Require") + ")"
	case e.Temporary():
		e.Hint = "the IMS core is not ready (S-CSCF or HSS unreachable?); try again"
		if ra := header(res, "Retry-After"); ra != "" {
			e.Hint += " after " + ra + " s"
		}
	}
	return e
}
