package scscf

import (
	"net"
	"strings"
	"sync"
	"testing"
)

// The S-CSCF starts before the HSS (it waits, saying so, and answers 480
// meanwhile), connects when the HSS comes, and reconnects after the HSS
// restarts.
func TestHSSWaitAndReconnect(t *testing.T) {
	l := newLab(t)
	l.stopSC()
	l.stopHSS()
	// A free address for the HSS to come to later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hssAddr := ln.Addr().String()
	ln.Close()
	l.cfg.HSS = hssAddr
	sc, err := New(l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.runSCSCF(sc)
	l.p.scscf = sc.Addr().String()
	l.waitLog("waiting for the HSS at " + hssAddr)
	u := newUE(t, aliceIMPI, aliceIMPU, true)
	if r := l.p.do(l.p.request(u, u.initialAuthz())); r.StatusCode != 480 || !strings.Contains(header(r, "Warning"), "HSS") {
		t.Errorf("REGISTER without HSS: %d %q, want 480 saying the HSS is not reachable", r.StatusCode, header(r, "Warning"))
	}
	l.startHSS(hssAddr)
	l.waitLog("connected to the HSS")
	l.mustRegister(u)

	l.stopHSS()
	l.waitLog("lost the Diameter connection to the HSS at " + hssAddr)
	l.startHSS(hssAddr)
	l.waitLogN("connected to the HSS", 2)
	l.mustRegister(u)
}

// The Trace hook sees SIP and Diameter, both ways.
func TestTrace(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	l := newLab(t, func(c *Config) {
		c.Trace = func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			dir := "in"
			if e.Out {
				dir = "out"
			}
			if len(e.Raw) == 0 || e.Local == "" || e.Remote == "" {
				t.Errorf("incomplete event %+v", e)
			}
			seen = append(seen, e.Protocol+" "+dir+" "+e.Summary)
		}
	})
	l.mustRegister(newUE(t, aliceIMPI, aliceIMPU, true))
	mu.Lock()
	all := strings.Join(seen, "\n")
	mu.Unlock()
	for _, want := range []string{"SIP in REGISTER", "SIP out SIP/2.0 401", "SIP out SIP/2.0 200", "Diameter out UAR",
		"Diameter in UAA 2001", "Diameter out MAR", "Diameter in MAA 2001", "Diameter out SAR", "Diameter in SAA 2001"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the trace:\n%s", want, all)
		}
	}
}
