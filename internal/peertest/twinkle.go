package peertest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Twinkle is twinkle-console (Debian package twinkle-console) run by a test
// with one profile, fed commands on its standard input (../shared/PEERS.md).
// Twinkle registers with AKAv1-MD5 given K (as auth_pass, raw bytes), OP and
// AMF; it does not check MAC or SQN and never sends AUTS.
type Twinkle struct {
	Home    string
	SIPPort int

	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *os.File
	done  chan struct{}
}

// TwinkleConfig is the profile's content.
type TwinkleConfig struct {
	User, Domain, AuthName string // user_name, user_domain (also the realm), auth_name (the IMPI)
	Password               string // auth_pass: for AKA, K as up to 16 printable bytes
	AKAOP, AKAAMF          string // hex; empty for SIP Digest
	Proxy                  string // outbound proxy HOST:PORT (no "sip:")
	Expires                int
}

// StartTwinkle starts twinkle-console with the profile; the test's cleanup
// quits it.
func StartTwinkle(t testing.TB, cfg TwinkleConfig) *Twinkle {
	t.Helper()
	Require(t, "twinkle-console")
	home := t.TempDir()
	tw := &Twinkle{Home: home, t: t, done: make(chan struct{}), SIPPort: freePort(t)}
	dir := filepath.Join(home, ".twinkle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if cfg.Expires == 0 {
		cfg.Expires = 600
	}
	profile := []string{
		"user_name=" + cfg.User, "user_domain=" + cfg.Domain, "auth_realm=" + cfg.Domain,
		"auth_name=" + cfg.AuthName, "auth_pass=" + cfg.Password,
		"outbound_proxy=" + cfg.Proxy, "all_requests_to_proxy=yes", "non_resolvable_to_proxy=yes",
		"registrar=", "register_at_startup=yes", fmt.Sprintf("registration_time=%d", cfg.Expires),
	}
	if cfg.AKAOP != "" {
		profile = append(profile, "auth_aka_op="+cfg.AKAOP, "auth_aka_amf="+cfg.AKAAMF)
	}
	sys := []string{"dev_ringtone=alsa:null", "dev_speaker=alsa:null", "dev_mic=alsa:null", "validate_audio_dev=no",
		"log_show_sip=yes", fmt.Sprintf("sip_port=%d", tw.SIPPort), fmt.Sprintf("rtp_port=%d", freePort(t)),
		"play_ringtone=no", "play_ringback=no"}
	if err := os.WriteFile(filepath.Join(dir, "imslab.cfg"), []byte(strings.Join(profile, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "twinkle.sys"), []byte(strings.Join(sys, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(home, "twinkle.log"))
	if err != nil {
		t.Fatal(err)
	}
	tw.out = out
	tw.cmd = exec.Command("twinkle-console", "imslab.cfg")
	tw.cmd.Env = append(os.Environ(), "HOME="+home)
	tw.cmd.Stdout, tw.cmd.Stderr = out, out
	tw.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if tw.stdin, err = tw.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := tw.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { tw.cmd.Wait(); close(tw.done) }()
	t.Cleanup(tw.Stop)
	return tw
}

// Log returns what twinkle printed (with log_show_sip, its SIP messages).
func (tw *Twinkle) Log() string {
	b, _ := os.ReadFile(filepath.Join(tw.Home, "twinkle.log"))
	return string(b)
}

// WaitLog waits until the output contains s and returns the line holding it.
func (tw *Twinkle) WaitLog(s string, timeout time.Duration) string {
	tw.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(tw.Log(), "\n") {
			if strings.Contains(line, s) {
				return line
			}
		}
		select {
		case <-tw.done:
			tw.t.Fatalf("twinkle exited before printing %q:\n%s", s, tw.Log())
		default:
		}
		if time.Now().After(deadline) {
			tw.t.Fatalf("twinkle: no %q within %s:\n%s", s, timeout, tw.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Send types a command at twinkle's prompt.
func (tw *Twinkle) Send(command string) {
	tw.t.Helper()
	if _, err := io.WriteString(tw.stdin, command+"\n"); err != nil {
		tw.t.Fatalf("twinkle: %v", err)
	}
}

// Stop quits twinkle (which de-registers), then kills it after 5 s.
func (tw *Twinkle) Stop() {
	select {
	case <-tw.done:
	default:
		io.WriteString(tw.stdin, "quit\n")
		tw.stdin.Close()
		select {
		case <-tw.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-tw.cmd.Process.Pid, syscall.SIGKILL)
			<-tw.done
		}
	}
	tw.out.Close()
}
