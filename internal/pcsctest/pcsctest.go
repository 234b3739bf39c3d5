// Package pcsctest starts a private pcscd, owned by one test, with a vsmartcard
// vpcd virtual reader on a free loopback port, so that tests can put a virtual
// card (sim.VPCD) in a real PC/SC stack and drive it with pcsc-lite clients
// (github.com/ebfe/scard, pcsc_scan, the imslab binary).
//
// Private socket. pcscd 1.9.9 (Debian bookworm) ignores PCSCLITE_CSOCK_NAME:
// its socket is compiled in as /run/pcscd/pcscd.comm. So Start runs pcscd in
// its own mount namespace (util-linux unshare) with a directory of ours
// bind-mounted over /run/pcscd: the socket lands in SocketPath, and a system
// pcscd, if any, is neither seen nor disturbed. Clients are pointed at it with
// PCSCLITE_CSOCK_NAME, which libpcsclite (the client side) does honour, but
// reads ONCE per process, at its first use, and caches (verified with 1.9.9:
// setting it to another path afterwards changes nothing). Hence:
//   - SocketPath is the same for every daemon a test process starts (it is
//     derived from the process id), so Restart, or Stop then Start, is seen;
//   - Start sets the variable (t.Setenv) and must come before the first scard
//     call of the test binary; Start checks this and says so if not;
//   - one daemon at a time per process; child processes get it from Env.
//
// Reader name. The reader is named by FRIENDLYNAME in the reader.conf.d file,
// and pcscd appends " %02X %02X" (reader number, slot): with FRIENDLYNAME
// "Virtual PCD" (as in the Debian package's /etc/reader.conf.d/vpcd) the
// reader the card of VPCDAddr sits in is "Virtual PCD 00 00". vpcd itself
// does not care about the name. vpcd always opens two slots: "Virtual PCD 00
// 01" listens on the next port (VPCDAddr's port + 1), so Start picks two free
// ports. vpcd listens on all interfaces, not only loopback.
package pcsctest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/imslab/imslab/internal/peertest"
)

// SocketEnv is the variable libpcsclite reads for pcscd's socket path.
const SocketEnv = "PCSCLITE_CSOCK_NAME"

// FriendlyName is the FRIENDLYNAME of the vpcd reader in the private config.
const FriendlyName = "Virtual PCD"

// startTimeout bounds how long Start waits for pcscd's socket and reader.
const startTimeout = 10 * time.Second

// Daemon is a private pcscd serving one vpcd virtual reader.
type Daemon struct {
	VPCDAddr   string // "127.0.0.1:PORT": where the virtual card (sim.VPCD) connects
	SocketPath string // pcscd's socket; PCSCLITE_CSOCK_NAME for clients
	ReaderName string // the reader of VPCDAddr as PC/SC lists it: "Virtual PCD 00 00"
	Dir        string // the test's temp dir: reader.conf.d/, pcscd.log
	LogPath    string // pcscd's stdout and stderr (started with -f -d)

	t       testing.TB
	pcscd   string
	unshare string
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has been waited for
}

// Start starts a private pcscd with a vpcd reader on a free loopback port and
// stops it when the test ends. It skips the test when pcscd or the vpcd driver
// is missing, and fails it instead when the environment variable CI is set.
func Start(t testing.TB) *Daemon {
	t.Helper()
	Require(t, "pcscd", "unshare")
	pcscd, _ := peertest.LookPath("pcscd")
	unshare, _ := peertest.LookPath("unshare")
	driver := findDriver()
	if driver == "" {
		peertest.Missing(t, "libifdvpcd.so")
	}
	sock := filepath.Join(os.TempDir(), fmt.Sprintf("pcsctest-%d", os.Getpid()), "pcscd.comm")
	if _, err := os.Stat(sock); err == nil {
		t.Fatalf("pcsctest: a private pcscd of this process already runs (%s): Stop it first "+
			"(libpcsclite talks to one socket per process)", sock)
	}
	dir := t.TempDir()
	port := freePortPair(t)
	conf := filepath.Join(dir, "reader.conf.d")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	// A copy of the driver, so that pcscd's USB driver directory can be hidden
	// (see launch) while vpcd still loads.
	lib := filepath.Join(dir, "libifdvpcd.so")
	if b, err := os.ReadFile(driver); err != nil {
		t.Fatalf("pcsctest: %v", err)
	} else if err := os.WriteFile(lib, b, 0o644); err != nil {
		t.Fatalf("pcsctest: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "no-usb-drivers"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("FRIENDLYNAME %q\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s\nCHANNELID    0x%X\n",
		FriendlyName, port, lib, port)
	if err := os.WriteFile(filepath.Join(conf, "vpcd"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{
		VPCDAddr:   fmt.Sprintf("127.0.0.1:%d", port),
		SocketPath: sock,
		ReaderName: FriendlyName + " 00 00",
		Dir:        dir,
		LogPath:    filepath.Join(dir, "pcscd.log"),
		t:          t,
		pcscd:      pcscd,
		unshare:    unshare,
	}
	t.Setenv(SocketEnv, sock)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pcscd log, last lines (%s):\n%s", d.LogPath, d.LogTail(40))
		}
	})
	t.Cleanup(d.Stop)
	d.launch()
	return d
}

// Env returns the environment for a child process (pcsc_scan, imslab) that
// should talk to this pcscd.
func (d *Daemon) Env() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, SocketEnv+"=") })
	return append(env, SocketEnv+"="+d.SocketPath)
}

// Stop ends pcscd (SIGTERM to its process group, SIGKILL after 5s), waits for
// it and removes its socket directory. Stopping twice is harmless.
func (d *Daemon) Stop() {
	d.t.Helper()
	d.stop()
	if err := os.RemoveAll(filepath.Dir(d.SocketPath)); err != nil {
		d.t.Errorf("pcsctest: removing the socket directory: %v", err)
	}
}

// Restart stops pcscd and starts it again on the same port and socket, as a
// system restart of pcscd would; a virtual card must reconnect by itself.
func (d *Daemon) Restart() {
	d.t.Helper()
	d.stop()
	if f, err := os.OpenFile(d.LogPath, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		fmt.Fprintf(f, "----- pcsctest: restart at %s -----\n", time.Now().Format(time.RFC3339Nano))
		f.Close()
	}
	d.launch()
}

// LogTail returns the last n lines pcscd wrote.
func (d *Daemon) LogTail(n int) string {
	b, err := os.ReadFile(d.LogPath)
	if err != nil {
		return fmt.Sprintf("(no pcscd log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// launch starts pcscd and waits until its socket answers and lists the reader.
func (d *Daemon) launch() {
	t := d.t
	t.Helper()
	sockDir := filepath.Dir(d.SocketPath)
	if err := os.MkdirAll(sockDir, 0o755); err != nil {
		t.Fatalf("pcsctest: %v", err)
	}
	// pcscd would create /run/pcscd itself; the bind mount needs it first.
	if err := os.MkdirAll("/run/pcscd", 0o755); err != nil {
		t.Fatalf("pcsctest: /run/pcscd does not exist and cannot be created (%v): run the tests as root", err)
	}
	logf, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("pcsctest: %v", err)
	}
	args := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		args = append([]string{"--user", "--map-root-user"}, args...)
	}
	// In pcscd's own mount namespace: our directory over /run/pcscd (the
	// socket), and an empty one over the USB driver bundles, so that a reader
	// plugged into this machine stays with the system pcscd.
	const script = `set -e
mount --bind "$1" /run/pcscd
if [ -d /usr/lib/pcsc/drivers ]; then mount --bind "$4" /usr/lib/pcsc/drivers; fi
exec "$3" -f -d -c "$2"`
	args = append(args, "sh", "-c", script, "sh", sockDir, filepath.Join(d.Dir, "reader.conf.d"), d.pcscd,
		filepath.Join(d.Dir, "no-usb-drivers"))
	cmd := exec.Command(d.unshare, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("pcsctest: starting pcscd: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	d.cmd, d.done = cmd, done
	if err := d.waitReady(); err != nil {
		d.stop()
		t.Fatalf("pcsctest: %v", err) // the log tail follows, from Start's cleanup
	}
}

// waitReady waits for the socket, then for this process's libpcsclite to list
// the vpcd reader through it.
func (d *Daemon) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	var refusedSince time.Time // when the socket answered but libpcsclite did not use it
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("pcscd exited before it was ready (%v)", d.cmd.ProcessState)
		default:
		}
		if c, err := net.Dial("unix", d.SocketPath); err != nil {
			lastErr = fmt.Errorf("socket %s: %w", d.SocketPath, err)
		} else {
			c.Close()
			readers, err := listReaders()
			switch {
			case err == nil && slices.Contains(readers, d.ReaderName):
				return nil
			case err == nil:
				lastErr = fmt.Errorf("pcscd lists %q, not %q", readers, d.ReaderName)
			case errors.Is(err, scard.ErrNoService):
				if refusedSince.IsZero() {
					refusedSince = time.Now()
				}
				if time.Since(refusedSince) > time.Second {
					return fmt.Errorf("pcscd's socket %s answers, but this process's libpcsclite does not use it: "+
						"it read %s earlier (a scard call before pcsctest.Start?) and caches it for the process: %w",
						d.SocketPath, SocketEnv, err)
				}
				lastErr = fmt.Errorf("pcscd's socket %s answers, but this process's libpcsclite does not use it: "+
					"it read %s earlier (a scard call before pcsctest.Start?) and caches it for the process: %w",
					d.SocketPath, SocketEnv, err)
			default:
				lastErr = err
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("pcscd not ready after %v: %w", startTimeout, lastErr)
}

func listReaders() ([]string, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, err
	}
	defer c.Release()
	return c.ListReaders()
}

// stop ends the running pcscd, if any, and waits for it.
func (d *Daemon) stop() {
	if d.cmd == nil {
		return
	}
	pid := d.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.t.Logf("pcsctest: pcscd (pid %d) ignored SIGTERM for 5s; killing it", pid)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-d.done
	}
	d.cmd = nil
}

// Require checks that each binary is installed (peertest's rule: skip,
// or fail when CI is set).
func Require(t testing.TB, binaries ...string) {
	t.Helper()
	peertest.Require(t, binaries...)
}

// findDriver returns the path of vpcd's IFD handler, or "".
func findDriver() string {
	candidates := []string{"/usr/lib/pcsc/drivers/serial/libifdvpcd.so"}
	multi, _ := filepath.Glob("/usr/lib/*/pcsc/drivers/serial/libifdvpcd.so")
	candidates = append(candidates, multi...)
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// freePortPair returns a loopback port P with P and P+1 free (vpcd's two
// slots): P from listening on 127.0.0.1:0 and closing; vpcd binds the
// wildcard address, so both are then checked there too.
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pcsctest: no free loopback port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port+1 > 0xFFFF {
			continue
		}
		a, errA := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port))
		b, errB := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port+1))
		for _, l := range []net.Listener{a, b} {
			if l != nil {
				l.Close()
			}
		}
		if errA == nil && errB == nil {
			return port
		}
	}
	t.Fatal("pcsctest: found no two consecutive free ports")
	return 0
}
