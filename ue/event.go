package ue

import "time"

// EventKind names what happened to a UE's registration or calls.
type EventKind int

// The events a UE reports through Config.OnEvent.
const (
	// Registered: an initial registration succeeded (Registration set).
	Registered EventKind = iota + 1
	// Refreshed: a re-registration succeeded (Registration set).
	Refreshed
	// RegistrationFailed: a registration or re-registration failed (Err set).
	RegistrationFailed
	// Subscribed: the reg-event subscription was accepted.
	Subscribed
	// SubscriptionFailed: the reg-event SUBSCRIBE was refused or lost (Err set).
	SubscriptionFailed
	// RegState: a reg-event NOTIFY arrived (Reginfo set).
	RegState
	// NetworkDeregistered: a NOTIFY said this UE's registration was
	// terminated by the network (Reginfo and Err set).
	NetworkDeregistered
	// Deregistered: the UE de-registered (Expires: 0 accepted).
	Deregistered
	// CallDialing: an outgoing call's INVITE is on its way (Call set).
	CallDialing
	// CallRinging: the callee rings (outgoing), or this UE rings
	// (incoming) (Call set).
	CallRinging
	// CallAnswered: this UE answered an incoming call (200 sent).
	CallAnswered
	// CallEstablished: the call is set up, media flowing (Call set).
	CallEstablished
	// CallFailed: a call did not connect (Err set for outgoing calls).
	CallFailed
	// CallEnded: a call ended (Call set; Call.Result says how).
	CallEnded
	// Attached: the UE attached to the EPC (Config.Attach).
	Attached
	// Detached: the UE detached from the EPC.
	Detached
)

var kindNames = map[EventKind]string{
	Registered: "registered", Refreshed: "refreshed", RegistrationFailed: "registration-failed",
	Subscribed: "subscribed", SubscriptionFailed: "subscription-failed", RegState: "reg-state",
	NetworkDeregistered: "network-deregistered", Deregistered: "deregistered",
	CallDialing: "call-dialing", CallRinging: "call-ringing", CallAnswered: "call-answered",
	CallEstablished: "call-established", CallFailed: "call-failed", CallEnded: "call-ended",
	Attached: "attached", Detached: "detached",
}

func (k EventKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "unknown"
}

// Event is one change of a UE's registration or of its reg-event view.
type Event struct {
	Kind         EventKind
	Time         time.Time
	Registration *Registration
	Reginfo      *Reginfo
	// PCSCFSource, for Registered, says why this P-CSCF (flag, PCO of the
	// attach, ISIM EF_PCSCF, default; TS 24.229 §9.2.1).
	PCSCFSource string
	// Call is the call a Call* event is about (nil for an incoming call
	// refused before it was set up).
	Call *Call
	Err  error
	// Text says it for a person, in one line.
	Text string
}
