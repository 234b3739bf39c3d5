package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// callResult is what `imslab ue call --json` prints.
type callResult struct {
	Direction string `json:"direction"`
	Peer      string `json:"peer"`
	Setup     int64  `json:"setup"`
	EndedBy   string `json:"ended_by"`
	Reason    string `json:"reason"`
	Media     struct {
		Codec           string  `json:"Codec"`
		SRTP            bool    `json:"SRTP"`
		Suite           string  `json:"Suite"`
		PacketsSent     uint64  `json:"packets_sent"`
		PacketsReceived uint64  `json:"packets_received"`
		Lost            int64   `json:"packets_lost"`
		ToneHeard       bool    `json:"tone_heard"`
		AudioSeconds    float64 `json:"audio_seconds"`
	} `json:"media"`
}

// parseResult reads the JSON result a ue command printed last.
func parseResult(t *testing.T, out string) callResult {
	t.Helper()
	i := strings.LastIndex(out, "\n{")
	if i < 0 {
		t.Fatalf("no JSON result in:\n%s", out)
	}
	j := strings.Index(out[i:], "\n}")
	if j < 0 {
		t.Fatalf("unterminated JSON result in:\n%s", out)
	}
	var r callResult
	if err := json.Unmarshal([]byte(out[i+1:i+j+2]), &r); err != nil {
		t.Fatalf("result %q: %v", out[i+1:i+j+2], err)
	}
	return r
}

// Calls with every service its own process (imslab hss, scscf, pcscf) and
// every phone an `imslab ue answer` or `imslab ue call` process: a basic
// call forked to two devices, busy, no answer, caller cancels, callee
// unknown or not registered, BYE from the callee.
func TestCallsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	phone := card(t, dir, "phone", "001010000000051", "+15550051", "--isim")
	tablet := card(t, dir, "tablet", "001010000000051", "+15550051", "--isim")
	bob := card(t, dir, "bob", "001010000000052", "+15550052")
	carol := card(t, dir, "carol", "001010000000053", "+15550053")
	dave := card(t, dir, "dave", "001010000000054", "+15550054")
	erin := card(t, dir, "erin", "001010000000055", "+15550055")
	frank := card(t, dir, "frank", "001010000000056", "+15550056")
	l := startLabWith(t, []string{"--no-answer", "2s"}, phone, bob, carol, dave, erin, frank)

	answer := func(name, cardPath string, args ...string) *proc {
		p := start(t, "imslab ue answer ("+name+")", nil, append([]string{"ue", "answer", "--card", cardPath, "--pcscf", l.pcscf, "--json"}, args...)...)
		p.WaitOutput(t, "waiting for calls", 15*time.Second)
		return p
	}
	alice := answer("alice phone", phone, "--rings", "1", "--ring-period", "300ms", "--tone", "1000", "--expect-tone", "440")
	aliceTab := answer("alice tablet", tablet, "--mode", "never")
	answer("carol", carol, "--mode", "busy")
	daveP := answer("dave", dave, "--mode", "never")
	answer("frank", frank, "--hangup-after", "1s", "--rings", "0")

	call := func(to string, args ...string) (string, int) {
		t.Helper()
		out, stderr, code := run(t, nil, append([]string{"ue", "call", "--card", bob, "--pcscf", l.pcscf, "--to", to, "--json"}, args...)...)
		return out + stderr, code
	}

	t.Run("forked to two devices, answered by one, SRTP both ways", func(t *testing.T) {
		out, code := call("tel:+15550051", "--duration", "2s", "--tone", "440", "--expect-tone", "1000")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		r := parseResult(t, out)
		if !r.Media.SRTP || r.Media.PacketsReceived < 80 || r.Media.Lost > 0 || !r.Media.ToneHeard || r.EndedBy != "local" {
			t.Errorf("caller's result: %+v", r)
		}
		alice.WaitOutput(t, `"direction": "incoming"`, 5*time.Second)
		if a := parseResult(t, alice.Output()); !a.Media.ToneHeard || a.EndedBy != "remote" || a.Media.PacketsReceived < 80 {
			t.Errorf("Alice's result: %+v", a)
		}
		aliceTab.WaitOutput(t, "cancelled by the caller", 5*time.Second)
	})
	t.Run("busy", func(t *testing.T) {
		if out, code := call("tel:+15550053"); code != 5 || !strings.Contains(out, "486 Busy Here") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		out, code := call("sip:+15550054@"+domain+";user=phone", "--ring-timeout", "20s")
		if code != 5 || !strings.Contains(out, "408") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		out, code := call("tel:+15550054", "--ring-timeout", "1s")
		if code != 5 || !strings.Contains(out, "487") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		daveP.WaitOutput(t, "cancelled by the caller", 5*time.Second)
	})
	t.Run("callee unknown", func(t *testing.T) {
		if out, code := call("tel:+15559999"); code != 5 || !strings.Contains(out, "404 Not Found") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("callee not registered", func(t *testing.T) {
		if out, code := call("tel:+15550055"); code != 5 || !strings.Contains(out, "480") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("callee hangs up", func(t *testing.T) {
		out, code := call("tel:+15550056", "--duration", "15s")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if r := parseResult(t, out); r.EndedBy != "remote" || r.Media.PacketsReceived == 0 {
			t.Errorf("caller's result: %+v", r)
		}
	})
}
