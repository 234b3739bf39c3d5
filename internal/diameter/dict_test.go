package diameter

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

func TestDictionaryLoadsOnce(t *testing.T) {
	d := Dictionary()
	if d != dict.Default {
		t.Fatal("Dictionary() is not dict.Default")
	}
	if Dictionary() != d {
		t.Fatal("second call returned another parser")
	}
	for code, short := range map[uint32]string{CmdUA: "UA", CmdSA: "SA", CmdLI: "LI", CmdMA: "MA", CmdRT: "RT", CmdPP: "PP"} {
		cmd, err := d.FindCommand(AppCx, code)
		if err != nil {
			t.Fatalf("Cx command %d: %v", code, err)
		}
		if cmd.Short != short {
			t.Errorf("Cx command %d: short %q, want %q", code, cmd.Short, short)
		}
	}
	// SWx (TS 29.273) reuses codes 301-305 in its own application: the two
	// must stay apart (Cx MAR requires Public-Identity, SWx MAR has none).
	cx, _ := d.FindCommand(AppCx, CmdMA)
	swx, err := d.FindCommand(16777265, CmdMA)
	if err != nil || cx == swx {
		t.Fatalf("Cx and SWx MAR conflated (err %v)", err)
	}
}

// cxAVP is one row of TS 29.229 Table 6.3.1: code, type, and whether the M
// bit must be set (every row has V).
type cxAVP struct {
	name string
	code uint32
	typ  string
	m    bool
}

// cxTable transcribes TS 29.229 §6.3 Table 6.3.1 (Rel-17).
var cxTable = []cxAVP{
	{"Visited-Network-Identifier", 600, "OctetString", true},
	{"Public-Identity", 601, "UTF8String", true},
	{"Server-Name", 602, "UTF8String", true},
	{"Server-Capabilities", 603, "Grouped", true},
	{"Mandatory-Capability", 604, "Unsigned32", true},
	{"Optional-Capability", 605, "Unsigned32", true},
	{"User-Data", 606, "OctetString", true},
	{"SIP-Number-Auth-Items", 607, "Unsigned32", true},
	{"SIP-Authentication-Scheme", 608, "UTF8String", true},
	{"SIP-Authenticate", 609, "OctetString", true},
	{"SIP-Authorization", 610, "OctetString", true},
	{"SIP-Authentication-Context", 611, "OctetString", true},
	{"SIP-Auth-Data-Item", 612, "Grouped", true},
	{"SIP-Item-Number", 613, "Unsigned32", true},
	{"Server-Assignment-Type", 614, "Enumerated", true},
	{"Deregistration-Reason", 615, "Grouped", true},
	{"Reason-Code", 616, "Enumerated", true},
	{"Reason-Info", 617, "UTF8String", true},
	{"Charging-Information", 618, "Grouped", true},
	{"Primary-Event-Charging-Function-Name", 619, "DiameterURI", true},
	{"Secondary-Event-Charging-Function-Name", 620, "DiameterURI", true},
	{"Primary-Charging-Collection-Function-Name", 621, "DiameterURI", true},
	{"Secondary-Charging-Collection-Function-Name", 622, "DiameterURI", true},
	{"User-Authorization-Type", 623, "Enumerated", true},
	{"User-Data-Already-Available", 624, "Enumerated", true},
	{"Confidentiality-Key", 625, "OctetString", true},
	{"Integrity-Key", 626, "OctetString", true},
	{"Supported-Features", 628, "Grouped", false},
	{"Feature-List-ID", 629, "Unsigned32", false},
	{"Feature-List", 630, "Unsigned32", false},
	{"Supported-Applications", 631, "Grouped", false},
	{"Associated-Identities", 632, "Grouped", false},
	{"Originating-Request", 633, "Enumerated", true},
	{"Wildcarded-Public-Identity", 634, "UTF8String", false},
	{"SIP-Digest-Authenticate", 635, "Grouped", false},
	{"Wildcarded-IMPU", 636, "UTF8String", false},
	{"UAR-Flags", 637, "Unsigned32", false},
	{"Loose-Route-Indication", 638, "Enumerated", false},
	{"SCSCF-Restoration-Info", 639, "Grouped", false},
	{"Path", 640, "OctetString", false},
	{"Contact", 641, "OctetString", false},
	{"Subscription-Info", 642, "Grouped", false},
	{"Call-ID-SIP-Header", 643, "OctetString", false},
	{"From-SIP-Header", 644, "OctetString", false},
	{"To-SIP-Header", 645, "OctetString", false},
	{"Record-Route", 646, "OctetString", false},
	{"Associated-Registered-Identities", 647, "Grouped", false},
	{"Multiple-Registration-Indication", 648, "Enumerated", false},
	{"Restoration-Info", 649, "Grouped", false},
	{"Session-Priority", 650, "Enumerated", false},
	{"Identity-with-Emergency-Registration", 651, "Grouped", false},
	{"Priviledged-Sender-Indication", 652, "Enumerated", false},
	{"LIA-Flags", 653, "Unsigned32", false},
	{"Initial-CSeq-Sequence-Number", 654, "Unsigned32", false},
	{"SAR-Flags", 655, "Unsigned32", false},
	{"Allowed-WAF-WWSF-Identities", 656, "Grouped", false},
	{"WebRTC-Authentication-Function-Name", 657, "UTF8String", false},
	{"WebRTC-Web-Server-Function-Name", 658, "UTF8String", false},
	{"RTR-Flags", 659, "Unsigned32", false},
	{"P-CSCF-Subscription-Info", 660, "Grouped", false},
	{"Registration-Time-Out", 661, "Time", false},
	{"Alternate-Digest-Algorithm", 662, "UTF8String", false},
	{"Alternate-Digest-HA1", 663, "UTF8String", false},
	{"Failed-PCSCF", 664, "Grouped", false},
	{"PCSCF-FQDN", 665, "DiameterIdentity", false},
	{"PCSCF-IP-Address", 666, "Address", false},
}

func TestCxAVPTable(t *testing.T) {
	d := Dictionary()
	for _, row := range cxTable {
		a, err := d.FindAVPWithVendor(AppCx, row.code, Vendor3GPP)
		if err != nil {
			t.Errorf("%s (%d): %v", row.name, row.code, err)
			continue
		}
		if a.Name != row.name || a.Data.TypeName != row.typ || a.VendorID != Vendor3GPP {
			t.Errorf("%d: got %s %s vendor %d, want %s %s", row.code, a.Name, a.Data.TypeName, a.VendorID, row.name, row.typ)
		}
		if m := strings.Contains(a.Must, "M"); m != row.m {
			t.Errorf("%s: M must = %v, want %v", row.name, m, row.m)
		}
		if !row.m && row.name != "Supported-Features" && !strings.Contains(a.MustNot, "M") {
			t.Errorf("%s: M bit should be must-not", row.name)
		}
		if row.typ == "Enumerated" && len(a.Data.Enum) == 0 {
			t.Errorf("%s: no enum items", row.name)
		}
	}
	// AVPs of other specifications that Cx reuses.
	for _, r := range []struct {
		code, vendor uint32
		name, typ    string
	}{
		{AVPDigestRealm, 0, "Digest-Realm", "UTF8String"},
		{AVPDigestQoP, 0, "Digest-QoP", "UTF8String"},
		{AVPDigestAlgorithm, 0, "Digest-Algorithm", "UTF8String"},
		{AVPDigestHA1, 0, "Digest-HA1", "UTF8String"},
		{AVPFramedIPAddress, 0, "Framed-IP-Address", "OctetString"},
		{AVPFramedInterfaceID, 0, "Framed-Interface-Id", "Unsigned64"},
		{AVPFramedIPv6Prefix, 0, "Framed-IPv6-Prefix", "OctetString"},
		{AVPLineIdentifier, VendorETSI, "Line-Identifier", "OctetString"},
		{avp.OCSupportedFeatures, 0, "OC-Supported-Features", "Grouped"},
		{650, 0, "Load", "Grouped"}, // RFC 8583; 650 of vendor 3GPP is Session-Priority
	} {
		a, err := d.FindAVPWithVendor(AppCx, r.code, r.vendor)
		if err != nil || a.Name != r.name || a.Data.TypeName != r.typ {
			t.Errorf("AVP %d/%d: got %v (%v), want %s %s", r.code, r.vendor, a, err, r.name, r.typ)
		}
	}
}

func TestCxEnumerations(t *testing.T) {
	d := Dictionary()
	for _, tc := range []struct {
		code  uint32
		items string // TS 29.229 §6.3.x, in order
	}{
		{AVPServerAssignmentType, "0=NO_ASSIGNMENT 1=REGISTRATION 2=RE_REGISTRATION 3=UNREGISTERED_USER 4=TIMEOUT_DEREGISTRATION 5=USER_DEREGISTRATION 6=TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME 7=USER_DEREGISTRATION_STORE_SERVER_NAME 8=ADMINISTRATIVE_DEREGISTRATION 9=AUTHENTICATION_FAILURE 10=AUTHENTICATION_TIMEOUT 11=DEREGISTRATION_TOO_MUCH_DATA 12=AAA_USER_DATA_REQUEST 13=PGW_UPDATE 14=RESTORATION"},
		{AVPReasonCode, "0=PERMANENT_TERMINATION 1=NEW_SERVER_ASSIGNED 2=SERVER_CHANGE 3=REMOVE_S-CSCF"},
		{AVPUserAuthorizationType, "0=REGISTRATION 1=DE_REGISTRATION 2=REGISTRATION_AND_CAPABILITIES"},
		{AVPUserDataAlreadyAvailable, "0=USER_DATA_NOT_AVAILABLE 1=USER_DATA_ALREADY_AVAILABLE"},
		{AVPOriginatingRequest, "0=ORIGINATING"},
		{AVPLooseRouteIndication, "0=LOOSE_ROUTE_NOT_REQUIRED 1=LOOSE_ROUTE_REQUIRED"},
		{AVPMultipleRegistrationIndication, "0=NOT_MULTIPLE_REGISTRATION 1=MULTIPLE_REGISTRATION"},
		{AVPSessionPriority, "0=PRIORITY-0 1=PRIORITY-1 2=PRIORITY-2 3=PRIORITY-3 4=PRIORITY-4"},
		{AVPPriviledgedSenderIndication, "0=NOT_PRIVILEDGED_SENDER 1=PRIVILEDGED_SENDER"},
	} {
		a, err := d.FindAVPWithVendor(AppCx, tc.code, Vendor3GPP)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range a.Data.Enum {
			got = append(got, fmt.Sprintf("%d=%s", e.Code, e.Name))
		}
		if g := strings.Join(got, " "); g != tc.items {
			t.Errorf("%s: items\n got %s\nwant %s", a.Name, g, tc.items)
		}
	}
}

// TestRulesResolve checks that every AVP named in a rule of the Cx commands
// and of the S6a commands the HSS serves (and, recursively, of their grouped
// AVPs) is defined and reachable from the command's application.
func TestRulesResolve(t *testing.T) {
	d := Dictionary()
	for _, c := range []struct{ app, code uint32 }{
		{AppCx, CmdUA}, {AppCx, CmdSA}, {AppCx, CmdLI}, {AppCx, CmdMA}, {AppCx, CmdRT}, {AppCx, CmdPP},
		{AppS6a, CmdUL}, {AppS6a, CmdCL}, {AppS6a, CmdAI}, {AppS6a, CmdPU},
	} {
		cmd, err := d.FindCommand(c.app, c.code)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		var walk func(rules []*dict.Rule, path string)
		walk = func(rules []*dict.Rule, path string) {
			for _, r := range rules {
				if r.AVP == "AVP" || seen[r.AVP] {
					continue
				}
				seen[r.AVP] = true
				a, err := d.FindAVP(c.app, r.AVP)
				if err != nil {
					t.Errorf("app %d command %d: %s%s is not defined", c.app, c.code, path, r.AVP)
					continue
				}
				walk(a.Data.Rule, path+r.AVP+"/")
			}
		}
		walk(cmd.Request.Rule, "request:")
		walk(cmd.Answer.Rule, "answer:")
	}
}

// TestS6aAVPs: the S6a AVPs the HSS uses, with their TS 29.272 §7.3 type
// and vendor, resolve from the S6a application; all come from go-diameter's
// dictionary except Service-Selection (vendor 0), 3GPP2-MEID and
// EPS-Location-Information, from s6a_extra.xml.
func TestS6aAVPs(t *testing.T) {
	d := Dictionary()
	for _, r := range []struct {
		code, vendor uint32
		typ          string
	}{
		{AVPSubscriptionData, Vendor3GPP, "Grouped"},
		{AVPTerminalInformation, Vendor3GPP, "Grouped"},
		{AVPULRFlags, Vendor3GPP, "Unsigned32"},
		{AVPULAFlags, Vendor3GPP, "Unsigned32"},
		{AVPVisitedPLMNID, Vendor3GPP, "OctetString"},
		{AVPRequestedEUTRANAuthenticationInfo, Vendor3GPP, "Grouped"},
		{AVPNumberOfRequestedVectors, Vendor3GPP, "Unsigned32"},
		{AVPReSynchronizationInfo, Vendor3GPP, "OctetString"},
		{AVPImmediateResponsePreferred, Vendor3GPP, "Unsigned32"},
		{AVPAuthenticationInfo, Vendor3GPP, "Grouped"},
		{AVPEUTRANVector, Vendor3GPP, "Grouped"},
		{AVPRAND, Vendor3GPP, "OctetString"},
		{AVPXRES, Vendor3GPP, "OctetString"},
		{AVPAUTN, Vendor3GPP, "OctetString"},
		{AVPKASME, Vendor3GPP, "OctetString"},
		{AVPItemNumber, Vendor3GPP, "Unsigned32"},
		{AVPSubscriberStatus, Vendor3GPP, "Enumerated"},
		{AVPMSISDN, Vendor3GPP, "OctetString"},
		{AVPAPNConfigurationProfile, Vendor3GPP, "Grouped"},
		{AVPAPNConfiguration, Vendor3GPP, "Grouped"},
		{AVPContextIdentifier, Vendor3GPP, "Unsigned32"},
		{AVPAllAPNConfigurationsIncludedIndicator, Vendor3GPP, "Enumerated"},
		{AVPServiceSelection, 0, "UTF8String"},
		{AVPPDNType, Vendor3GPP, "Enumerated"},
		{AVPEPSSubscribedQoSProfile, Vendor3GPP, "Grouped"},
		{AVPQoSClassIdentifier, Vendor3GPP, "Enumerated"},
		{AVPAllocationRetentionPriority, Vendor3GPP, "Grouped"},
		{AVPPriorityLevel, Vendor3GPP, "Unsigned32"},
		{AVPPreemptionCapability, Vendor3GPP, "Enumerated"},
		{AVPPreemptionVulnerability, Vendor3GPP, "Enumerated"},
		{AVPAMBR, Vendor3GPP, "Grouped"},
		{AVPMaxRequestedBandwidthUL, Vendor3GPP, "Unsigned32"},
		{AVPMaxRequestedBandwidthDL, Vendor3GPP, "Unsigned32"},
		{AVPNetworkAccessMode, Vendor3GPP, "Enumerated"},
		{AVPAccessRestrictionData, Vendor3GPP, "Unsigned32"},
		{AVPSubscribedPeriodicRAUTAUTimer, Vendor3GPP, "Unsigned32"},
		{AVPRATType, Vendor3GPP, "Enumerated"},
		{AVPUESRVCCCapability, Vendor3GPP, "Enumerated"},
		{AVPPURFlags, Vendor3GPP, "Unsigned32"},
		{AVPPUAFlags, Vendor3GPP, "Unsigned32"},
		{AVPCancellationType, Vendor3GPP, "Enumerated"},
		{AVPCLRFlags, Vendor3GPP, "Unsigned32"},
		{AVPSupportedFeatures, Vendor3GPP, "Grouped"},
		{AVPFeatureListID, Vendor3GPP, "Unsigned32"},
		{AVPFeatureList, Vendor3GPP, "Unsigned32"},
		{AVP3GPP2MEID, Vendor3GPP, "OctetString"},
		{AVPEPSLocationInformation, Vendor3GPP, "Grouped"},
	} {
		a, err := d.FindAVPWithVendor(AppS6a, r.code, r.vendor)
		if err != nil {
			t.Errorf("S6a AVP %d/%d: %v", r.code, r.vendor, err)
			continue
		}
		if a.Data.TypeName != r.typ {
			t.Errorf("S6a %s (%d): type %s, want %s", a.Name, r.code, a.Data.TypeName, r.typ)
		}
	}
}

// Message building helpers. Flags come from the dictionary (NewAVP).

func mustAVP(t *testing.T, app, code, vendor uint32, data datatype.Type) *diam.AVP {
	t.Helper()
	a, err := NewAVP(app, code, vendor, data)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func group(avps ...*diam.AVP) *diam.GroupedAVP { return &diam.GroupedAVP{AVP: avps} }

// header adds the AVPs every Cx/S6a request or answer starts with
// (TS 29.229 §6.1, TS 29.272 §7.2).
func header(t *testing.T, m *diam.Message, app uint32, request bool) {
	m.AddAVP(mustAVP(t, app, avp.SessionID, 0, datatype.UTF8String("scscf.ims.test;1;42")))
	m.AddAVP(mustAVP(t, app, avp.VendorSpecificApplicationID, 0, group(
		mustAVP(t, app, avp.VendorID, 0, datatype.Unsigned32(Vendor3GPP)),
		mustAVP(t, app, avp.AuthApplicationID, 0, datatype.Unsigned32(app)),
	)))
	m.AddAVP(mustAVP(t, app, avp.AuthSessionState, 0, datatype.Enumerated(1))) // NO_STATE_MAINTAINED
	if request {
		m.AddAVP(mustAVP(t, app, avp.OriginHost, 0, datatype.DiameterIdentity("scscf.ims.test")))
		m.AddAVP(mustAVP(t, app, avp.OriginRealm, 0, datatype.DiameterIdentity("ims.test")))
		m.AddAVP(mustAVP(t, app, avp.DestinationRealm, 0, datatype.DiameterIdentity("ims.test")))
	} else {
		m.AddAVP(mustAVP(t, app, avp.OriginHost, 0, datatype.DiameterIdentity("hss.ims.test")))
		m.AddAVP(mustAVP(t, app, avp.OriginRealm, 0, datatype.DiameterIdentity("ims.test")))
	}
}

func cx(t *testing.T, code uint32, data datatype.Type) *diam.AVP {
	return mustAVP(t, AppCx, code, Vendor3GPP, data)
}

func experimental(t *testing.T, app, code uint32) *diam.AVP {
	return mustAVP(t, app, avp.ExperimentalResult, 0, group(
		mustAVP(t, app, avp.VendorID, 0, datatype.Unsigned32(Vendor3GPP)),
		mustAVP(t, app, avp.ExperimentalResultCode, 0, datatype.Unsigned32(code)),
	))
}

func supportedFeatures(t *testing.T, app uint32) *diam.AVP {
	return mustAVP(t, app, AVPSupportedFeatures, Vendor3GPP, group(
		mustAVP(t, app, avp.VendorID, 0, datatype.Unsigned32(Vendor3GPP)),
		mustAVP(t, app, AVPFeatureListID, Vendor3GPP, datatype.Unsigned32(1)),
		mustAVP(t, app, AVPFeatureList, Vendor3GPP, datatype.Unsigned32(0b11)),
	))
}

const (
	impi = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
	impu = "sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
)

// sipAuthDataItem is a MAA SIP-Auth-Data-Item for IMS-AKA (TS 29.229
// §6.3.13): RAND||AUTN, XRES, CK, IK.
func sipAuthDataItem(t *testing.T) *diam.AVP {
	return cx(t, AVPSIPAuthDataItem, group(
		cx(t, AVPSIPItemNumber, datatype.Unsigned32(1)),
		cx(t, AVPSIPAuthenticationScheme, datatype.UTF8String("Digest-AKAv1-MD5")),
		cx(t, AVPSIPAuthenticate, datatype.OctetString(bytes.Repeat([]byte{0xa1}, 32))),
		cx(t, AVPSIPAuthorization, datatype.OctetString(bytes.Repeat([]byte{0xb2}, 8))),
		cx(t, AVPConfidentialityKey, datatype.OctetString(bytes.Repeat([]byte{0xc3}, 16))),
		cx(t, AVPIntegrityKey, datatype.OctetString(bytes.Repeat([]byte{0xd4}, 16))),
	))
}

// cxMessages builds a request and an answer of every Cx command with the
// AVPs of TS 29.229 §6.1.
func cxMessages(t *testing.T) []*diam.Message {
	d := Dictionary()
	req := func(code uint32) *diam.Message {
		m := diam.NewRequest(code, AppCx, d)
		header(t, m, AppCx, true)
		return m
	}
	ans := func(code uint32) *diam.Message {
		m := diam.NewMessage(code, 0, AppCx, 0, 0, d)
		header(t, m, AppCx, false)
		return m
	}
	user := func() *diam.AVP { return mustAVP(t, AppCx, avp.UserName, 0, datatype.UTF8String(impi)) }
	pub := func() *diam.AVP { return cx(t, AVPPublicIdentity, datatype.UTF8String(impu)) }
	server := func() *diam.AVP { return cx(t, AVPServerName, datatype.UTF8String("sip:scscf.ims.test:6060")) }

	uar := req(CmdUA)
	uar.AddAVP(user())
	uar.AddAVP(supportedFeatures(t, AppCx))
	uar.AddAVP(pub())
	uar.AddAVP(cx(t, AVPVisitedNetworkIdentifier, datatype.OctetString("ims.test")))
	uar.AddAVP(cx(t, AVPUserAuthorizationType, datatype.Enumerated(0)))
	uar.AddAVP(cx(t, AVPUARFlags, datatype.Unsigned32(0)))

	uaa := ans(CmdUA)
	uaa.AddAVP(experimental(t, AppCx, ExpFirstRegistration))
	uaa.AddAVP(cx(t, AVPServerCapabilities, group(
		cx(t, AVPMandatoryCapability, datatype.Unsigned32(1)),
		cx(t, AVPOptionalCapability, datatype.Unsigned32(2)),
		server(),
	)))

	sar := req(CmdSA)
	sar.AddAVP(user())
	sar.AddAVP(pub())
	sar.AddAVP(server())
	sar.AddAVP(cx(t, AVPServerAssignmentType, datatype.Enumerated(1)))
	sar.AddAVP(cx(t, AVPUserDataAlreadyAvailable, datatype.Enumerated(0)))
	sar.AddAVP(cx(t, AVPSessionPriority, datatype.Enumerated(2)))
	sar.AddAVP(cx(t, AVPSARFlags, datatype.Unsigned32(0)))

	saa := ans(CmdSA)
	saa.AddAVP(mustAVP(t, AppCx, avp.ResultCode, 0, datatype.Unsigned32(ResultSuccess)))
	saa.AddAVP(user())
	saa.AddAVP(cx(t, AVPUserData, datatype.OctetString(`<?xml version="1.0"?><IMSSubscription/>`)))
	saa.AddAVP(cx(t, AVPChargingInformation, group(
		cx(t, AVPPrimaryEventChargingFunctionName, datatype.DiameterURI("aaa://ocs.ims.test:3868")),
		cx(t, AVPPrimaryChargingCollectionFunctionName, datatype.DiameterURI("aaa://cdf.ims.test")),
	)))
	saa.AddAVP(cx(t, AVPAssociatedIdentities, group(user())))
	saa.AddAVP(cx(t, AVPAssociatedRegisteredIdentities, group(user())))
	saa.AddAVP(cx(t, AVPLooseRouteIndication, datatype.Enumerated(0)))
	saa.AddAVP(cx(t, AVPPriviledgedSenderIndication, datatype.Enumerated(0)))

	lir := req(CmdLI)
	lir.AddAVP(cx(t, AVPOriginatingRequest, datatype.Enumerated(0)))
	lir.AddAVP(pub())
	lir.AddAVP(cx(t, AVPSessionPriority, datatype.Enumerated(0)))

	lia := ans(CmdLI)
	lia.AddAVP(mustAVP(t, AppCx, avp.ResultCode, 0, datatype.Unsigned32(ResultSuccess)))
	lia.AddAVP(server())
	lia.AddAVP(cx(t, AVPWildcardedPublicIdentity, datatype.UTF8String("sip:chatlist!.*!@ims.test")))
	lia.AddAVP(cx(t, AVPLIAFlags, datatype.Unsigned32(0)))

	mar := req(CmdMA)
	mar.AddAVP(user())
	mar.AddAVP(pub())
	mar.AddAVP(cx(t, AVPSIPAuthDataItem, group(
		cx(t, AVPSIPAuthenticationScheme, datatype.UTF8String("Digest-AKAv1-MD5")),
		cx(t, AVPSIPAuthorization, datatype.OctetString(bytes.Repeat([]byte{0x55}, 30))), // RAND||AUTS
	)))
	mar.AddAVP(cx(t, AVPSIPNumberAuthItems, datatype.Unsigned32(1)))
	mar.AddAVP(server())

	maa := ans(CmdMA)
	maa.AddAVP(mustAVP(t, AppCx, avp.ResultCode, 0, datatype.Unsigned32(ResultSuccess)))
	maa.AddAVP(user())
	maa.AddAVP(pub())
	maa.AddAVP(cx(t, AVPSIPNumberAuthItems, datatype.Unsigned32(1)))
	maa.AddAVP(sipAuthDataItem(t))

	rtr := req(CmdRT)
	rtr.AddAVP(mustAVP(t, AppCx, avp.DestinationHost, 0, datatype.DiameterIdentity("scscf.ims.test")))
	rtr.AddAVP(user())
	rtr.AddAVP(pub())
	rtr.AddAVP(cx(t, AVPDeregistrationReason, group(
		cx(t, AVPReasonCode, datatype.Enumerated(0)),
		cx(t, AVPReasonInfo, datatype.UTF8String("subscription withdrawn")),
	)))
	rtr.AddAVP(cx(t, AVPRTRFlags, datatype.Unsigned32(0)))

	rta := ans(CmdRT)
	rta.AddAVP(mustAVP(t, AppCx, avp.ResultCode, 0, datatype.Unsigned32(ResultSuccess)))
	rta.AddAVP(cx(t, AVPIdentityWithEmergencyRegistration, group(user(), pub())))

	ppr := req(CmdPP)
	ppr.AddAVP(mustAVP(t, AppCx, avp.DestinationHost, 0, datatype.DiameterIdentity("scscf.ims.test")))
	ppr.AddAVP(user())
	ppr.AddAVP(cx(t, AVPUserData, datatype.OctetString(`<?xml version="1.0"?><IMSSubscription/>`)))
	ppr.AddAVP(cx(t, AVPSIPAuthDataItem, group(
		cx(t, AVPSIPAuthenticationScheme, datatype.UTF8String("SIP Digest")),
		cx(t, AVPSIPDigestAuthenticate, group(
			mustAVP(t, AppCx, AVPDigestRealm, 0, datatype.UTF8String("ims.test")),
			mustAVP(t, AppCx, AVPDigestAlgorithm, 0, datatype.UTF8String("MD5")),
			mustAVP(t, AppCx, AVPDigestQoP, 0, datatype.UTF8String("auth")),
			mustAVP(t, AppCx, AVPDigestHA1, 0, datatype.UTF8String("0123456789abcdef0123456789abcdef")),
		)),
		mustAVP(t, AppCx, AVPFramedIPAddress, 0, datatype.OctetString(net.IPv4(127, 0, 0, 2).To4())),
		mustAVP(t, AppCx, AVPLineIdentifier, VendorETSI, datatype.OctetString("line-1")),
	)))

	ppa := ans(CmdPP)
	ppa.AddAVP(mustAVP(t, AppCx, avp.ResultCode, 0, datatype.Unsigned32(ResultSuccess)))
	ppa.AddAVP(supportedFeatures(t, AppCx))

	return []*diam.Message{uar, uaa, sar, saa, lir, lia, mar, maa, rtr, rta, ppr, ppa}
}

// s6aMessages builds an AIR/AIA pair (TS 29.272 §7.2.5-6) and a ULA
// (§7.2.4) with Subscription-Data.
func s6aMessages(t *testing.T) []*diam.Message {
	d := Dictionary()
	s6a := func(code uint32, data datatype.Type) *diam.AVP { return mustAVP(t, AppS6a, code, Vendor3GPP, data) }
	plmn := datatype.OctetString("\x00\xf1\x10") // MCC 001, MNC 01 (TS 29.272 §7.3.9)

	air := diam.NewRequest(CmdAI, AppS6a, d)
	header(t, air, AppS6a, true)
	air.AddAVP(mustAVP(t, AppS6a, avp.UserName, 0, datatype.UTF8String("001010000000001")))
	air.AddAVP(s6a(AVPRequestedEUTRANAuthenticationInfo, group(
		s6a(AVPNumberOfRequestedVectors, datatype.Unsigned32(1)),
		s6a(AVPImmediateResponsePreferred, datatype.Unsigned32(1)),
		s6a(AVPReSynchronizationInfo, datatype.OctetString(bytes.Repeat([]byte{0x77}, 30))),
	)))
	air.AddAVP(s6a(AVPVisitedPLMNID, plmn))

	aia := diam.NewMessage(CmdAI, 0, AppS6a, 0, 0, d)
	header(t, aia, AppS6a, false)
	aia.AddAVP(mustAVP(t, AppS6a, avp.ResultCode, 0, datatype.Unsigned32(ResultSuccess)))
	aia.AddAVP(s6a(AVPAuthenticationInfo, group(s6a(AVPEUTRANVector, group(
		s6a(AVPItemNumber, datatype.Unsigned32(1)),
		s6a(AVPRAND, datatype.OctetString(bytes.Repeat([]byte{1}, 16))),
		s6a(AVPXRES, datatype.OctetString(bytes.Repeat([]byte{2}, 8))),
		s6a(AVPAUTN, datatype.OctetString(bytes.Repeat([]byte{3}, 16))),
		s6a(AVPKASME, datatype.OctetString(bytes.Repeat([]byte{4}, 32))),
	)))))

	ula := diam.NewMessage(CmdUL, 0, AppS6a, 0, 0, d)
	header(t, ula, AppS6a, false)
	ula.AddAVP(mustAVP(t, AppS6a, avp.ResultCode, 0, datatype.Unsigned32(ResultSuccess)))
	ula.AddAVP(s6a(AVPULAFlags, datatype.Unsigned32(1)))
	ula.AddAVP(s6a(AVPSubscriptionData, group(
		s6a(AVPMSISDN, datatype.OctetString("\x21\x43\x65\x87\x09")),
		s6a(AVPSubscriberStatus, datatype.Enumerated(0)),
		s6a(AVPNetworkAccessMode, datatype.Enumerated(2)),
		s6a(AVPAccessRestrictionData, datatype.Unsigned32(0)),
		s6a(AVPAMBR, group(
			s6a(AVPMaxRequestedBandwidthUL, datatype.Unsigned32(50_000_000)),
			s6a(AVPMaxRequestedBandwidthDL, datatype.Unsigned32(100_000_000)),
		)),
		s6a(AVPAPNConfigurationProfile, group(
			s6a(AVPContextIdentifier, datatype.Unsigned32(1)),
			s6a(AVPAllAPNConfigurationsIncludedIndicator, datatype.Enumerated(0)),
			s6a(AVPAPNConfiguration, group(
				s6a(AVPContextIdentifier, datatype.Unsigned32(1)),
				s6a(AVPPDNType, datatype.Enumerated(0)),
				mustAVP(t, AppS6a, AVPServiceSelection, 0, datatype.UTF8String("ims")),
				s6a(AVPEPSSubscribedQoSProfile, group(
					s6a(AVPQoSClassIdentifier, datatype.Enumerated(5)),
					s6a(AVPAllocationRetentionPriority, group(
						s6a(AVPPriorityLevel, datatype.Unsigned32(1)),
						s6a(AVPPreemptionCapability, datatype.Enumerated(1)),
						s6a(AVPPreemptionVulnerability, datatype.Enumerated(1)),
					)),
				)),
			)),
		)),
		s6a(AVPSubscribedPeriodicRAUTAUTimer, datatype.Unsigned32(3240)),
	)))
	return []*diam.Message{air, aia, ula}
}

// flat lists an AVP tree as "code/vendor/flags=value" lines, for comparing
// an encoded message with its decoding.
func flat(avps []*diam.AVP, prefix string, out *[]string) {
	for _, a := range avps {
		if g, ok := a.Data.(*diam.GroupedAVP); ok {
			*out = append(*out, fmt.Sprintf("%s%d/%d/%02x grouped", prefix, a.Code, a.VendorID, a.Flags))
			flat(g.AVP, prefix+"  ", out)
			continue
		}
		*out = append(*out, fmt.Sprintf("%s%d/%d/%02x=%x", prefix, a.Code, a.VendorID, a.Flags, a.Data.Serialize()))
	}
}

// unknown lists the AVPs of a decoded message that the dictionary did not
// know (go-diameter decodes them as datatype.Unknown).
func unknown(avps []*diam.AVP, out *[]string) {
	for _, a := range avps {
		switch d := a.Data.(type) {
		case *diam.GroupedAVP:
			unknown(d.AVP, out)
		case datatype.Unknown:
			*out = append(*out, fmt.Sprintf("%d/%d", a.Code, a.VendorID))
		}
	}
}

func roundTrip(t *testing.T, m *diam.Message) {
	t.Helper()
	wire, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	got, err := diam.ReadMessage(bytes.NewReader(wire), Dictionary())
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var want, have, unk []string
	flat(m.AVP, "", &want)
	flat(got.AVP, "", &have)
	if strings.Join(want, "\n") != strings.Join(have, "\n") {
		t.Errorf("AVPs differ after a round trip:\nsent:\n%s\ndecoded:\n%s", strings.Join(want, "\n"), strings.Join(have, "\n"))
	}
	unknown(got.AVP, &unk)
	if len(unk) > 0 {
		t.Errorf("AVPs unknown to the dictionary: %v", unk)
	}
	again, err := got.Serialize()
	if err != nil || !bytes.Equal(again, wire) {
		t.Errorf("re-encoding differs (err %v)", err)
	}
	if got.Header.CommandCode != m.Header.CommandCode || got.Header.ApplicationID != m.Header.ApplicationID {
		t.Errorf("header %v, want %v", got.Header, m.Header)
	}
}

func TestCxRoundTrip(t *testing.T) {
	for _, m := range cxMessages(t) {
		t.Run(fmt.Sprintf("%d-R%v", m.Header.CommandCode, m.Header.CommandFlags&diam.RequestFlag != 0), func(t *testing.T) {
			roundTrip(t, m)
		})
	}
}

func TestS6aRoundTrip(t *testing.T) {
	for _, m := range s6aMessages(t) {
		t.Run(fmt.Sprintf("%d-R%v", m.Header.CommandCode, m.Header.CommandFlags&diam.RequestFlag != 0), func(t *testing.T) {
			roundTrip(t, m)
		})
	}
}

// TestGroupedLookups reads values back through go-diameter's path lookup, as
// the HSS and S-CSCF will.
func TestGroupedLookups(t *testing.T) {
	msgs := cxMessages(t)
	maa := msgs[7]
	wire, err := maa.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	got, err := diam.ReadMessage(bytes.NewReader(wire), Dictionary())
	if err != nil {
		t.Fatal(err)
	}
	ck, err := got.FindAVPsWithPath([]any{AVPSIPAuthDataItem, AVPConfidentialityKey}, Vendor3GPP)
	if err != nil || len(ck) != 1 {
		t.Fatalf("CK: %v %v", ck, err)
	}
	if string(ck[0].Data.(datatype.OctetString)) != strings.Repeat("\xc3", 16) {
		t.Errorf("CK = %x", ck[0].Data)
	}
	// Flags: Cx AVPs of Table 6.3.1 with M set carry M|V, the V-only ones V.
	item, _ := got.FindAVP(AVPSIPAuthDataItem, Vendor3GPP)
	if item.Flags != avp.Mbit|avp.Vbit {
		t.Errorf("SIP-Auth-Data-Item flags %02x", item.Flags)
	}
	sar := msgs[2]
	flags, _ := sar.FindAVP(AVPSARFlags, Vendor3GPP)
	if flags.Flags != avp.Vbit {
		t.Errorf("SAR-Flags flags %02x, want V only", flags.Flags)
	}
}

func TestResultName(t *testing.T) {
	for _, tc := range []struct {
		code uint32
		exp  bool
		want string
	}{
		{2001, false, "DIAMETER_SUCCESS"},
		{2001, true, "DIAMETER_FIRST_REGISTRATION"},
		{5001, false, "DIAMETER_AVP_UNSUPPORTED"},
		{5001, true, "DIAMETER_ERROR_USER_UNKNOWN"},
		{5004, false, "DIAMETER_INVALID_AVP_VALUE"},
		{5004, true, "DIAMETER_ERROR_ROAMING_NOT_ALLOWED"},
		{5012, false, "DIAMETER_UNABLE_TO_COMPLY"},
		{5012, true, "DIAMETER_ERROR_SERVING_NODE_FEATURE_UNSUPPORTED"},
		{3010, false, "DIAMETER_UNKNOWN_PEER"},
		{4181, true, "DIAMETER_AUTHENTICATION_DATA_UNAVAILABLE"},
		{5420, true, "DIAMETER_ERROR_UNKNOWN_EPS_SUBSCRIPTION"},
		{5421, true, "DIAMETER_ERROR_RAT_NOT_ALLOWED"},
		{9999, false, "UNKNOWN_9999"},
		{5010, true, "UNKNOWN_5010"},
	} {
		if got := ResultName(tc.code, tc.exp); got != tc.want {
			t.Errorf("ResultName(%d, %v) = %s, want %s", tc.code, tc.exp, got, tc.want)
		}
	}
}

func TestNewAVPUnknown(t *testing.T) {
	if _, err := NewAVP(AppCx, 9999, Vendor3GPP, datatype.Unsigned32(0)); err == nil {
		t.Fatal("no error for an AVP the dictionary does not define")
	}
}

// TestTimeAVPRoundTrip: a Time AVP (Registration-Time-Out) nested two levels
// deep in SCSCF-Restoration-Info round-trips too.
func TestTimeAVPRoundTrip(t *testing.T) {
	m := diam.NewRequest(CmdSA, AppCx, Dictionary())
	header(t, m, AppCx, true)
	m.AddAVP(cx(t, AVPSCSCFRestorationInfo, group(
		mustAVP(t, AppCx, avp.UserName, 0, datatype.UTF8String(impi)),
		cx(t, AVPRestorationInfo, group(
			cx(t, AVPPath, datatype.OctetString("<sip:pcscf.ims.test;lr>")),
			cx(t, AVPContact, datatype.OctetString("<sip:ue@127.0.0.1:5070>")),
			cx(t, AVPInitialCSeqSequenceNumber, datatype.Unsigned32(1)),
		)),
		cx(t, AVPRegistrationTimeOut, datatype.Time(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))),
	)))
	roundTrip(t, m)
}
