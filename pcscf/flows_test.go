package pcscf

import (
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func uri(t *testing.T, s string) sip.Uri {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

func addrs(t *testing.T, ss ...string) []nameAddr {
	t.Helper()
	var out []nameAddr
	for _, s := range ss {
		out = append(out, nameAddr{URI: uri(t, s)})
	}
	return out
}

func TestFlowTable(t *testing.T) {
	now := time.Now()
	ft := newFlowTable()
	key := FlowKey{Transport: "udp", Addr: netip.MustParseAddrPort("127.0.0.1:5062")}
	c1 := contact{uri: uri(t, "sip:alice@127.0.0.1:5062"), expires: now.Add(time.Minute)}

	ft.keepKeys(key, akaKeys{impi: "alice@d", ck: "c", ik: "i", at: now})
	f := ft.update(key, "alice@d", "sip:alice@d", addrs(t, "sip:alice@d", "tel:+1"), addrs(t, "sip:orig@s;lr"), []contact{c1}, false, now)
	if f == nil || f.keys == nil || f.keys.ck != "c" {
		t.Fatalf("first registration: %+v", f)
	}
	// A second registration (another AOR) on the same flow: its identities
	// are added after the first ones, the default stays.
	c2 := contact{uri: uri(t, "sip:alice2@127.0.0.1:5062"), expires: now.Add(2 * time.Minute)}
	ft.update(key, "", "sip:work@d", addrs(t, "sip:work@d"), addrs(t, "sip:orig2@s;lr"), []contact{c2}, false, now)
	f = ft.get(key, now)
	ids, bs := f.identities()
	if len(ids) != 3 || identityKey(ids[0].URI) != "sip:alice@d" || identityKey(ids[2].URI) != "sip:work@d" || f.impi != "alice@d" {
		t.Fatalf("identities %v, impi %q", uris(ids), f.impi)
	}
	if bs[2].serviceRoute[0].URI.User != "orig2" {
		t.Error("the second registration lost its Service-Route")
	}
	if _, _, ok := f.owns(uri(t, "tel:+1")); !ok {
		t.Error("tel identity not owned")
	}
	if k, recent, ok := ft.byContact(uri(t, "sip:alice@127.0.0.1:5062;transport=udp"), now); !ok || recent || k != key {
		t.Error("contact lookup failed")
	}
	// Refresh of the first AOR keeps its place (and the default identity).
	ft.update(key, "alice@d", "sip:alice@d", nil, nil, []contact{{uri: c1.uri, expires: now.Add(time.Hour)}}, false, now)
	f = ft.get(key, now)
	if ids, _ := f.identities(); identityKey(ids[0].URI) != "sip:alice@d" {
		t.Errorf("default identity after refresh: %v", uris(ids))
	}
	// Expiry of the second contact removes the second registration only.
	dead := ft.expire(now.Add(3 * time.Minute))
	if len(dead) != 0 {
		t.Fatalf("flow died with a live registration")
	}
	if ids, _ := ft.get(key, now.Add(3*time.Minute)).identities(); len(ids) != 2 {
		t.Errorf("identities after partial expiry: %v", uris(ids))
	}
	if _, recent, ok := ft.byContact(c2.uri, now.Add(3*time.Minute)); !ok || !recent {
		t.Error("an expired contact is not remembered for in-dialog requests")
	}
	if _, _, ok := ft.byContact(c2.uri, now.Add(3*time.Minute+linger)); ok {
		t.Error("an expired contact is remembered too long")
	}
	// Contact: * removes everything of the AOR.
	if f := ft.update(key, "", "sip:alice@d", nil, nil, nil, true, now); f != nil {
		t.Errorf("flow after Contact: *: %+v", f)
	}
	if got := ft.snapshot(now); len(got) != 0 {
		t.Errorf("snapshot %+v", got)
	}
}

func TestPendingKeysExpire(t *testing.T) {
	now := time.Now()
	ft := newFlowTable()
	key := FlowKey{Transport: "tcp", Addr: netip.MustParseAddrPort("[::1]:40000")}
	ft.keepKeys(key, akaKeys{ck: "c", at: now})
	ft.expire(now.Add(keysTTL + time.Second))
	if len(ft.pending) != 0 {
		t.Error("keys of an unanswered challenge kept forever")
	}
}

func TestIdentityKey(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"sip:alice@EXAMPLE.com;user=phone", "sips:alice@example.com"},
		{"sip:%61lice@example.com", "sip:alice@example.com"},
		{"tel:+1-555-0001;phone-context=x", "tel:+15550001"},
		{"sip:alice@[::1]", "sip:alice@[::1];transport=tcp"},
	} {
		if ka, kb := identityKey(uri(t, c.a)), identityKey(uri(t, c.b)); ka != kb {
			t.Errorf("%s and %s differ: %s, %s", c.a, c.b, ka, kb)
		}
	}
	for _, c := range []struct{ a, b string }{
		{"sip:Alice@example.com", "sip:alice@example.com"},
		{"sip:alice@example.com:5070", "sip:alice@example.com"},
		{"tel:+15550001", "tel:+15550002"},
	} {
		if identityKey(uri(t, c.a)) == identityKey(uri(t, c.b)) {
			t.Errorf("%s and %s are the same identity", c.a, c.b)
		}
	}
}
