// Package diameter holds what the lab's Diameter speakers (HSS, S-CSCF, MME)
// share: the Cx/Dx dictionary that go-diameter lacks, the S6a AVPs it misses,
// and the codes of TS 29.229 (Cx), TS 29.272 (S6a) and RFC 6733 (base) as
// constants.
//
// go-diameter resolves an AVP in the message's application, then (for S6a)
// in its parent applications 4 and 1, then in the base application 0. Cx
// (16777216) has no parent, so cx.xml defines every AVP a Cx message can carry
// that base lacks, including the reused Supported-Features, Digest-*,
// Framed-*, Line-Identifier and Load.
package diameter

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

//go:embed cx.xml
var cxXML []byte

//go:embed s6a_extra.xml
var s6aExtraXML []byte

var loadOnce sync.Once

// Dictionary returns go-diameter's dict.Default with the Cx application
// (cx.xml) and the missing S6a AVPs (s6a_extra.xml) loaded, once. Use it
// for every message: diam.NewRequest(CmdMA, AppCx, diameter.Dictionary()),
// diam.ReadMessage(r, diameter.Dictionary()).
//
// It panics if the embedded XML does not load: that is a programming error,
// which the package tests catch.
func Dictionary() *dict.Parser {
	loadOnce.Do(func() {
		for _, d := range []struct {
			name string
			xml  []byte
		}{{"cx.xml", cxXML}, {"s6a_extra.xml", s6aExtraXML}} {
			if err := dict.Default.Load(bytes.NewReader(d.xml)); err != nil {
				panic(fmt.Sprintf("diameter: embedded dictionary %s does not load: %v", d.name, err))
			}
		}
	})
	return dict.Default
}

// NewAVP returns an AVP whose header flags follow the dictionary entry of
// (app, code, vendor): V when vendor is not 0, M when the entry's flag rules
// say M must be set (RFC 6733 §4.1; the spec tables, e.g. TS 29.229 Table
// 6.3.1). AVPs whose M bit is "may" (Supported-Features) get no M bit: set it
// by hand where the spec asks for it (TS 29.229 §7.2).
func NewAVP(app, code, vendor uint32, data datatype.Type) (*diam.AVP, error) {
	d, err := Dictionary().FindAVPWithVendor(app, code, vendor)
	if err != nil {
		return nil, fmt.Errorf("diameter: AVP %d (vendor %d) in application %d: %w", code, vendor, app, err)
	}
	var flags uint8
	if vendor != 0 {
		flags |= avp.Vbit
	}
	if strings.Contains(d.Must, "M") {
		flags |= avp.Mbit
	}
	return diam.NewAVP(code, flags, vendor, data), nil
}

// Applications and vendors.
const (
	AppCx      = 16777216 // TS 29.229 §6: Cx/Dx
	AppS6a     = 16777251 // TS 29.272 §7.1.8: S6a/S6d
	Vendor3GPP = 10415
	VendorETSI = 13019 // Line-Identifier (ETSI ES 283 034), in SIP-Auth-Data-Item
)

// Command codes.
const (
	// RFC 6733 §3.1 (base).
	CmdCE = 257 // Capabilities-Exchange
	CmdDW = 280 // Device-Watchdog
	CmdDP = 282 // Disconnect-Peer

	// TS 29.229 §6.1 (Cx).
	CmdUA = 300 // User-Authorization
	CmdSA = 301 // Server-Assignment
	CmdLI = 302 // Location-Info
	CmdMA = 303 // Multimedia-Auth
	CmdRT = 304 // Registration-Termination
	CmdPP = 305 // Push-Profile

	// TS 29.272 §7.2 (S6a).
	CmdUL = 316 // Update-Location
	CmdCL = 317 // Cancel-Location
	CmdAI = 318 // Authentication-Information
	CmdPU = 321 // Purge-UE
)

// Cx AVP codes, vendor 3GPP, TS 29.229 §6.3 Table 6.3.1.
const (
	AVPVisitedNetworkIdentifier                = 600
	AVPPublicIdentity                          = 601
	AVPServerName                              = 602
	AVPServerCapabilities                      = 603
	AVPMandatoryCapability                     = 604
	AVPOptionalCapability                      = 605
	AVPUserData                                = 606
	AVPSIPNumberAuthItems                      = 607
	AVPSIPAuthenticationScheme                 = 608
	AVPSIPAuthenticate                         = 609
	AVPSIPAuthorization                        = 610
	AVPSIPAuthenticationContext                = 611
	AVPSIPAuthDataItem                         = 612
	AVPSIPItemNumber                           = 613
	AVPServerAssignmentType                    = 614
	AVPDeregistrationReason                    = 615
	AVPReasonCode                              = 616
	AVPReasonInfo                              = 617
	AVPChargingInformation                     = 618
	AVPPrimaryEventChargingFunctionName        = 619
	AVPSecondaryEventChargingFunctionName      = 620
	AVPPrimaryChargingCollectionFunctionName   = 621
	AVPSecondaryChargingCollectionFunctionName = 622
	AVPUserAuthorizationType                   = 623
	AVPUserDataAlreadyAvailable                = 624
	AVPConfidentialityKey                      = 625
	AVPIntegrityKey                            = 626
	AVPSupportedFeatures                       = 628 // also used by S6a
	AVPFeatureListID                           = 629
	AVPFeatureList                             = 630
	AVPSupportedApplications                   = 631
	AVPAssociatedIdentities                    = 632
	AVPOriginatingRequest                      = 633
	AVPWildcardedPublicIdentity                = 634
	AVPSIPDigestAuthenticate                   = 635
	AVPWildcardedIMPU                          = 636
	AVPUARFlags                                = 637
	AVPLooseRouteIndication                    = 638
	AVPSCSCFRestorationInfo                    = 639
	AVPPath                                    = 640
	AVPContact                                 = 641
	AVPSubscriptionInfo                        = 642
	AVPCallIDSIPHeader                         = 643
	AVPFromSIPHeader                           = 644
	AVPToSIPHeader                             = 645
	AVPRecordRoute                             = 646
	AVPAssociatedRegisteredIdentities          = 647
	AVPMultipleRegistrationIndication          = 648
	AVPRestorationInfo                         = 649
	AVPSessionPriority                         = 650
	AVPIdentityWithEmergencyRegistration       = 651
	AVPPriviledgedSenderIndication             = 652 // sic, the spec's spelling
	AVPLIAFlags                                = 653
	AVPInitialCSeqSequenceNumber               = 654
	AVPSARFlags                                = 655
	AVPAllowedWAFWWSFIdentities                = 656
	AVPWebRTCAuthenticationFunctionName        = 657
	AVPWebRTCWebServerFunctionName             = 658
	AVPRTRFlags                                = 659
	AVPPCSCFSubscriptionInfo                   = 660
	AVPRegistrationTimeOut                     = 661
	AVPAlternateDigestAlgorithm                = 662
	AVPAlternateDigestHA1                      = 663
	AVPFailedPCSCF                             = 664
	AVPPCSCFFQDN                               = 665
	AVPPCSCFIPAddress                          = 666

	// Reused by Cx from other specifications (TS 29.229 §6.3.13, §6.3.36);
	// vendor 0 except Line-Identifier (VendorETSI).
	AVPFramedIPAddress   = 8   // RFC 7155
	AVPFramedInterfaceID = 96  // RFC 7155
	AVPFramedIPv6Prefix  = 97  // RFC 7155
	AVPDigestRealm       = 104 // RFC 4590
	AVPDigestQoP         = 110 // RFC 4590
	AVPDigestAlgorithm   = 111 // RFC 4590
	AVPDigestHA1         = 121 // RFC 4590
	AVPLineIdentifier    = 500 // ETSI ES 283 034
)

// S6a AVP codes the HSS uses, vendor 3GPP unless noted, TS 29.272 §7.3
// Table 7.3.1/1.
const (
	AVPServiceSelection                      = 493 // RFC 5778 §6.2, vendor 0 (s6a_extra.xml)
	AVPMaxRequestedBandwidthDL               = 515 // TS 29.214
	AVPMaxRequestedBandwidthUL               = 516 // TS 29.214
	AVPExtendedMaxRequestedBWDL              = 554 // TS 29.214
	AVPExtendedMaxRequestedBWUL              = 555 // TS 29.214
	AVPMSISDN                                = 701 // TS 29.329
	AVPQoSClassIdentifier                    = 1028
	AVPRATType                               = 1032
	AVPAllocationRetentionPriority           = 1034
	AVPPriorityLevel                         = 1046
	AVPPreemptionCapability                  = 1047
	AVPPreemptionVulnerability               = 1048
	AVPSubscriptionData                      = 1400
	AVPTerminalInformation                   = 1401
	AVPIMEI                                  = 1402
	AVPSoftwareVersion                       = 1403
	AVPULRFlags                              = 1405
	AVPULAFlags                              = 1406
	AVPVisitedPLMNID                         = 1407
	AVPRequestedEUTRANAuthenticationInfo     = 1408
	AVPNumberOfRequestedVectors              = 1410
	AVPReSynchronizationInfo                 = 1411
	AVPImmediateResponsePreferred            = 1412
	AVPAuthenticationInfo                    = 1413
	AVPEUTRANVector                          = 1414
	AVPNetworkAccessMode                     = 1417
	AVPItemNumber                            = 1419
	AVPCancellationType                      = 1420
	AVPContextIdentifier                     = 1423
	AVPSubscriberStatus                      = 1424
	AVPAccessRestrictionData                 = 1426
	AVPAllAPNConfigurationsIncludedIndicator = 1428
	AVPAPNConfigurationProfile               = 1429
	AVPAPNConfiguration                      = 1430
	AVPEPSSubscribedQoSProfile               = 1431
	AVPAMBR                                  = 1435
	AVPPUAFlags                              = 1442
	AVPRAND                                  = 1447
	AVPXRES                                  = 1448
	AVPAUTN                                  = 1449
	AVPKASME                                 = 1450
	AVPPDNType                               = 1456
	AVP3GPP2MEID                             = 1471
	AVPEPSLocationInformation                = 1496
	AVPUESRVCCCapability                     = 1615
	AVPSubscribedPeriodicRAUTAUTimer         = 1619
	AVPPURFlags                              = 1635
	AVPCLRFlags                              = 1638
)

// Result-Code values, RFC 6733 §7.1.
const (
	ResultMultiRoundAuth         = 1001
	ResultSuccess                = 2001
	ResultLimitedSuccess         = 2002
	ResultCommandUnsupported     = 3001
	ResultUnableToDeliver        = 3002
	ResultRealmNotServed         = 3003
	ResultTooBusy                = 3004
	ResultLoopDetected           = 3005
	ResultRedirectIndication     = 3006
	ResultApplicationUnsupported = 3007
	ResultInvalidHdrBits         = 3008
	ResultInvalidAVPBits         = 3009
	ResultUnknownPeer            = 3010
	ResultAuthenticationRejected = 4001
	ResultOutOfSpace             = 4002
	ResultElectionLost           = 4003
	ResultAVPUnsupported         = 5001 // not Experimental 5001 (ExpUserUnknown)
	ResultUnknownSessionID       = 5002
	ResultAuthorizationRejected  = 5003
	ResultInvalidAVPValue        = 5004 // not Experimental 5004 (ExpRoamingNotAllowed)
	ResultMissingAVP             = 5005
	ResultResourcesExceeded      = 5006
	ResultContradictingAVPs      = 5007
	ResultAVPNotAllowed          = 5008
	ResultAVPOccursTooManyTimes  = 5009
	ResultNoCommonApplication    = 5010
	ResultUnsupportedVersion     = 5011
	ResultUnableToComply         = 5012
	ResultInvalidBitInHeader     = 5013
	ResultInvalidAVPLength       = 5014
	ResultInvalidMessageLength   = 5015
	ResultInvalidAVPBitCombo     = 5016
	ResultNoCommonSecurity       = 5017
)

// Experimental-Result-Code values (in Experimental-Result with Vendor-Id
// 3GPP): TS 29.229 §6.2 (Cx) and TS 29.272 §7.4 (S6a). The two specs agree
// where their codes overlap (5001, 5004).
const (
	ExpFirstRegistration             = 2001 // TS 29.229 §6.2.1.1
	ExpSubsequentRegistration        = 2002 // TS 29.229 §6.2.1.2
	ExpUnregisteredService           = 2003 // TS 29.229 §6.2.1.3
	ExpSuccessServerNameNotStored    = 2004 // TS 29.229 §6.2.1.4
	ExpAuthenticationDataUnavailable = 4181 // TS 29.272 §7.4.4.1
	ExpCamelSubscriptionPresent      = 4182 // TS 29.272 §7.4.4.2
	ExpUserUnknown                   = 5001 // TS 29.229 §6.2.2.1, TS 29.272 §7.4.3.1
	ExpIdentitiesDontMatch           = 5002 // TS 29.229 §6.2.2.2
	ExpIdentityNotRegistered         = 5003 // TS 29.229 §6.2.2.3
	ExpRoamingNotAllowed             = 5004 // TS 29.229 §6.2.2.4, TS 29.272 §7.4.3.4
	ExpIdentityAlreadyRegistered     = 5005 // TS 29.229 §6.2.2.5
	ExpAuthSchemeNotSupported        = 5006 // TS 29.229 §6.2.2.6
	ExpInAssignmentType              = 5007 // TS 29.229 §6.2.2.7
	ExpTooMuchData                   = 5008 // TS 29.229 §6.2.2.8
	ExpNotSupportedUserData          = 5009 // TS 29.229 §6.2.2.9
	ExpFeatureUnsupported            = 5011 // TS 29.229 §6.2.2
	ExpServingNodeFeatureUnsupported = 5012 // TS 29.229 §6.2.2
	ExpUnknownEPSSubscription        = 5420 // TS 29.272 §7.4.3.2
	ExpRATNotAllowed                 = 5421 // TS 29.272 §7.4.3.3
	ExpEquipmentUnknown              = 5422 // TS 29.272 §7.4.3.5
	ExpUnknownServingNode            = 5423 // TS 29.272 §7.4.3.6
)

// ResultName returns the specification name of a result code, for logs:
// a Result-Code (RFC 6733 §7.1) when experimental is false, an
// Experimental-Result-Code of vendor 3GPP (TS 29.229 §6.2, TS 29.272 §7.4)
// when it is true. Unknown codes read "UNKNOWN_<code>".
func ResultName(code uint32, experimental bool) string {
	var name string
	if experimental {
		name = experimentalName(code)
	} else {
		name = baseName(code)
	}
	if name == "" {
		return fmt.Sprintf("UNKNOWN_%d", code)
	}
	return name
}

func baseName(code uint32) string {
	switch code {
	case ResultMultiRoundAuth:
		return "DIAMETER_MULTI_ROUND_AUTH"
	case ResultSuccess:
		return "DIAMETER_SUCCESS"
	case ResultLimitedSuccess:
		return "DIAMETER_LIMITED_SUCCESS"
	case ResultCommandUnsupported:
		return "DIAMETER_COMMAND_UNSUPPORTED"
	case ResultUnableToDeliver:
		return "DIAMETER_UNABLE_TO_DELIVER"
	case ResultRealmNotServed:
		return "DIAMETER_REALM_NOT_SERVED"
	case ResultTooBusy:
		return "DIAMETER_TOO_BUSY"
	case ResultLoopDetected:
		return "DIAMETER_LOOP_DETECTED"
	case ResultRedirectIndication:
		return "DIAMETER_REDIRECT_INDICATION"
	case ResultApplicationUnsupported:
		return "DIAMETER_APPLICATION_UNSUPPORTED"
	case ResultInvalidHdrBits:
		return "DIAMETER_INVALID_HDR_BITS"
	case ResultInvalidAVPBits:
		return "DIAMETER_INVALID_AVP_BITS"
	case ResultUnknownPeer:
		return "DIAMETER_UNKNOWN_PEER"
	case ResultAuthenticationRejected:
		return "DIAMETER_AUTHENTICATION_REJECTED"
	case ResultOutOfSpace:
		return "DIAMETER_OUT_OF_SPACE"
	case ResultElectionLost:
		return "ELECTION_LOST"
	case ResultAVPUnsupported:
		return "DIAMETER_AVP_UNSUPPORTED"
	case ResultUnknownSessionID:
		return "DIAMETER_UNKNOWN_SESSION_ID"
	case ResultAuthorizationRejected:
		return "DIAMETER_AUTHORIZATION_REJECTED"
	case ResultInvalidAVPValue:
		return "DIAMETER_INVALID_AVP_VALUE"
	case ResultMissingAVP:
		return "DIAMETER_MISSING_AVP"
	case ResultResourcesExceeded:
		return "DIAMETER_RESOURCES_EXCEEDED"
	case ResultContradictingAVPs:
		return "DIAMETER_CONTRADICTING_AVPS"
	case ResultAVPNotAllowed:
		return "DIAMETER_AVP_NOT_ALLOWED"
	case ResultAVPOccursTooManyTimes:
		return "DIAMETER_AVP_OCCURS_TOO_MANY_TIMES"
	case ResultNoCommonApplication:
		return "DIAMETER_NO_COMMON_APPLICATION"
	case ResultUnsupportedVersion:
		return "DIAMETER_UNSUPPORTED_VERSION"
	case ResultUnableToComply:
		return "DIAMETER_UNABLE_TO_COMPLY"
	case ResultInvalidBitInHeader:
		return "DIAMETER_INVALID_BIT_IN_HEADER"
	case ResultInvalidAVPLength:
		return "DIAMETER_INVALID_AVP_LENGTH"
	case ResultInvalidMessageLength:
		return "DIAMETER_INVALID_MESSAGE_LENGTH"
	case ResultInvalidAVPBitCombo:
		return "DIAMETER_INVALID_AVP_BIT_COMBO"
	case ResultNoCommonSecurity:
		return "DIAMETER_NO_COMMON_SECURITY"
	}
	return ""
}

func experimentalName(code uint32) string {
	switch code {
	case ExpFirstRegistration:
		return "DIAMETER_FIRST_REGISTRATION"
	case ExpSubsequentRegistration:
		return "DIAMETER_SUBSEQUENT_REGISTRATION"
	case ExpUnregisteredService:
		return "DIAMETER_UNREGISTERED_SERVICE"
	case ExpSuccessServerNameNotStored:
		return "DIAMETER_SUCCESS_SERVER_NAME_NOT_STORED"
	case ExpAuthenticationDataUnavailable:
		return "DIAMETER_AUTHENTICATION_DATA_UNAVAILABLE"
	case ExpCamelSubscriptionPresent:
		return "DIAMETER_ERROR_CAMEL_SUBSCRIPTION_PRESENT"
	case ExpUserUnknown:
		return "DIAMETER_ERROR_USER_UNKNOWN"
	case ExpIdentitiesDontMatch:
		return "DIAMETER_ERROR_IDENTITIES_DONT_MATCH"
	case ExpIdentityNotRegistered:
		return "DIAMETER_ERROR_IDENTITY_NOT_REGISTERED"
	case ExpRoamingNotAllowed:
		return "DIAMETER_ERROR_ROAMING_NOT_ALLOWED"
	case ExpIdentityAlreadyRegistered:
		return "DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED"
	case ExpAuthSchemeNotSupported:
		return "DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED"
	case ExpInAssignmentType:
		return "DIAMETER_ERROR_IN_ASSIGNMENT_TYPE"
	case ExpTooMuchData:
		return "DIAMETER_ERROR_TOO_MUCH_DATA"
	case ExpNotSupportedUserData:
		return "DIAMETER_ERROR_NOT_SUPPORTED_USER_DATA"
	case ExpFeatureUnsupported:
		return "DIAMETER_ERROR_FEATURE_UNSUPPORTED"
	case ExpServingNodeFeatureUnsupported:
		return "DIAMETER_ERROR_SERVING_NODE_FEATURE_UNSUPPORTED"
	case ExpUnknownEPSSubscription:
		return "DIAMETER_ERROR_UNKNOWN_EPS_SUBSCRIPTION"
	case ExpRATNotAllowed:
		return "DIAMETER_ERROR_RAT_NOT_ALLOWED"
	case ExpEquipmentUnknown:
		return "DIAMETER_ERROR_EQUIPMENT_UNKNOWN"
	case ExpUnknownServingNode:
		return "DIAMETER_ERROR_UNKNOWN_SERVING_NODE"
	}
	return ""
}
