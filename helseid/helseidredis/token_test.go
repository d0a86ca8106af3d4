package helseidredis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testScope = "nhn:helseidtest-api/read"

// fleet is one helseidtest, one redis-server, and what the processes of a fleet share: the
// client key, the DPoP key and the sealing key.
type fleet struct {
	srv      *helseidtest.Server
	redis    *redistest.Server
	rdb      *redis.Client
	key      *helseid.Key
	dpopKey  *helseid.Key
	sealKey  []byte
	leaseTTL time.Duration
}

func newFleet(t *testing.T, opts helseidtest.Options) *fleet {
	t.Helper()
	f := &fleet{srv: helseidtest.NewServer(t, opts), redis: redistest.Start(t), sealKey: make([]byte, 32), leaseTTL: helseidredis.DefaultLeaseTTL}
	_, err := rand.Read(f.sealKey)
	require.NoError(t, err)
	jwk, err := f.srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "fleet", Scopes: []string{testScope}, OrgNumber: helseidtest.DefaultOrgNumber, MultiTenant: true})
	require.NoError(t, err)
	f.key, err = helseid.ParseJWK(jwk, "")
	require.NoError(t, err)
	f.dpopKey, err = helseid.GenerateKey("ES256")
	require.NoError(t, err)
	f.rdb = redis.NewClient(&redis.Options{Addr: f.redis.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = f.rdb.Close() })
	return f
}

func (f *fleet) tokenCache(t *testing.T) *helseidredis.TokenCache {
	t.Helper()
	tc, err := helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: f.rdb, Key: f.sealKey, LeaseTTL: f.leaseTTL, Timeout: 5 * time.Second}) // the test machine is busy
	require.NoError(t, err)
	return tc
}

// replica is one process's Client (in this process: the tests with real processes are in
// fleet_test.go).
func (f *fleet) replica(t *testing.T, obs helseid.Observer, now func() time.Time) *helseid.Client {
	t.Helper()
	c, err := helseid.NewClient(helseid.Config{
		Issuer: f.srv.Issuer(), ClientID: "fleet", Key: f.key, DPoPKey: f.dpopKey, Tenancy: helseid.MultiTenant,
		HTTPClient: f.srv.Client(), SharedTokens: f.tokenCache(t), Observer: obs, Now: now,
		MaxCachedTokens: 5000,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func org(i int) helseid.Organization { return helseid.Organization{Parent: fmt.Sprintf("9%08d", i)} }

func request(i int) helseid.ClientCredentialsRequest {
	return helseid.ClientCredentialsRequest{Scopes: []string{testScope}, Organization: org(i)}
}

// events counts observer events per kind.
type events struct {
	mu     sync.Mutex
	counts map[helseid.EventKind]int
	errs   []error
}

func (e *events) Observe(_ context.Context, ev helseid.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts = map[helseid.EventKind]int{}
	}
	e.counts[ev.Kind]++
	if ev.Err != nil {
		e.errs = append(e.errs, ev.Err)
	}
}

func (e *events) count(k helseid.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[k]
}

func TestNewTokenCacheRefusesBadConfig(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer rdb.Close()
	for name, cfg := range map[string]helseidredis.TokenCacheConfig{
		"no redis":    {Key: make([]byte, 32)},
		"no key":      {Redis: rdb},
		"16-byte key": {Redis: rdb, Key: make([]byte, 16)},
		"64-byte key": {Redis: rdb, Key: make([]byte, 64)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := helseidredis.NewTokenCache(cfg)
			assert.Error(t, err)
		})
	}
}

func TestSecondReplicaTakesTheStoredToken(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	var ea, eb events
	a, b := f.replica(t, &ea, nil), f.replica(t, &eb, nil)
	ctx := context.Background()

	ta, err := a.Token(ctx, request(1))
	require.NoError(t, err)
	require.EqualValues(t, 1, f.srv.Stats().TokensIssued)
	tb, err := b.Token(ctx, request(1))
	require.NoError(t, err)
	assert.Equal(t, ta.AccessToken, tb.AccessToken, "the second replica uses the first one's token")
	assert.EqualValues(t, 1, f.srv.Stats().TokensIssued, "no token request by the second replica")
	assert.Equal(t, 1, eb.count(helseid.SharedCacheHit))
	assert.Equal(t, 0, ea.count(helseid.SharedCacheHit))

	// The shared token works at the API: it is bound to the fleet's DPoP key.
	api, err := b.HTTPClient(request(1))
	require.NoError(t, err)
	resp, err := api.Get(f.srv.APIURL())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	// Another organisation is another token.
	_, err = b.Token(ctx, request(2))
	require.NoError(t, err)
	assert.EqualValues(t, 2, f.srv.Stats().TokensIssued)
}

func TestNothingInRedisIsUsable(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	c := f.replica(t, nil, nil)
	ctx := context.Background()
	var tokens []string
	for i := range 5 {
		tok, err := c.Token(ctx, request(i))
		require.NoError(t, err)
		tokens = append(tokens, tok.AccessToken)
	}
	keys, err := f.rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 5, "one token key per organisation; the leases are released")
	dpopJWK, err := f.dpopKey.PrivateJWK()
	require.NoError(t, err)
	clientJWK, err := f.key.PrivateJWK()
	require.NoError(t, err)
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, "helseid:{") && strings.HasSuffix(k, "}:token"), k)
		assert.NotContains(t, k, "9000000", "no organisation number in a key")
		assert.NotContains(t, k, "helseidtest-api", "no scope in a key")
		v, err := f.rdb.Get(ctx, k).Bytes()
		require.NoError(t, err)
		ttl, err := f.rdb.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, time.Duration(0), "every value expires")
		for _, tok := range tokens {
			for _, part := range strings.Split(tok, ".") {
				assert.False(t, bytes.Contains(v, []byte(part)), "a token part in clear")
			}
		}
		assert.False(t, bytes.Contains(v, []byte(`"d"`)) || bytes.Contains(v, dpopJWK[len(dpopJWK)/2:]) || bytes.Contains(v, clientJWK[len(clientJWK)/2:]), "no key in Redis")
	}
}

func TestValueMovedToAnotherTenantIsRefused(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	tc := f.tokenCache(t)
	ctx := context.Background()
	tok := helseid.SharedToken{Token: fapi.Token{AccessToken: "at-of-tenant-1", Expiry: time.Now().Add(time.Minute)}, Fetched: time.Now()}
	lease, ok, err := tc.AcquireLease(ctx, "tenant-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, tc.StoreToken(ctx, "tenant-1", tok, lease))
	got, ok, err := tc.LoadToken(ctx, "tenant-1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "at-of-tenant-1", got.AccessToken)
	assert.WithinDuration(t, tok.Expiry, got.Expiry, 0)

	// Copy tenant 1's value over tenant 2's key: it does not open there.
	_, ok, err = tc.LoadToken(ctx, "tenant-2")
	require.NoError(t, err)
	require.False(t, ok)
	keys, err := f.rdb.Keys(ctx, "*:token").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	v, err := f.rdb.Get(ctx, keys[0]).Bytes()
	require.NoError(t, err)
	lease2, ok, err := tc.AcquireLease(ctx, "tenant-2")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, tc.StoreToken(ctx, "tenant-2", helseid.SharedToken{Token: fapi.Token{AccessToken: "x", Expiry: time.Now().Add(time.Minute)}, Fetched: time.Now()}, lease2))
	keys2, err := f.rdb.Keys(ctx, "*:token").Result()
	require.NoError(t, err)
	for _, k := range keys2 {
		if k != keys[0] {
			require.NoError(t, f.rdb.Set(ctx, k, v, time.Minute).Err())
		}
	}
	_, ok, err = tc.LoadToken(ctx, "tenant-2")
	require.NoError(t, err)
	assert.False(t, ok, "a value moved from another key does not open")

	// Another sealing key opens nothing, and says so rather than reporting no token.
	other, err := helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: f.rdb, Key: bytes.Repeat([]byte{7}, 32)})
	require.NoError(t, err)
	_, ok, err = other.LoadToken(ctx, "tenant-1")
	assert.ErrorIs(t, err, helseidredis.ErrUnknownSealKey)
	assert.False(t, ok)
}

func TestLeaseFencing(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	f.leaseTTL = 100 * time.Millisecond
	tc := f.tokenCache(t)
	ctx := context.Background()
	mk := func(at string) helseid.SharedToken {
		return helseid.SharedToken{Token: fapi.Token{AccessToken: at, Expiry: time.Now().Add(time.Minute)}, Fetched: time.Now()}
	}
	first, ok, err := tc.AcquireLease(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = tc.AcquireLease(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok, "one holder at a time")
	require.Eventually(t, func() bool { // the first holder pauses past its lease
		_, ok, err := tc.AcquireLease(ctx, "k")
		return err == nil && ok
	}, 2*time.Second, 10*time.Millisecond)
	// (the lease just taken is held by a "second" holder that stores a newer token)
	second, ok, err := tc.AcquireLease(ctx, "k2")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, tc.StoreToken(ctx, "k2", mk("newer"), second))
	require.NoError(t, tc.StoreToken(ctx, "k", mk("newer"), "not-the-lease"))
	require.NoError(t, tc.StoreToken(ctx, "k", mk("older"), first))
	got, ok, err := tc.LoadToken(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "newer", got.AccessToken, "a holder past its lease does not replace a stored token")
}

func TestFleetInProcessOneRequestPerOrganisation(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	const replicas, goroutines, orgs = 4, 50, 100
	clients := make([]*helseid.Client, replicas)
	var ev events
	for i := range clients {
		clients[i] = f.replica(t, &ev, nil)
	}
	var wg sync.WaitGroup
	var failures atomic.Int64
	for r := range replicas {
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range orgs {
					if _, err := clients[r].Token(context.Background(), request((i+g)%orgs)); err != nil {
						failures.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	assert.Zero(t, failures.Load())
	assert.EqualValues(t, orgs, f.srv.Stats().TokensIssued, "one token request per organisation for the fleet (leases outlived: %d)", ev.count(helseid.SharedLeaseWaited))
	assert.Zero(t, ev.count(helseid.SharedCacheDown), "%v", ev.errs[:min(3, len(ev.errs))])
}

func TestCrashedLeaseHolderDelaysByTheLeaseOnly(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	f.leaseTTL = 300 * time.Millisecond
	tc := f.tokenCache(t)
	var ev events
	c := f.replica(t, &ev, nil)
	// A process took the lease and died before storing anything.
	name := sharedKey(t, f, c, request(1))
	before := f.srv.Stats().TokensIssued
	_, ok, err := tc.AcquireLease(context.Background(), name)
	require.NoError(t, err)
	require.True(t, ok)
	start := time.Now()
	_, err = c.Token(context.Background(), request(1))
	took := time.Since(start)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, took, 250*time.Millisecond, "it waited for the lease")
	assert.Less(t, took, 300*time.Millisecond+time.Second, "no longer than the lease and one request")
	assert.Equal(t, 1, ev.count(helseid.SharedLeaseWaited))
	assert.EqualValues(t, 1, f.srv.Stats().TokensIssued-before)
}

// sharedKey finds the shared key a client uses for req, by letting a probe cache record it.
func sharedKey(t *testing.T, f *fleet, c *helseid.Client, req helseid.ClientCredentialsRequest) string {
	t.Helper()
	rec := &recordingCache{}
	probe, err := helseid.NewClient(helseid.Config{
		Issuer: f.srv.Issuer(), ClientID: "fleet", Key: f.key, DPoPKey: f.dpopKey, Tenancy: helseid.MultiTenant,
		HTTPClient: f.srv.Client(), SharedTokens: rec,
	})
	require.NoError(t, err)
	defer probe.Close()
	_, _ = probe.Token(context.Background(), req)
	require.NotEmpty(t, rec.key)
	return rec.key
}

// recordingCache is not a stand-in for Redis: it only records the key a client asks for.
type recordingCache struct{ key string }

func (r *recordingCache) LoadToken(_ context.Context, key string) (helseid.SharedToken, bool, error) {
	r.key = key
	return helseid.SharedToken{}, false, fmt.Errorf("probe")
}
func (*recordingCache) AcquireLease(context.Context, string) (string, bool, error) {
	return "", false, nil
}
func (*recordingCache) StoreToken(context.Context, string, helseid.SharedToken, string) error {
	return nil
}
func (*recordingCache) ReleaseLease(context.Context, string, string) error    { return nil }
func (*recordingCache) InvalidateToken(context.Context, string, string) error { return nil }

func TestRedisDownFallsBackToLocalAndRecovers(t *testing.T) {
	clock := fakeclock.New(time.Now())
	f := newFleet(t, helseidtest.Options{Now: clock.Now})
	var ev events
	a := f.replica(t, &ev, clock.Now)
	ctx := context.Background()
	_, err := a.Token(ctx, request(1))
	require.NoError(t, err)
	require.Zero(t, ev.count(helseid.SharedCacheDown))

	f.redis.Stop()
	for i := 2; i <= 3; i++ { // the first failure is Redis's; the next within a second skips it
		_, err = a.Token(ctx, request(i))
		require.NoError(t, err, "Redis down never fails a token call")
	}
	assert.Equal(t, 2, ev.count(helseid.SharedCacheDown))
	assert.EqualValues(t, 3, f.srv.Stats().TokensIssued)
	require.Len(t, ev.errs, 2)
	assert.ErrorContains(t, ev.errs[0], "connection refused")
	assert.ErrorContains(t, ev.errs[1], "failed recently", "within a second of a failure Redis is not asked")

	f.redis.Start()
	clock.Advance(2 * time.Second)
	_, err = a.Token(ctx, request(4))
	require.NoError(t, err)
	assert.Equal(t, 1, ev.count(helseid.SharedCacheRecovered))
	assert.Equal(t, 2, ev.count(helseid.SharedCacheDown))
	var eb events
	b := f.replica(t, &eb, clock.Now)
	_, err = b.Token(ctx, request(4))
	require.NoError(t, err)
	assert.EqualValues(t, 4, f.srv.Stats().TokensIssued, "sharing resumed: the second replica took organisation 4's token from Redis")
	assert.Equal(t, 1, eb.count(helseid.SharedCacheHit))
}
