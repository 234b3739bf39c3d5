package trace

import (
	"net/netip"
	"strings"
	"testing"
)

// registrationDiagram is the Mermaid source of the fixture's registration.
const registrationDiagram = `sequenceDiagram
    participant UE_alice as UE alice
    participant P_CSCF as P-CSCF
    participant S_CSCF as S-CSCF
    participant HSS
    UE_alice->>P_CSCF: REGISTER sip#58;ims.test
    P_CSCF->>S_CSCF: REGISTER sip#58;ims.test
    S_CSCF->>HSS: MAR
    HSS->>S_CSCF: MAA 2001
    S_CSCF->>P_CSCF: 401 Unauthorized
    P_CSCF->>UE_alice: 401 Unauthorized
`

func TestMermaid(t *testing.T) {
	ue, pcscf, scscf, hss := registration(t)
	var sb strings.Builder
	if err := WriteMermaid(&sb, Merge(ue, pcscf, scscf, hss), Options{Names: NamesFrom(ue, pcscf, scscf, hss)}); err != nil {
		t.Fatal(err)
	}
	if got := sb.String(); got != registrationDiagram {
		t.Errorf("Mermaid:\n%s\nwant\n%s", got, registrationDiagram)
	}
}

// TestMermaidMedia: a stream is one dotted arrow per direction, labels and
// names escaped, participants in the order asked.
func TestMermaidMedia(t *testing.T) {
	names := NamesFrom(call(t))
	if err := names.Parse("127.0.0.1:41004=UE bob"); err != nil {
		t.Fatal(err)
	}
	if err := names.Parse("127.0.0.1=end; #2"); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	err := WriteMermaid(&sb, call(t), Options{Names: names, Order: []string{"HSS", "UE bob", "nobody"}})
	if err != nil {
		t.Fatal(err)
	}
	got := sb.String()
	for _, want := range []string{
		"sequenceDiagram\n    participant HSS\n    participant UE_bob as UE bob\n    participant UE_alice as UE alice\n",
		"    participant end___2 as end#59; #35;2\n", // the IP's name, for addresses without their own
		"    P_CSCF->>S_CSCF: INVITE tel#58;+15550002\n",
		"    S_CSCF->>P_CSCF: 180 Ringing\n",
		"    UE_alice->>P_CSCF: keep-alive\n",
		"    Note over UE_alice: NAS (2 bytes)\n",
		"    UE_alice--)UE_bob: RTP PCMU 5 packets\n",
		"    UE_bob--)UE_alice: SRTP PCMA 5 packets\n",
		"    UE_alice--)UE_bob: RTCP 1 packet\n",
		"    UE_bob--)end___2: SRTCP 1 packet\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Mermaid lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "RTP"); n != 2 {
		t.Errorf("%d RTP lines:\n%s", n, got)
	}
}

func TestWriteLadder(t *testing.T) {
	ue, pcscf, scscf, hss := registration(t)
	names := NamesFrom(ue, pcscf, scscf, hss)
	var sb strings.Builder
	if err := WriteLadder(&sb, Merge(ue, pcscf, scscf, hss), Options{Names: names, Order: []string{"HSS"}}); err != nil {
		t.Fatal(err)
	}
	got := sb.String()
	t.Logf("\n%s", got)
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if len(lines) != 7 || strings.Fields(lines[0])[0] != "HSS" || !strings.Contains(lines[3], "|<") || !strings.Contains(lines[3], " MAR ") ||
		!strings.Contains(lines[4], "MAA 2001 -") || !strings.Contains(lines[6], "|<--- 401 Unauthorized") {
		t.Errorf("ladder:\n%s", got)
	}
	// Long names widen the columns and stay centred over their bars.
	sb.Reset()
	long := netip.MustParseAddrPort("[2001:db8::1]:5060")
	err := WriteLadder(&sb, []Event{{Protocol: "SIP", Src: long, Dst: aPCSCF, Raw: ue[0].Raw}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(sb.String(), "\n")
	head, arrow := lines[0], lines[1]
	for _, name := range []string{long.String(), aPCSCF.String()} {
		i := strings.Index(head, name)
		bar := i + (len(name)-1)/2
		if i < 0 || bar >= len(arrow) || (arrow[bar] != '|' && arrow[bar+1] != '|') {
			t.Errorf("%s not over its bar:\n%s", name, sb.String())
		}
	}
}
