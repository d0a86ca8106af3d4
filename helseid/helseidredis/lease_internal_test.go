package helseidredis

import (
	"context"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// go-redis resends a command whose reply it lost; the lease's holder must then find its own
// lease taken by itself, not by another process it would wait for.
func TestAcquireLeaseResentByItsHolderIsTaken(t *testing.T) {
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := NewTokenCache(TokenCacheConfig{Redis: rdb, Key: make([]byte, 32), Timeout: 5 * time.Second})
	require.NoError(t, err)
	ctx := context.Background()
	_, lk := c.keys("k")

	ok, err := c.acquire(ctx, lk, "mine")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = c.acquire(ctx, lk, "mine")
	require.NoError(t, err)
	assert.True(t, ok, "the same command again: the lease is the caller's")
	ok, err = c.acquire(ctx, lk, "theirs")
	require.NoError(t, err)
	assert.False(t, ok, "another holder's id does not take it")
	ttl, err := rdb.PTTL(ctx, lk).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0), "the lease expires")
	assert.LessOrEqual(t, ttl, DefaultLeaseTTL)
}
