package eps

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imslab/imslab/internal/nas/nassec"
	"github.com/imslab/imslab/internal/trace"
	"github.com/imslab/imslab/internal/tsharktest"
)

// frame is one NAS PDU of the tshark capture and what tshark must name in
// it: the EMM and ESM message types ("" when none), or for a ciphered
// message only its security header type.
type frame struct {
	name     string
	pdu      []byte
	emm, esm string
	ciphered bool
}

// expectedTypes is the EMM and ESM message type a frame carrying m shows.
func expectedTypes(m Message) (emm, esm string) {
	hex := func(t MessageType) string { return fmt.Sprintf("0x%02x", uint8(t)) }
	var inner ESMMessage
	switch v := m.(type) {
	case ESMMessage:
		return "", hex(v.Type())
	case *AttachRequest:
		inner = v.ESM
	case *AttachAccept:
		inner = v.ESM
	case *AttachComplete:
		inner = v.ESM
	case *AttachReject:
		inner = v.ESM
	}
	if inner != nil {
		esm = hex(inner.Type())
	}
	return hex(m.Type()), esm
}

// captureFrames is every sample plain (but standalone ESM messages), every
// sample integrity protected
// (tshark decodes the message inside) and a few ciphered with 128-EEA2
// (tshark shows the header only), and the real PDUs of the vector tests.
func captureFrames(t *testing.T) []frame {
	integrity := testContext(t, nassec.EEA0, nassec.EIA2)
	ciphering := testContext(t, nassec.EEA2, nassec.EIA2)
	var out []frame
	for i, s := range samples() {
		b, err := s.msg.Encode()
		if err != nil {
			t.Fatal(err)
		}
		emm, esm := expectedTypes(s.msg)
		if _, standalone := s.msg.(ESMMessage); !standalone {
			// A standalone ESM message is always security protected (TS
			// 24.301 §4.4.4; tshark flags a plain one as an error).
			out = append(out, frame{name: s.name, pdu: b, emm: emm, esm: esm})
		}
		typ := IntegrityProtected
		if s.msg.Type() == TypeSecurityModeCommand {
			typ = IntegrityProtectedNewContext
		}
		p, err := integrity.Protect(b, typ, uint32(i), nassec.Direction(i%2))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{name: s.name + ", " + typ.String(), pdu: p, emm: emm, esm: esm})
		if i%5 == 0 {
			p, err := ciphering.Protect(b, IntegrityProtectedCiphered, uint32(i), nassec.Uplink)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, frame{name: s.name + ", ciphered", pdu: p, ciphered: true})
		}
	}
	for _, v := range plainVectors {
		emm, esm := expectedTypes(v.want)
		out = append(out, frame{name: "vector: " + v.name, pdu: unhex(t, v.hex), emm: emm, esm: esm})
	}
	return out
}

// TestTshark writes every frame in a USER0 (DLT 147) pcap and checks with
// tshark 4.0 that it dissects cleanly as nas-eps (no malformed packet, no
// expert error, PEERS.md) and names each message as encoded.
func TestTshark(t *testing.T) {
	tsharktest.Require(t)
	frames := captureFrames(t)
	pcap := filepath.Join(t.TempDir(), "nas-eps.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := trace.NewPcapWriterLinkType(f, trace.LinkTypeUser0)
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		if err := pw.Write(trace.Packet{Payload: fr.pdu}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dlt := tsharktest.UserDLT("nas-eps")
	if os.Getenv("NAS_PCAP") != "" {
		copyFile(t, pcap, os.Getenv("NAS_PCAP"))
	}
	tsharktest.Check(t, pcap, dlt...)
	rows := tsharktest.Fields(t, pcap, []string{"nas_eps.nas_msg_emm_type", "nas_eps.nas_msg_esm_type", "nas_eps.security_header_type"}, dlt...)
	if len(rows) != len(frames) {
		t.Fatalf("tshark shows %d frames, %d written", len(rows), len(frames))
	}
	for i, fr := range frames {
		emm, esm, sht := rows[i][0], rows[i][1], rows[i][2]
		if fr.ciphered {
			// tshark shows the header; it reads the ciphered octets as a
			// plain message only when they happen to look like one.
			if !strings.HasPrefix(sht, "2") {
				t.Errorf("frame %d (%s): security header type %q, want 2", i+1, fr.name, sht)
			}
			continue
		}
		if emm != fr.emm || esm != fr.esm {
			t.Errorf("frame %d (%s, %x): tshark names EMM %q ESM %q, want %q %q", i+1, fr.name, fr.pdu, emm, esm, fr.emm, fr.esm)
		}
	}
	// What the UE reads in the Attach accept: APN, address, P-CSCF.
	rows = tsharktest.Fields(t, pcap, []string{"gsm_a.gm.sm.apn", "nas_eps.esm.pdn_ipv4", "gsm_a.gm.sm.pco.pcscf.ipv4"}, dlt...)
	found := false
	for i, fr := range frames {
		if fr.name == "Attach accept" {
			found = true
			if got, want := strings.Join(rows[i], " "), "ims 10.45.0.2 10.45.0.1"; got != want {
				t.Errorf("frame %d (%s): tshark reads APN, PDN address, P-CSCF %q, want %q", i+1, fr.name, got, want)
			}
		}
	}
	if !found {
		t.Error("no plain Attach accept frame")
	}
	t.Logf("tshark dissected %d NAS PDUs cleanly", len(frames))
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
