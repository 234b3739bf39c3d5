package peertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/imslab/imslab/internal/freeport"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Baresip is a baresip (Debian package baresip) run by a test, controlled
// over its ctrl_tcp module (netstring-framed JSON), as ../shared/PEERS.md
// describes.
type Baresip struct {
	Dir      string // config directory (config, accounts, logs, recordings)
	SIPAddr  string // where it listens for SIP
	CtrlAddr string

	t      testing.TB
	cmd    *exec.Cmd
	log    *os.File
	mu     sync.Mutex
	events []map[string]any
	notify chan struct{}
	conn   net.Conn
	done   chan struct{}
}

// BaresipConfig configures a baresip.
type BaresipConfig struct {
	// Account is the accounts line, e.g.
	// `<sip:alice@DOMAIN>;auth_pass=secret;outbound="sip:127.0.0.1:5060";regint=600`.
	Account string
	// AudioSource is a WAV file (8 kHz mono 16-bit) played in calls; "" for silence.
	AudioSource string
}

// freePort returns a loopback port free for UDP and TCP, below the
// kernel's ephemeral range (internal/freeport).
func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// StartBaresip starts baresip with the account and waits until its control
// port answers; the test's cleanup stops it.
func StartBaresip(t testing.TB, cfg BaresipConfig) *Baresip {
	t.Helper()
	Require(t, "baresip")
	dir := t.TempDir()
	b := &Baresip{Dir: dir, t: t, notify: make(chan struct{}, 1), done: make(chan struct{})}
	b.SIPAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	b.CtrlAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	rtp := freePort(t)
	source := "aufile," + cfg.AudioSource
	if cfg.AudioSource == "" {
		source = "aubridge,nil"
	}
	conf := strings.Join([]string{
		"poll_method poll",
		"sip_listen " + b.SIPAddr,
		"sip_transports udp",
		"net_interface 127.0.0.1",
		"audio_player aubridge,nil",
		"audio_alert aubridge,nil",
		"audio_source " + source,
		fmt.Sprintf("rtp_ports %d-%d", rtp, rtp+9),
		"module_path /usr/lib/baresip/modules",
		"module g711.so", "module aufile.so", "module aubridge.so", "module srtp.so", "module sndfile.so",
		"module ctrl_tcp.so", "module_app account.so", "module_app menu.so",
		"ctrl_tcp_listen " + b.CtrlAddr,
		"snd_path " + dir,
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(cfg.Account+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "baresip.log"))
	if err != nil {
		t.Fatal(err)
	}
	b.log = logf
	b.cmd = exec.Command("baresip", "-f", dir, "-s")
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	b.cmd.Stdin = nil
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(b.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", b.CtrlAddr)
		if err == nil {
			b.conn = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip's control port %s does not answer:\n%s", b.CtrlAddr, b.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	go b.read()
	return b
}

// read collects the events baresip sends (netstrings "LEN:JSON,").
func (b *Baresip) read() {
	r := bufio.NewReader(b.conn)
	for {
		lenStr, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenStr[:len(lenStr)-1]))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		buf := make([]byte, n+1)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var ev map[string]any
		if json.Unmarshal(buf[:n], &ev) != nil {
			continue
		}
		b.mu.Lock()
		b.events = append(b.events, ev)
		b.mu.Unlock()
		select {
		case b.notify <- struct{}{}:
		default:
		}
	}
}

// WaitEvent waits for an event of that type (e.g. "REGISTER_OK",
// "CALL_ESTABLISHED") and returns it; it fails the test on timeout.
func (b *Baresip) WaitEvent(typ string, timeout time.Duration) map[string]any {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	seen := 0
	for {
		b.mu.Lock()
		for ; seen < len(b.events); seen++ {
			if b.events[seen]["type"] == typ {
				ev := b.events[seen]
				b.mu.Unlock()
				return ev
			}
		}
		b.mu.Unlock()
		select {
		case <-b.notify:
		case <-ctx.Done():
			b.t.Fatalf("baresip: no %s within %s; events %v\nlog:\n%s", typ, timeout, b.Events(), b.Log())
			return nil
		}
	}
}

// WaitLog waits until baresip's log (its console and, with -s, SIP trace)
// contains all the substrings on one line, and returns that line.
func (b *Baresip) WaitLog(timeout time.Duration, subs ...string) string {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(b.Log(), "\n") {
			all := true
			for _, s := range subs {
				all = all && strings.Contains(line, s)
			}
			if all {
				return line
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("baresip: no line with %q within %s; log:\n%s", subs, timeout, b.Log())
			return ""
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitRegistered waits for baresip's report that aor registered (its
// console prints "<aor>: {0/UDP/v4} 200 OK ... [N binding]"). Registration
// happens at start-up, before the control connection is up, so the
// REGISTER_OK event cannot be relied on.
func (b *Baresip) WaitRegistered(aor string, timeout time.Duration) string {
	b.t.Helper()
	return b.WaitLog(timeout, aor+": {", " 200 OK")
}

// Events returns the types of the events seen so far.
func (b *Baresip) Events() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		out = append(out, fmt.Sprint(e["type"]))
	}
	return out
}

// Command sends a command over ctrl_tcp (e.g. "dial", "sip:bob@...").
func (b *Baresip) Command(command, params string) {
	b.t.Helper()
	js, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": "t"})
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(js), js); err != nil {
		b.t.Fatalf("baresip command %s: %v", command, err)
	}
}

// Log returns what baresip printed (with -s, its SIP trace).
func (b *Baresip) Log() string {
	out, _ := os.ReadFile(filepath.Join(b.Dir, "baresip.log"))
	return string(out)
}

// Stop ends baresip: SIGTERM twice (the first only starts its graceful
// unregistration), then SIGKILL after 5 s.
func (b *Baresip) Stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	select {
	case <-b.done:
	default:
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(2 * time.Second):
			syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-b.done:
			case <-time.After(3 * time.Second):
				syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
				<-b.done
			}
		}
	}
	if b.conn != nil {
		b.conn.Close()
	}
	b.log.Close()
}
