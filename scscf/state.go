package scscf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// The state file keeps every registration set and reg-event subscription
// so that a restarted S-CSCF loses no user. It is JSON Lines: a header
// line, then records, each a whole set or subscription (or its deletion)
// that replaces what came before under its key. Every change appends one
// record and is fsynced before the 200 OK leaves (group commit: one fsync
// for the changes that came meanwhile); when the file has grown to twice
// the live state it is rewritten (temporary file, fsync, rename). A torn
// last line (a crash mid-write) is ignored on load.

const (
	stateFormat  = "imslab-scscf-state"
	stateVersion = 1
	maxStateLine = 4 << 20
)

type stateHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Written time.Time `json:"written"`
}

// record is one line of the state file.
type record struct {
	Set    *regSet       `json:"set,omitempty"`
	DelSet string        `json:"del_set,omitempty"`
	Sub    *subscription `json:"sub,omitempty"`
	DelSub string        `json:"del_sub,omitempty"`
}

// loaded is the state read at start.
type loaded struct {
	sets map[string]*regSet // by key
	subs map[string]*subscription
}

// lapsed is a set whose registration ran out while the S-CSCF was down:
// the HSS still has to hear of it (SAR TIMEOUT_DEREGISTRATION).
type lapsed struct{ impi, impu string }

// loadState reads a state file; a missing one is an empty state. Expired
// contacts and subscriptions are dropped.
func loadState(path string, now time.Time) (*loaded, []lapsed, error) {
	st := &loaded{sets: map[string]*regSet{}, subs: map[string]*subscription{}}
	if path == "" || path == "-" {
		return st, nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("scscf: reading the state file: %w", err)
	}
	defer f.Close()
	dropped, err := decodeState(f, now, st)
	if err != nil {
		return nil, nil, fmt.Errorf("scscf: state file %s: %w (move it away to start with no registration)", path, err)
	}
	return st, dropped, nil
}

// decodeState applies the records of a state file to st.
func decodeState(rd io.Reader, now time.Time, st *loaded) ([]lapsed, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), maxStateLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, nil // empty file
	}
	var h stateHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Format != stateFormat {
		return nil, errors.New("not an imslab S-CSCF state file")
	}
	if h.Version != stateVersion {
		return nil, fmt.Errorf("state format version %d, this S-CSCF reads %d", h.Version, stateVersion)
	}
	var bad error
	for line := 2; sc.Scan(); line++ {
		if bad != nil {
			return nil, bad // a bad line followed by more: corruption, not a torn end
		}
		var rec record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			bad = fmt.Errorf("line %d: %w", line, err)
			continue
		}
		switch {
		case rec.Set != nil && rec.Set.Key != "" && len(rec.Set.IMPUs) > 0:
			st.sets[rec.Set.Key] = rec.Set
		case rec.DelSet != "":
			delete(st.sets, rec.DelSet)
		case rec.Sub != nil && rec.Sub.ID != "":
			st.subs[rec.Sub.ID] = rec.Sub
		case rec.DelSub != "":
			delete(st.subs, rec.DelSub)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return nil, err
	}
	var out []lapsed
	for k, set := range st.sets {
		var keep []*Binding
		impi := ""
		for _, b := range set.Contacts {
			if b != nil && b.URI != "" {
				impi = b.IMPI
				if b.Expires.After(now) {
					keep = append(keep, b)
				}
			}
		}
		set.Contacts = keep
		if len(keep) == 0 {
			delete(st.sets, k)
			out = append(out, lapsed{impi: impi, impu: set.IMPUs[0]})
		}
	}
	for id, sub := range st.subs {
		if !sub.Expires.After(now) || sub.Target == "" || sub.RemoteTarget == "" {
			delete(st.subs, id)
		}
	}
	return out, nil
}

// stateFile appends the changes and rewrites the file when it has grown.
type stateFile struct {
	path     string
	log      *slog.Logger
	snapshot func() []record // the live state; called with regMu held
	regMu    *sync.Mutex

	mu       sync.Mutex
	pending  [][]byte
	appended uint64 // generation of the last change
	done     uint64 // generation durable on disk
	err      error
	durable  chan struct{} // closed and replaced when done advances
	kick     chan struct{}
	stopping bool
	stopped  chan struct{}
	f        *os.File
	lines    int // records in the file
	live     int // records in the last rewrite
}

func newStateFile(path string, log *slog.Logger, snapshot func() []record, regMu *sync.Mutex) *stateFile {
	if path == "-" {
		path = ""
	}
	return &stateFile{path: path, log: log, snapshot: snapshot, regMu: regMu,
		durable: make(chan struct{}), kick: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// open rewrites the file from the loaded state and opens it for appending.
func (st *stateFile) open() error {
	if st.path == "" {
		return nil
	}
	if err := st.rewrite(); err != nil {
		return fmt.Errorf("scscf: state file %s: %w (check the directory is writable, or choose another with --state)", st.path, err)
	}
	return nil
}

// appendLocked records a change; the registrar's lock is held, so records
// are in the order of the changes.
func (st *stateFile) appendLocked(rec record) {
	if st.path == "" {
		return
	}
	var buf bytes.Buffer
	if err := encoder(&buf).Encode(rec); err != nil {
		st.log.Error("state record not encoded: " + err.Error())
		return
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	st.mu.Lock()
	st.pending = append(st.pending, b)
	st.appended++
	st.mu.Unlock()
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// gen is the generation of the last change recorded.
func (st *stateFile) gen() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.appended
}

// wait blocks until the change of generation gen is on disk.
func (st *stateFile) wait(ctx context.Context, gen uint64) error {
	if st.path == "" {
		return nil
	}
	for {
		st.mu.Lock()
		if st.done >= gen || st.stopping {
			err := st.err
			st.mu.Unlock()
			return err
		}
		ch := st.durable
		st.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// run writes the changes as they come until close.
func (st *stateFile) run() {
	defer close(st.stopped)
	for {
		st.mu.Lock()
		batch, gen, stop := st.pending, st.appended, st.stopping
		st.pending = nil
		st.mu.Unlock()
		if len(batch) == 0 || st.path == "" {
			if stop {
				return
			}
			<-st.kick
			continue
		}
		err := st.write(batch)
		st.mu.Lock()
		st.lines += len(batch)
		compact := st.lines > 2*st.live+1024
		st.finishLocked(gen, err)
		st.mu.Unlock()
		if compact && err == nil {
			if err := st.rewrite(); err != nil {
				st.report(err)
			}
		}
	}
}

// finishLocked marks gen durable (or failed) and wakes the waiters.
func (st *stateFile) finishLocked(gen uint64, err error) {
	if err != nil {
		st.report(err)
	} else if st.err != nil {
		st.log.Info("state file writable again", "file", st.path)
	}
	st.err = err
	st.done = max(st.done, gen)
	close(st.durable)
	st.durable = make(chan struct{})
}

func (st *stateFile) report(err error) {
	if st.err == nil {
		st.log.Error(fmt.Sprintf("cannot write the state file %s: %v; registrations will be lost on restart until this is fixed", st.path, err))
	}
}

func (st *stateFile) write(batch [][]byte) error {
	if st.f == nil {
		return errors.New("state file not open")
	}
	var buf bytes.Buffer
	for _, b := range batch {
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := st.f.Write(buf.Bytes()); err != nil {
		return err
	}
	return st.f.Sync()
}

// rewrite replaces the file with the live state: temporary file, fsync,
// rename, fsync of the directory.
func (st *stateFile) rewrite() error {
	var buf bytes.Buffer
	h, _ := json.Marshal(stateHeader{Format: stateFormat, Version: stateVersion, Written: time.Now().UTC()})
	buf.Write(h)
	buf.WriteByte('\n')
	st.regMu.Lock()
	recs := st.snapshot()
	enc := encoder(&buf) // each record followed by a newline
	for _, rec := range recs {
		if err := enc.Encode(rec); err != nil {
			st.regMu.Unlock()
			return err
		}
	}
	st.mu.Lock()
	gen := st.appended
	st.pending = nil // the snapshot holds them
	st.mu.Unlock()
	st.regMu.Unlock()
	tmp := st.path + ".tmp"
	if err := writeSync(tmp, buf.Bytes()); err != nil {
		return err
	}
	if err := os.Rename(tmp, st.path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(st.path)); err == nil {
		d.Sync()
		d.Close()
	}
	f, err := os.OpenFile(st.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st.mu.Lock()
	if st.f != nil {
		st.f.Close()
	}
	st.f, st.lines, st.live = f, len(recs), len(recs)
	st.finishLocked(gen, nil)
	st.mu.Unlock()
	return nil
}

// encoder writes JSON as a student reads it: <sip:...> not \u003csip:...\u003e.
func encoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

func writeSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// close writes what is pending, stops the writer and closes the file.
func (st *stateFile) close() {
	st.mu.Lock()
	st.stopping = true
	st.mu.Unlock()
	select {
	case st.kick <- struct{}{}:
	default:
	}
	<-st.stopped
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.f != nil {
		st.f.Close()
		st.f = nil
	}
}

// snapshotLocked lists the live state, sets then subscriptions, by key.
func (r *registrar) snapshotLocked() []record {
	var recs []record
	for k, set := range r.sets {
		if k == set.Key {
			recs = append(recs, record{Set: set})
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Set.Key < recs[j].Set.Key })
	subs := make([]record, 0, len(r.subs))
	for _, sub := range r.subs {
		subs = append(subs, record{Sub: sub})
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].Sub.ID < subs[j].Sub.ID })
	return append(recs, subs...)
}
