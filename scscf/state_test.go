package scscf

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testSet(key string, exp time.Time) *regSet {
	return &regSet{Key: key, IMPUs: []string{key}, Contacts: []*Binding{{URI: "sip:ue@192.0.2.1", Expires: exp, IMPI: "impi@x"}}}
}

// The state file: appended changes are durable once wait returns, a
// reload sees the last version of each set, expired contacts are dropped
// (and reported for SAR), the file is rewritten when it grows.
func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	now := time.Now()
	var mu sync.Mutex
	live := map[string]*regSet{}
	snap := func() []record {
		var recs []record
		for _, s := range live {
			recs = append(recs, record{Set: s})
		}
		return recs
	}
	st := newStateFile(path, slog.New(slog.DiscardHandler), snap, &mu)
	if err := st.open(); err != nil {
		t.Fatal(err)
	}
	go st.run()
	put := func(s *regSet) uint64 {
		mu.Lock()
		defer mu.Unlock()
		live[s.Key] = s
		st.appendLocked(record{Set: s})
		return st.gen()
	}
	for i := range 3000 { // enough to trigger a rewrite
		put(testSet(fmt.Sprintf("sip:u%d@x", i%10), now.Add(time.Duration(i)*time.Second)))
	}
	put(testSet("sip:gone@x", now.Add(-time.Second)))
	mu.Lock()
	delete(live, "sip:u9@x")
	st.appendLocked(record{DelSet: "sip:u9@x"})
	gen := st.gen()
	mu.Unlock()
	if err := st.wait(context.Background(), gen); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if n := strings.Count(string(raw), "\n"); n > 2100 {
		t.Errorf("the file has %d lines after 3000 changes to 11 sets: not rewritten", n)
	}
	st.close()

	got, lapsedSets, err := loadState(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.sets) != 9 || got.sets["sip:u9@x"] != nil || got.sets["sip:gone@x"] != nil {
		t.Errorf("reloaded %d sets: %v", len(got.sets), got.sets)
	}
	if s := got.sets["sip:u3@x"]; s == nil || !s.Contacts[0].Expires.Equal(now.Add(2993*time.Second)) {
		t.Errorf("sip:u3@x is not its last version: %+v", s)
	}
	if len(lapsedSets) != 1 || lapsedSets[0].impu != "sip:gone@x" || lapsedSets[0].impi != "impi@x" {
		t.Errorf("lapsed %v", lapsedSets)
	}
}

// A crash mid-append leaves a torn last line: ignored. Garbage in the
// middle, or a file that is not ours, is an error that says what to do.
func TestStateFileDamage(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	head := `{"format":"imslab-scscf-state","version":1}` + "\n"
	good := `{"set":{"key":"sip:a@x","impus":["sip:a@x"],"contacts":[{"uri":"sip:ue@y","expires":"` + now.Add(time.Hour).Format(time.RFC3339Nano) + `"}]}}` + "\n"
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	st, _, err := loadState(write("torn", head+good+`{"set":{"key":"sip:b@x","imp`), now)
	if err != nil || len(st.sets) != 1 {
		t.Errorf("torn last line: %v, %d sets", err, len(st.sets))
	}
	if _, _, err := loadState(write("middle", head+"garbage\n"+good), now); err == nil {
		t.Error("garbage in the middle accepted")
	}
	if _, _, err := loadState(write("other", `{"hello":1}`+"\n"), now); err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Errorf("foreign file: %v", err)
	}
	if st, _, err := loadState(filepath.Join(dir, "missing"), now); err != nil || len(st.sets) != 0 {
		t.Errorf("missing file: %v", err)
	}
}

// The state file is read at start: whatever it holds, loading never panics.
func FuzzDecodeState(f *testing.F) {
	head := `{"format":"imslab-scscf-state","version":1}` + "\n"
	f.Add(head + `{"set":{"key":"sip:a@x","impus":["sip:a@x"],"contacts":[{"uri":"sip:ue@y","expires":"2999-01-01T00:00:00Z"}]}}`)
	f.Add(head + `{"sub":{"id":"1","target":"sip:a@x","remote_target":"sip:ue@y","expires":"2999-01-01T00:00:00Z"}}` + "\n" + `{"del_sub":"1"}`)
	f.Add(head + `{"set":{"key":"k","impus":[],"contacts":[null]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		st := &loaded{sets: map[string]*regSet{}, subs: map[string]*subscription{}}
		if _, err := decodeState(strings.NewReader(s), time.Now(), st); err != nil {
			return
		}
		for _, set := range st.sets {
			if len(set.IMPUs) == 0 || len(set.Contacts) == 0 {
				t.Fatalf("loaded an unusable set %+v", set)
			}
		}
	})
}
