// Package lab runs a whole IMS core in one process, on loopback port 0:
// an HSS (SQLite in a directory), an S-CSCF and a P-CSCF, and makes SIM
// cards provisioned in its HSS. Tests and the load tool use it; `imslab
// demo` runs the same services as separate processes instead.
package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/imslab/imslab/hss"
	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/cardfile"
	"github.com/imslab/imslab/pcscf"
	"github.com/imslab/imslab/scscf"
	"github.com/imslab/imslab/sim"
)

// Domain is the lab's home domain (PLMN 001/01, TS 23.003 §13.2).
const Domain = "ims.mnc001.mcc001.3gppnetwork.org"

// Options configure a Lab. Dir is required.
type Options struct {
	Dir    string // the HSS database and the S-CSCF state go here
	Logger *slog.Logger
	// SCSCF, PCSCF and HSS, when set, adjust a service's configuration
	// before it starts (addresses are the lab's).
	SCSCF func(*scscf.Config)
	PCSCF func(*pcscf.Config)
	HSS   func(*hss.Config)
}

// Lab is a running core.
type Lab struct {
	HSS   *hss.HSS
	SCSCF *scscf.SCSCF
	PCSCF *pcscf.PCSCF

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// Start starts the HSS, the S-CSCF (connected to the HSS) and the P-CSCF.
// Close stops them.
func Start(ctx context.Context, o Options) (*Lab, error) {
	if o.Dir == "" {
		return nil, errors.New("lab: Options.Dir is required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &Lab{cancel: cancel}
	hc := hss.Config{DB: filepath.Join(o.Dir, "hss.db"), Listen: "127.0.0.1:0", APIListen: "-", Logger: log.With("service", "hss")}
	if o.HSS != nil {
		o.HSS(&hc)
	}
	h, err := hss.New(hc)
	if err != nil {
		cancel()
		return nil, err
	}
	l.run("HSS", func() error { return h.Run(ctx) })
	l.HSS = h
	if h.Addr() == nil {
		return nil, l.fail("the HSS did not start")
	}
	sc := scscf.Config{Listen: "127.0.0.1:0", HSS: h.Addr().String(), StateFile: filepath.Join(o.Dir, "scscf.json"),
		Logger: log.With("service", "scscf")}
	if o.SCSCF != nil {
		o.SCSCF(&sc)
	}
	s, err := scscf.New(sc)
	if err != nil {
		return nil, l.fail(err.Error())
	}
	l.run("S-CSCF", func() error { return s.Run(ctx) })
	l.SCSCF = s
	if s.Addr() == nil {
		return nil, l.fail("the S-CSCF did not start")
	}
	pc := pcscf.Config{Listen: "127.0.0.1:0", SCSCF: s.Addr().String(), Logger: log.With("service", "pcscf")}
	if o.PCSCF != nil {
		o.PCSCF(&pc)
	}
	p, err := pcscf.New(pc)
	if err != nil {
		return nil, l.fail(err.Error())
	}
	l.run("P-CSCF", func() error { return p.Run(ctx) })
	l.PCSCF = p
	if p.Addr() == nil {
		return nil, l.fail("the P-CSCF did not start")
	}
	return l, nil
}

func (l *Lab) run(name string, f func() error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := f(); err != nil {
			l.mu.Lock()
			l.errs = append(l.errs, fmt.Errorf("%s: %w", name, err))
			l.mu.Unlock()
		}
	}()
}

func (l *Lab) fail(why string) error {
	err := l.Close()
	return errors.Join(fmt.Errorf("lab: %s", why), err)
}

// PCSCFAddr is where UEs send (UDP and TCP).
func (l *Lab) PCSCFAddr() string { return l.PCSCF.Addr().String() }

// AddSIM makes a software card (USIM + ISIM when isim) for imsi and msisdn
// ("+1555..." or ""), provisions it in the HSS and returns it opened.
func (l *Lab) AddSIM(ctx context.Context, imsi, msisdn string, isim bool) (*sim.SoftCard, error) {
	c, err := l.AddCard(ctx, imsi, msisdn, isim)
	if err != nil {
		return nil, err
	}
	return sim.NewSoftCard(c)
}

// AddCard is AddSIM's card description, for several devices of one
// subscription (sim.NewSoftCard each: one SQN memory per card).
func (l *Lab) AddCard(ctx context.Context, imsi, msisdn string, isim bool) (*cardfile.Card, error) {
	c, err := cardfile.New(cardfile.Options{IMSI: imsi, MSISDN: msisdn, ISIM: isim})
	if err != nil {
		return nil, err
	}
	sub, err := store.FromCard(c, Domain)
	if err != nil {
		return nil, err
	}
	if err := l.HSS.Store().Add(ctx, sub); err != nil {
		return nil, fmt.Errorf("lab: provisioning %s: %w", imsi, err)
	}
	return c, nil
}

// AddDigest provisions a SIP Digest user (a softphone without SIM, TS
// 33.203 Annex N): IMPI user@Domain, IMPU sip:user@Domain, password.
func (l *Lab) AddDigest(ctx context.Context, imsi, user, password string) error {
	sub := &store.Subscriber{IMSI: imsi, Domain: Domain, K: make([]byte, 16), OPc: make([]byte, 16), AMF: store.DefaultAMF}
	sub.AddPrivate(store.PrivateID{IMPI: user + "@" + Domain, Scheme: store.SchemeDigest, Password: password,
		IMPUs: []string{"sip:" + user + "@" + Domain}})
	if err := sub.Validate(); err != nil {
		return err
	}
	return l.HSS.Store().Add(ctx, sub)
}

// Close stops every service and returns what failed.
func (l *Lab) Close() error {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}
