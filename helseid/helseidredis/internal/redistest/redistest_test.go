package redistest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerStartsStopsAndRestarts(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })

	require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())
	got, err := rdb.Get(ctx, "k").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", got)

	s.Stop()
	assert.Error(t, rdb.Ping(ctx).Err(), "a stopped server must not answer")

	s.Start()
	require.NoError(t, rdb.Ping(ctx).Err())
	assert.ErrorIs(t, rdb.Get(ctx, "k").Err(), redis.Nil, "nothing is persisted across a restart")
}
