package eps

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/imslab/imslab/internal/nas/nassec"
)

// sample is one message of every type this package codes, with the IEs
// the lab uses set: the table of the round trip, tshark and fuzz tests.
type sample struct {
	name string
	msg  Message
}

func samples() []sample {
	imsi := EPSMobileIdentity{Type: EPSIdentityIMSI, Digits: "001010000000001"}
	guti := GUTI{PLMN: plmn00101, MMEGroupID: 0x8001, MMECode: 1, MTMSI: 0xc0000001}
	ueCap := UENetworkCapability{EEA: 0xe0, EIA: 0x60, More: []byte{0xc0, 0x40}}
	pcoReq := &PCO{}
	pcoReq.Add(PCOPCSCFIPv4, nil)
	pcoReq.Add(PCODNSIPv4, nil)
	pcoReq.Add(PCOIPAddressViaNAS, nil)
	pcoRsp := &PCO{}
	pcoRsp.Add(PCOPCSCFIPv4, netip.MustParseAddr("10.45.0.1").AsSlice())
	pcoRsp.Add(PCODNSIPv4, netip.MustParseAddr("10.45.0.1").AsSlice())
	pdnReq := &PDNConnectivityRequest{ESMHeader: ESMHeader{PTI: 1}, PDNType: PDNTypeIPv4, RequestType: RequestInitial, APN: "ims", PCO: pcoReq}
	bearer := &ActivateDefaultBearerRequest{
		ESMHeader:  ESMHeader{EBI: 5, PTI: 1},
		QoS:        EPSQoS{QCI: 5},
		APN:        "ims",
		PDNAddress: PDNAddress{Type: PDNTypeIPv4, IPv4: netip.MustParseAddr("10.45.0.2")},
		APNAMBR:    NewAPNAMBR(100000, 50000),
		PCO:        pcoRsp,
	}
	bearerAccept := &ActivateDefaultBearerAccept{ESMHeader: ESMHeader{EBI: 5}}
	pdnReject := &PDNConnectivityReject{ESMHeader: ESMHeader{PTI: 1}, Cause: ESMUnknownAPN}
	return []sample{
		{"Attach request (IMSI)", &AttachRequest{AttachType: AttachEPS, KSI: NoKeyAvailable, Identity: imsi, UENetworkCapability: ueCap, ESM: pdnReq,
			LastVisitedTAI: &TAI{PLMN: plmn00101, TAC: 1}}},
		{"Attach request (GUTI)", &AttachRequest{AttachType: AttachCombined, KSI: 2, Identity: EPSMobileIdentity{Type: EPSIdentityGUTI, GUTI: guti},
			UENetworkCapability: UENetworkCapability{EEA: 0xf0, EIA: 0x70}, ESM: &PDNConnectivityRequest{ESMHeader: ESMHeader{PTI: 7}, PDNType: PDNTypeIPv4v6, RequestType: RequestInitial, ESMInfoTransfer: true}}},
		{"Attach accept", &AttachAccept{Result: AttachResultEPS, T3412: NewGPRSTimer(54 * 60e9), TAIList: TAIList{{PLMN: plmn00101, TAC: 1}},
			ESM: bearer, GUTI: &guti, T3402: ptr(NewGPRSTimer(12 * 60e9)), NetworkFeatureSupport: []byte{IMSVoPS}}},
		{"Attach accept (EMM cause)", &AttachAccept{Result: AttachResultEPS, T3412: GPRSTimerDeactivated,
			TAIList: TAIList{{PLMN: plmn00101, TAC: 1}, {PLMN: plmn00101, TAC: 7}, {PLMN: plmn41799, TAC: 0x1234}},
			ESM:     &ActivateDefaultBearerRequest{ESMHeader: ESMHeader{EBI: 6, PTI: 2}, QoS: EPSQoS{QCI: 9}, APN: "internet.example", PDNAddress: PDNAddress{Type: PDNTypeIPv4v6, IPv4: netip.MustParseAddr("192.0.2.7"), IPv6IID: [8]byte{0, 0, 0, 0, 0, 0, 0, 1}}, Cause: ptr(ESMPDNTypeIPv4OnlyAllowed)},
			Cause:   ptr(EMMCongestion)}},
		{"Attach complete", &AttachComplete{ESM: bearerAccept}},
		{"Attach reject", &AttachReject{Cause: EMMESMFailure, ESM: pdnReject}},
		{"Attach reject (no ESM)", &AttachReject{Cause: EMMIllegalUE}},
		{"Authentication request", &AuthenticationRequest{KSI: 0, RAND: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, AUTN: [16]byte{0xaa, 15: 0x55}}},
		{"Authentication response", &AuthenticationResponse{RES: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
		{"Authentication failure (synch failure)", &AuthenticationFailure{Cause: EMMSynchFailure, AUTS: bytes.Repeat([]byte{0xa5}, 14)}},
		{"Authentication failure (MAC failure)", &AuthenticationFailure{Cause: EMMMACFailure}},
		{"Authentication reject", &AuthenticationReject{}},
		{"Identity request", &IdentityRequest{IdentityType: IdentityIMSI}},
		{"Identity response (IMSI)", &IdentityResponse{Identity: MobileIdentity{Type: IdentityIMSI, Digits: "001010000000001"}}},
		{"Identity response (IMEISV)", &IdentityResponse{Identity: MobileIdentity{Type: IdentityIMEISV, Digits: "3534900698733101"}}},
		{"Security mode command", &SecurityModeCommand{Algorithms: NASSecurityAlgorithms{EEA: nassec.EEA2, EIA: nassec.EIA2}, KSI: 0,
			ReplayedCapability: ueCap.Replayed(), IMEISVRequested: true}},
		{"Security mode complete", &SecurityModeComplete{IMEISV: &MobileIdentity{Type: IdentityIMEISV, Digits: "3534900698733101"}}},
		{"Security mode reject", &SecurityModeReject{Cause: EMMUESecurityCapabilityMismatch}},
		{"Detach request (UE, switch off)", &DetachRequest{DetachType: DetachEPS, SwitchOff: true, KSI: 0, Identity: EPSMobileIdentity{Type: EPSIdentityGUTI, GUTI: guti}}},
		{"Detach request (UE, IMSI)", &DetachRequest{DetachType: DetachCombined, KSI: NoKeyAvailable, Identity: imsi}},
		{"Detach request (network)", &NetworkDetachRequest{DetachType: DetachReattachRequired, Cause: ptr(EMMImplicitlyDetached)}},
		{"Detach request (network, no cause)", &NetworkDetachRequest{DetachType: DetachReattachNotRequired}},
		{"Detach accept", &DetachAccept{}},
		{"EMM status", &EMMStatus{Cause: EMMMessageTypeNonExistent}},
		{"PDN connectivity request", pdnReq},
		{"Activate default EPS bearer context request", bearer},
		{"Activate default EPS bearer context accept", &ActivateDefaultBearerAccept{ESMHeader: ESMHeader{EBI: 5}, PCO: &PCO{Items: []PCOItem{{ID: PCOIPv4LinkMTU}}}}},
		{"Activate default EPS bearer context reject", &ActivateDefaultBearerReject{ESMHeader: ESMHeader{EBI: 5}, Cause: ESMInsufficientResources}},
		{"PDN connectivity reject", pdnReject},
		{"ESM status", &ESMStatus{ESMHeader: ESMHeader{EBI: 5, PTI: 3}, Cause: ESMInvalidPTI}},
	}
}

// TestRoundTrip: every message encodes, decodes to the same value (with
// Decode and with its own Decode), and the octets encode back unchanged.
func TestRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b, err := s.msg.Encode()
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(b)
			if err != nil {
				t.Fatalf("decoding %x: %v", b, err)
			}
			if !reflect.DeepEqual(m, s.msg) {
				t.Errorf("%x decodes to\n%#v\nwant\n%#v", b, m, s.msg)
			}
			own := reflect.New(reflect.TypeOf(s.msg).Elem()).Interface().(Message)
			if err := own.Decode(b); err != nil || !reflect.DeepEqual(own, s.msg) {
				t.Errorf("%T.Decode: %v", own, err)
			}
			again, err := m.Encode()
			if err != nil || !bytes.Equal(again, b) {
				t.Errorf("re-encoded %x (%v), want %x", again, err, b)
			}
			if m.String() == "" || m.Type() != MessageType(b[typeOffset(b)]) {
				t.Errorf("String %q, Type %v", m, m.Type())
			}
		})
	}
}

// typeOffset is where the message type is: octet 2 of EMM, 3 of ESM.
func typeOffset(b []byte) int {
	if ProtocolDiscriminator(b[0]&0xF) == PDESM {
		return 2
	}
	return 1
}

// TestTruncated cuts every sample at every length: decoding must fail with
// ErrMissingIE or ErrInvalidIE (naming the message), never panic; a cut at
// a mandatory IE names it.
func TestTruncated(t *testing.T) {
	for _, s := range samples() {
		b, err := s.msg.Encode()
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(b); n++ {
			m, err := Decode(b[:n])
			if err == nil {
				// Cutting before an optional IE leaves a valid message.
				if _, err := m.Encode(); err != nil {
					t.Errorf("%s cut at %d: decodes but does not encode: %v", s.name, n, err)
				}
				continue
			}
			if !errors.Is(err, ErrMissingIE) && !errors.Is(err, ErrInvalidIE) && !errors.Is(err, ErrUnknownMessage) {
				t.Errorf("%s cut at %d: %v", s.name, n, err)
			}
		}
	}
	_, err := Decode(unhex(t, "0741"))
	if !errors.Is(err, ErrMissingIE) || !strings.Contains(err.Error(), "EPS attach type and NAS key set identifier") {
		t.Errorf("Attach request without IEs: %v", err)
	}
	_, err = Decode(unhex(t, "074172"))
	if !errors.Is(err, ErrMissingIE) || !strings.Contains(err.Error(), "EPS mobile identity") {
		t.Errorf("Attach request without identity: %v", err)
	}
	_, err = Decode(unhex(t, "0741720bf600f11000020103"))
	if !errors.Is(err, ErrInvalidIE) || !strings.Contains(err.Error(), "EPS mobile identity") {
		t.Errorf("Attach request with a cut identity: %v", err)
	}
	_, err = Decode(unhex(t, "5201c1"))
	if !errors.Is(err, ErrMissingIE) || !strings.Contains(err.Error(), "EPS quality of service") {
		t.Errorf("Activate default bearer request without IEs: %v", err)
	}
}

// TestUnknownOptionalIEs: IEs the message does not list are skipped by
// their format (TS 24.301 §7.6, §9.9.1), kept in Other, and re-encoded.
func TestUnknownOptionalIEs(t *testing.T) {
	base := unhex(t, "074411") // Attach reject #17
	for _, tail := range []string{
		"3f020102",      // TLV
		"b5",            // one octet, bit 8 set
		"7d00020102",    // TLV-E (7xH)
		"a3" + "4e00",   // the table's type 1 IE, then an empty TLV
		"5f0101" + "e1", // T3346 (listed) and an unknown type 1
	} {
		b := append(append([]byte(nil), base...), unhex(t, tail)...)
		m, err := Decode(b)
		if err != nil {
			t.Errorf("tail %s: %v", tail, err)
			continue
		}
		if len(m.(*AttachReject).Other) == 0 {
			t.Errorf("tail %s: nothing kept in Other", tail)
		}
		if out, err := m.Encode(); err != nil || !bytes.Equal(out, b) {
			t.Errorf("tail %s: re-encoded %x (%v)", tail, out, err)
		}
	}
	for _, bad := range []struct{ hex, why string }{
		{"07441105", "comprehension required"},
		{"0744113f05", "5 octets"},
		{"0744117d01", "IE 0x7d"},
	} {
		if _, err := Decode(unhex(t, bad.hex)); !errors.Is(err, ErrInvalidIE) || !strings.Contains(err.Error(), bad.why) {
			t.Errorf("%s: %v, want ErrInvalidIE about %q", bad.hex, err, bad.why)
		}
	}
}

// TestEncodeErrors: values that have no encoding are refused, naming why.
func TestEncodeErrors(t *testing.T) {
	for _, m := range []Message{
		&AttachRequest{Identity: EPSMobileIdentity{Type: EPSIdentityIMSI, Digits: "00101x"}, ESM: &PDNConnectivityRequest{}},
		&AttachRequest{Identity: EPSMobileIdentity{Type: EPSIdentityIMSI, Digits: "001010000000001"}},
		&AttachRequest{Identity: EPSMobileIdentity{Type: EPSIdentityIMSI, Digits: "001010000000001"}, ESM: (*PDNConnectivityRequest)(nil)},
		&AttachRequest{AttachType: 9, Identity: EPSMobileIdentity{Type: EPSIdentityIMSI, Digits: "1"}, ESM: &PDNConnectivityRequest{}},
		&AttachAccept{ESM: &ActivateDefaultBearerAccept{}},
		&AttachAccept{TAIList: TAIList{{PLMN: PLMN{MCC: "1", MNC: "01"}}}, ESM: &ActivateDefaultBearerAccept{}},
		&AuthenticationResponse{RES: []byte{1}},
		&AuthenticationFailure{Cause: EMMSynchFailure, AUTS: []byte{1, 2}},
		&IdentityResponse{Identity: MobileIdentity{Type: 5}},
		&ActivateDefaultBearerRequest{APN: "ims", PDNAddress: PDNAddress{Type: PDNTypeIPv4}},
		&ActivateDefaultBearerRequest{APN: "ims..x", PDNAddress: PDNAddress{Type: PDNTypeIPv4, IPv4: netip.MustParseAddr("10.0.0.1")}},
		&PDNConnectivityRequest{ESMHeader: ESMHeader{EBI: 16}},
		&PDNConnectivityRequest{PCO: &PCO{Items: []PCOItem{{Contents: make([]byte, 256)}}}},
		&DetachRequest{DetachType: 8, Identity: EPSMobileIdentity{Type: EPSIdentityIMSI, Digits: "1"}},
		&SecurityModeCommand{Algorithms: NASSecurityAlgorithms{EEA: 8}},
		&EMMStatus{Other: []IE{{IEI: 0x05, Value: []byte{1}}}},
		&EMMStatus{Other: []IE{{IEI: 0xC0, Value: []byte{0x10}}}},
	} {
		if b, err := m.Encode(); err == nil {
			t.Errorf("%T %+v encoded to %x", m, m, b)
		} else if !strings.HasPrefix(err.Error(), "eps: ") {
			t.Errorf("error without context: %v", err)
		}
	}
}
