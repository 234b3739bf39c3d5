package epc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/imslab/imslab/hss"
	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
	"github.com/imslab/imslab/internal/cardfile"
	"github.com/imslab/imslab/internal/nas/nassec"
	"github.com/imslab/imslab/sim"
	"github.com/imslab/imslab/testbed/labtest"
	"github.com/imslab/imslab/ue"
)

// The access network in process: an HSS, the EPC (MME and SGW/PGW) and
// UEs with soft SIMs that attach, send traffic through GTP-U and detach.
type epcLab struct {
	t    *testing.T
	hss  *hss.HSS
	epc  *EPC
	logs *labtest.Buffer
}

func startEPC(t *testing.T, ciphering nassec.EEA) *epcLab {
	t.Helper()
	l := &epcLab{t: t, logs: &labtest.Buffer{}}
	log := slog.New(slog.NewTextHandler(l.logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	h, err := hss.New(hss.Config{DB: filepath.Join(t.TempDir(), "hss.db"), Listen: "127.0.0.1:0", APIListen: "-", Logger: log.With("node", "HSS")})
	if err != nil {
		t.Fatal(err)
	}
	hdone := make(chan error, 1)
	go func() { hdone <- h.Run(ctx) }()
	l.hss = h
	e, err := New(Config{Listen: "127.0.0.1:0", HSS: h.Addr().String(), GTPC: "127.0.0.1:0", GTPU: "127.0.0.1:0",
		PCSCF: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Ciphering: ciphering, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	edone := make(chan error, 1)
	go func() { edone <- e.Run(ctx) }()
	if e.Addr() == nil {
		cancel()
		t.Fatalf("the EPC did not start: %v\n%s", <-edone, l.logs.String())
	}
	l.epc = e
	t.Cleanup(func() {
		cancel()
		if err := <-edone; err != nil {
			t.Errorf("EPC: %v", err)
		}
		<-hdone
		if t.Failed() {
			t.Logf("logs:\n%s", l.logs.String())
		}
	})
	return l
}

// card provisions a subscriber and returns its SIM; mutate changes the
// card before it is made (the HSS keeps the original).
func (l *epcLab) card(imsi string, mutate func(*cardfile.Card)) *sim.SoftCard {
	l.t.Helper()
	c, err := cardfile.New(cardfile.Options{IMSI: imsi, MSISDN: "+1555" + imsi[len(imsi)-7:], ISIM: true})
	if err != nil {
		l.t.Fatal(err)
	}
	sub, err := store.FromCard(c, "ims.mnc001.mcc001.3gppnetwork.org")
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.hss.Store().Add(context.Background(), sub); err != nil {
		l.t.Fatal(err)
	}
	if mutate != nil {
		mutate(c)
	}
	card, err := sim.NewSoftCard(c)
	if err != nil {
		l.t.Fatal(err)
	}
	return card
}

// With 128-EEA2: the Attach Accept, Attach Complete and Detach are ciphered.
func TestAttachTrafficDetach(t *testing.T) {
	l := startEPC(t, nassec.EEA2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := ue.Attach(ctx, ue.AttachConfig{Card: l.card("001010000000001", nil), MME: l.epc.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if !netip.MustParsePrefix("127.0.100.0/24").Contains(a.Addr) || len(a.PCSCF) != 1 || a.PCSCF[0] != netip.MustParseAddr("127.0.0.1") || a.APN != "ims" {
		t.Fatalf("attachment: address %s, P-CSCF %v, APN %q", a.Addr, a.PCSCF, a.APN)
	}
	// UDP through GTP-U: the far end sees the PGW-assigned address.
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := a.Plane.DialUDP(0, netip.MustParseAddrPort(srv.LocalAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := srv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("echo server: %q %v", buf[:n], err)
	}
	if src := netip.MustParseAddrPort(from.String()).Addr(); src != a.Addr {
		t.Errorf("the server saw %s, want the UE's address %s", src, a.Addr)
	}
	if _, err := srv.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("the UE's answer: %q %v", buf[:n], err)
	}
	s, ok := l.epc.Gateway().Session(a.Addr)
	if !ok || s.IMSI != "001010000000001" || s.Counters.UpPackets == 0 || s.Counters.DownPackets == 0 {
		t.Errorf("gateway session: %+v %v", s, ok)
	}
	if err := a.Detach(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.epc.Gateway().Session(a.Addr); ok {
		t.Error("the session outlived the detach")
	}
}

// A card ahead of the HSS resynchronises (AUTS → AIR with Re-Synchronization-
// Info); a card with another K refuses the network (MAC failure, #20).
func TestAttachResyncAndWrongK(t *testing.T) {
	l := startEPC(t, nassec.EEA0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ahead := l.card("001010000000002", func(c *cardfile.Card) {
		c.State.SEQ = make([]uint64, aka.IndSize)
		c.State.SEQ[3] = 500
	})
	a, err := ue.Attach(ctx, ue.AttachConfig{Card: ahead, MME: l.epc.Addr().String()})
	if err != nil {
		t.Fatalf("attach after resync: %v", err)
	}
	if !a.Resynchronised {
		t.Error("the card was ahead but no resynchronisation happened")
	}
	if err := a.Detach(ctx); err != nil {
		t.Fatal(err)
	}
	wrongK := l.card("001010000000003", func(c *cardfile.Card) { c.K = "00112233445566778899aabbccddeeff" })
	_, err = ue.Attach(ctx, ue.AttachConfig{Card: wrongK, MME: l.epc.Addr().String()})
	if !errors.Is(err, ue.ErrNetworkNotGenuine) {
		t.Fatalf("attach with another K: %v, want the network refused as not genuine", err)
	}
}
