package keystore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// events collects Events on a channel, so tests wait on them instead of sleeping.
type events chan keystore.Event

func (e events) on(ev keystore.Event) {
	select {
	case e <- ev:
	default: // a test that stopped listening must not block the rotator
	}
}

// next returns the next event of kind, skipping others; it fails after a generous bound.
func (e events) next(t *testing.T, kind keystore.EventKind) keystore.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-e:
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			require.FailNow(t, "no event", "waiting for %s", kind)
		}
	}
}

// fleetMember is one process of a fleet: a Client on srv and the shared key file.
type fleetMember struct {
	client *helseid.Client
	store  *keystore.FileStore
}

func newMember(t *testing.T, srv interface {
	Issuer() string
}, path string, cfg helseid.Config) *fleetMember {
	t.Helper()
	store := keystore.NewFileStore(path)
	keys, err := store.Load(context.Background())
	require.NoError(t, err)
	cfg.Key = keys.Current
	c, err := helseid.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &fleetMember{client: c, store: store}
}

func (m *fleetMember) autoRotator(t *testing.T, cfg helseid.Config, ev events) *keystore.AutoRotator {
	t.Helper()
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: cfg.Issuer, Client: m.client})
	require.NoError(t, err)
	return &keystore.AutoRotator{
		Rotator:       &keystore.Rotator{Store: m.store, Authenticator: &keystore.TokenEndpoint{Config: cfg}, Registrar: ss},
		Client:        m.client,
		CheckInterval: 10 * time.Millisecond,
		OnEvent:       ev.on,
	}
}

// writeKeys stores key as the current key of a new key file, expiring at expires.
func writeKeys(t *testing.T, key *helseid.Key, expires time.Time) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.json")
	require.NoError(t, keystore.NewFileStore(path).Save(context.Background(), &keystore.Keys{Current: key, Expires: expires}))
	return path
}

// The fleet reload test: two processes' Clients share one key file; one rotates, the other's
// Watcher picks the new key up within its interval, and both authenticate with it.
func TestFleetReloadFromSharedFile(t *testing.T) {
	ctx := context.Background()
	srv, key := newServer(t)
	cfg := helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, HTTPClient: srv.Client()}
	path := writeKeys(t, key, time.Now().Add(time.Hour)) // due: under RenewBefore
	a := newMember(t, srv, path, cfg)
	b := newMember(t, srv, path, cfg)

	bEvents := make(events, 16)
	w := &keystore.Watcher{Store: b.store, Client: b.client, Interval: 20 * time.Millisecond, OnEvent: bEvents.on}
	require.NoError(t, w.Start(ctx))
	t.Cleanup(func() { w.Close() })

	aEvents := make(events, 16)
	rot := a.autoRotator(t, cfg, aEvents)
	rot.FleetDelay = 3 * w.Interval
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { rot.Close() })

	rotated := aEvents.next(t, keystore.Rotated)
	require.NoError(t, rot.Close())
	assert.NotEqual(t, key.KeyID(), rotated.KeyID)
	assert.Equal(t, rotated.KeyID, a.client.KeyID(), "the rotating process switches at once")

	for {
		ev := bEvents.next(t, keystore.KeyReloaded)
		if ev.KeyID == rotated.KeyID && ev.PendingKeyID == "" {
			break
		}
		assert.Equal(t, rotated.KeyID, ev.PendingKeyID, "the fleet learns the pending key first")
	}
	assert.Equal(t, rotated.KeyID, b.client.KeyID())
	for _, m := range []*fleetMember{a, b} {
		_, err := m.client.ClientCredentials(ctx, helseid.ClientCredentialsRequest{Scopes: []string{selfservice.Scope}})
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
}

func TestAutoRotatorWaitsUntilDue(t *testing.T) {
	ctx := context.Background()
	srv, key := newServer(t)
	cfg := helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, HTTPClient: srv.Client()}
	now := time.Now()
	path := writeKeys(t, key, now.Add(30*24*time.Hour))
	m := newMember(t, srv, path, cfg)
	ev := make(events, 16)
	clock := now
	rot := m.autoRotator(t, cfg, ev)
	rot.Now = func() time.Time { return clock }
	rot.RenewBefore, rot.Jitter = 10*24*time.Hour, time.Hour
	// The clock is read by the rotator only; it is fixed before Start and never moved.
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { rot.Close() })
	for range 3 {
		lt := ev.next(t, keystore.KeyLifetime)
		assert.Equal(t, key.KeyID(), lt.KeyID)
		assert.InDelta(t, 30, lt.DaysLeft(), 0.001)
	}
	require.NoError(t, rot.Close())
	kids, _, _ := srv.ClientKeyIDs(clientID)
	assert.Equal(t, []string{key.KeyID()}, kids, "not due: nothing registered")
}

func TestAutoRotatorJitterSpreadsTheFleet(t *testing.T) {
	expires := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	seen := map[time.Time]bool{}
	for range 20 {
		a := &keystore.AutoRotator{RenewBefore: 10 * 24 * time.Hour, Jitter: 24 * time.Hour}
		at := keystore.RenewAt(a, "kid", expires)
		assert.False(t, at.After(expires.Add(-10*24*time.Hour)), "no later than RenewBefore")
		assert.True(t, at.After(expires.Add(-11*24*time.Hour)), "no earlier than RenewBefore + Jitter")
		assert.Equal(t, at, keystore.RenewAt(a, "kid", expires), "drawn once per key")
		seen[at] = true
	}
	assert.Greater(t, len(seen), 1, "processes pick different moments")
}

// One process rotates at a time: while another holds the store's lock, the rotator reports
// it and waits; once the lock is free it rotates.
func TestAutoRotatorHonoursTheStoreLock(t *testing.T) {
	ctx := context.Background()
	srv, key := newServer(t)
	cfg := helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, HTTPClient: srv.Client()}
	path := writeKeys(t, key, time.Now().Add(time.Hour))
	unlock, err := keystore.NewFileStore(path).TryLock(ctx) // the other process
	require.NoError(t, err)
	m := newMember(t, srv, path, cfg)
	ev := make(events, 16)
	rot := m.autoRotator(t, cfg, ev)
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { rot.Close() })
	ev.next(t, keystore.RotationLocked)
	ev.next(t, keystore.RotationLocked)
	kids, _, _ := srv.ClientKeyIDs(clientID)
	assert.Equal(t, []string{key.KeyID()}, kids, "no rotation while locked")
	unlock()
	rotated := ev.next(t, keystore.Rotated)
	kids, _, _ = srv.ClientKeyIDs(clientID)
	assert.Equal(t, []string{rotated.KeyID}, kids)
}

func TestFileStoreTryLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "key.json")
	unlock, err := keystore.NewFileStore(path).TryLock(ctx)
	require.NoError(t, err)
	_, err = keystore.NewFileStore(path).TryLock(ctx)
	require.ErrorIs(t, err, keystore.ErrLocked)
	unlock()
	unlock2, err := keystore.NewFileStore(path).TryLock(ctx)
	require.NoError(t, err)
	unlock2()
}

// Failed rotations back off, doubling up to MaxBackoff, and warn once the key is close to
// expiry; Close stops the retries.
func TestAutoRotatorBacksOffAndWarns(t *testing.T) {
	ctx := context.Background()
	current := generate(t, "ES256")
	store := &memStore{keys: keystore.Keys{Current: current, Expires: time.Now().Add(2 * 24 * time.Hour)}}
	refused := errors.New("self-service unavailable")
	ev := make(events, 64)
	rot := &keystore.AutoRotator{
		Rotator: &keystore.Rotator{
			Store:         store,
			Authenticator: &verdicts{by: map[string]error{current.KeyID(): nil}},
			Registrar:     registrarFunc(func(context.Context, *helseid.Key) (time.Time, error) { return time.Time{}, refused }),
		},
		RenewBefore: 7 * 24 * time.Hour, WarnBefore: 3 * 24 * time.Hour,
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		OnEvent: ev.on,
	}
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { rot.Close() })
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}
	for i, wait := range want {
		failed := ev.next(t, keystore.RotationFailed)
		assert.Equal(t, i+1, failed.Attempt)
		assert.Equal(t, wait, failed.Wait)
		require.ErrorIs(t, failed.Err, refused)
		warning := ev.next(t, keystore.ExpiryWarning)
		assert.Equal(t, i+1, warning.Attempt)
		assert.InDelta(t, 2, warning.DaysLeft(), 0.01)
	}
	require.NoError(t, rot.Close())
	for len(ev) > 0 {
		<-ev
	}
	select {
	case e := <-ev:
		assert.Fail(t, "an event after Close", "%s", e.Kind)
	default:
	}
	assert.Equal(t, current.KeyID(), store.keys.Current.KeyID(), "the current key is never dropped")
}

func TestAutoRotatorNoWarningFarFromExpiry(t *testing.T) {
	ctx := context.Background()
	current := generate(t, "ES256")
	store := &memStore{keys: keystore.Keys{Current: current, Expires: time.Now().Add(6 * 24 * time.Hour)}}
	ev := make(events, 64)
	rot := &keystore.AutoRotator{
		Rotator: &keystore.Rotator{
			Store:         store,
			Authenticator: &verdicts{by: map[string]error{current.KeyID(): nil}},
			Registrar:     registrarFunc(func(context.Context, *helseid.Key) (time.Time, error) { return time.Time{}, errNetwork }),
		},
		RenewBefore: 7 * 24 * time.Hour, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		OnEvent: func(e keystore.Event) {
			if e.Kind == keystore.ExpiryWarning {
				t.Errorf("a warning with %.1f days left, over RenewBefore/2", e.DaysLeft())
			}
			ev.on(e)
		},
	}
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { rot.Close() })
	ev.next(t, keystore.RotationFailed)
	ev.next(t, keystore.RotationFailed)
	require.NoError(t, rot.Close())
}

func TestAutoRotatorAndWatcherNeedTheirFields(t *testing.T) {
	require.Error(t, (&keystore.AutoRotator{}).Start(context.Background()))
	require.Error(t, (&keystore.AutoRotator{Rotator: &keystore.Rotator{Store: &memStore{}}}).Start(context.Background()))
	require.Error(t, (&keystore.Watcher{}).Start(context.Background()))
	require.NoError(t, (&keystore.AutoRotator{}).Close(), "closing an unstarted rotator")
	require.NoError(t, (&keystore.Watcher{}).Close())
}

// A key of unknown expiration (promoted by Resolve, or given by an operator) may expire any
// day: its lifetime is reported as unknown, not as the smallest Duration, and a failed
// rotation warns about it as about a key close to expiry.
func TestAutoRotatorWarnsAboutAnUnknownExpiration(t *testing.T) {
	ctx := context.Background()
	current := generate(t, "ES256")
	store := &memStore{keys: keystore.Keys{Current: current}}
	ev := make(events, 64)
	rot := &keystore.AutoRotator{
		Rotator: &keystore.Rotator{
			Store:         store,
			Authenticator: &verdicts{by: map[string]error{current.KeyID(): nil}},
			Registrar:     registrarFunc(func(context.Context, *helseid.Key) (time.Time, error) { return time.Time{}, errNetwork }),
		},
		RenewBefore: 7 * 24 * time.Hour, WarnBefore: time.Hour,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		OnEvent: ev.on,
	}
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { rot.Close() })
	lt := ev.next(t, keystore.KeyLifetime)
	assert.True(t, lt.ExpiryUnknown)
	assert.Zero(t, lt.Left)
	assert.Zero(t, lt.DaysLeft())
	failed := ev.next(t, keystore.RotationFailed)
	assert.True(t, failed.ExpiryUnknown)
	assert.Zero(t, failed.Left)
	warning := ev.next(t, keystore.ExpiryWarning)
	assert.Equal(t, current.KeyID(), warning.KeyID)
	assert.True(t, warning.ExpiryUnknown)
	assert.Zero(t, warning.Left)
	assert.Equal(t, 1, warning.Attempt)
	require.NoError(t, rot.Close())
}

// Failures count in a row: a check that finds nothing due (here: another replica rotated
// meanwhile) starts the count and the backoff afresh.
func TestAutoRotatorFailureCountResetsWhenNothingIsDue(t *testing.T) {
	ctx := context.Background()
	first, replicas, later := generate(t, "ES256"), generate(t, "ES256"), generate(t, "ES256")
	store := &memStore{keys: keystore.Keys{Current: first, Expires: time.Now().Add(time.Hour)}}
	calls := 0
	ev := make(events, 256)
	rot := &keystore.AutoRotator{
		Rotator: &keystore.Rotator{
			Store:         store,
			Authenticator: &verdicts{by: map[string]error{first.KeyID(): nil, replicas.KeyID(): nil, later.KeyID(): nil}},
			Registrar: registrarFunc(func(ctx context.Context, _ *helseid.Key) (time.Time, error) {
				calls++
				if calls == 2 { // another replica rotates while this one fails
					assert.NoError(t, store.Save(ctx, &keystore.Keys{Current: replicas, Expires: time.Now().Add(30 * 24 * time.Hour)}))
				}
				return time.Time{}, errNetwork
			}),
		},
		RenewBefore: 7 * 24 * time.Hour, CheckInterval: 5 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: time.Hour,
		OnEvent: ev.on,
	}
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { rot.Close() })
	assert.Equal(t, 1, ev.next(t, keystore.RotationFailed).Attempt)
	assert.Equal(t, 2, ev.next(t, keystore.RotationFailed).Attempt)
	for ev.next(t, keystore.KeyLifetime).KeyID != replicas.KeyID() {
	}
	// The replica's key is not due; then a new one is, and its rotation fails.
	require.NoError(t, store.Save(ctx, &keystore.Keys{Current: later, Expires: time.Now().Add(time.Hour)}))
	failed := ev.next(t, keystore.RotationFailed)
	assert.Equal(t, later.KeyID(), failed.KeyID)
	assert.Equal(t, 1, failed.Attempt, "the count starts afresh")
	assert.Equal(t, time.Millisecond, failed.Wait)
	require.NoError(t, rot.Close())
}
