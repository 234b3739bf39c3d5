package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
	"github.com/imslab/imslab/internal/freeport"
	"github.com/imslab/imslab/testbed/labtest"
)

const (
	testK   = "465b5ce8b199b49faa5f0a2ee238a6bc"
	testOPc = "cd63cb71954a9f4e48a5994e37a02baf"
	domain  = "ims.mnc001.mcc001.3gppnetwork.org"
)

// freeAddr returns a loopback address whose port is free for UDP and TCP,
// below the kernel's ephemeral range (internal/freeport).
func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := freeport.Addr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// hssProc is `imslab hss` running as a separate process.
type hssProc struct {
	cmd  *exec.Cmd
	out  *labtest.Buffer
	addr string
}

func startHSSProc(t *testing.T, db, addr string, extra ...string) *hssProc {
	t.Helper()
	p := &hssProc{out: &labtest.Buffer{}, addr: addr}
	args := append([]string{"hss", "--db", db, "--listen", addr, "--api", "-", "--allow-peer", "scscf.test"}, extra...)
	p.cmd = exec.Command(imslabBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("imslab hss output:\n%s", p.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("imslab hss did not listen on %s:\n%s", addr, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cxClient(t *testing.T, addr string) (*peer.Node, *peer.Conn) {
	t.Helper()
	n, err := peer.New(peer.Config{OriginHost: "scscf.test", OriginRealm: "test", Dict: diameter.Dictionary(),
		Apps: []peer.App{{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.Dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return n, c
}

// marSQN sends one MAR and returns the SQN of the vector, as the card
// recovers it from AUTN.
func marSQN(ctx context.Context, n *peer.Node, c *peer.Conn, card *aka.Milenage, impi, impu string, seq int) (uint64, error) {
	mk := func(name string, v datatype.Type) *diam.AVP { return diameter.AVP(diameter.AppCx, name, v) }
	m := diam.NewRequest(diameter.CmdMA, diameter.AppCx, n.Dict())
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(fmt.Sprintf("scscf.test;%d;%d", time.Now().UnixNano(), seq)))
	m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("scscf.test"))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(domain))
	m.AddAVP(mk("User-Name", datatype.UTF8String(impi)))
	m.AddAVP(mk("Public-Identity", datatype.UTF8String(impu)))
	m.AddAVP(mk("SIP-Number-Auth-Items", datatype.Unsigned32(1)))
	m.AddAVP(mk("SIP-Auth-Data-Item", diameter.Group(mk("SIP-Authentication-Scheme", datatype.UTF8String("Digest-AKAv1-MD5")))))
	m.AddAVP(mk("Server-Name", datatype.UTF8String("sip:scscf.test")))
	a, err := c.Request(ctx, m)
	if err != nil {
		return 0, err
	}
	v := diameter.Bytes(diameter.Find(a, "SIP-Auth-Data-Item", "SIP-Authenticate"))
	if len(v) != 32 {
		code, exp := peer.ResultCode(a)
		return 0, fmt.Errorf("MAA without a vector (%s)", diameter.ResultName(code, exp))
	}
	ch, err := card.VerifyAUTN(v[:16], v[16:])
	if err != nil {
		return 0, err
	}
	return ch.SQN, nil
}

// No SQN is ever handed out twice, even when the HSS process is killed with
// SIGKILL in the middle of a load of MARs: each SQN is committed before its
// answer leaves (TS 33.102 Annex C.3; "imslab hss" as a separate process).
func TestHSSNoSQNReuseAcrossKill9(t *testing.T) {
	dir := t.TempDir()
	card := filepath.Join(dir, "card.yaml")
	db := filepath.Join(dir, "hss.db")
	if _, stderr, code := run(t, nil, "sim", "new", "--out", card, "--imsi", "001010000000077", "--k", testK, "--opc", testOPc); code != 0 {
		t.Fatal(stderr)
	}
	if out, stderr, code := run(t, nil, "hss", "subscriber", "import", "--db", db, card); code != 0 {
		t.Fatalf("import: %s %s", out, stderr)
	}
	k, _ := hex.DecodeString(testK)
	opc, _ := hex.DecodeString(testOPc)
	mil, _ := aka.New(k, opc)
	impi, impu := "001010000000077@"+domain, "sip:001010000000077@"+domain
	addr := freeAddr(t)

	var mu sync.Mutex
	seen := map[uint64]int{} // SQN → run that got it
	var firstErr error
	load := func(run int, p *hssProc, kill bool) int {
		n, c := cxClient(t, addr)
		defer c.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		got := 0
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 500 && ctx.Err() == nil; i++ {
					sqn, err := marSQN(ctx, n, c, mil, impi, impu, w*1000+i)
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						return // the HSS was killed: the answer never came
					}
					mu.Lock()
					if prev, dup := seen[sqn]; dup {
						t.Errorf("SQN %s handed out twice (runs %d and %d)", aka.FormatSQN(sqn), prev, run)
					}
					seen[sqn] = run
					got++
					mu.Unlock()
				}
			}()
		}
		if kill {
			time.Sleep(300 * time.Millisecond)
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.cmd.Wait()
		}
		wg.Wait()
		return got
	}
	first := load(1, startHSSProc(t, db, addr), true)
	second := load(2, startHSSProc(t, db, addr), false)
	if first == 0 || second == 0 {
		t.Fatalf("vectors before the kill: %d, after: %d (first error: %v)", first, second, firstErr)
	}
	var maxFirst, minSecond uint64 = 0, 1 << 48
	for sqn, run := range seen {
		if run == 1 && aka.SEQ(sqn) > maxFirst {
			maxFirst = aka.SEQ(sqn)
		}
		if run == 2 && aka.SEQ(sqn) < minSecond {
			minSecond = aka.SEQ(sqn)
		}
	}
	if minSecond <= maxFirst {
		t.Fatalf("after the restart SEQ %d was handed out, not above %d from before the kill", minSecond, maxFirst)
	}
	t.Logf("%d vectors before SIGKILL (last SEQ %d), %d after the restart (first SEQ %d): all %d SQNs distinct",
		first, maxFirst, second, minSecond, len(seen))
}
