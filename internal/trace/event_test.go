package trace

import (
	"net/netip"
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	ue, pcscf, scscf, hss := registration(t)
	got := Merge(pcscf, hss, ue, scscf)
	type row struct {
		ms       int
		node     string
		sent     bool
		src, dst netip.AddrPort
	}
	want := []row{
		{0, "UE alice", true, aUE, aPCSCF},
		{2, "P-CSCF", true, aPCSCF, aSCSCF}, // the S-CSCF's copy re-serialised: matched by its SIP identity
		{4, "S-CSCF", true, aSCSCFd, aHSS},
		{5, "HSS", true, aHSS, aSCSCFd},
		{7, "S-CSCF", true, aSCSCF, aPCSCF}, // received at the same time: the sender's kept
		{8, "P-CSCF", true, aPCSCF, aUE},
	}
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("%v %s %v %v>%v %s", e.Time.Sub(t0), e.Node, e.Sent, e.Src, e.Dst, e.Label())
		}
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if !e.Time.Equal(t0.Add(time.Duration(w.ms)*time.Millisecond)) || e.Node != w.node || e.Sent != w.sent || e.Src != w.src || e.Dst != w.dst {
			t.Errorf("event %d: %v %s sent=%v %v>%v, want %+v", i, e.Time.Sub(t0), e.Node, e.Sent, e.Src, e.Dst, w)
		}
	}
}

func TestMergeKeepsReceiverOnlyAndRetransmissions(t *testing.T) {
	bob := netip.MustParseAddrPort("127.0.0.1:5080")
	inv := register("z9hG4bKb1", "127.0.0.1:5080")
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// baresip traces nothing: the P-CSCF's records stay. The UE sent its
	// REGISTER twice (a retransmission), the P-CSCF received both: two
	// sends remain. A pair takes the earlier of its two times (a sender may
	// record a message after the receiver has it).
	pcscf := []Event{
		{Time: at(10), Node: "P-CSCF", Protocol: "SIP", Network: "udp", Src: bob, Dst: aPCSCF, Raw: inv},
		{Time: at(1), Node: "P-CSCF", Protocol: "SIP", Network: "udp", Src: aUE, Dst: aPCSCF, Raw: []byte("x")},
		{Time: at(600), Node: "P-CSCF", Protocol: "SIP", Network: "udp", Src: aUE, Dst: aPCSCF, Raw: []byte("x")},
		{Time: at(20), Node: "P-CSCF", Protocol: "SIP", Network: "tcp", Src: aUE, Dst: aPCSCF, Raw: []byte("y")},
	}
	ue := []Event{
		{Time: at(2), Node: "UE alice", Protocol: "SIP", Sent: true, Network: "udp", Src: aUE, Dst: aPCSCF, Raw: []byte("x")},
		{Time: at(502), Node: "UE alice", Protocol: "SIP", Sent: true, Network: "udp", Src: aUE, Dst: aPCSCF, Raw: []byte("x")},
		{Time: at(21), Node: "UE alice", Protocol: "SIP", Sent: true, Network: "udp", Src: aUE, Dst: aPCSCF, Raw: []byte("y")},
	}
	got := Merge(ue, pcscf)
	var desc []string
	for _, e := range got {
		desc = append(desc, e.Time.Sub(t0).String()+" "+e.Node+" "+e.Network+" "+string(e.Raw[:1]))
	}
	want := []string{"1ms UE alice udp x", "10ms P-CSCF udp R", "20ms P-CSCF tcp y", "21ms UE alice udp y", "502ms UE alice udp x"}
	if len(desc) != len(want) {
		t.Fatalf("merged %q, want %q", desc, want)
	}
	for i := range want {
		if desc[i] != want[i] {
			t.Errorf("merged %q, want %q", desc, want)
			break
		}
	}
}
