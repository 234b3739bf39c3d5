package scscf

import (
	"github.com/imslab/imslab/internal/ident"

	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imslab/imslab/internal/diameter/cx"
)

// Binding is one registered contact (RFC 3261 §10.3): one device of the
// user, keyed by its +sip.instance (RFC 5626 §4.1) or, without one, by its
// Contact URI.
type Binding struct {
	URI        string    `json:"uri"`
	Params     string    `json:"params,omitempty"` // the Contact's header parameters but expires, as received
	Instance   string    `json:"instance,omitempty"`
	RegID      string    `json:"reg_id,omitempty"`
	Path       []string  `json:"path,omitempty"` // the Path header values, in order (RFC 3327 §5.3)
	Expires    time.Time `json:"expires"`
	Registered time.Time `json:"registered"`
	CallID     string    `json:"call_id"`
	CSeq       uint32    `json:"cseq"`
	IMPI       string    `json:"impi"`      // the private identity that registered it
	Transport  string    `json:"transport"` // the P-CSCF's flow: transport and source of the REGISTER
	Source     string    `json:"source"`
	Event      string    `json:"event"` // its last reginfo event (RFC 3680 §5.1): registered, refreshed, shortened

	timerAt time.Time // its pending expiry timer
}

// key identifies the device: +sip.instance (with reg-id), else the URI.
func (b *Binding) key() string {
	if b.Instance != "" {
		return b.Instance + ";reg-id=" + b.RegID
	}
	return b.URI
}

// regSet is an implicit registration set (TS 23.228 §4.3.3.3): the public
// identities registered together, sharing their contacts.
type regSet struct {
	Key      string     `json:"key"`   // the normalized identity it was first registered with
	IMPUs    []string   `json:"impus"` // from the User-Data, the default identity first
	Barred   []string   `json:"barred,omitempty"`
	Profile  string     `json:"profile,omitempty"` // the IMSSubscription XML of the last SAA
	Contacts []*Binding `json:"contacts"`
}

func (set *regSet) contact(key string) *Binding {
	for _, b := range set.Contacts {
		if b.key() == key {
			return b
		}
	}
	return nil
}

// associated lists the non-barred identities: P-Associated-URI (TS 24.229
// §5.4.1.2.2) and the reg-event registrations.
func (set *regSet) associated() []string {
	var out []string
	for _, u := range set.IMPUs {
		if !slices.Contains(set.Barred, u) {
			out = append(out, u)
		}
	}
	return out
}

// removed is a contact that a change terminated, with the reginfo event
// that says why (RFC 3680 §5.1: unregistered, expired, deactivated, rejected).
type removed struct {
	b     *Binding
	event string
}

// registrar holds the S-CSCF's registration state.
type registrar struct {
	s     *SCSCF
	log   *slog.Logger
	state *stateFile

	mu         sync.Mutex
	sets       map[string]*regSet // by every normalized IMPU of the set
	subs       map[string]*subscription
	subsByIMPU map[string][]*subscription
	challenges map[string]*challenge // by nonce
	byIMPI     map[string][]string   // outstanding nonces of an IMPI, oldest first
	spent      map[string]string     // recently spent nonces → why
	timers     timerHeap
	wake       chan struct{}
}

func newRegistrar(s *SCSCF, st *loaded) *registrar {
	r := &registrar{s: s, log: s.log, sets: map[string]*regSet{}, subs: map[string]*subscription{},
		subsByIMPU: map[string][]*subscription{}, challenges: map[string]*challenge{}, byIMPI: map[string][]string{},
		spent: map[string]string{}, wake: make(chan struct{}, 1)}
	r.state = newStateFile(s.cfg.StateFile, s.log, r.snapshotLocked, &r.mu)
	for _, set := range st.sets {
		r.indexLocked(set)
		for _, b := range set.Contacts {
			r.scheduleContactLocked(set, b)
		}
	}
	for _, sub := range st.subs {
		r.addSubLocked(sub)
	}
	return r
}

// normIMPU is the form identities are compared in: RFC 3261 §19.1.4
// compares scheme and host without regard to case; URI parameters other than
// user=phone, headers and display names are not part of the identity.
func normIMPU(u string) string {
	u = strings.TrimSpace(u)
	if i := strings.IndexByte(u, '<'); i >= 0 {
		if j := strings.IndexByte(u[i:], '>'); j > 0 {
			u = u[i+1 : i+j]
		}
	}
	return ident.NormalizeIMPU(u)
}

// indexLocked makes every identity of the set find it.
func (r *registrar) indexLocked(set *regSet) {
	r.sets[set.Key] = set
	for _, u := range set.IMPUs {
		r.sets[normIMPU(u)] = set
	}
}

// unindexLocked forgets the set under every identity that still points to it.
func (r *registrar) unindexLocked(set *regSet) {
	for k, v := range r.sets {
		if v == set && (k == set.Key || slices.ContainsFunc(set.IMPUs, func(u string) bool { return normIMPU(u) == k })) {
			delete(r.sets, k)
		}
	}
}

// setProfileLocked installs a new implicit set and profile, re-indexing the
// identities (a PPR or SAA may change the set).
func (r *registrar) setProfileLocked(set *regSet, p *profile) {
	for _, u := range set.IMPUs {
		if k := normIMPU(u); r.sets[k] == set && k != set.Key {
			delete(r.sets, k)
		}
	}
	set.IMPUs, set.Barred, set.Profile = p.impus, p.barred, p.xml
	r.indexLocked(set)
}

// Bindings returns the current contacts registered for a public identity
// (any identity of its implicit set), or nil.
func (s *SCSCF) Bindings(impu string) []Binding {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.sets[normIMPU(impu)]
	if set == nil {
		return nil
	}
	out := make([]Binding, 0, len(set.Contacts))
	for _, b := range set.Contacts {
		c := *b
		c.Path = slices.Clone(b.Path)
		out = append(out, c)
	}
	return out
}

// AssociatedURIs returns the registered implicit set of a public identity
// (P-Associated-URI order, barred identities left out), or nil.
func (s *SCSCF) AssociatedURIs(impu string) []string {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if set := r.sets[normIMPU(impu)]; set != nil {
		return set.associated()
	}
	return nil
}

// removeContactsLocked terminates contacts of a set; when none is left the
// set is gone. It saves, and notifies the reg-event subscribers. It
// returns whether the set ended.
func (r *registrar) removeContactsLocked(set *regSet, gone []removed, now time.Time, subReason string) bool {
	for _, g := range gone {
		set.Contacts = slices.DeleteFunc(set.Contacts, func(b *Binding) bool { return b == g.b })
	}
	ended := len(set.Contacts) == 0
	if ended {
		r.unindexLocked(set)
		r.state.appendLocked(record{DelSet: set.Key})
	} else {
		r.state.appendLocked(record{Set: set})
	}
	r.notifySetLocked(set, gone, ended, subReason, now)
	return ended
}

// expireContactsLocked removes the contacts whose registration ran out
// (RFC 3261 §10.3); the last one's expiry de-registers the set at the HSS
// (SAR TIMEOUT_DEREGISTRATION, TS 24.229 §5.4.1.6).
func (r *registrar) expireContactsLocked(ctx context.Context, key string, contacts []timerEntry, now time.Time) {
	set := r.sets[key]
	if set == nil || set.Key != key {
		return
	}
	var gone []removed
	for _, ck := range contacts {
		b := set.contact(ck.sub)
		switch {
		case b == nil || !ck.at.Equal(b.timerAt) || slices.ContainsFunc(gone, func(g removed) bool { return g.b == b }):
		case b.Expires.After(now): // refreshed meanwhile
			b.timerAt = time.Time{}
			r.scheduleContactLocked(set, b)
		default:
			gone = append(gone, removed{b: b, event: "expired"})
		}
	}
	if len(gone) == 0 {
		return
	}
	impi := gone[len(gone)-1].b.IMPI
	for _, g := range gone {
		r.log.Info(fmt.Sprintf("registration expired: %s no longer reachable at %s", set.IMPUs[0], g.b.URI),
			"impi", g.b.IMPI, "impu", set.IMPUs[0], "contact", g.b.URI, "reason", "expired")
	}
	if r.removeContactsLocked(set, gone, now, "noresource") {
		r.log.Info(fmt.Sprintf("implicit set of %s de-registered: its last contact expired", set.IMPUs[0]), "impi", impi, "impu", set.IMPUs[0])
		r.s.tasks.start(func() { r.sarAfter(ctx, impi, set.IMPUs[0], cx.AssignTimeoutDereg) })
	}
}

// sarAfter tells the HSS that a set is no longer registered here.
func (r *registrar) sarAfter(ctx context.Context, impi, impu string, assign uint32) {
	c, err := r.s.hss.client(ctx)
	if err != nil {
		r.log.Warn("SAR not sent: "+err.Error(), "impi", impi, "impu", impu)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, cxTimeout)
	defer cancel()
	saa, err := c.SAR(ctx, impi, impu, r.s.cfg.Name, assign, false)
	switch {
	case err != nil:
		r.log.Warn("SAR failed: "+err.Error(), "impi", impi, "impu", impu, "type", assignName(assign))
	case !saa.OK():
		r.log.Warn("SAR refused by the HSS", "impi", impi, "impu", impu, "type", assignName(assign), "result", saa.Result.String())
	default:
		r.log.Debug("SAR done", "impi", impi, "impu", impu, "type", assignName(assign))
	}
}

func assignName(a uint32) string {
	switch a {
	case cx.AssignRegistration:
		return "REGISTRATION"
	case cx.AssignReRegistration:
		return "RE_REGISTRATION"
	case cx.AssignTimeoutDereg:
		return "TIMEOUT_DEREGISTRATION"
	case cx.AssignUserDereg:
		return "USER_DEREGISTRATION"
	case cx.AssignAdminDereg:
		return "ADMINISTRATIVE_DEREGISTRATION"
	case cx.AssignAuthFailure:
		return "AUTHENTICATION_FAILURE"
	}
	return fmt.Sprint(a)
}

// networkDeregister removes the sets of the given identities, or every set
// with a contact of impi when none is given (RTR, TS 29.228 §6.2.1,
// TS 24.229 §5.4.1.5). event is "deactivated" when the UE should register
// again, "rejected" when it should not (RFC 3680 §5.1).
func (r *registrar) networkDeregister(impi string, impus []string, event, why string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sets []*regSet
	add := func(set *regSet) {
		if set != nil && !slices.Contains(sets, set) {
			sets = append(sets, set)
		}
	}
	for _, u := range impus {
		add(r.sets[normIMPU(u)])
	}
	if len(impus) == 0 {
		for _, set := range r.sets {
			if slices.ContainsFunc(set.Contacts, func(b *Binding) bool { return b.IMPI == impi }) {
				add(set)
			}
		}
	}
	now := time.Now()
	n := 0
	for _, set := range sets {
		gone := make([]removed, 0, len(set.Contacts))
		for _, b := range set.Contacts {
			gone = append(gone, removed{b: b, event: event})
			r.log.Info(fmt.Sprintf("network-initiated de-registration: %s removed from %s (%s)", b.URI, set.IMPUs[0], why),
				"impi", b.IMPI, "impu", set.IMPUs[0], "contact", b.URI, "reason", event)
		}
		n += len(gone)
		reason := "deactivated"
		if event == "rejected" {
			reason = "rejected"
		}
		r.removeContactsLocked(set, gone, now, reason)
	}
	return n
}
