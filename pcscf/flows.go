package pcscf

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// FlowKey identifies a UE's flow: the transport and the source address and
// port its requests come from. The P-CSCF records it at registration (TS
// 24.229 §5.2.2.1) and reaches the UE back the same way (§5.2.7): a lab UE
// without NAT listens where it sends from; a TCP flow is the connection.
type FlowKey struct {
	Transport string // "udp" or "tcp"
	Addr      netip.AddrPort
}

func (k FlowKey) String() string { return k.Transport + ":" + k.Addr.String() }

// Flow is a snapshot of one registered flow.
type Flow struct {
	Key  FlowKey
	IMPI string // Authorization username of the REGISTER
	// IMPUs are the registered public user identities (P-Associated-URI
	// of each registration on the flow); IMPUs[0] is the default one.
	IMPUs []string
	// ServiceRoute is the Service-Route of the first registration.
	ServiceRoute []string
	Contacts     []Contact
	// HasKeys tells whether the CK/IK of the last AKA challenge are kept
	// for the flow (for a future IPsec security association, TS 33.203 §7).
	HasKeys bool
}

// Contact is one registered contact and when it expires.
type Contact struct {
	URI     string
	Expires time.Time
}

const (
	// linger keeps the address of a de-registered contact for in-dialog
	// requests that follow (the final reg-event NOTIFY): 64*T1.
	linger = 32 * time.Second
	// keysTTL bounds how long CK/IK of an unanswered challenge are kept.
	keysTTL = 5 * time.Minute
	// maxPending bounds the challenges kept while waiting for the 200.
	maxPending = 100000
)

// flowTable holds the registered flows. Bindings are immutable once
// stored: an update replaces them, so a copied flow is a safe snapshot.
type flowTable struct {
	mu      sync.Mutex
	flows   map[FlowKey]*flow
	contact map[string]FlowKey  // contactKey → flow
	gone    map[string]goneFlow // contactKey → flow, after de-registration
	pending map[FlowKey]akaKeys // CK/IK of a 401, until the 200
}

type flow struct {
	key      FlowKey
	impi     string
	bindings []*binding // in registration order
	keys     *akaKeys
}

// binding is one registration on a flow: the REGISTER's To (the AOR), its
// registered identities, Service-Route and the flow's contacts for it.
type binding struct {
	aor          string
	impus        []nameAddr
	serviceRoute []nameAddr
	contacts     []contact
}

type contact struct {
	uri     sip.Uri
	expires time.Time
}

type akaKeys struct {
	impi, nonce, ck, ik string
	at                  time.Time
}

type goneFlow struct {
	key   FlowKey
	until time.Time
}

func newFlowTable() *flowTable {
	return &flowTable{flows: map[FlowKey]*flow{}, contact: map[string]FlowKey{},
		gone: map[string]goneFlow{}, pending: map[FlowKey]akaKeys{}}
}

// update applies a 200 OK to REGISTER for the flow (TS 24.229 §5.2.2.1):
// contacts with an expiry not after now are removed, the others added or
// refreshed; removeAll drops every contact of the AOR (Contact: *). It
// returns the flow after the update, nil if nothing is registered on it
// any more.
func (t *flowTable) update(key FlowKey, impi, aor string, impus, serviceRoute []nameAddr, contacts []contact, removeAll bool, now time.Time) *flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.flows[key]
	f := &flow{key: key, impi: impi}
	if old != nil {
		f.keys = old.keys
		if impi == "" {
			f.impi = old.impi
		}
	}
	var prev *binding
	if old != nil {
		for _, b := range old.bindings {
			if b.aor == aor {
				prev = b
			} else {
				f.bindings = append(f.bindings, b)
			}
		}
	}
	nb := &binding{aor: aor, impus: impus, serviceRoute: serviceRoute}
	if prev != nil && len(impus) == 0 {
		nb.impus = prev.impus
	}
	if prev != nil && len(serviceRoute) == 0 {
		nb.serviceRoute = prev.serviceRoute
	}
	if prev != nil && !removeAll {
		nb.contacts = prev.contacts
	}
	for _, c := range contacts {
		nb.contacts = mergeContact(nb.contacts, c, now)
	}
	nb.contacts = live(nb.contacts, now)
	if len(nb.contacts) > 0 {
		// Keep the first registration first: its IMPU is the default.
		f.bindings = insertBinding(f.bindings, nb, old, aor)
	}
	if k, ok := t.pending[key]; ok && len(f.bindings) > 0 {
		f.keys = &k
		delete(t.pending, key)
	}
	t.reindex(old, f, now)
	if len(f.bindings) == 0 {
		delete(t.flows, key)
		return nil
	}
	t.flows[key] = f
	return f.clone()
}

// insertBinding puts nb where the AOR was before, or last.
func insertBinding(bs []*binding, nb *binding, old *flow, aor string) []*binding {
	if old != nil {
		for i, b := range old.bindings {
			if b.aor == aor && i <= len(bs) {
				return append(bs[:i:i], append([]*binding{nb}, bs[i:]...)...)
			}
		}
	}
	return append(bs, nb)
}

func mergeContact(cs []contact, c contact, now time.Time) []contact {
	k := contactKey(c.uri)
	out := make([]contact, 0, len(cs)+1)
	for _, x := range cs {
		if contactKey(x.uri) != k {
			out = append(out, x)
		}
	}
	if c.expires.After(now) {
		out = append(out, c)
	}
	return out
}

func live(cs []contact, now time.Time) []contact {
	var out []contact
	for _, c := range cs {
		if c.expires.After(now) {
			out = append(out, c)
		}
	}
	return out
}

// reindex updates the contact index from the old flow to the new one; the
// contacts that left are remembered for a while in gone.
func (t *flowTable) reindex(old, f *flow, now time.Time) {
	cur := map[string]bool{}
	for _, b := range f.bindings {
		for _, c := range b.contacts {
			k := contactKey(c.uri)
			cur[k] = true
			t.contact[k] = f.key
			delete(t.gone, k)
		}
	}
	if old == nil {
		return
	}
	for _, b := range old.bindings {
		for _, c := range b.contacts {
			k := contactKey(c.uri)
			if !cur[k] && t.contact[k] == f.key {
				delete(t.contact, k)
				t.gone[k] = goneFlow{key: f.key, until: now.Add(linger)}
			}
		}
	}
}

// get returns a snapshot of the flow if something is registered on it.
func (t *flowTable) get(key FlowKey, now time.Time) *flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.flows[key]
	if f == nil || !f.live(now) {
		return nil
	}
	return f.clone()
}

// byContact finds the flow a contact was registered from; recent tells
// that the contact was de-registered less than linger ago.
func (t *flowTable) byContact(u sip.Uri, now time.Time) (key FlowKey, recent, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := contactKey(u)
	if fk, ok := t.contact[k]; ok {
		if f := t.flows[fk]; f != nil && f.hasContact(k, now) {
			return fk, false, true
		}
	}
	if g, ok := t.gone[k]; ok && now.Before(g.until) {
		return g.key, true, true
	}
	return FlowKey{}, false, false
}

// keepKeys binds the CK/IK of a challenge to the flow until the 200.
func (t *flowTable) keepKeys(key FlowKey, k akaKeys) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.pending[key]; !ok && len(t.pending) >= maxPending {
		return false
	}
	t.pending[key] = k
	return true
}

// expire removes what expired at now and returns the flows that lost
// every registration.
func (t *flowTable) expire(now time.Time) []*flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	var dead []*flow
	for key, f := range t.flows {
		if f.live(now) && f.allLive(now) {
			continue
		}
		nf := &flow{key: key, impi: f.impi, keys: f.keys}
		for _, b := range f.bindings {
			nb := *b
			nb.contacts = live(b.contacts, now)
			if len(nb.contacts) > 0 {
				nf.bindings = append(nf.bindings, &nb)
			}
		}
		t.reindex(f, nf, now)
		if len(nf.bindings) == 0 {
			delete(t.flows, key)
			dead = append(dead, f.clone())
		} else {
			t.flows[key] = nf
		}
	}
	for k, g := range t.gone {
		if !now.Before(g.until) {
			delete(t.gone, k)
		}
	}
	for k, p := range t.pending {
		if now.Sub(p.at) > keysTTL {
			delete(t.pending, k)
		}
	}
	return dead
}

// snapshot lists the registered flows, ordered by key.
func (t *flowTable) snapshot(now time.Time) []Flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Flow, 0, len(t.flows))
	for _, f := range t.flows {
		if f.live(now) {
			out = append(out, f.public(now))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	return out
}

func (f *flow) clone() *flow {
	c := *f
	c.bindings = append([]*binding(nil), f.bindings...)
	return &c
}

func (f *flow) live(now time.Time) bool {
	for _, b := range f.bindings {
		if len(live(b.contacts, now)) > 0 {
			return true
		}
	}
	return false
}

func (f *flow) allLive(now time.Time) bool {
	for _, b := range f.bindings {
		if len(live(b.contacts, now)) != len(b.contacts) {
			return false
		}
	}
	return true
}

func (f *flow) hasContact(k string, now time.Time) bool {
	for _, b := range f.bindings {
		for _, c := range b.contacts {
			if contactKey(c.uri) == k && c.expires.After(now) {
				return true
			}
		}
	}
	return false
}

// identities lists the flow's registered public user identities, the
// default one first, each with the registration it belongs to.
func (f *flow) identities() ([]nameAddr, []*binding) {
	var ids []nameAddr
	var bs []*binding
	seen := map[string]bool{}
	for _, b := range f.bindings {
		for _, id := range b.impus {
			if k := identityKey(id.URI); !seen[k] {
				seen[k] = true
				ids = append(ids, id)
				bs = append(bs, b)
			}
		}
	}
	return ids, bs
}

// owns finds a registered identity equal to u.
func (f *flow) owns(u sip.Uri) (nameAddr, *binding, bool) {
	ids, bs := f.identities()
	k := identityKey(u)
	for i, id := range ids {
		if identityKey(id.URI) == k {
			return id, bs[i], true
		}
	}
	return nameAddr{}, nil, false
}

func (f *flow) public(now time.Time) Flow {
	p := Flow{Key: f.key, IMPI: f.impi, HasKeys: f.keys != nil}
	ids, _ := f.identities()
	for _, id := range ids {
		p.IMPUs = append(p.IMPUs, id.URI.String())
	}
	if len(f.bindings) > 0 {
		for _, r := range f.bindings[0].serviceRoute {
			p.ServiceRoute = append(p.ServiceRoute, r.String())
		}
	}
	for _, b := range f.bindings {
		for _, c := range live(b.contacts, now) {
			p.Contacts = append(p.Contacts, Contact{URI: c.uri.String(), Expires: c.expires})
		}
	}
	return p
}
