package keystore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults of AutoRotator.
const (
	DefaultRenewBefore   = 14 * 24 * time.Hour
	DefaultCheckInterval = time.Hour
	DefaultMinBackoff    = time.Minute
	DefaultMaxBackoff    = time.Hour
)

// AutoRotator renews a client's key through a Rotator when its remaining lifetime falls below
// RenewBefore. Each process picks its own moment within Jitter of that, so a fleet does not
// rotate at once; when the Store is a Locker, one process at a time rotates and the others
// find the new key in the store (with a Watcher). Under a lock that lapses on its own
// (ExpiringLocker) a rotation is cut short at the lock's LockHold. Failed rotations are retried
// with a doubling backoff, counted from the last check that found nothing due (this process's
// rotation or another's), and OnEvent hears of every check, rotation and failure, with an
// ExpiryWarning once the key is within WarnBefore of expiry and rotation keeps failing. Set
// its fields, then call Start; Close stops it.
type AutoRotator struct {
	// Rotator runs the protocol; its Store, Authenticator and Registrar are required. Its
	// BeforeRegister is set by Start.
	Rotator *Rotator
	// Client, when set, signs with the pending key as a fallback from the moment it is stored
	// and with the new key from the moment it is promoted (see helseid.Client.SetKeys).
	Client KeySetter
	// RenewBefore is the remaining lifetime under which the key is renewed:
	// DefaultRenewBefore (14 days) when zero. A key of unknown expiration is renewed at once.
	RenewBefore time.Duration
	// Jitter spreads the fleet: each process renews up to Jitter earlier than RenewBefore,
	// at random. Zero means RenewBefore/10.
	Jitter time.Duration
	// CheckInterval between checks of the key's lifetime: DefaultCheckInterval when zero.
	CheckInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed rotation, doubled per failure:
	// one minute and one hour when zero.
	MinBackoff, MaxBackoff time.Duration
	// WarnBefore is the remaining lifetime under which a failed rotation also sends an
	// ExpiryWarning: RenewBefore/2 when zero. A key of unknown expiration is warned about on
	// every failure.
	WarnBefore time.Duration
	// FleetDelay is waited between storing the pending key and registering it, so that every
	// Watcher of the fleet has read it before HelseID may drop the old key: set it to at
	// least 1.5 × the Watchers' Interval (a Watcher reads once per Interval, and its read or
	// a slow Save may straddle the moment). Zero means no wait (one process). With an
	// ExpiringLocker it must be shorter than LockHold, with room for the rest of a rotation.
	FleetDelay time.Duration
	// Now is the clock that times the key's lifetime; nil means time.Now.
	Now func() time.Time
	// OnEvent is told of checks, rotations and failures; nil means nobody. It must not block.
	OnEvent func(Event)

	mu       sync.Mutex // guards cancel and done
	cancel   context.CancelFunc
	done     chan struct{}
	kid      string    // key renewAt was drawn for
	renewAt  time.Time // this process's moment to renew kid
	failures int
}

// Start checks the key at once and then every CheckInterval (or backoff) until Close.
func (a *AutoRotator) Start(ctx context.Context) error {
	if a.Rotator == nil || a.Rotator.Store == nil || a.Rotator.Authenticator == nil || a.Rotator.Registrar == nil {
		return errors.New("keystore: AutoRotator needs a Rotator with a Store, an Authenticator and a Registrar")
	}
	if el, ok := a.Rotator.Store.(ExpiringLocker); ok && a.FleetDelay >= el.LockHold() {
		return fmt.Errorf("keystore: FleetDelay %s does not fit in the store's lock hold %s: a rotation would never finish under the lock", a.FleetDelay, el.LockHold())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done != nil {
		return errors.New("keystore: AutoRotator already started")
	}
	a.Rotator.BeforeRegister = a.beforeRegister
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel, a.done = cancel, make(chan struct{})
	go a.loop(bg)
	return nil
}

// Close stops the rotator and waits for it; a rotation under way is cancelled, which leaves
// at worst a pending key for the next Resolve or rotation to settle.
func (a *AutoRotator) Close() error {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.mu.Unlock()
	if done != nil {
		cancel()
		<-done
	}
	return nil
}

func (a *AutoRotator) loop(ctx context.Context) {
	defer close(a.done)
	wait := time.Duration(0)
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = a.check(ctx)
	}
}

func (a *AutoRotator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// check looks at the key, rotates it when due, and returns the wait until the next check.
func (a *AutoRotator) check(ctx context.Context) time.Duration {
	interval := orDefault(a.CheckInterval, DefaultCheckInterval)
	keys, err := a.Rotator.Store.Load(ctx)
	if err != nil {
		return a.failed(ctx, &Keys{}, fmt.Errorf("keystore: read the store: %w", err))
	}
	now := a.now()
	a.emit(lifetime(Event{Kind: KeyLifetime, KeyID: keys.Current.KeyID()}, keys.Expires, now))
	if !a.due(keys, now) {
		a.failures = 0 // another process rotated, or nothing is due: a failure is not "in a row" any more
		return interval
	}
	rctx := ctx // the rotation's; failures are reported against ctx, which only Close ends
	if l, ok := a.Rotator.Store.(Locker); ok {
		asked := time.Now() // real time, as the lock's lifetime runs: not a.Now
		unlock, err := l.TryLock(ctx)
		if errors.Is(err, ErrLocked) {
			a.emit(Event{Kind: RotationLocked, KeyID: keys.Current.KeyID()})
			return interval
		}
		if err != nil {
			return a.failed(ctx, keys, err)
		}
		defer unlock()
		if el, ok := l.(ExpiringLocker); ok {
			// Done before the lock lapses, so no other process rotates meanwhile.
			var cancel context.CancelFunc
			rctx, cancel = context.WithDeadline(ctx, asked.Add(el.LockHold()))
			defer cancel()
		}
		// Another process may have rotated between our read and the lock.
		locked, err := a.Rotator.Store.Load(rctx)
		if err != nil {
			return a.failed(ctx, keys, fmt.Errorf("keystore: read the store: %w", err))
		}
		keys = locked
		if !a.due(keys, now) {
			a.failures = 0
			a.setKeys(keys)
			return interval
		}
	}
	rotated, err := a.Rotator.rotateLocked(rctx)
	if err != nil {
		if rotated != nil {
			a.setKeys(rotated)
		}
		return a.failed(ctx, keys, err)
	}
	a.failures = 0
	a.setKeys(rotated)
	a.emit(lifetime(Event{Kind: Rotated, KeyID: rotated.Current.KeyID()}, rotated.Expires, a.now()))
	return interval
}

// lifetime sets e's Expires and Left, or ExpiryUnknown when expires is zero (a zero time's
// distance from now would be the smallest Duration, some -106,752 days).
func lifetime(e Event, expires, now time.Time) Event {
	e.Expires = expires
	if expires.IsZero() {
		e.ExpiryUnknown = true
		return e
	}
	e.Left = expires.Sub(now)
	return e
}

// due reports whether keys need a rotation at now: a pending key to settle, an unknown
// expiration, or this process's jittered moment reached.
func (a *AutoRotator) due(keys *Keys, now time.Time) bool {
	if keys.Pending != nil || keys.Expires.IsZero() {
		return true
	}
	return !now.Before(a.renewTime(keys.Current.KeyID(), keys.Expires))
}

// renewTime returns this process's moment to renew the key kid, drawn once per key.
func (a *AutoRotator) renewTime(kid string, expires time.Time) time.Time {
	if kid != a.kid {
		renew := orDefault(a.RenewBefore, DefaultRenewBefore)
		jitter := orDefault(a.Jitter, renew/10)
		a.kid = kid
		a.renewAt = expires.Add(-renew - rand.N(jitter))
	}
	return a.renewAt
}

func (a *AutoRotator) failed(ctx context.Context, keys *Keys, err error) time.Duration {
	if ctx.Err() != nil {
		return 0 // closing
	}
	a.failures++
	wait := orDefault(a.MinBackoff, DefaultMinBackoff)
	maxWait := orDefault(a.MaxBackoff, DefaultMaxBackoff)
	for i := 1; i < a.failures && wait < maxWait; i++ {
		wait *= 2
	}
	wait = min(wait, maxWait)
	e := Event{Kind: RotationFailed, Attempt: a.failures, Wait: wait, Err: err}
	if keys.Current == nil { // the store could not be read: nothing is known of the key
		a.emit(e)
		return wait
	}
	e.KeyID = keys.Current.KeyID()
	e = lifetime(e, keys.Expires, a.now())
	a.emit(e)
	// A key of unknown expiration may be the one about to expire: warn as for a close one.
	warn := orDefault(a.WarnBefore, orDefault(a.RenewBefore, DefaultRenewBefore)/2)
	if e.ExpiryUnknown || e.Left < warn {
		e.Kind, e.Wait = ExpiryWarning, 0
		a.emit(e)
	}
	return wait
}

func (a *AutoRotator) beforeRegister(ctx context.Context, keys *Keys) error {
	a.setKeys(keys)
	if a.FleetDelay <= 0 {
		return nil
	}
	t := time.NewTimer(a.FleetDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (a *AutoRotator) setKeys(keys *Keys) {
	if a.Client != nil && keys.Current != nil {
		// A key the client cannot take was already refused by NewClient; nothing to add here.
		_ = a.Client.SetKeys(keys.Current, keys.Pending)
	}
}

func (a *AutoRotator) emit(e Event) {
	if a.OnEvent != nil {
		a.OnEvent(e)
	}
}
