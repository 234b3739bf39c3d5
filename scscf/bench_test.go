package scscf

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

// A full IMS-AKA registration through the S-CSCF: two REGISTER
// transactions, UAR twice, MAR, SAR, with the HSS in process and the
// state file fsynced.
func BenchmarkRegisterAKA(b *testing.B) {
	l := newLab(b)
	u := newUE(b, aliceIMPI, aliceIMPU, true)
	for b.Loop() {
		l.mustRegister(u)
	}
}

// Memory the S-CSCF keeps per registered user: an implicit set of three
// identities with its profile, one contact with Path, the indexes and the
// expiry timer.
func BenchmarkMemoryPerUser(b *testing.B) {
	const users = 100000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := &SCSCF{cfg: Config{StateFile: "-", AuthTimeout: time.Minute}, log: slog.New(slog.DiscardHandler)}
		r := newRegistrar(s, &loaded{sets: map[string]*regSet{}, subs: map[string]*subscription{}})
		now := time.Now()
		for i := range users {
			fillUser(r, i, now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/users, "B/user")
		runtime.KeepAlive(r)
	}
}

func fillUser(r *registrar, i int, now time.Time) {
	imsi := fmt.Sprintf("0010100%08d", i)
	impus := []string{"sip:" + imsi + "@" + domain, fmt.Sprintf("sip:+1555%07d@%s", i, domain), fmt.Sprintf("tel:+1555%07d", i)}
	profile := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<IMSSubscription>
  <PrivateID>%s@%s</PrivateID>
  <ServiceProfile>
    <PublicIdentity>
      <Identity>%s</Identity>
    </PublicIdentity>
    <PublicIdentity>
      <Identity>%s</Identity>
    </PublicIdentity>
    <PublicIdentity>
      <Identity>%s</Identity>
    </PublicIdentity>
  </ServiceProfile>
</IMSSubscription>`, imsi, domain, impus[0], impus[1], impus[2])
	p, err := parseUserData(profile)
	if err != nil {
		panic(err)
	}
	set := &regSet{Key: normIMPU(impus[0])}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setProfileLocked(set, p)
	b := &Binding{URI: fmt.Sprintf("sip:%s@10.%d.%d.%d:5060", imsi, i>>16&255, i>>8&255, i&255),
		Params:   fmt.Sprintf(`+sip.instance="<urn:gsma:imei:35209900-%06d-0>";+g.3gpp.icsi-ref="urn%%3Aurn-7%%3A3gpp-service.ims.icsi.mmtel"`, i),
		Instance: fmt.Sprintf("<urn:gsma:imei:35209900-%06d-0>", i), Path: []string{"<sip:term@127.0.0.1:5060;lr>"},
		Expires: now.Add(600000 * time.Second), Registered: now, CallID: fmt.Sprintf("%d-reg@10.0.0.1", i), CSeq: 2,
		IMPI: imsi + "@" + domain, Transport: "UDP", Source: "127.0.0.1:5060", Event: "registered"}
	set.Contacts = append(set.Contacts, b)
	r.scheduleContactLocked(set, b)
}

// The same without the state file: what its fsync costs.
func BenchmarkRegisterAKANoState(b *testing.B) {
	l := newLab(b, func(c *Config) { c.StateFile = "-" })
	u := newUE(b, aliceIMPI, aliceIMPU, true)
	for b.Loop() {
		l.mustRegister(u)
	}
}
