package eps

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// unhex decodes hex test data; spaces are ignored.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

var (
	plmn00101 = PLMN{MCC: "001", MNC: "01"}
	plmn41799 = PLMN{MCC: "417", MNC: "99"}
)

// plainVectors are real plain EPS NAS messages, each with its source and
// the value it decodes to. Each must also encode back to the same octets.
var plainVectors = []struct {
	name, source, hex string
	want              Message
}{
	{
		name:   "Attach request with PDN connectivity request",
		source: "/work/shared/PEERS.md (decoded cleanly by tshark 4.0.17)",
		hex:    "0741720bf600f110000201030003e602e0e000040201d011",
		want: &AttachRequest{
			AttachType: AttachCombined, KSI: NoKeyAvailable,
			Identity:            EPSMobileIdentity{Type: EPSIdentityGUTI, GUTI: GUTI{PLMN: plmn00101, MMEGroupID: 2, MMECode: 1, MTMSI: 0x030003e6}},
			UENetworkCapability: UENetworkCapability{EEA: 0xe0, EIA: 0xe0},
			ESM:                 &PDNConnectivityRequest{ESMHeader: ESMHeader{PTI: 1}, PDNType: PDNTypeIPv4, RequestType: RequestInitial},
		},
	},
	{
		name:   "Identity response (IMSI 001010000000001)",
		source: "/work/shared/PEERS.md",
		hex:    "0756080910100000000010",
		want:   &IdentityResponse{Identity: MobileIdentity{Type: IdentityIMSI, Digits: "001010000000001"}},
	},
	{
		name:   "Detach request (UE originating)",
		source: "/work/shared/PEERS.md",
		hex:    "0745710bf600f11000020100000001",
		want: &DetachRequest{DetachType: DetachEPS, KSI: NoKeyAvailable,
			Identity: EPSMobileIdentity{Type: EPSIdentityGUTI, GUTI: GUTI{PLMN: plmn00101, MMEGroupID: 2, MMECode: 1, MTMSI: 1}}},
	},
	{
		name:   "Attach accept with default bearer, APN, IPv4 address and PCO (IPCP, DNS)",
		source: "open5gs tests/unit/nas-message-test.c, ogs_nas_eps_message_test2",
		hex: "07420223060014f799303900325201c101090908696e7465726e657405010ae1000a271b80802110020200108106c0a8" +
			"a8018306c0a8a801000d04c0a8a801500bf614f7992345e1000004561300f120fffd2305f400e102d4640123",
		want: &AttachAccept{
			Result: AttachResultCombined, T3412: 0x23,
			TAIList: TAIList{{PLMN: plmn41799, TAC: 12345}},
			ESM: &ActivateDefaultBearerRequest{
				ESMHeader:  ESMHeader{EBI: 5, PTI: 1},
				QoS:        EPSQoS{QCI: 9},
				APN:        "internet",
				PDNAddress: PDNAddress{Type: PDNTypeIPv4, IPv4: netip.MustParseAddr("10.225.0.10")},
				PCO: &PCO{Items: []PCOItem{
					{ID: PCOIPCP, Contents: []byte{0x02, 0x02, 0x00, 0x10, 0x81, 0x06, 0xc0, 0xa8, 0xa8, 0x01, 0x83, 0x06, 0xc0, 0xa8, 0xa8, 0x01}},
					{ID: PCODNSIPv4, Contents: []byte{0xc0, 0xa8, 0xa8, 0x01}},
				}},
			},
			GUTI:                  &GUTI{PLMN: plmn41799, MMEGroupID: 0x2345, MMECode: 0xe1, MTMSI: 0x456},
			NetworkFeatureSupport: []byte{0x23},
			Other: []IE{
				{IEI: 0x13, Value: []byte{0x00, 0xf1, 0x20, 0xff, 0xfd}}, // location area identification
				{IEI: 0x23, Value: []byte{0xf4, 0x00, 0xe1, 0x02, 0xd4}}, // MS identity (TMSI)
			},
		},
	},
	{
		name:   "Attach complete with default bearer accept",
		source: "open5gs tests/unit/nas-message-test.c, ogs_nas_eps_message_test3",
		hex:    "074300035200c2",
		want:   &AttachComplete{ESM: &ActivateDefaultBearerAccept{ESMHeader: ESMHeader{EBI: 5}}},
	},
	{
		name:   "Attach reject, #17 network failure",
		source: "open5gs tests/unit/nas-message-test.c, ogs_nas_eps_message_test4",
		hex:    "074411",
		want:   &AttachReject{Cause: EMMNetworkFailure},
	},
	{
		name:   "Identity request (IMSI)",
		source: "open5gs tests/unit/nas-message-test.c, ogs_nas_eps_message_test6",
		hex:    "075501",
		want:   &IdentityRequest{IdentityType: IdentityIMSI},
	},
	{
		name:   "Identity response (IMSI 001010123456815)",
		source: "open5gs tests/unit/nas-message-test.c, ogs_nas_eps_message_test7",
		hex:    "0756080910101032548651",
		want:   &IdentityResponse{Identity: MobileIdentity{Type: IdentityIMSI, Digits: "001010123456815"}},
	},
	{
		name:   "Authentication request (live capture, PLMN 999/01)",
		source: "ellanetworks/core internal/decoder/nas/eps/eps_test.go, TestDecodeAuthenticationRequest",
		hex:    "075200ea3d8ec68864b3dce98a956efffb8adf103787800bf66780007f99d3a08c910b95",
		want: &AuthenticationRequest{
			RAND: [16]byte(unhexMust("ea3d8ec68864b3dce98a956efffb8adf")),
			AUTN: [16]byte(unhexMust("3787800bf66780007f99d3a08c910b95")),
		},
	},
	{
		name:   "Authentication response (live capture)",
		source: "ellanetworks/core internal/decoder/nas/eps/eps_test.go, TestDecodeAuthenticationResponse",
		hex:    "075308333f7d3146a2c189",
		want:   &AuthenticationResponse{RES: unhexMust("333f7d3146a2c189")},
	},
	{
		name:   "Authentication request (KSI 1)",
		source: "srsRAN_4G srsue/test/upper/nas_test.cc, auth_request_pdu",
		hex:    "0752010c63a85413e6a4ced986fbe5ce9b625e106757b3c2b97090010c728a67579252b8",
		want: &AuthenticationRequest{KSI: 1,
			RAND: [16]byte(unhexMust("0c63a85413e6a4ced986fbe5ce9b625e")),
			AUTN: [16]byte(unhexMust("6757b3c2b97090010c728a67579252b8")),
		},
	},
}

func unhexMust(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestPlainVectors(t *testing.T) {
	for _, v := range plainVectors {
		t.Run(v.name, func(t *testing.T) {
			b := unhex(t, v.hex)
			m, err := Decode(b)
			if err != nil {
				t.Fatalf("%s: %v", v.source, err)
			}
			if !reflect.DeepEqual(m, v.want) {
				t.Errorf("%s decodes to\n%#v\nwant\n%#v", v.source, m, v.want)
			}
			out, err := m.Encode()
			if err != nil || !bytes.Equal(out, b) {
				t.Errorf("re-encoded to %x (%v), want %x", out, err, b)
			}
			if out, err := v.want.Encode(); err != nil || !bytes.Equal(out, b) {
				t.Errorf("the expected value encodes to %x (%v), want %x", out, err, b)
			}
		})
	}
}

// TestAttachRequestWithManyIEs decodes Attach requests that carry the
// optional IEs of real UEs: each is kept in Other, in order, and the message
// re-encodes to the same octets.
func TestAttachRequestWithManyIEs(t *testing.T) {
	for _, v := range []struct {
		source, hex string
		identity    string
		other       []uint8
		pco         []uint16
	}{
		{
			// GUTI, ESM information transfer flag, last visited TAI, DRX,
			// MS network capability, TMSI status, classmark 2, voice domain
			// preference, old GUTI type, MS network feature support.
			source: "open5gs tests/unit/nas-message-test.c, ogs_nas_eps_message_test1",
			hex: "0741020bf600f110000201030003e605f07000001000050215d011d15200f110" +
				"30395c0a003103e5e0349011035758a65d0100e0c1",
			identity: "GUTI 001/01-0002-01-030003e6",
			other:    []uint8{0x5C, 0x31, 0x90, 0x11, 0x5D, 0xE0, 0xC0},
		},
		{
			// IMSI attach from a live deployment: a PCO asking for IPCP, DNS,
			// IP allocation via NAS, MTU...
			source: "ellanetworks/core internal/decoder/nas/eps/eps_test.go, TestDecodePlainAttachRequest",
			hex: "07417108999910480000464407f070000018008000330265d011272d808021100100001081060000000083060000000000" +
				"0d00000a00000500001000001100001a01010023000024005c0a005d0106c1",
			identity: "IMSI 999018400006444",
			other:    []uint8{0x5C, 0x5D, 0xC0},
			pco:      []uint16{PCOIPCP, PCODNSIPv4, PCOIPAddressViaNAS, 0x0005, PCOIPv4LinkMTU, 0x0011, 0x001a, 0x0023, 0x0024},
		},
	} {
		b := unhex(t, v.hex)
		m, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", v.source, err)
		}
		ar := m.(*AttachRequest)
		if ar.Identity.String() != v.identity {
			t.Errorf("%s: identity %v, want %s", v.source, ar.Identity, v.identity)
		}
		var iei []uint8
		for _, ie := range ar.Other {
			iei = append(iei, ie.IEI)
		}
		if !reflect.DeepEqual(iei, v.other) {
			t.Errorf("%s: other IEs %x, want %x", v.source, iei, v.other)
		}
		pdn, ok := ar.ESM.(*PDNConnectivityRequest)
		if !ok || pdn.PDNType != PDNTypeIPv4 || pdn.RequestType != RequestInitial {
			t.Fatalf("%s: ESM %#v", v.source, ar.ESM)
		}
		var ids []uint16
		if pdn.PCO != nil {
			for _, it := range pdn.PCO.Items {
				ids = append(ids, it.ID)
			}
		}
		if !reflect.DeepEqual(ids, v.pco) {
			t.Errorf("%s: PCO items %04x, want %04x", v.source, ids, v.pco)
		}
		if out, err := m.Encode(); err != nil || !bytes.Equal(out, b) {
			t.Errorf("%s: re-encoded to %x (%v)", v.source, out, err)
		}
	}
}

// TestProtectedVectors reads real security protected messages whose keys
// are unknown: the header, and the NAS message inside when it is not
// ciphered (types 1 and 3) or was ciphered with EEA0.
func TestProtectedVectors(t *testing.T) {
	for _, v := range []struct {
		source, hex string
		typ         SecurityHeaderType
		mac         string
		sqn         uint8
		inner       string // the decoded inner message's String(); "" if ciphered
	}{
		{"ellanetworks/core eps_test.go TestDecodeAttachRequest (live, integrity protected)",
			"17d74e9de8050741020bf699f9100001010000000207f070000018008000330236d011272d8080211001000010810600000000830600000000000d00000a00000500001000001100001a01010023000024005299f91000015c0a009011034f1886f15d0106e0c1",
			IntegrityProtected, "d74e9de8", 5, "Attach request"},
		{"ellanetworks/core eps_test.go TestDecodeSecurityModeCommand (live)",
			"37d71eeb1400075d220004f0700000c1", IntegrityProtectedNewContext, "d71eeb14", 0, "Security mode command"},
		{"ellanetworks/core eps_test.go TestDecodeAttachCompleteCarriesESMContainer (live, EEA0)",
			"2735e4e44602074300035200c2", IntegrityProtectedCiphered, "35e4e446", 2, "Attach complete"},
		{"ellanetworks/core eps_test.go TestDecodeEncrypted (live, ciphered)",
			"2774a88ff701128f7ddc4907f3", IntegrityProtectedCiphered, "74a88ff7", 1, ""},
		{"srsRAN_4G srsue/test/upper/nas_test.cc attach_accept_pdu (EEA0, MAC not set)",
			"2700000000000742013e060000f1100001002a5201c101041b077465737431323306" +
				"6d6e63303031066d636330303104677072730501c0a80502270180500bf600f11080010135166dbc640100",
			IntegrityProtectedCiphered, "00000000", 0, "Attach accept"},
	} {
		b := unhex(t, v.hex)
		h, msg, err := ParseProtected(b)
		if err != nil {
			t.Fatalf("%s: %v", v.source, err)
		}
		if h.Type != v.typ || hex.EncodeToString(h.MAC[:]) != v.mac || h.SQN != v.sqn {
			t.Errorf("%s: header %+v", v.source, h)
		}
		if _, err := Decode(b); !errors.Is(err, ErrSecurityProtected) {
			t.Errorf("%s: the plain decoder gave %v, want ErrSecurityProtected", v.source, err)
		}
		if v.inner == "" {
			continue
		}
		m, err := Decode(msg)
		if err != nil {
			t.Fatalf("%s: inner message: %v", v.source, err)
		}
		if m.String() != v.inner {
			t.Errorf("%s: inner %v, want %s", v.source, m, v.inner)
		}
		if out, err := m.Encode(); err != nil || !bytes.Equal(out, msg) {
			t.Errorf("%s: inner message re-encoded to %x (%v)", v.source, out, err)
		}
	}
}

// TestSRSRANAttachAccept checks the values of srsRAN's Attach accept: APN
// with several labels, PDN address, an empty PCO.
func TestSRSRANAttachAccept(t *testing.T) {
	_, msg, err := ParseProtected(unhex(t, "2700000000000742013e060000f1100001002a5201c101041b077465737431323306"+
		"6d6e63303031066d636330303104677072730501c0a80502270180500bf600f11080010135166dbc640100"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := &AttachAccept{
		Result: AttachResultEPS, T3412: 0x3e,
		TAIList: TAIList{{PLMN: plmn00101, TAC: 1}},
		ESM: &ActivateDefaultBearerRequest{
			ESMHeader:  ESMHeader{EBI: 5, PTI: 1},
			QoS:        EPSQoS{QCI: 4},
			APN:        "test123.mnc001.mcc001.gprs",
			PDNAddress: PDNAddress{Type: PDNTypeIPv4, IPv4: netip.MustParseAddr("192.168.5.2")},
			PCO:        &PCO{},
		},
		GUTI:                  &GUTI{PLMN: plmn00101, MMEGroupID: 0x8001, MMECode: 1, MTMSI: 0x35166dbc},
		NetworkFeatureSupport: []byte{0},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got\n%#v\nwant\n%#v", m, want)
	}
	if d, ok := want.T3412.Duration(); !ok || d.Minutes() != 30 {
		t.Errorf("T3412 %v", d)
	}
}

// TestUnsupportedMessage: srsRAN's ESM information request (0xD9) is not a
// message this package decodes.
func TestUnsupportedMessage(t *testing.T) {
	_, msg, err := ParseProtected(unhex(t, "270000000000025ad9")) // srsRAN nas_test.cc esm_info_req_pdu
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(msg); !errors.Is(err, ErrUnknownMessage) {
		t.Errorf("got %v, want ErrUnknownMessage", err)
	}
}
