package keystore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/keystore"
)

// leaseStore is a memStore whose lock lapses on its own (a keystore.ExpiringLocker) and that
// remembers when it was last locked.
type leaseStore struct {
	memStore
	hold   time.Duration
	lockMu sync.Mutex
	locked time.Time
}

func (s *leaseStore) TryLock(context.Context) (func(), error) {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	s.locked = time.Now()
	return func() {}, nil
}

func (s *leaseStore) LockHold() time.Duration { return s.hold }

func (s *leaseStore) lockedAt() time.Time {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	return s.locked
}

// A rotation under a lock that lapses on its own is cut short at the lock's hold, so that no
// second process can rotate while it still does; the new key stays pending, and the rotator
// reports the failure and goes on.
func TestAutoRotatorEndsWithinTheLockHold(t *testing.T) {
	ctx := context.Background()
	current := generate(t, "ES256")
	store := &leaseStore{memStore: memStore{keys: keystore.Keys{Current: current, Expires: time.Now().Add(time.Hour)}}, hold: 200 * time.Millisecond}
	deadlines := make(chan time.Time, 4)
	ev := make(events, 64)
	rot := &keystore.AutoRotator{
		Rotator: &keystore.Rotator{
			Store:         store,
			Authenticator: &verdicts{by: map[string]error{current.KeyID(): nil}},
			Registrar: registrarFunc(func(ctx context.Context, _ *helseid.Key) (time.Time, error) {
				deadline, ok := ctx.Deadline()
				if !ok {
					return time.Time{}, errors.New("the registration has no deadline")
				}
				deadlines <- deadline
				<-ctx.Done() // a registration that hangs
				return time.Time{}, ctx.Err()
			}),
		},
		MinBackoff: time.Hour,
		OnEvent:    ev.on,
	}
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { rot.Close() })
	failed := ev.next(t, keystore.RotationFailed)
	require.ErrorIs(t, failed.Err, context.DeadlineExceeded)
	deadline := <-deadlines
	assert.False(t, deadline.After(store.lockedAt().Add(store.hold)), "done before the lock lapses")
	require.NoError(t, rot.Close())
	keys, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, current.KeyID(), keys.Current.KeyID())
	assert.NotNil(t, keys.Pending, "the unregistered key stays pending for the next rotation to settle")
}

// FleetDelay is waited under the lock, so it must fit in the lock's hold.
func TestAutoRotatorRefusesFleetDelayBeyondLockHold(t *testing.T) {
	current := generate(t, "ES256")
	for _, tc := range []struct {
		delay time.Duration
		ok    bool
	}{{0, true}, {time.Minute - time.Millisecond, true}, {time.Minute, false}, {time.Hour, false}} {
		store := &leaseStore{memStore: memStore{keys: keystore.Keys{Current: current, Expires: time.Now().Add(365 * 24 * time.Hour)}}, hold: time.Minute}
		rot := &keystore.AutoRotator{
			Rotator:    &keystore.Rotator{Store: store, Authenticator: &verdicts{}, Registrar: registrarFunc(nil)},
			FleetDelay: tc.delay,
		}
		err := rot.Start(context.Background())
		if tc.ok {
			assert.NoError(t, err, "FleetDelay %s", tc.delay)
		} else {
			assert.ErrorContains(t, err, "FleetDelay", "FleetDelay %s", tc.delay)
		}
		require.NoError(t, rot.Close())
	}
}
