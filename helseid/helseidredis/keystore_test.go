package helseidredis_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyRedis starts a redis-server and returns a client on it and a sealing key.
func keyRedis(t *testing.T) (*redis.Client, []byte) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	sealKey := make([]byte, 32)
	_, err := rand.Read(sealKey)
	require.NoError(t, err)
	return rdb, sealKey
}

func newKeyStore(t *testing.T, cfg helseidredis.KeyStoreConfig) *helseidredis.KeyStore {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second // the test machine is busy
	}
	s, err := helseidredis.NewKeyStore(cfg)
	require.NoError(t, err)
	return s
}

func genKey(t *testing.T, alg string) *helseid.Key {
	t.Helper()
	k, err := helseid.GenerateKey(alg)
	require.NoError(t, err)
	return k
}

func TestKeyStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	rdb, sealKey := keyRedis(t)
	s := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-a"})

	_, err := s.Load(ctx)
	require.ErrorIs(t, err, keystore.ErrNotFound)

	current, pending := genKey(t, "PS256"), genKey(t, "ES256")
	expires := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, s.Save(ctx, &keystore.Keys{Current: current, Expires: expires, Pending: pending}))
	got, err := s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, current.KeyID(), got.Current.KeyID())
	assert.Equal(t, pending.KeyID(), got.Pending.KeyID())
	assert.True(t, expires.Equal(got.Expires))

	// A second store on the same name (another process) reads what the first saved, and its
	// Save replaces the pending key and the unknown expiry too.
	other := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-a"})
	require.NoError(t, other.Save(ctx, &keystore.Keys{Current: pending, Generation: got.Generation}))
	got, err = s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, pending.KeyID(), got.Current.KeyID())
	assert.Nil(t, got.Pending)
	assert.True(t, got.Expires.IsZero())

	// The signing key works after the round trip.
	_, err = got.Current.Signer().Sign(rand.Reader, make([]byte, 32), crypto.SHA256)
	require.NoError(t, err)

	require.Error(t, s.Save(ctx, &keystore.Keys{}), "no current key")
	require.Error(t, s.Save(ctx, nil))
}

func TestNewKeyStoreRefuses(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ring.Close() })
	key := make([]byte, 32)
	for name, cfg := range map[string]helseidredis.KeyStoreConfig{
		"no redis":                 {Key: key, Name: "a"},
		"a ring":                   {Redis: ring, Key: key, Name: "a"},
		"short key":                {Redis: rdb, Key: key[:16], Name: "a"},
		"no name":                  {Redis: rdb, Key: key},
		"hash tag in name":         {Redis: rdb, Key: key, Name: "a}b"},
		"lock within two timeouts": {Redis: rdb, Key: key, Name: "a", LockTTL: 4 * time.Second, Timeout: 2 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := helseidredis.NewKeyStore(cfg)
			require.Error(t, err)
		})
	}
}

// Nothing in Redis gives away a private key: no value holds a private JWK member or any
// encoding of the key's private parts.
func TestKeyStoreHoldsNoKeyInClear(t *testing.T) {
	ctx := context.Background()
	rdb, sealKey := keyRedis(t)
	s := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-a"})
	current, pending := genKey(t, "ES256"), genKey(t, "PS256")
	require.NoError(t, s.Save(ctx, &keystore.Keys{Current: current, Pending: pending, Expires: time.Now().Add(time.Hour)}))
	unlock, err := s.TryLock(ctx)
	require.NoError(t, err)
	defer unlock()

	var secrets []string
	for _, k := range []*helseid.Key{current, pending} {
		jwk, err := k.PrivateJWK()
		require.NoError(t, err)
		for _, member := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if v := jwkMember(t, jwk, member); v != "" {
				secrets = append(secrets, v)
				raw, err := base64.RawURLEncoding.DecodeString(v)
				require.NoError(t, err)
				secrets = append(secrets, string(raw))
			}
		}
	}
	require.NotEmpty(t, secrets)

	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 2, "the keys and the lock")
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, helseidredis.DefaultKeyPrefix+"{client-a}:"), k)
		v, err := rdb.Get(ctx, k).Bytes()
		require.NoError(t, err)
		assert.NotContains(t, string(v), `"d"`, k)
		assert.NotContains(t, string(v), "kty", k)
		for _, sec := range secrets {
			assert.False(t, bytes.Contains(v, []byte(sec)), "%s holds private key material", k)
		}
	}
}

func jwkMember(t *testing.T, jwk []byte, member string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(jwk, &m))
	s, _ := m[member].(string)
	return s
}

// A sealed value is bound to its Redis key name: copied under another client's name or into
// another prefix, it does not open, and Load says so rather than reporting no keys (which
// would make a rotator start over).
func TestKeyStoreValueMovedDoesNotOpen(t *testing.T) {
	ctx := context.Background()
	rdb, sealKey := keyRedis(t)
	a := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-a"})
	require.NoError(t, a.Save(ctx, &keystore.Keys{Current: genKey(t, "ES256")}))
	sealed, err := rdb.Get(ctx, helseidredis.DefaultKeyPrefix+"{client-a}:keys").Bytes()
	require.NoError(t, err)

	for name, cfg := range map[string]helseidredis.KeyStoreConfig{
		"another name":   {Name: "client-b"},
		"another prefix": {Name: "client-a", Prefix: "tenant2:"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Redis, cfg.Key = rdb, sealKey
			prefix := cfg.Prefix
			if prefix == "" {
				prefix = helseidredis.DefaultKeyPrefix
			}
			require.NoError(t, rdb.Set(ctx, prefix+"{"+cfg.Name+"}:keys", sealed, 0).Err())
			_, err := newKeyStore(t, cfg).Load(ctx)
			require.Error(t, err)
			assert.NotErrorIs(t, err, keystore.ErrNotFound)
		})
	}

	otherKey := make([]byte, 32)
	_, err = rand.Read(otherKey)
	require.NoError(t, err)
	_, err = newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: otherKey, Name: "client-a"}).Load(ctx)
	require.Error(t, err, "another sealing key")
	assert.NotErrorIs(t, err, keystore.ErrNotFound)
}

// The lock is exclusive across stores (processes), is released only by its holder, and
// expires after LockTTL when its holder never releases it (it crashed).
func TestKeyStoreLock(t *testing.T) {
	ctx := context.Background()
	rdb, sealKey := keyRedis(t)
	const ttl, timeout = 600 * time.Millisecond, 250 * time.Millisecond
	a := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-a", LockTTL: ttl, Timeout: timeout})
	b := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-a", LockTTL: ttl, Timeout: timeout})
	other := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-b", LockTTL: ttl, Timeout: timeout})

	unlockA, err := a.TryLock(ctx)
	require.NoError(t, err)
	_, err = b.TryLock(ctx)
	require.ErrorIs(t, err, keystore.ErrLocked)
	_, err = a.TryLock(ctx)
	require.ErrorIs(t, err, keystore.ErrLocked, "the lock is not reentrant")
	unlockOther, err := other.TryLock(ctx)
	require.NoError(t, err, "another name has its own lock")
	unlockOther()

	pttl, err := rdb.PTTL(ctx, helseidredis.DefaultKeyPrefix+"{client-a}:lock").Result()
	require.NoError(t, err)
	assert.Greater(t, pttl, time.Duration(0))
	assert.LessOrEqual(t, pttl, ttl)

	unlockA()
	unlockB, err := b.TryLock(ctx)
	require.NoError(t, err, "released by its holder")

	// b crashes holding the lock: it expires, and a takes it.
	var unlockA2 func()
	require.Eventually(t, func() bool {
		unlockA2, err = a.TryLock(ctx)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the lock of a crashed holder expires")
	// b's late release must not free a's lock.
	unlockB()
	_, err = b.TryLock(ctx)
	require.ErrorIs(t, err, keystore.ErrLocked, "only the holder releases")
	unlockA2()
}

// The fleet reload test on Redis: two Clients share one Redis KeyStore; one rotates, the
// other's Watcher picks the new key up within its interval, and its requests keep succeeding.
func TestKeyStoreFleetReload(t *testing.T) {
	ctx := context.Background()
	rdb, sealKey := keyRedis(t)
	srv := helseidtest.NewServer(t)
	const clientID = "rotating-client"
	priv, err := srv.GenerateClient(clientID, selfservice.Scope)
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	cfg := helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, HTTPClient: srv.Client()}

	seed := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: clientID})
	require.NoError(t, seed.Save(ctx, &keystore.Keys{Current: key, Expires: time.Now().Add(time.Hour)})) // due

	member := func() (*helseid.Client, *helseidredis.KeyStore) {
		store := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: clientID})
		keys, err := store.Load(ctx)
		require.NoError(t, err)
		c := cfg
		c.Key = keys.Current
		client, err := helseid.NewClient(c)
		require.NoError(t, err)
		t.Cleanup(func() { _ = client.Close() })
		return client, store
	}
	aClient, aStore := member()
	bClient, bStore := member()

	bEvents := make(chan keystore.Event, 16)
	w := &keystore.Watcher{Store: bStore, Client: bClient, Interval: 20 * time.Millisecond, OnEvent: sendEvent(bEvents)}
	require.NoError(t, w.Start(ctx))
	t.Cleanup(func() { _ = w.Close() })

	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: cfg.Issuer, Client: aClient})
	require.NoError(t, err)
	aEvents := make(chan keystore.Event, 16)
	rot := &keystore.AutoRotator{
		Rotator:       &keystore.Rotator{Store: aStore, Authenticator: &keystore.TokenEndpoint{Config: cfg}, Registrar: ss},
		Client:        aClient,
		CheckInterval: 10 * time.Millisecond,
		FleetDelay:    3 * w.Interval,
		OnEvent:       sendEvent(aEvents),
	}
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { _ = rot.Close() })

	rotated := nextEvent(t, aEvents, keystore.Rotated)
	require.NoError(t, rot.Close())
	assert.NotEqual(t, key.KeyID(), rotated.KeyID)
	assert.Equal(t, rotated.KeyID, aClient.KeyID(), "the rotating process switches at once")

	for {
		ev := nextEvent(t, bEvents, keystore.KeyReloaded)
		if ev.KeyID == rotated.KeyID && ev.PendingKeyID == "" {
			break
		}
		assert.Equal(t, rotated.KeyID, ev.PendingKeyID, "the fleet learns the pending key first")
	}
	assert.Equal(t, rotated.KeyID, bClient.KeyID())
	for _, c := range []*helseid.Client{aClient, bClient} {
		_, err := c.ClientCredentials(ctx, helseid.ClientCredentialsRequest{Scopes: []string{selfservice.Scope}})
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	_, err = aStore.TryLock(ctx)
	require.NoError(t, err, "the rotator released the lock")
}

// The lock is not renewed, so AutoRotator cuts a rotation under it short at LockHold (LockTTL
// less twice Timeout): a registration that hangs ends while the lock is still held, and the
// lock is released, not left to lapse.
func TestKeyStoreRotationEndsBeforeTheLockLapses(t *testing.T) {
	ctx := context.Background()
	rdb, sealKey := keyRedis(t)
	const ttl, timeout = 1500 * time.Millisecond, 300 * time.Millisecond
	store := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-a", LockTTL: ttl, Timeout: timeout})
	assert.Equal(t, ttl-2*timeout, store.LockHold())
	current := genKey(t, "ES256")
	require.NoError(t, store.Save(ctx, &keystore.Keys{Current: current, Expires: time.Now().Add(time.Hour)})) // due
	lockKey := helseidredis.DefaultKeyPrefix + "{client-a}:lock"
	leftAtDeadline := make(chan time.Duration, 4)
	events := make(chan keystore.Event, 16)
	rot := &keystore.AutoRotator{
		Rotator: &keystore.Rotator{Store: store, Authenticator: authenticatorFunc(func(context.Context, *helseid.Key) error { return nil }),
			Registrar: registrarFunc(func(ctx context.Context, _ *helseid.Key) (time.Time, error) {
				<-ctx.Done() // a registration that hangs
				left, err := rdb.PTTL(context.Background(), lockKey).Result()
				if err != nil {
					left = -1
				}
				leftAtDeadline <- left
				return time.Time{}, ctx.Err()
			})},
		MinBackoff: time.Hour,
		OnEvent:    sendEvent(events),
	}
	require.NoError(t, rot.Start(ctx))
	t.Cleanup(func() { _ = rot.Close() })
	failed := nextEvent(t, events, keystore.RotationFailed)
	require.ErrorIs(t, failed.Err, context.DeadlineExceeded)
	assert.Greater(t, <-leftAtDeadline, time.Duration(0), "the lock is still held when the rotation is cut short")
	require.NoError(t, rot.Close())
	unlock, err := store.TryLock(ctx)
	require.NoError(t, err, "and it was released")
	unlock()

	err = (&keystore.AutoRotator{Rotator: &keystore.Rotator{Store: store, Authenticator: authenticatorFunc(nil), Registrar: registrarFunc(nil)},
		FleetDelay: store.LockHold()}).Start(ctx)
	require.ErrorContains(t, err, "FleetDelay", "a FleetDelay that does not fit in the hold")
}

type authenticatorFunc func(ctx context.Context, key *helseid.Key) error

func (f authenticatorFunc) Authenticate(ctx context.Context, key *helseid.Key) error {
	return f(ctx, key)
}

type registrarFunc func(ctx context.Context, key *helseid.Key) (time.Time, error)

func (f registrarFunc) RegisterKey(ctx context.Context, key *helseid.Key) (time.Time, error) {
	return f(ctx, key)
}

func sendEvent(ch chan keystore.Event) func(keystore.Event) {
	return func(e keystore.Event) {
		select {
		case ch <- e:
		default: // a test that stopped listening must not block
		}
	}
}

// nextEvent returns the next event of kind, skipping others; it fails after a generous bound.
func nextEvent(t *testing.T, ch chan keystore.Event, kind keystore.EventKind) keystore.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			require.FailNow(t, "no event", "waiting for %s", kind)
		}
	}
}

// The sealed record carries its generation: Save is a compare-and-set on it, and an older
// value written back by someone without the sealing key (a copy replayed) is refused by a
// store that has seen a newer one, and makes the next Save of a store that has not stale.
func TestKeyStoreGenerations(t *testing.T) {
	ctx := context.Background()
	rdb, sealKey := keyRedis(t)
	cfg := helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-a"}
	s := newKeyStore(t, cfg)
	first, second := genKey(t, "ES256"), genKey(t, "ES256")
	require.NoError(t, s.Save(ctx, &keystore.Keys{Current: first}))
	got, err := s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), got.Generation)
	old, err := rdb.Get(ctx, helseidredis.DefaultKeyPrefix+"{client-a}:keys").Bytes()
	require.NoError(t, err)

	require.ErrorIs(t, s.Save(ctx, &keystore.Keys{Current: second}), keystore.ErrStale, "derived from the empty store")
	require.NoError(t, s.Save(ctx, &keystore.Keys{Current: second, Generation: 1}))
	require.ErrorIs(t, newKeyStore(t, cfg).Save(ctx, &keystore.Keys{Current: first, Generation: 1}), keystore.ErrStale,
		"a writer that loaded generation 1 cannot overwrite generation 2")
	got, err = s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, second.KeyID(), got.Current.KeyID())
	assert.Equal(t, uint64(2), got.Generation)

	require.NoError(t, rdb.Set(ctx, helseidredis.DefaultKeyPrefix+"{client-a}:keys", old, 0).Err()) // replayed
	_, err = s.Load(ctx)
	require.ErrorIs(t, err, keystore.ErrRollback)
	assert.NotContains(t, err.Error(), `"d"`)
	fresh, err := newKeyStore(t, cfg).Load(ctx)
	require.NoError(t, err, "a store that never saw generation 2 cannot tell")
	assert.Equal(t, first.KeyID(), fresh.Current.KeyID())
	require.ErrorIs(t, s.Save(ctx, &keystore.Keys{Current: genKey(t, "ES256"), Generation: 2}), keystore.ErrStale,
		"the holder's next save finds the replayed record")

	require.NoError(t, rdb.Set(ctx, helseidredis.DefaultKeyPrefix+"{client-a}:keys", "garbage", 0).Err())
	err = s.Save(ctx, &keystore.Keys{Current: first, Generation: 0})
	require.Error(t, err, "a value that does not open is not overwritten")
	assert.NotErrorIs(t, err, keystore.ErrStale)
}

// A Watcher on the Redis store keeps its client on the newer keys when an older record is
// written back.
func TestKeyStoreWatcherIgnoresARollback(t *testing.T) {
	ctx := context.Background()
	rdb, sealKey := keyRedis(t)
	cfg := helseidredis.KeyStoreConfig{Redis: rdb, Key: sealKey, Name: "client-a"}
	writer := newKeyStore(t, cfg)
	first, second := genKey(t, "ES256"), genKey(t, "ES256")
	require.NoError(t, writer.Save(ctx, &keystore.Keys{Current: first}))
	old, err := rdb.Get(ctx, helseidredis.DefaultKeyPrefix+"{client-a}:keys").Bytes()
	require.NoError(t, err)
	require.NoError(t, writer.Save(ctx, &keystore.Keys{Current: second, Generation: 1}))

	ks := &recordingSetter{kids: make(chan string, 8)}
	failed := make(chan error, 8)
	w := &keystore.Watcher{Store: newKeyStore(t, cfg), Client: ks, Interval: 5 * time.Millisecond, OnEvent: func(e keystore.Event) {
		if e.Kind == keystore.LoadFailed {
			select {
			case failed <- e.Err:
			default:
			}
		}
	}}
	require.NoError(t, w.Start(ctx))
	t.Cleanup(func() { w.Close() })
	assert.Equal(t, second.KeyID(), <-ks.kids)
	require.NoError(t, rdb.Set(ctx, helseidredis.DefaultKeyPrefix+"{client-a}:keys", old, 0).Err())
	select {
	case err := <-failed:
		require.ErrorIs(t, err, keystore.ErrRollback)
	case <-time.After(20 * time.Second):
		require.FailNow(t, "the rollback was not reported")
	}
	require.NoError(t, w.Close())
	assert.Empty(t, ks.kids, "the client keeps the newer key")
}

type recordingSetter struct{ kids chan string }

func (r *recordingSetter) SetKeys(current, _ *helseid.Key) error {
	select {
	case r.kids <- current.KeyID():
	default:
	}
	return nil
}
