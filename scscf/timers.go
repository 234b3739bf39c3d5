package scscf

import (
	"container/heap"
	"context"
	"time"
)

// What a timer ends: a contact's registration (RFC 3261 §10.3), a
// challenge's reg-await-auth (TS 24.229 §5.4.1.2.1), the memory of a spent
// nonce, or a reg-event subscription (RFC 6665 §4.2.2).
type timerKind uint8

const (
	timerContact timerKind = iota
	timerChallenge
	timerSpent
	timerSub
)

// timerEntry is one deadline. Entries are never removed early: when one
// fires, its owner is checked (a refreshed contact has a later deadline and
// its own entry).
type timerEntry struct {
	at   time.Time
	kind timerKind
	key  string // set key, nonce, or subscription id
	sub  string // contact key for timerContact
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// schedule adds a deadline; r.mu is held.
func (r *registrar) schedule(e timerEntry) {
	earliest := len(r.timers) == 0 || e.at.Before(r.timers[0].at)
	heap.Push(&r.timers, e)
	if earliest {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// scheduleContactLocked makes sure a contact's expiry has a timer: one
// per contact, at the earliest; a refresh that pushes the expiry later
// is seen when that timer fires (the heap does not grow with refreshes).
func (r *registrar) scheduleContactLocked(set *regSet, b *Binding) {
	if b.timerAt.IsZero() || b.Expires.Before(b.timerAt) {
		b.timerAt = b.Expires
		r.schedule(timerEntry{at: b.Expires, kind: timerContact, key: set.Key, sub: b.key()})
	}
}

// scheduleSubLocked is the same for a subscription's expiry.
func (r *registrar) scheduleSubLocked(sub *subscription) {
	if sub.timerAt.IsZero() || sub.Expires.Before(sub.timerAt) {
		sub.timerAt = sub.Expires
		r.schedule(timerEntry{at: sub.Expires, kind: timerSub, key: sub.ID})
	}
}

// runTimers fires the deadlines as they come until ctx ends.
func (r *registrar) runTimers(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		r.mu.Lock()
		now := time.Now()
		var due []timerEntry
		for len(r.timers) > 0 && !r.timers[0].at.After(now) {
			due = append(due, heap.Pop(&r.timers).(timerEntry))
		}
		if len(due) > 0 {
			r.fireLocked(ctx, due, now)
		}
		wait := time.Hour
		if len(r.timers) > 0 {
			wait = time.Until(r.timers[0].at)
		}
		r.mu.Unlock()
		t.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

// fireLocked handles the deadlines that passed; r.mu is held.
func (r *registrar) fireLocked(ctx context.Context, due []timerEntry, now time.Time) {
	expired := map[string][]timerEntry{} // by set key
	for _, e := range due {
		switch e.kind {
		case timerContact:
			expired[e.key] = append(expired[e.key], e)
		case timerChallenge:
			if c, ok := r.challenges[e.key]; ok && !c.expires.After(now) {
				r.dropChallengeLocked(c, "expired: reg-await-auth ran out before the UE answered")
			}
		case timerSpent:
			delete(r.spent, e.key)
		case timerSub:
			sub, ok := r.subs[e.key]
			switch {
			case !ok || !e.at.Equal(sub.timerAt):
			case sub.Expires.After(now): // refreshed meanwhile
				sub.timerAt = time.Time{}
				r.scheduleSubLocked(sub)
			default:
				r.log.Info("reg-event subscription expired", "subscriber", sub.Subscriber, "impu", sub.Target, "call_id", sub.CallID)
				r.endSubscriptionLocked(sub, "timeout", now)
			}
		}
	}
	for key, contacts := range expired {
		r.expireContactsLocked(ctx, key, contacts, now)
	}
}
