package helseidredis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

const (
	ehrRedirect = "https://ehr.example/callback"
	ehrScope    = "openid profile offline_access helseid://scopes/identity/pid nhn:service-a/read nhn:helseidtest-api/read"
)

// ehrFleet is an EHR backend's replicas behind one Redis: logins and sessions in Redis.
type ehrFleet struct {
	srv      *helseidtest.Server
	rdb      *redis.Client
	sealKey  []byte
	replicas []*helseid.Client
}

func newEHRFleet(t testing.TB, n int) *ehrFleet {
	t.Helper()
	f := &ehrFleet{srv: helseidtest.NewServer(t, helseidtest.Options{}), sealKey: make([]byte, 32)}
	_, err := rand.Read(f.sealKey)
	require.NoError(t, err)
	rs := redistest.Start(t)
	f.rdb = redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = f.rdb.Close() })
	jwk, err := f.srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes:       []string{"openid", "profile", "offline_access", "helseid://scopes/identity/pid", "nhn:service-a/read", testScope},
		RedirectURIs: []string{ehrRedirect}})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(jwk, "")
	require.NoError(t, err)
	cfg := helseidredis.StoreConfig{Redis: f.rdb, Key: f.sealKey, Timeout: 5 * time.Second} // the test machine is busy
	logins, err := helseidredis.NewLoginStore(cfg)
	require.NoError(t, err)
	sessions, err := helseidredis.NewSessionStore(cfg)
	require.NoError(t, err)
	for range n {
		c, err := helseid.NewClient(helseid.Config{Issuer: f.srv.Issuer(), ClientID: "ehr", Key: key, HTTPClient: f.srv.Client(),
			Logins: logins, Sessions: sessions})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		f.replicas = append(f.replicas, c)
	}
	return f
}

// login starts on replica 0 and finishes on replica 1, through Redis.
func (f *ehrFleet) login(t testing.TB) (*helseid.UserSession, url.Values) {
	t.Helper()
	ctx := context.Background()
	authURL, err := f.replicas[0].StartStoredLogin(ctx, helseid.LoginRequest{RedirectURI: ehrRedirect, Scope: ehrScope,
		Resources: []string{"nhn:service-a", "nhn:helseidtest-api"}})
	require.NoError(t, err)
	browser := f.srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	res, err := f.replicas[1].FinishStoredLogin(ctx, loc.Query())
	require.NoError(t, err)
	s, err := f.replicas[1].StartUserSession(ctx, res)
	require.NoError(t, err)
	return s, loc.Query()
}

// requireSealed fails if any value in Redis holds one of secrets in the clear.
func (f *ehrFleet) requireSealed(t *testing.T, secrets ...string) {
	t.Helper()
	ctx := context.Background()
	keys, err := f.rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		var vals []string
		switch f.rdb.Type(ctx, k).Val() {
		case "hash":
			vals, err = f.rdb.HVals(ctx, k).Result()
		default:
			var v string
			v, err = f.rdb.Get(ctx, k).Result()
			vals = []string{v}
		}
		require.NoError(t, err)
		for _, v := range vals {
			for _, s := range secrets {
				require.NotEmpty(t, s)
				assert.False(t, strings.Contains(v, s), "key %s holds a secret in the clear", k)
			}
			assert.False(t, bytes.Contains([]byte(v), []byte(`"d":`)), "key %s holds a private JWK", k)
		}
	}
}

func TestRedisLoginFinishesOnceAcrossReplicas(t *testing.T) {
	f := newEHRFleet(t, 2)
	ctx := context.Background()
	authURL, err := f.replicas[0].StartStoredLogin(ctx, helseid.LoginRequest{RedirectURI: ehrRedirect, Scope: ehrScope, Resources: []string{"nhn:service-a"}})
	require.NoError(t, err)
	keys, err := f.rdb.Keys(ctx, "helseid:login:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	ttl := f.rdb.PTTL(ctx, keys[0]).Val()
	assert.True(t, ttl > 9*time.Minute && ttl <= 10*time.Minute, "the login expires with itself: %s", ttl)
	sealed := f.rdb.Get(ctx, keys[0]).Val()
	assert.NotContains(t, sealed, "code_verifier", "the LoginState is sealed")

	browser := f.srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.NotContains(t, keys[0], loc.Query().Get("state"), "the state is hashed into the key")

	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 { // the same callback on both replicas at once: one finishes
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.replicas[i%2].FinishStoredLogin(ctx, loc.Query())
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
				return
			}
			assert.ErrorIs(t, err, helseid.ErrLoginState)
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, wins)
}

func TestRedisSessionAnyReplicaSealedAndEnded(t *testing.T) {
	f := newEHRFleet(t, 3)
	ctx := context.Background()
	started, _ := f.login(t)
	id := started.ID()
	issued := f.srv.Stats().TokensIssued

	var apiToken string
	for _, c := range f.replicas { // every replica calls the API through the session's DPoP client
		s, err := c.LoadUserSession(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, started.Claims().Subject, s.Claims().Subject)
		resp, err := s.HTTPClient("nhn:helseidtest-api").Get(f.srv.APIURL())
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		tok, err := s.Token(ctx, "nhn:helseidtest-api")
		require.NoError(t, err)
		apiToken = tok.AccessToken
	}
	assert.Equal(t, issued+1, f.srv.Stats().TokensIssued, "one refresh for the fleet")

	rt, exp := started.RefreshToken()
	newest, err := f.replicas[2].LoadUserSession(ctx, id)
	require.NoError(t, err)
	newRT, _ := newest.RefreshToken()
	assert.NotEqual(t, rt, newRT, "the rotated refresh token is stored")
	f.requireSealed(t, rt, newRT, apiToken, started.IDToken())

	keys, err := f.rdb.Keys(ctx, "helseid:session:*:data").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	ttl := f.rdb.PTTL(ctx, keys[0]).Val()
	assert.InDelta(t, time.Until(exp).Seconds(), ttl.Seconds(), 5, "the session expires with its refresh token")
	assert.NotContains(t, keys[0], id, "the session id is hashed into the key")

	// A value moved to another session's key does not open there.
	moved, err := f.replicas[0].StartUserSession(ctx, &helseid.LoginResult{RefreshToken: "other", RefreshExpiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	otherKeys, err := f.rdb.Keys(ctx, "helseid:session:*:data").Result()
	require.NoError(t, err)
	for _, k := range otherKeys {
		if k != keys[0] {
			require.NoError(t, f.rdb.HSet(ctx, k, "data", f.rdb.HGet(ctx, keys[0], "data").Val(), "gen", f.rdb.HGet(ctx, keys[0], "gen").Val()).Err())
		}
	}
	_, err = f.replicas[1].LoadUserSession(ctx, moved.ID())
	assert.ErrorIs(t, err, helseid.ErrSessionEnded)

	held, err := f.replicas[0].LoadUserSession(ctx, id)
	require.NoError(t, err)
	require.NoError(t, newest.EndUserSession(ctx))
	for _, c := range f.replicas {
		_, err := c.LoadUserSession(ctx, id)
		assert.ErrorIs(t, err, helseid.ErrSessionEnded, "logout reaches every replica")
	}
	_, err = held.Token(ctx, "nhn:service-b")
	assert.ErrorIs(t, err, helseid.ErrSessionEnded)
	n, err := f.rdb.Exists(ctx, keys[0]).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the session is gone from Redis")
	assert.Zero(t, f.srv.Stats().TokenErrors)
}

// Fencing on Redis: a write over an older generation is refused.
func TestRedisSessionStoreCompareAndSet(t *testing.T) {
	f := newEHRFleet(t, 0)
	st, err := helseidredis.NewSessionStore(helseidredis.StoreConfig{Redis: f.rdb, Key: f.sealKey, Timeout: 5 * time.Second, LeaseTTL: time.Minute})
	require.NoError(t, err)
	ctx := context.Background()
	rec := &helseid.StoredSession{Generation: 1, RefreshToken: "rt-1", RefreshExpiry: time.Now().Add(time.Hour),
		DPoPKey: []byte(`{"kty":"EC"}`), Organization: helseid.SupplierOrganization(),
		Tokens: map[string]fapi.Token{"nhn:a": {AccessToken: "at-a", Expiry: time.Now().Add(time.Minute)}}}
	ok, err := st.SaveSession(ctx, "s1", rec, 0)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = st.SaveSession(ctx, "s1", rec, 0)
	require.NoError(t, err)
	assert.False(t, ok, "a second create is refused")
	next := *rec
	next.Generation, next.RefreshToken = 2, "rt-2"
	ok, err = st.SaveSession(ctx, "s1", &next, 1)
	require.NoError(t, err)
	assert.True(t, ok)
	stale := next
	stale.RefreshToken = "rt-stale"
	ok, err = st.SaveSession(ctx, "s1", &stale, 1)
	require.NoError(t, err)
	assert.False(t, ok, "a write over an older generation is fenced off")
	got, err := st.LoadSession(ctx, "s1")
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, "rt-2", got.RefreshToken)
	assert.Equal(t, helseid.SupplierOrganization(), got.Organization)
	assert.Equal(t, "at-a", got.Tokens["nhn:a"].AccessToken)

	lease, ok, err := st.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = st.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	assert.False(t, ok, "one lease at a time")
	require.NoError(t, st.ReleaseRefreshLease(ctx, "s1", "not-mine"))
	_, ok, _ = st.AcquireRefreshLease(ctx, "s1")
	assert.False(t, ok, "another's release does not free the lease")
	require.NoError(t, st.ReleaseRefreshLease(ctx, "s1", lease))
	_, ok, err = st.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	assert.True(t, ok)
	_, _, err = st.AcquireRefreshLease(ctx, "unknown")
	assert.ErrorIs(t, err, helseid.ErrSessionEnded)
	require.Len(t, f.rdb.Keys(ctx, "helseid:session:*").Val(), 2, "the record and its lease")

	deleted, err := st.DeleteSession(ctx, "s1")
	require.NoError(t, err)
	require.NotNil(t, deleted, "the delete returns the record it removed")
	assert.Equal(t, "rt-2", deleted.RefreshToken)
	assert.Equal(t, uint64(2), deleted.Generation)
	assert.Empty(t, f.rdb.Keys(ctx, "helseid:session:*").Val(), "the record and its lease are gone")
	deleted, err = st.DeleteSession(ctx, "s1")
	require.NoError(t, err)
	assert.Nil(t, deleted, "nothing left to remove")
}

// The refresh lease is renewed only by its holder (a compare-and-extend in one script), and
// not once it has expired in Redis.
func TestRedisSessionStoreExtendRefreshLease(t *testing.T) {
	f := newEHRFleet(t, 0)
	const leaseTTL = 400 * time.Millisecond
	st, err := helseidredis.NewSessionStore(helseidredis.StoreConfig{Redis: f.rdb, Key: f.sealKey, Timeout: 200 * time.Millisecond, LeaseTTL: leaseTTL})
	require.NoError(t, err)
	ctx := context.Background()
	rec := &helseid.StoredSession{Generation: 1, RefreshToken: "rt-1", RefreshExpiry: time.Now().Add(time.Hour), DPoPKey: []byte(`{"kty":"EC"}`)}
	ok, err := st.SaveSession(ctx, "s1", rec, 0)
	require.NoError(t, err)
	require.True(t, ok)
	lease, ok, err := st.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	require.True(t, ok)
	keys, err := f.rdb.Keys(ctx, "helseid:session:*:lease").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)

	require.NoError(t, f.rdb.PExpire(ctx, keys[0], 100*time.Millisecond).Err())
	ttl, ok, err := st.ExtendRefreshLease(ctx, "s1", lease)
	require.NoError(t, err)
	assert.True(t, ok, "the holder renews its lease")
	assert.Equal(t, leaseTTL, ttl)
	assert.Greater(t, f.rdb.PTTL(ctx, keys[0]).Val(), 200*time.Millisecond, "for the whole LeaseTTL again")

	_, ok, err = st.ExtendRefreshLease(ctx, "s1", "not-mine")
	require.NoError(t, err)
	assert.False(t, ok, "another process cannot renew it")
	assert.Equal(t, lease, f.rdb.Get(ctx, keys[0]).Val(), "nor change it")

	require.NoError(t, f.rdb.PExpire(ctx, keys[0], time.Millisecond).Err())
	require.Eventually(t, func() bool { return f.rdb.Exists(ctx, keys[0]).Val() == 0 }, 5*time.Second, 5*time.Millisecond)
	_, ok, err = st.ExtendRefreshLease(ctx, "s1", lease)
	require.NoError(t, err)
	assert.False(t, ok, "an expired lease is not renewed")
	assert.Zero(t, f.rdb.Exists(ctx, keys[0]).Val(), "nor brought back")
}

// The holder bounds each refresh attempt by half the lease; the other half must cover a
// Redis call, so a Timeout over half the LeaseTTL is refused.
func TestRedisSessionStoreRefusesLeaseShorterThanTwoTimeouts(t *testing.T) {
	key := make([]byte, 32)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	for _, tc := range []struct {
		name            string
		timeout, lease  time.Duration
		wantErrContains string
	}{
		{"defaults", 0, 0, ""},
		{"half the lease", time.Second, 2 * time.Second, ""},
		{"over half the lease", 5 * time.Second, 2 * time.Second, "over half the LeaseTTL"},
		{"default lease, long timeout", 6 * time.Second, 0, "over half the LeaseTTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helseidredis.NewSessionStore(helseidredis.StoreConfig{Redis: rdb, Key: key, Timeout: tc.timeout, LeaseTTL: tc.lease})
			if tc.wantErrContains == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.wantErrContains)
		})
	}
}

// A replica that died holding a session's refresh lease (taken here and never released)
// blocks the session's refreshes only until the lease expires in Redis: the others wait within
// their own context, then one refreshes with the stored refresh token, losing nothing.
func TestRedisDeadLeaseHolderBlocksUntilTheLeaseExpires(t *testing.T) {
	f := newEHRFleet(t, 2)
	ctx := context.Background()
	started, _ := f.login(t)
	const leaseTTL = 400 * time.Millisecond
	dead, err := helseidredis.NewSessionStore(helseidredis.StoreConfig{Redis: f.rdb, Key: f.sealKey, Timeout: leaseTTL / 2, LeaseTTL: leaseTTL})
	require.NoError(t, err)
	_, ok, err := dead.AcquireRefreshLease(ctx, started.ID())
	require.NoError(t, err)
	require.True(t, ok)
	taken := time.Now()

	s, err := f.replicas[0].LoadUserSession(ctx, started.ID())
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = s.Token(short, "nhn:helseidtest-api")
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a waiter leaves on its own context")
	_, err = s.Token(ctx, "nhn:helseidtest-api")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(taken), leaseTTL-50*time.Millisecond, "no refresh while the dead holder's lease lived")
	assert.Zero(t, f.srv.Stats().TokenErrors, "nothing lost")
}

// A replica switch costs one read of the store, one open and a one-pass decode of the record,
// and a session that builds its refresh machinery only when it needs to refresh: a bound on
// the allocations keeps a costlier record layout (JSON took 133) or an eager build (54) from
// coming back unnoticed; BenchmarkSessionToken measures the time.
func TestRedisSessionLoadAllocations(t *testing.T) {
	f := newEHRFleet(t, 2)
	ctx := context.Background()
	started, _ := f.login(t)
	allocs := testing.AllocsPerRun(50, func() {
		s, err := f.replicas[0].LoadUserSession(ctx, started.ID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Token(ctx, "nhn:service-a"); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.0f allocations", allocs)
	assert.LessOrEqual(t, allocs, 48.0)
}
