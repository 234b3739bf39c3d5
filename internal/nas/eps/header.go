package eps

import (
	"fmt"

	"github.com/imslab/imslab/internal/nas"
)

// ProtocolDiscriminator is the protocol discriminator of TS 24.007
// §11.2.3.1.1 (TS 24.301 §9.2).
type ProtocolDiscriminator uint8

// Protocol discriminators of EPS NAS.
const (
	PDESM ProtocolDiscriminator = 0x2 // EPS session management
	PDEMM ProtocolDiscriminator = 0x7 // EPS mobility management
)

// SecurityHeaderType is the security header type of an EMM message, TS
// 24.301 §9.3.1.
type SecurityHeaderType uint8

// Security header types, TS 24.301 table 9.3.1. Type 12 (service request)
// is not supported.
const (
	Plain                                SecurityHeaderType = 0
	IntegrityProtected                   SecurityHeaderType = 1
	IntegrityProtectedCiphered           SecurityHeaderType = 2
	IntegrityProtectedNewContext         SecurityHeaderType = 3 // Security mode command
	IntegrityProtectedCipheredNewContext SecurityHeaderType = 4 // Security mode complete
)

// Label says how a message with this security header type is protected,
// for traces: "", " [integrity]" or " [integrity, ciphered]".
func (t SecurityHeaderType) Label() string {
	switch t {
	case IntegrityProtected, IntegrityProtectedNewContext:
		return " [integrity]"
	case IntegrityProtectedCiphered, IntegrityProtectedCipheredNewContext:
		return " [integrity, ciphered]"
	}
	return ""
}

func (t SecurityHeaderType) String() string {
	switch t {
	case Plain:
		return "plain NAS message"
	case IntegrityProtected:
		return "integrity protected"
	case IntegrityProtectedCiphered:
		return "integrity protected and ciphered"
	case IntegrityProtectedNewContext:
		return "integrity protected with new EPS security context"
	case IntegrityProtectedCipheredNewContext:
		return "integrity protected and ciphered with new EPS security context"
	}
	return fmt.Sprintf("security header type %d", uint8(t))
}

// MessageType is the message type octet, TS 24.301 §9.8.
type MessageType uint8

// EMM message types, TS 24.301 table 9.8.1.
const (
	TypeAttachRequest          MessageType = 0x41
	TypeAttachAccept           MessageType = 0x42
	TypeAttachComplete         MessageType = 0x43
	TypeAttachReject           MessageType = 0x44
	TypeDetachRequest          MessageType = 0x45
	TypeDetachAccept           MessageType = 0x46
	TypeAuthenticationRequest  MessageType = 0x52
	TypeAuthenticationResponse MessageType = 0x53
	TypeAuthenticationReject   MessageType = 0x54
	TypeIdentityRequest        MessageType = 0x55
	TypeIdentityResponse       MessageType = 0x56
	TypeAuthenticationFailure  MessageType = 0x5C
	TypeSecurityModeCommand    MessageType = 0x5D
	TypeSecurityModeComplete   MessageType = 0x5E
	TypeSecurityModeReject     MessageType = 0x5F
	TypeEMMStatus              MessageType = 0x60
)

// ESM message types, TS 24.301 table 9.8.2.
const (
	TypeActivateDefaultBearerRequest MessageType = 0xC1
	TypeActivateDefaultBearerAccept  MessageType = 0xC2
	TypeActivateDefaultBearerReject  MessageType = 0xC3
	TypePDNConnectivityRequest       MessageType = 0xD0
	TypePDNConnectivityReject        MessageType = 0xD1
	TypeESMStatus                    MessageType = 0xE8
)

var typeNames = map[MessageType]string{
	TypeAttachRequest:                "Attach request",
	TypeAttachAccept:                 "Attach accept",
	TypeAttachComplete:               "Attach complete",
	TypeAttachReject:                 "Attach reject",
	TypeDetachRequest:                "Detach request",
	TypeDetachAccept:                 "Detach accept",
	TypeAuthenticationRequest:        "Authentication request",
	TypeAuthenticationResponse:       "Authentication response",
	TypeAuthenticationReject:         "Authentication reject",
	TypeIdentityRequest:              "Identity request",
	TypeIdentityResponse:             "Identity response",
	TypeAuthenticationFailure:        "Authentication failure",
	TypeSecurityModeCommand:          "Security mode command",
	TypeSecurityModeComplete:         "Security mode complete",
	TypeSecurityModeReject:           "Security mode reject",
	TypeEMMStatus:                    "EMM status",
	TypeActivateDefaultBearerRequest: "Activate default EPS bearer context request",
	TypeActivateDefaultBearerAccept:  "Activate default EPS bearer context accept",
	TypeActivateDefaultBearerReject:  "Activate default EPS bearer context reject",
	TypePDNConnectivityRequest:       "PDN connectivity request",
	TypePDNConnectivityReject:        "PDN connectivity reject",
	TypeESMStatus:                    "ESM status",
}

func (t MessageType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("message type %#02x", uint8(t))
}

// Message is a plain EPS NAS message (EMM or ESM).
type Message interface {
	nas.Message
	// Type is the message type.
	Type() MessageType
}

// ESMHeader is the header of an ESM message, TS 24.301 §9.3.2 and §9.4: the
// EPS bearer identity (0 when no bearer is assigned yet, 5-15 otherwise)
// and the procedure transaction identity (0 when none, 1-254 for a
// UE-requested procedure).
type ESMHeader struct {
	EBI uint8
	PTI uint8
}

// Header returns the ESM header; it makes the ESM message types ESMMessages.
func (h *ESMHeader) Header() *ESMHeader { return h }

// ESMMessage is a plain ESM message: standalone or in an ESM message
// container (TS 24.301 §9.9.3.15).
type ESMMessage interface {
	Message
	Header() *ESMHeader
}

var emmMessages = map[MessageType]func() Message{
	TypeAttachRequest:          func() Message { return new(AttachRequest) },
	TypeAttachAccept:           func() Message { return new(AttachAccept) },
	TypeAttachComplete:         func() Message { return new(AttachComplete) },
	TypeAttachReject:           func() Message { return new(AttachReject) },
	TypeDetachAccept:           func() Message { return new(DetachAccept) },
	TypeAuthenticationRequest:  func() Message { return new(AuthenticationRequest) },
	TypeAuthenticationResponse: func() Message { return new(AuthenticationResponse) },
	TypeAuthenticationReject:   func() Message { return new(AuthenticationReject) },
	TypeIdentityRequest:        func() Message { return new(IdentityRequest) },
	TypeIdentityResponse:       func() Message { return new(IdentityResponse) },
	TypeAuthenticationFailure:  func() Message { return new(AuthenticationFailure) },
	TypeSecurityModeCommand:    func() Message { return new(SecurityModeCommand) },
	TypeSecurityModeComplete:   func() Message { return new(SecurityModeComplete) },
	TypeSecurityModeReject:     func() Message { return new(SecurityModeReject) },
	TypeEMMStatus:              func() Message { return new(EMMStatus) },
}

var esmMessages = map[MessageType]func() ESMMessage{
	TypeActivateDefaultBearerRequest: func() ESMMessage { return new(ActivateDefaultBearerRequest) },
	TypeActivateDefaultBearerAccept:  func() ESMMessage { return new(ActivateDefaultBearerAccept) },
	TypeActivateDefaultBearerReject:  func() ESMMessage { return new(ActivateDefaultBearerReject) },
	TypePDNConnectivityRequest:       func() ESMMessage { return new(PDNConnectivityRequest) },
	TypePDNConnectivityReject:        func() ESMMessage { return new(PDNConnectivityReject) },
	TypeESMStatus:                    func() ESMMessage { return new(ESMStatus) },
}

// Decode decodes a plain EPS NAS message, EMM or ESM (TS 24.301 §8), and
// returns a pointer to its struct (*AttachRequest, ...). A security
// protected message gives ErrSecurityProtected.
func Decode(b []byte) (Message, error) {
	if len(b) > 0 && ProtocolDiscriminator(b[0]&0x0F) == PDESM {
		return DecodeESM(b)
	}
	return DecodeEMM(b)
}

// DecodeEMM decodes a plain EMM message. The two Detach requests share one
// message type (TS 24.301 §8.2.11): the UE's one (*DetachRequest) is told
// from the network's (*NetworkDetachRequest) by its mandatory EPS mobile
// identity, whose length octet (1-11) cannot be an IEI of the network's
// optional IEs.
func DecodeEMM(b []byte) (Message, error) {
	if err := checkEMMHeader(b); err != nil {
		return nil, err
	}
	t := MessageType(b[1])
	var m Message
	switch {
	case t == TypeDetachRequest && len(b) > 3 && b[3] >= 1 && b[3] <= maxEPSIdentityLen:
		m = new(DetachRequest)
	case t == TypeDetachRequest:
		m = new(NetworkDetachRequest)
	default:
		mk, ok := emmMessages[t]
		if !ok {
			return nil, fmt.Errorf("%w: EMM message type %#02x", ErrUnknownMessage, uint8(t))
		}
		m = mk()
	}
	if err := m.Decode(b); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeESM decodes a plain ESM message.
func DecodeESM(b []byte) (ESMMessage, error) {
	if len(b) < 3 {
		return nil, fmt.Errorf("%w: ESM header needs 3 octets, got %d", ErrMissingIE, len(b))
	}
	if pd := ProtocolDiscriminator(b[0] & 0x0F); pd != PDESM {
		return nil, fmt.Errorf("%w: protocol discriminator %d is not ESM", ErrUnknownMessage, pd)
	}
	mk, ok := esmMessages[MessageType(b[2])]
	if !ok {
		return nil, fmt.Errorf("%w: ESM message type %#02x", ErrUnknownMessage, b[2])
	}
	m := mk()
	if err := m.Decode(b); err != nil {
		return nil, err
	}
	return m, nil
}

// checkEMMHeader checks the first two octets of a plain EMM message, TS
// 24.301 §9.2, §9.3.1.
func checkEMMHeader(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: EMM header needs 2 octets, got %d", ErrMissingIE, len(b))
	}
	if pd := ProtocolDiscriminator(b[0] & 0x0F); pd != PDEMM {
		return fmt.Errorf("%w: protocol discriminator %d is not EMM", ErrUnknownMessage, pd)
	}
	switch sht := SecurityHeaderType(b[0] >> 4); {
	case sht == Plain:
		return nil
	case sht <= IntegrityProtectedCipheredNewContext:
		return fmt.Errorf("%w (%v)", ErrSecurityProtected, sht)
	default:
		return fmt.Errorf("%w: %v (service request and reserved types are not supported)", ErrUnknownMessage, sht)
	}
}
