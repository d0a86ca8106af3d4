package helseidredis_test

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// constructors builds each store of the module on client; each returns the constructor's error.
var constructors = map[string]func(client redis.UniversalClient) error{
	"TokenCache": func(c redis.UniversalClient) error {
		_, err := helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: c, Key: make([]byte, 32)})
		return err
	},
	"LoginStore": func(c redis.UniversalClient) error {
		_, err := helseidredis.NewLoginStore(helseidredis.StoreConfig{Redis: c, Key: make([]byte, 32)})
		return err
	},
	"SessionStore": func(c redis.UniversalClient) error {
		_, err := helseidredis.NewSessionStore(helseidredis.StoreConfig{Redis: c, Key: make([]byte, 32)})
		return err
	},
	"KeyStore": func(c redis.UniversalClient) error {
		_, err := helseidredis.NewKeyStore(helseidredis.KeyStoreConfig{Redis: c, Key: make([]byte, 32), Name: "client"})
		return err
	},
	"ReplayStore": func(c redis.UniversalClient) error {
		_, err := helseidredis.NewReplayStore(c, helseidredis.ReplayStoreOptions{Namespace: "nhn:api"})
		return err
	},
}

// Every store bounds its calls with a context deadline, which go-redis ignores without
// ContextTimeoutEnabled (redis.ParseURL leaves it off): each constructor refuses such a client.
func TestStoresRefuseAClientIgnoringDeadlines(t *testing.T) {
	parsed, err := redis.ParseURL("redis://127.0.0.1:1/0")
	require.NoError(t, err)
	fromURL := redis.NewClient(parsed)
	t.Cleanup(func() { _ = fromURL.Close() })
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = cluster.Close() })
	parsed.ContextTimeoutEnabled = true
	good := redis.NewClient(parsed)
	t.Cleanup(func() { _ = good.Close() })
	goodCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = goodCluster.Close() })

	for name, build := range constructors {
		t.Run(name, func(t *testing.T) {
			for _, c := range []redis.UniversalClient{fromURL, cluster} {
				err := build(c)
				require.Error(t, err)
				assert.ErrorContains(t, err, "ContextTimeoutEnabled")
			}
			assert.Error(t, build((*redis.Client)(nil)), "a nil *redis.Client is no client")
			assert.NoError(t, build(good))
			assert.NoError(t, build(goodCluster))
		})
	}
}

// silentServer accepts connections and never answers, as a hung Redis (or a half-open
// connection) does; it closes them when the test ends.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// With the client the docs build, a Redis that accepts and never answers costs a call its
// Timeout, not go-redis's ReadTimeout.
func TestTokenCacheCallEndsAtItsTimeoutOnAHungRedis(t *testing.T) {
	opts, err := redis.ParseURL("redis://" + silentServer(t) + "/0")
	require.NoError(t, err)
	opts.ContextTimeoutEnabled = true
	opts.ReadTimeout = time.Minute // a call that waited for it would fail the test's bound below
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	const timeout = 200 * time.Millisecond
	tc, err := helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: rdb, Key: make([]byte, 32), Timeout: timeout})
	require.NoError(t, err)

	ctx := context.Background()
	start := time.Now()
	_, _, err = tc.LoadToken(ctx, "k")
	took := time.Since(start)
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded), "a deadline ended the call: %v", err)
	assert.Less(t, took, 10*time.Second, "the call waited for ReadTimeout, not the store's Timeout")

	_, _, err = tc.AcquireLease(ctx, "k")
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded), "%v", err)
}
