package gw

import (
	"errors"
	"fmt"
)

// GTPv2 causes the gateway sends or the client reads (TS 29.274 §8.4,
// Table 8.4-1).
const (
	CauseRequestAccepted             uint8 = 16
	CauseNewPDNTypeNetworkPreference uint8 = 18
	CauseContextNotFound             uint8 = 64
	CauseInvalidMessageFormat        uint8 = 65
	CauseMandatoryIEIncorrect        uint8 = 69
	CauseMandatoryIEMissing          uint8 = 70
	CauseSystemFailure               uint8 = 72
	CauseNoResourcesAvailable        uint8 = 73
	CauseMissingOrUnknownAPN         uint8 = 78
	CausePreferredPDNTypeUnsupported uint8 = 83
	CauseAllDynamicAddressesOccupied uint8 = 84
)

// causeNames are the words of TS 29.274 Table 8.4-1 for the causes above.
var causeNames = map[uint8]string{
	16: "Request accepted",
	17: "Request accepted partially",
	18: "New PDN type due to network preference",
	19: "New PDN type due to single address bearer only",
	64: "Context Not Found",
	65: "Invalid Message Format",
	66: "Version not supported by next peer",
	67: "Invalid length",
	68: "Service not supported",
	69: "Mandatory IE incorrect",
	70: "Mandatory IE missing",
	72: "System failure",
	73: "No resources available",
	78: "Missing or unknown APN",
	83: "Preferred PDN type not supported",
	84: "All dynamic addresses are occupied",
}

// CauseText names a cause: "84 (All dynamic addresses are occupied)".
func CauseText(c uint8) string {
	if n, ok := causeNames[c]; ok {
		return fmt.Sprintf("%d (%s)", c, n)
	}
	return fmt.Sprintf("%d", c)
}

// accepted tells an acceptance cause (16 to 63, TS 29.274 §8.4).
func accepted(c uint8) bool { return c >= 16 && c < 64 }

// CauseError is a request the SGW/PGW rejected: errors.As finds it in the
// client's errors.
type CauseError struct {
	Message string // "Create Session Response"
	Cause   uint8
}

func (e *CauseError) Error() string {
	return fmt.Sprintf("gw: %s: cause %s", e.Message, CauseText(e.Cause))
}

// ErrNoResponse: the SGW/PGW did not answer any transmission of a request
// (TS 29.274 §7.6: T3-RESPONSE times N3-REQUESTS).
var ErrNoResponse = errors.New("gw: no response from the SGW/PGW")
