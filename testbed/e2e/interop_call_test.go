package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imslab/imslab/internal/media"
	"github.com/imslab/imslab/internal/peertest"
)

// toneWAV writes seconds of a sine tone as an 8 kHz mono 16-bit WAV file
// (what baresip's aufile plays).
func toneWAV(t *testing.T, path string, hz float64, seconds int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := media.WriteWAV(f, media.NewTone(hz, 0.3).Samples(seconds*media.ClockRate)); err != nil {
		t.Fatal(err)
	}
}

// heard reports whether a WAV recording holds a tone.
func heard(t *testing.T, path string, hz float64) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, err := media.ReadWAV(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return len(pcm) > media.ClockRate/2 && media.DetectTone(pcm, hz)
}

// softphoneLab starts a lab with a SIM subscriber (its card file) and a
// softphone user whose SIP Digest identity is sip:USER@domain (password
// "secret"), registered with baresip playing a 440 Hz tone; extra are
// more account parameters (media encryption, codecs, answer mode).
func softphoneLab(t *testing.T, simIMSI, simMSISDN, softIMSI, user, extra string) (dir string, l *lab, simCard string, b *peertest.Baresip) {
	t.Helper()
	peertest.Require(t, "baresip")
	dir = t.TempDir()
	simCard = card(t, dir, "sim", simIMSI, simMSISDN, "--isim")
	soft := card(t, dir, user, softIMSI, "+1555"+softIMSI[len(softIMSI)-7:])
	l = startLab(t, simCard, soft)
	if out, stderr, code := run(t, nil, "hss", "subscriber", "update", "--db", l.db, softIMSI,
		"--digest-impi", user+"@"+domain, "--password", "secret", "--digest-impu", "sip:"+user+"@"+domain); code != 0 {
		t.Fatalf("update: %s %s", out, stderr)
	}
	wav := filepath.Join(dir, "tone440.wav")
	toneWAV(t, wav, 440, 60)
	b = peertest.StartBaresip(t, peertest.BaresipConfig{AudioSource: wav,
		Account: "<sip:" + user + "@" + domain + ">;auth_user=" + user + "@" + domain + ";auth_pass=secret;outbound=\"sip:" + l.pcscf +
			"\";regint=600;" + extra})
	b.WaitRegistered(user+"@"+domain, 15*time.Second)
	return dir, l, simCard, b
}

// Interop with a softphone nobody here wrote: baresip, registered through
// the P-CSCF with SIP Digest as Carol (another user than the SIM's), with
// SDES-SRTP mandatory (RTP/SAVP, RFC 4568). An imslab UE with a SIM calls
// it and baresip calls the UE; each side hears the other's tone, checked
// from what each recorded after decrypting.
func TestInteropBaresipSRTPCalls(t *testing.T) {
	dir, l, alice, b := softphoneLab(t, "001010000000061", "+15550061", "001010000000062", "carol",
		"mediaenc=srtp-mand;audio_codecs=PCMU,PCMA;answermode=auto")

	// The SIM phone calls baresip.
	rec := filepath.Join(dir, "alice-heard.wav")
	out, stderr, code := run(t, nil, "ue", "call", "--card", alice, "--pcscf", l.pcscf, "--to", "sip:carol@"+domain,
		"--duration", "3s", "--tone", "1000", "--expect-tone", "440", "--record", rec, "--json")
	if code != 0 {
		t.Fatalf("ue call → baresip: exit %d\n%s\n%s\nbaresip:\n%s", code, out, stderr, b.Log())
	}
	r := parseResult(t, out)
	if !r.Media.SRTP || !r.Media.ToneHeard || r.Media.PacketsReceived < 100 {
		t.Errorf("imslab UE → baresip: %+v", r)
	}
	t.Logf("imslab UE → baresip: %s, %s, %d packets received, lost %d", r.Media.Codec, r.Media.Suite, r.Media.PacketsReceived, r.Media.Lost)
	if !heard(t, rec, 440) {
		t.Error("the UE's recording does not hold baresip's 440 Hz tone")
	}
	b.WaitEvent("CALL_CLOSED", 10*time.Second)
	dumps, _ := filepath.Glob(filepath.Join(b.Dir, "dump-*-dec.wav"))
	if len(dumps) == 0 {
		t.Fatalf("baresip recorded nothing (sndfile); files: %v", dumps)
	}
	if !heard(t, dumps[0], 1000) {
		t.Errorf("baresip's decrypted recording %s does not hold the UE's 1000 Hz tone", dumps[0])
	}

	// baresip calls the SIM phone.
	ans := start(t, "imslab ue answer", nil, "ue", "answer", "--card", alice, "--pcscf", l.pcscf, "--rings", "1",
		"--ring-period", "300ms", "--tone", "1000", "--expect-tone", "440", "--calls", "1", "--json")
	ans.WaitOutput(t, "waiting for calls", 15*time.Second)
	b.Command("dial", "sip:+15550061@"+domain+";user=phone")
	b.WaitEvent("CALL_ESTABLISHED", 15*time.Second)
	time.Sleep(3 * time.Second)
	b.Command("hangup", "")
	ans.WaitOutput(t, `"direction": "incoming"`, 10*time.Second)
	a := parseResult(t, ans.Output())
	if !a.Media.SRTP || !a.Media.ToneHeard || a.Media.PacketsReceived < 100 || a.EndedBy != "remote" {
		t.Errorf("baresip → imslab UE: %+v\n%s", a, ans.Output())
	}
	t.Logf("baresip → imslab UE: %s, %s, %d packets received, lost %d", a.Media.Codec, a.Media.Suite, a.Media.PacketsReceived, a.Media.Lost)
	// baresip says which SRTP suite it negotiated (its media encryption event).
	if menc := b.WaitEvent("CALL_MENC", time.Second); !strings.Contains(strings.ToUpper(fmt.Sprint(menc)), "AES") {
		t.Errorf("baresip's media encryption event: %v", menc)
	}
}

// A softphone that offers no SRTP (RTP/AVP): the SIM phone refuses it with
// 488 unless it is configured to fall back to plain RTP (--allow-rtp).
func TestInteropBaresipPlainRTPFallback(t *testing.T) {
	_, l, alice, b := softphoneLab(t, "001010000000063", "+15550063", "001010000000064", "dan", "audio_codecs=PCMU")

	strict := start(t, "imslab ue answer (SRTP required)", nil, "ue", "answer", "--card", alice, "--pcscf", l.pcscf, "--rings", "0")
	strict.WaitOutput(t, "waiting for calls", 15*time.Second)
	b.Command("dial", "sip:+15550063@"+domain+";user=phone")
	b.WaitLog(10*time.Second, "488")
	strict.WaitOutput(t, "refused", 5*time.Second)
	strict.Stop(t)

	lax := start(t, "imslab ue answer --allow-rtp", nil, "ue", "answer", "--card", alice, "--pcscf", l.pcscf, "--rings", "0",
		"--allow-rtp", "--expect-tone", "440", "--calls", "1", "--json")
	lax.WaitOutput(t, "waiting for calls", 15*time.Second)
	b.Command("dial", "sip:+15550063@"+domain+";user=phone")
	b.WaitEvent("CALL_ESTABLISHED", 15*time.Second)
	time.Sleep(2 * time.Second)
	b.Command("hangup", "")
	lax.WaitOutput(t, `"direction": "incoming"`, 10*time.Second)
	r := parseResult(t, lax.Output())
	if r.Media.SRTP || !r.Media.ToneHeard || r.Media.PacketsReceived < 50 {
		t.Errorf("plain RTP fallback: %+v\n%s", r, lax.Output())
	}
}
