package eps

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/nas/nassec"
)

// xorAKA is the test algorithm of TS 34.108 §8.1.2 that srsRAN's test USIM
// runs ("xor"): XDOUT = K ⊕ RAND, CK = XDOUT rotated by one octet, IK by
// two, AK = XDOUT octets 3-8.
func xorAKA(k, rand []byte) (ck, ik, ak []byte) {
	x := make([]byte, 16)
	for i := range x {
		x[i] = k[i] ^ rand[i]
	}
	ck = append(append([]byte(nil), x[1:]...), x[:1]...)
	ik = append(append([]byte(nil), x[2:]...), x[:2]...)
	return ck, ik, x[3:9]
}

// TestSRSRANSecurityModeCommand verifies a real Security mode command end to
// end. srsRAN_4G srsue/test/upper/nas_test.cc feeds its UE (K =
// 00112233445566778899aabbccddeeff, "xor" algorithm, PLMN 001/01)
// auth_request_pdu, then sec_mode_command_pdu, which the UE must accept.
// From the challenge: CK, IK (TS 34.108 §8.1.2), K_ASME (TS 33.401 A.2,
// SQN⊕AK from AUTN), K_NASint for 128-EIA2 (A.7); the command's MAC must
// then verify with NAS COUNT 0, downlink (TS 24.301 §4.4.3.3).
func TestSRSRANSecurityModeCommand(t *testing.T) {
	var auth AuthenticationRequest
	if err := auth.Decode(unhex(t, "0752010c63a85413e6a4ced986fbe5ce9b625e106757b3c2b97090010c728a67579252b8")); err != nil {
		t.Fatal(err)
	}
	ck, ik, _ := xorAKA(unhex(t, "00112233445566778899aabbccddeeff"), auth.RAND[:])
	sn, err := plmn00101.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	kasme, err := aka.KASME(ck, ik, sn, auth.AUTN[:6])
	if err != nil {
		t.Fatal(err)
	}
	pdu := unhex(t, "374efd57110007 5d020102f070c1")
	h, msg, err := ParseProtected(pdu)
	if err != nil || h.Type != IntegrityProtectedNewContext {
		t.Fatalf("%+v %v", h, err)
	}
	var smc SecurityModeCommand
	if err := smc.Decode(msg); err != nil {
		t.Fatal(err)
	}
	want := SecurityModeCommand{Algorithms: NASSecurityAlgorithms{EEA: nassec.EEA0, EIA: nassec.EIA2}, KSI: auth.KSI,
		ReplayedCapability: UESecurityCapability{EEA: 0xf0, EIA: 0x70}, IMEISVRequested: true}
	if !reflect.DeepEqual(smc, want) {
		t.Fatalf("command %+v, want %+v", smc, want)
	}
	ctx, err := NewSecurityContext(kasme, smc.Algorithms)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ctx.Unprotect(pdu, nassec.Downlink, 0)
	if err != nil {
		t.Fatal(err)
	}
	if u.Count != 0 || !bytes.Equal(u.Plain, msg) {
		t.Errorf("unprotected %+v", u)
	}
	again, err := ctx.Protect(msg, IntegrityProtectedNewContext, 0, nassec.Downlink)
	if err != nil || !bytes.Equal(again, pdu) {
		t.Errorf("Protect gives %x (%v), want %x", again, err, pdu)
	}
	// The same octets fail as uplink, and as a replay once COUNT 0 was used.
	if _, err := ctx.Unprotect(pdu, nassec.Uplink, 0); !errors.Is(err, ErrMACFailure) {
		t.Errorf("uplink: %v", err)
	}
	if _, err := ctx.Unprotect(pdu, nassec.Downlink, u.Count+1); !errors.Is(err, ErrMACFailure) {
		t.Errorf("replay: %v", err)
	}
}

func testContext(t *testing.T, eea nassec.EEA, eia nassec.EIA) *SecurityContext {
	t.Helper()
	kasme := bytes.Repeat([]byte{0x5a}, 32)
	c, err := NewSecurityContext(kasme, NASSecurityAlgorithms{EEA: eea, EIA: eia})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestProtectUnprotect(t *testing.T) {
	plain, err := (&SecurityModeComplete{IMEISV: &MobileIdentity{Type: IdentityIMEISV, Digits: "3534900698733101"}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []NASSecurityAlgorithms{{EEA: nassec.EEA2, EIA: nassec.EIA2}, {EEA: nassec.EEA0, EIA: nassec.EIA2}} {
		c := testContext(t, alg.EEA, alg.EIA)
		for _, typ := range []SecurityHeaderType{IntegrityProtected, IntegrityProtectedCiphered, IntegrityProtectedNewContext, IntegrityProtectedCipheredNewContext} {
			for _, count := range []uint32{0, 1, 0xFF, 0x100, 0x12345, MaxCount} {
				for _, dir := range []nassec.Direction{nassec.Uplink, nassec.Downlink} {
					pdu, err := c.Protect(plain, typ, count, dir)
					if err != nil {
						t.Fatal(err)
					}
					if pdu[0] != byte(typ)<<4|7 || pdu[5] != byte(count) {
						t.Fatalf("header %x", pdu[:6])
					}
					ciphered := !bytes.Equal(pdu[6:], plain)
					if want := alg.EEA == nassec.EEA2 && (typ == IntegrityProtectedCiphered || typ == IntegrityProtectedCipheredNewContext); ciphered != want {
						t.Errorf("%v %v count %#x: ciphered %v", alg, typ, count, ciphered)
					}
					u, err := c.Unprotect(pdu, dir, count)
					if err != nil {
						t.Fatalf("%v %v count %#x %v: %v", alg, typ, count, dir, err)
					}
					if u.Count != count || u.Header.Type != typ || !bytes.Equal(u.Plain, plain) {
						t.Errorf("unprotected %+v", u)
					}
					bad := bytes.Clone(pdu)
					bad[len(bad)-1] ^= 1
					if _, err := c.Unprotect(bad, dir, count); !errors.Is(err, ErrMACFailure) {
						t.Errorf("a damaged message: %v", err)
					}
				}
			}
		}
	}
}

func TestEstimateCount(t *testing.T) {
	for _, c := range []struct {
		expected uint32
		sqn      uint8
		want     uint32
	}{
		{0, 0, 0},
		{0, 5, 5}, // messages lost on the way
		{0xFF, 0xFF, 0xFF},
		{0x100, 0x00, 0x100},
		{0xFF, 0x00, 0x100},  // the SQN wrapped: the overflow counter goes up
		{0x105, 0x03, 0x203}, // a lower SQN is the next overflow, not a replay
		{0x105, 0x05, 0x105},
		{MaxCount, 0x00, 0}, // NAS COUNT wraps at 24 bits
	} {
		if got := EstimateCount(c.expected, c.sqn); got != c.want {
			t.Errorf("EstimateCount(%#x, %#x) = %#x, want %#x", c.expected, c.sqn, got, c.want)
		}
	}
}

// TestCountSequence sends 600 messages, some lost: the receiver, keeping
// the COUNT it expects next, follows the overflow counter through the SQN
// wraps and refuses every replay.
func TestCountSequence(t *testing.T) {
	c := testContext(t, nassec.EEA2, nassec.EIA2)
	plain, _ := (&DetachAccept{}).Encode()
	var expected uint32
	var sent [][]byte
	for count := uint32(0); count < 600; count++ {
		pdu, err := c.Protect(plain, IntegrityProtectedCiphered, count, nassec.Uplink)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, pdu)
		if count%7 == 3 {
			continue // lost
		}
		u, err := c.Unprotect(pdu, nassec.Uplink, expected)
		if err != nil || u.Count != count {
			t.Fatalf("count %#x (expected %#x): %+v %v", count, expected, u, err)
		}
		expected = u.Count + 1
	}
	for i, pdu := range sent {
		if _, err := c.Unprotect(pdu, nassec.Uplink, expected); !errors.Is(err, ErrMACFailure) {
			t.Fatalf("replay of count %#x accepted: %v", i, err)
		}
	}
}

func TestProtectErrors(t *testing.T) {
	c := testContext(t, nassec.EEA2, nassec.EIA2)
	msg := []byte{0x07, 0x46}
	for _, f := range []func() error{
		func() error { _, err := c.Protect(msg, Plain, 0, nassec.Uplink); return err },
		func() error { _, err := c.Protect(msg, 5, 0, nassec.Uplink); return err },
		func() error { _, err := c.Protect(msg, IntegrityProtected, MaxCount+1, nassec.Uplink); return err },
		func() error { _, err := c.Protect(nil, IntegrityProtected, 0, nassec.Uplink); return err },
		func() error {
			_, err := testContext(t, nassec.EEA1, nassec.EIA2).Protect(msg, IntegrityProtectedCiphered, 0, nassec.Uplink)
			return err
		},
		func() error {
			_, err := testContext(t, nassec.EEA0, nassec.EIA3).Protect(msg, IntegrityProtected, 0, nassec.Uplink)
			return err
		},
	} {
		if err := f(); err == nil {
			t.Error("no error")
		}
	}
	if _, err := c.Unprotect(msg, nassec.Uplink, 0); !errors.Is(err, ErrNotProtected) {
		t.Errorf("plain message: %v", err)
	}
	if _, err := c.Unprotect([]byte{0x17, 1, 2}, nassec.Uplink, 0); !errors.Is(err, ErrMissingIE) {
		t.Errorf("short message: %v", err)
	}
	if _, err := c.Unprotect([]byte{0xC7, 1, 2, 3, 4, 5, 6}, nassec.Uplink, 0); !errors.Is(err, ErrUnknownMessage) {
		t.Errorf("service request: %v", err)
	}
}

// TestEIA0 accepts any MAC: EIA0's is 0 and carries no protection (TS
// 33.401 §5.1.4.1).
func TestEIA0(t *testing.T) {
	c := testContext(t, nassec.EEA0, nassec.EIA0)
	pdu, err := c.Protect([]byte{0x07, 0x46}, IntegrityProtected, 3, nassec.Downlink)
	if err != nil || !bytes.Equal(pdu, []byte{0x17, 0, 0, 0, 0, 3, 0x07, 0x46}) {
		t.Fatalf("%x %v", pdu, err)
	}
	pdu[1] = 0xFF
	if _, err := c.Unprotect(pdu, nassec.Downlink, 3); err != nil {
		t.Error(err)
	}
}
