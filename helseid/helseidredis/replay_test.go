package helseidredis_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
)

// newClient connects to srv the way the store requires (deadlines from the context), with
// fast retries so a restarted server is found again at once. The pool size is fixed: after as
// many failed dials go-redis stops dialling and probes once a second, which the recovery test
// stays below whatever the number of CPUs.
func newClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 32, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newStore(t *testing.T, c redis.UniversalClient, opts helseidredis.ReplayStoreOptions) *helseidredis.ReplayStore {
	t.Helper()
	s, err := helseidredis.NewReplayStore(c, opts)
	require.NoError(t, err)
	return s
}

// replayKeys lists every key the replay stores wrote, with SCAN as an operator would.
func replayKeys(t *testing.T, c *redis.Client) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, "helseid:dpop:*", 100).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	return keys
}

func TestReplayStoreAcceptsEachIDOnce(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, newClient(t, srv.Addr), helseidredis.ReplayStoreOptions{Namespace: "nhn:api"})
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)

	fresh, err := s.CheckAndSet(ctx, "id-1", exp)
	require.NoError(t, err)
	assert.True(t, fresh, "first use")
	fresh, err = s.CheckAndSet(ctx, "id-1", exp)
	require.NoError(t, err)
	assert.False(t, fresh, "replay")
	fresh, err = s.CheckAndSet(ctx, "id-2", exp)
	require.NoError(t, err)
	assert.True(t, fresh, "another id")
}

func TestReplayStoreConcurrentSameIDExactlyOneFresh(t *testing.T) {
	srv := redistest.Start(t)
	// Stores on separate clients, as on separate machines; a generous timeout, since 300
	// callers share three pools of connections dialled at once under the race detector.
	opts := helseidredis.ReplayStoreOptions{Namespace: "nhn:api", Timeout: 10 * time.Second}
	stores := []*helseidredis.ReplayStore{
		newStore(t, newClient(t, srv.Addr), opts),
		newStore(t, newClient(t, srv.Addr), opts),
		newStore(t, newClient(t, srv.Addr), opts),
	}
	exp := time.Now().Add(time.Minute)
	const callers = 300
	var fresh, stale atomic.Int32
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := stores[i%len(stores)].CheckAndSet(context.Background(), "same-id", exp)
			if !assert.NoError(t, err) {
				return
			}
			if ok {
				fresh.Add(1)
			} else {
				stale.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	assert.EqualValues(t, 1, fresh.Load())
	assert.EqualValues(t, callers-1, stale.Load())
}

// The key lives exactly until the proof could no longer be accepted, measured with the
// store's clock, in whole milliseconds rounded up; an expiry already past still records the
// id for a millisecond rather than sending Redis an invalid PX 0.
func TestReplayStoreKeyExpiresWithTheAcceptanceWindow(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.Addr)
	now := time.Now()
	s := newStore(t, c, helseidredis.ReplayStoreOptions{Namespace: "nhn:api", Now: func() time.Time { return now }})
	ctx := context.Background()

	fresh, err := s.CheckAndSet(ctx, "in-window", now.Add(66*time.Second+300*time.Microsecond))
	require.NoError(t, err)
	require.True(t, fresh)
	keys := replayKeys(t, c)
	require.Len(t, keys, 1)
	ttl, err := c.PTTL(ctx, keys[0]).Result()
	require.NoError(t, err)
	assert.LessOrEqual(t, ttl, 66001*time.Millisecond, "rounded up to whole milliseconds, no longer")
	assert.Greater(t, ttl, 65*time.Second, "kept for the whole window (less Redis' own elapsed time)")

	require.NoError(t, c.FlushAll(ctx).Err())
	fresh, err = s.CheckAndSet(ctx, "past", now.Add(-time.Second))
	require.NoError(t, err)
	assert.True(t, fresh)
	for _, k := range replayKeys(t, c) { // the key may already be gone: then it expired
		ttl, err := c.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.LessOrEqual(t, ttl, time.Millisecond)
	}
}

func TestReplayStoreNamespacesDoNotCollide(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.Addr)
	a := newStore(t, c, helseidredis.ReplayStoreOptions{Namespace: "nhn:api-a"})
	a2 := newStore(t, newClient(t, srv.Addr), helseidredis.ReplayStoreOptions{Namespace: "nhn:api-a"})
	b := newStore(t, c, helseidredis.ReplayStoreOptions{Namespace: "nhn:api-b"})
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)

	fresh, err := a.CheckAndSet(ctx, "shared-id", exp)
	require.NoError(t, err)
	assert.True(t, fresh)
	fresh, err = b.CheckAndSet(ctx, "shared-id", exp)
	require.NoError(t, err)
	assert.True(t, fresh, "another API's store does not see api-a's id")
	fresh, err = a2.CheckAndSet(ctx, "shared-id", exp)
	require.NoError(t, err)
	assert.False(t, fresh, "another machine of api-a does")

	keys := replayKeys(t, c)
	require.Len(t, keys, 2)
	var prefixes []string
	for _, k := range keys {
		prefixes = append(prefixes, k[:strings.LastIndexByte(k, ':')+1])
	}
	assert.ElementsMatch(t, []string{"helseid:dpop:nhn:api-a:", "helseid:dpop:nhn:api-b:"}, prefixes)
}

// Keys have one length whatever the id, and hold none of its text.
func TestReplayStoreKeysAreHashed(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.Addr)
	s := newStore(t, c, helseidredis.ReplayStoreOptions{Namespace: "nhn:api"})
	ids := []string{"x", strings.Repeat("a", 64), strings.Repeat("attacker-chosen-", 4096), "with spaces * and [glob] {tag}\n"}
	for _, id := range ids {
		fresh, err := s.CheckAndSet(context.Background(), id, time.Now().Add(time.Minute))
		require.NoError(t, err)
		require.True(t, fresh)
	}
	keys := replayKeys(t, c)
	require.Len(t, keys, len(ids))
	const prefix = "helseid:dpop:nhn:api:"
	for _, k := range keys {
		assert.Len(t, k, len(prefix)+43, k)
		require.True(t, strings.HasPrefix(k, prefix), k)
		assert.Regexp(t, `^[A-Za-z0-9_-]{43}$`, k[len(prefix):])
		assert.NotContains(t, k, "attacker")
		assert.NotContains(t, k, "aaaa")
	}
}

// A Redis that accepts connections and never answers: each check fails within the store's
// timeout with ErrReplayStoreUnavailable, never reports a fresh id.
func TestReplayStoreTimesOutOnAHungRedis(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	held := make(chan net.Conn, 64)
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			held <- conn // read nothing, answer nothing
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		conns.Wait()
		close(held)
		for conn := range held {
			_ = conn.Close()
		}
	})

	const timeout = 150 * time.Millisecond
	s := newStore(t, newClient(t, l.Addr().String()), helseidredis.ReplayStoreOptions{Namespace: "nhn:api", Timeout: timeout})
	for range 3 {
		start := time.Now()
		fresh, err := s.CheckAndSet(context.Background(), "id", time.Now().Add(time.Minute))
		elapsed := time.Since(start)
		require.ErrorIs(t, err, helseidredis.ErrReplayStoreUnavailable)
		assert.False(t, fresh)
		assert.GreaterOrEqual(t, elapsed, timeout)
		assert.Less(t, elapsed, timeout+time.Second, "bounded by the store's timeout, not go-redis' 3 s read timeout")
	}

	// The caller's own deadline, when shorter, bounds the check too.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.CheckAndSet(ctx, "id", time.Now().Add(time.Minute))
	require.ErrorIs(t, err, helseidredis.ErrReplayStoreUnavailable)
	assert.Less(t, time.Since(start), timeout)
}

// While Redis is down every check fails (closed); when it is back the same store works again
// without being rebuilt, and nothing was recorded during the outage.
func TestReplayStoreRecoversWhenRedisReturns(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, newClient(t, srv.Addr), helseidredis.ReplayStoreOptions{Namespace: "nhn:api", Timeout: 200 * time.Millisecond})
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)

	fresh, err := s.CheckAndSet(ctx, "before", exp)
	require.NoError(t, err)
	require.True(t, fresh)

	srv.Stop()
	for _, id := range []string{"before", "during", "during"} {
		fresh, err := s.CheckAndSet(ctx, id, exp)
		require.ErrorIs(t, err, helseidredis.ErrReplayStoreUnavailable, id)
		assert.False(t, fresh, id)
	}

	srv.Start() // an empty Redis: nothing persisted
	fresh, err = s.CheckAndSet(ctx, "during", exp)
	require.NoError(t, err, "the first check after the restart succeeds")
	assert.True(t, fresh, "refused checks recorded nothing")
	fresh, err = s.CheckAndSet(ctx, "during", exp)
	require.NoError(t, err)
	assert.False(t, fresh)
}

func TestNewReplayStoreRefusesBadOptions(t *testing.T) {
	good := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = good.Close() })
	noCtx := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = noCtx.Close() })
	noCtxCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = noCtxCluster.Close() })
	noCtxRing := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { _ = noCtxRing.Close() })
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ring.Close() })
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cluster.Close() })

	for _, tc := range []struct {
		name   string
		client redis.UniversalClient
		opts   helseidredis.ReplayStoreOptions
		ok     bool
	}{
		{"valid", good, helseidredis.ReplayStoreOptions{Namespace: "nhn:your-api"}, true},
		{"url-like namespace", good, helseidredis.ReplayStoreOptions{Namespace: "https://api.example.no/journal", Timeout: time.Second}, true},
		{"no client", nil, helseidredis.ReplayStoreOptions{Namespace: "nhn:api"}, false},
		{"nil *redis.Client", (*redis.Client)(nil), helseidredis.ReplayStoreOptions{Namespace: "nhn:api"}, false},
		{"no namespace", good, helseidredis.ReplayStoreOptions{}, false},
		{"long namespace", good, helseidredis.ReplayStoreOptions{Namespace: strings.Repeat("a", 129)}, false},
		{"namespace with space", good, helseidredis.ReplayStoreOptions{Namespace: "my api"}, false},
		{"namespace with glob", good, helseidredis.ReplayStoreOptions{Namespace: "api*"}, false},
		{"namespace with hash tag", good, helseidredis.ReplayStoreOptions{Namespace: "{api}"}, false},
		{"negative timeout", good, helseidredis.ReplayStoreOptions{Namespace: "nhn:api", Timeout: -time.Second}, false},
		{"client ignoring deadlines", noCtx, helseidredis.ReplayStoreOptions{Namespace: "nhn:api"}, false},
		{"cluster ignoring deadlines", noCtxCluster, helseidredis.ReplayStoreOptions{Namespace: "nhn:api"}, false},
		{"ring ignoring deadlines", noCtxRing, helseidredis.ReplayStoreOptions{Namespace: "nhn:api"}, false},
		{"ring: a shard's failure moves its keys", ring, helseidredis.ReplayStoreOptions{Namespace: "nhn:api"}, false},
		{"cluster", cluster, helseidredis.ReplayStoreOptions{Namespace: "nhn:api"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := helseidredis.NewReplayStore(tc.client, tc.opts)
			if tc.ok {
				require.NoError(t, err)
				assert.NotNil(t, s)
				return
			}
			require.ErrorIs(t, err, helseidredis.ErrInvalidReplayStoreOptions)
			assert.Nil(t, s)
		})
	}
}

// Behind a dpop.Verifier: a proof is accepted once, its key lives for the verifier's
// acceptance window after iat, with the fleet's clock skew (MaxAge + 2 × Leeway + 1 s), and a Redis that is down makes the
// verifier refuse with dpop.ErrReplayCheck (a Guard's 503), not accept.
func TestReplayStoreBehindVerifier(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.Addr)
	now := time.Now()
	clock := func() time.Time { return now }
	s := newStore(t, c, helseidredis.ReplayStoreOptions{Namespace: "nhn:api", Timeout: 200 * time.Millisecond, Now: clock})
	v, err := dpop.NewVerifier(dpop.VerifierConfig{Replay: s, MaxAge: 30 * time.Second, Leeway: 2 * time.Second, Now: clock})
	require.NoError(t, err)
	issuedAt := now.Add(-10 * time.Second)
	p, err := dpop.NewProofer(dpop.ProoferConfig{Now: func() time.Time { return issuedAt }})
	require.NoError(t, err)
	u, err := url.Parse("https://api.example.no/fhir")
	require.NoError(t, err)
	proof, err := p.Proof("GET", u, "", "")
	require.NoError(t, err)
	ctx := context.Background()
	req := dpop.ProofRequest{Method: "GET", URL: u}

	_, err = v.VerifyProof(ctx, proof, req)
	require.NoError(t, err)
	_, err = v.VerifyProof(ctx, proof, req)
	require.ErrorIs(t, err, dpop.ErrReplayed)

	keys := replayKeys(t, c)
	require.Len(t, keys, 1)
	ttl, err := c.PTTL(ctx, keys[0]).Result()
	require.NoError(t, err)
	// MaxAge, Leeway twice (the window, then the fleet's clock skew) and a second: 25 s left.
	window := issuedAt.Add(30*time.Second + 2*2*time.Second + time.Second).Sub(now)
	assert.LessOrEqual(t, ttl, window)
	assert.Greater(t, ttl, window-time.Second)

	srv.Stop()
	fresh, err := p.Proof("GET", u, "", "")
	require.NoError(t, err)
	_, err = v.VerifyProof(ctx, fresh, req)
	require.ErrorIs(t, err, dpop.ErrReplayCheck)
	require.ErrorIs(t, err, helseidredis.ErrReplayStoreUnavailable)
}

// A Redis out of memory under its default policy (noeviction) refuses the write: the check
// fails closed rather than forgetting older proofs to make room.
func TestReplayStoreFullRedisFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv.Addr)
	s := newStore(t, c, helseidredis.ReplayStoreOptions{Namespace: "nhn:api"})
	ctx := context.Background()
	policy, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	require.NoError(t, err)
	require.Equal(t, "noeviction", policy["maxmemory-policy"])
	require.NoError(t, c.ConfigSet(ctx, "maxmemory", "1").Err()) // less than Redis already uses

	fresh, err := s.CheckAndSet(ctx, "id", time.Now().Add(time.Minute))
	require.ErrorIs(t, err, helseidredis.ErrReplayStoreUnavailable)
	assert.False(t, fresh)
	assert.ErrorContains(t, err, "OOM")
}
