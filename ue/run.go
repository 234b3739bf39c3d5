package ue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Retry delays after a refresh that failed for a reason that may pass.
const (
	retryMin = time.Second
	retryMax = time.Minute
)

// refreshIn says when to refresh a registration or subscription granted for
// d (TS 24.229 §5.1.1.4.1, §5.1.1.3): 600 s before it expires if it was
// granted for more than 1200 s, else when half of it has passed.
func refreshIn(d time.Duration) time.Duration {
	if d > 1200*time.Second {
		return d - 600*time.Second
	}
	return d / 2
}

// Run is the UE's life: boot, register, subscribe to the reg event, keep
// both refreshed and follow the network's reg-event changes until ctx
// ends, then un-subscribe, de-register and close. It returns nil after a
// clean shutdown, and an error saying why when the registration failed for
// good (refused, network not genuine, rejected by the network).
func (u *UE) Run(ctx context.Context) (err error) {
	defer func() { err = errors.Join(err, u.Close()) }()
	reg, err := u.Register(ctx)
	if err != nil {
		return err
	}
	regDue := time.Now().Add(refreshIn(reg.Expires))
	retry := retryMin
	subDue := u.subscribeOrLater(ctx)
	timer := time.NewTimer(time.Until(earliest(regDue, subDue)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return u.shutdown(ctx)
		case a := <-u.actions:
			switch {
			case a.stop != nil:
				return a.stop
			case a.reRegister:
				if !sleep(ctx, a.delay) {
					return u.shutdown(ctx)
				}
				u.dropSubscription()
				regDue, subDue = time.Now(), time.Time{}
			case a.resubscribe:
				subDue = time.Now()
			}
		case <-timer.C:
		}
		now := time.Now()
		if !regDue.IsZero() && !now.Before(regDue) {
			next, err := u.refresh(ctx)
			switch {
			case err == nil:
				regDue, retry = now.Add(next), retryMin
				if u.subscription() == nil {
					subDue = now
				}
			case ctx.Err() != nil:
				return u.shutdown(ctx)
			case permanent(err):
				return err
			default:
				if reg := u.Registration(); reg != nil && now.After(reg.At.Add(reg.Expires)) {
					u.setRegistration(nil) // lost: the next attempt is an initial registration
				}
				u.log.Warn("re-registration failed; trying again", "in", retry, "err", err)
				regDue, retry = now.Add(retry), min(2*retry, retryMax)
			}
		}
		if !subDue.IsZero() && !now.Before(subDue) && u.Registration() != nil {
			subDue = u.refreshSubscription(ctx)
		}
		timer.Reset(time.Until(earliest(regDue, subDue)))
	}
}

// refresh re-registers (TS 24.229 §5.1.1.4): a REGISTER in the same Call-ID,
// challenged and answered like the first; after the registration was lost
// it is an initial registration again. It returns when to refresh next.
func (u *UE) refresh(ctx context.Context) (time.Duration, error) {
	op, kind := opRefresh, Refreshed
	if u.Registration() == nil {
		op, kind = opRegister, Registered
	}
	reg, err := u.register(ctx, u.cfg.Expires, op)
	if err != nil {
		u.emit(Event{Kind: RegistrationFailed, Err: err, Text: err.Error()})
		return 0, err
	}
	u.setRegistration(reg)
	u.emit(Event{Kind: kind, Registration: reg, Text: fmt.Sprintf("%s of %s: %s granted", op, reg.IMPU, secs(reg.Expires))})
	return refreshIn(reg.Expires), nil
}

// subscribeOrLater subscribes to the reg event and returns when to refresh
// the subscription; after a failure, when to try again.
func (u *UE) subscribeOrLater(ctx context.Context) time.Time {
	granted, refreshAt, err := u.subscribe(ctx)
	if err != nil {
		u.emit(Event{Kind: SubscriptionFailed, Err: err, Text: err.Error()})
		return time.Now().Add(retryMax)
	}
	u.emit(Event{Kind: Subscribed, Text: fmt.Sprintf("subscribed to the reg event of %s for %s", u.impu.String(), secs(granted))})
	return refreshAt
}

// refreshSubscription refreshes the subscription in its dialog
// (TS 24.229 §5.1.1.3, RFC 6665 §4.1.2.2), or starts a new one when there is
// none or the notifier has forgotten it.
func (u *UE) refreshSubscription(ctx context.Context) time.Time {
	s := u.subscription()
	if s == nil {
		return u.subscribeOrLater(ctx)
	}
	granted, refreshAt, err := u.sendSubscribe(ctx, s, u.cfg.SubscribeExpires)
	if err != nil {
		if ctx.Err() != nil {
			return time.Time{}
		}
		u.log.Warn("reg-event subscription refresh failed: subscribing anew", "err", err)
		return u.subscribeOrLater(ctx)
	}
	u.emit(Event{Kind: Subscribed, Text: fmt.Sprintf("refreshed the reg-event subscription for %s", secs(granted))})
	return refreshAt
}

// dropSubscription forgets the subscription (the registration it was
// about has ended).
func (u *UE) dropSubscription() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sub = nil
}

func (u *UE) subscription() *subscription {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sub
}

// shutdown de-registers once Run's context has ended, with a context of
// its own (the caller's has ended).
func (u *UE) shutdown(parent context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), deregisterTimeout)
	defer cancel()
	return u.Deregister(ctx)
}

// Deregister ends the reg-event subscription and de-registers
// (TS 24.229 §5.1.1.6): REGISTER with Expires: 0 (and expires=0 on the
// contact), challenged and answered like any REGISTER. Without a
// registration it does nothing.
func (u *UE) Deregister(ctx context.Context) error {
	u.mu.Lock()
	registered := u.reg != nil
	u.deregistering = registered
	u.mu.Unlock()
	if !registered {
		return nil
	}
	defer func() {
		u.mu.Lock()
		u.deregistering = false
		u.mu.Unlock()
	}()
	if err := u.unsubscribe(ctx); err != nil {
		u.log.Warn("reg-event un-SUBSCRIBE failed", "err", err)
	}
	_, err := u.register(ctx, 0, opDeregister)
	u.setRegistration(nil)
	if err != nil {
		u.emit(Event{Kind: RegistrationFailed, Err: err, Text: err.Error()})
		return err
	}
	u.emit(Event{Kind: Deregistered, Text: "de-registered " + u.impu.String()})
	return nil
}

// permanent reports whether a registration error will not pass by trying
// again: a refusal, a forged network, a card problem.
func permanent(err error) bool {
	var ref *RefusedError
	if errors.As(err, &ref) {
		return !ref.Temporary()
	}
	return errors.Is(err, ErrNetworkNotGenuine) || errors.Is(err, ErrNetworkDeregistered)
}

// earliest returns the earlier of two times, ignoring zero ones (a time a
// day ahead when both are zero).
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero() && b.IsZero():
		return time.Now().Add(24 * time.Hour)
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
