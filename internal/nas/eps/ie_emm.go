package eps

import (
	"fmt"
	"time"

	"github.com/imslab/imslab/internal/nas/nassec"
)

// KSI is a NAS key set identifier, TS 24.301 §9.9.3.21: bit 4 is the type
// of security context flag (TSC, 1 = mapped), bits 1-3 the value.
type KSI uint8

// NoKeyAvailable is the KSI value 7: "no key is available" (UE to network)
// or "reserved" (network to UE).
const NoKeyAvailable KSI = 7

// AttachType is the EPS attach type, TS 24.301 §9.9.3.11.
type AttachType uint8

// EPS attach types.
const (
	AttachEPS       AttachType = 1
	AttachCombined  AttachType = 2 // combined EPS/IMSI attach
	AttachEmergency AttachType = 6
)

// AttachResult is the EPS attach result, TS 24.301 §9.9.3.10.
type AttachResult uint8

// EPS attach results.
const (
	AttachResultEPS      AttachResult = 1 // EPS only
	AttachResultCombined AttachResult = 2 // combined EPS/IMSI attach
)

// DetachType is the type of detach, TS 24.301 §9.9.3.7 (bits 1-3; bit 4,
// switch off, is a field of DetachRequest).
type DetachType uint8

// Types of detach, UE to network.
const (
	DetachEPS      DetachType = 1
	DetachIMSI     DetachType = 2
	DetachCombined DetachType = 3 // combined EPS/IMSI detach
)

// Types of detach, network to UE.
const (
	DetachReattachRequired    DetachType = 1
	DetachReattachNotRequired DetachType = 2
	DetachIMSIOnly            DetachType = 3
)

// GPRSTimer is a GPRS timer value, TS 24.008 §10.5.7.3 (T3412, T3402...):
// bits 6-8 the unit, bits 1-5 the value.
type GPRSTimer uint8

// GPRSTimerDeactivated is the "timer deactivated" unit (111).
const GPRSTimerDeactivated GPRSTimer = 0xE0

// NewGPRSTimer codes d in the finest unit that holds it (2 s, 1 min, 6 min),
// rounding down; d <= 0 gives GPRSTimerDeactivated.
func NewGPRSTimer(d time.Duration) GPRSTimer {
	switch {
	case d <= 0:
		return GPRSTimerDeactivated
	case d <= 31*2*time.Second:
		return GPRSTimer(d / (2 * time.Second))
	case d <= 31*time.Minute:
		return 1<<5 | GPRSTimer(d/time.Minute)
	case d <= 31*6*time.Minute:
		return 2<<5 | GPRSTimer(d/(6*time.Minute))
	}
	return 2<<5 | 31
}

// Duration returns the timer's value; ok is false when the timer is
// deactivated. Units other than 0, 1, 2, 7 are read as minutes, as TS
// 24.008 §10.5.7.3 asks.
func (t GPRSTimer) Duration() (d time.Duration, ok bool) {
	v := time.Duration(t & 0x1F)
	switch t >> 5 {
	case 0:
		return v * 2 * time.Second, true
	case 2:
		return v * 6 * time.Minute, true
	case 7:
		return 0, false
	}
	return v * time.Minute, true
}

// UENetworkCapability is the UE network capability IE, TS 24.301
// §9.9.3.34: the EPS algorithms the UE supports (bit 8 of EEA is EEA0, bit 7
// 128-EEA1, ...) and the octets after them as received (UEA, UIA, ...).
type UENetworkCapability struct {
	EEA, EIA uint8
	More     []byte
}

// SupportsEEA tells whether the UE supports ciphering algorithm a.
func (c UENetworkCapability) SupportsEEA(a nassec.EEA) bool {
	return a < 8 && c.EEA&(0x80>>a) != 0
}

// SupportsEIA tells whether the UE supports integrity algorithm a.
func (c UENetworkCapability) SupportsEIA(a nassec.EIA) bool {
	return a < 8 && c.EIA&(0x80>>a) != 0
}

// Replayed returns the UE security capability the MME replays in the
// Security mode command, TS 24.301 §5.4.3.2 and §9.9.3.36: the EPS
// algorithms and, if the UE sent them, its UMTS algorithms (octets 5-6,
// without the UCS2 bit).
func (c UENetworkCapability) Replayed() UESecurityCapability {
	r := UESecurityCapability{EEA: c.EEA, EIA: c.EIA}
	if len(c.More) >= 2 {
		r.More = []byte{c.More[0], c.More[1] & 0x7F}
	}
	return r
}

func (c UENetworkCapability) encode() ([]byte, error) {
	if len(c.More) > 11 {
		return nil, fmt.Errorf("%w: UE network capability of %d octets, at most 13", ErrInvalidIE, 2+len(c.More))
	}
	return append([]byte{c.EEA, c.EIA}, c.More...), nil
}

func decodeUENetworkCapability(b []byte) (UENetworkCapability, error) {
	if len(b) < 2 || len(b) > 13 {
		return UENetworkCapability{}, fmt.Errorf("%d octets, want 2 to 13", len(b))
	}
	return UENetworkCapability{EEA: b[0], EIA: b[1], More: clone(b[2:])}, nil
}

// UESecurityCapability is the (replayed) UE security capability IE, TS
// 24.301 §9.9.3.36: EEA and EIA as in UENetworkCapability, then UEA, UIA
// and GEA octets if present.
type UESecurityCapability struct {
	EEA, EIA uint8
	More     []byte
}

func (c UESecurityCapability) encode() ([]byte, error) {
	if len(c.More) > 3 {
		return nil, fmt.Errorf("%w: UE security capability of %d octets, at most 5", ErrInvalidIE, 2+len(c.More))
	}
	return append([]byte{c.EEA, c.EIA}, c.More...), nil
}

func decodeUESecurityCapability(b []byte) (UESecurityCapability, error) {
	if len(b) < 2 || len(b) > 5 {
		return UESecurityCapability{}, fmt.Errorf("%d octets, want 2 to 5", len(b))
	}
	return UESecurityCapability{EEA: b[0], EIA: b[1], More: clone(b[2:])}, nil
}

// NASSecurityAlgorithms is the selected NAS security algorithms IE, TS
// 24.301 §9.9.3.23.
type NASSecurityAlgorithms struct {
	EEA nassec.EEA
	EIA nassec.EIA
}

func (a NASSecurityAlgorithms) octet() (uint8, error) {
	if a.EEA > 7 || a.EIA > 7 {
		return 0, fmt.Errorf("%w: NAS security algorithms %v/%v do not fit 3 bits", ErrInvalidIE, a.EEA, a.EIA)
	}
	return uint8(a.EEA)<<4 | uint8(a.EIA), nil
}

func decodeNASSecurityAlgorithms(o uint8) NASSecurityAlgorithms {
	return NASSecurityAlgorithms{EEA: nassec.EEA(o >> 4 & 7), EIA: nassec.EIA(o & 7)}
}

// EMMCause is an EMM cause, TS 24.301 §9.9.3.9 (values in Annex A.1).
type EMMCause uint8

// EMM causes the lab's UE and MME use, TS 24.301 table 9.9.3.9.1.
const (
	EMMIllegalUE                    EMMCause = 3
	EMMIllegalME                    EMMCause = 6
	EMMEPSServicesNotAllowed        EMMCause = 7
	EMMUEIdentityCannotBeDerived    EMMCause = 9
	EMMImplicitlyDetached           EMMCause = 10
	EMMPLMNNotAllowed               EMMCause = 11
	EMMTrackingAreaNotAllowed       EMMCause = 12
	EMMNetworkFailure               EMMCause = 17
	EMMESMFailure                   EMMCause = 19
	EMMMACFailure                   EMMCause = 20
	EMMSynchFailure                 EMMCause = 21
	EMMCongestion                   EMMCause = 22
	EMMUESecurityCapabilityMismatch EMMCause = 23
	EMMSecurityModeRejected         EMMCause = 24 // unspecified
	EMMNonEPSAuthUnacceptable       EMMCause = 26
	EMMSemanticallyIncorrect        EMMCause = 95
	EMMInvalidMandatoryInformation  EMMCause = 96
	EMMMessageTypeNonExistent       EMMCause = 97
	EMMIENonExistent                EMMCause = 99
	EMMProtocolError                EMMCause = 111 // unspecified
)

var emmCauseNames = map[EMMCause]string{
	EMMIllegalUE:                    "Illegal UE",
	EMMIllegalME:                    "Illegal ME",
	EMMEPSServicesNotAllowed:        "EPS services not allowed",
	EMMUEIdentityCannotBeDerived:    "UE identity cannot be derived by the network",
	EMMImplicitlyDetached:           "Implicitly detached",
	EMMPLMNNotAllowed:               "PLMN not allowed",
	EMMTrackingAreaNotAllowed:       "Tracking Area not allowed",
	EMMNetworkFailure:               "Network failure",
	EMMESMFailure:                   "ESM failure",
	EMMMACFailure:                   "MAC failure",
	EMMSynchFailure:                 "Synch failure",
	EMMCongestion:                   "Congestion",
	EMMUESecurityCapabilityMismatch: "UE security capabilities mismatch",
	EMMSecurityModeRejected:         "Security mode rejected, unspecified",
	EMMNonEPSAuthUnacceptable:       "Non-EPS authentication unacceptable",
	EMMSemanticallyIncorrect:        "Semantically incorrect message",
	EMMInvalidMandatoryInformation:  "Invalid mandatory information",
	EMMMessageTypeNonExistent:       "Message type non-existent or not implemented",
	EMMIENonExistent:                "Information element non-existent or not implemented",
	EMMProtocolError:                "Protocol error, unspecified",
}

func (c EMMCause) String() string {
	if n, ok := emmCauseNames[c]; ok {
		return fmt.Sprintf("#%d %s", uint8(c), n)
	}
	return fmt.Sprintf("EMM cause #%d", uint8(c))
}
