package discovery

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type traceKey struct{}

type fetchSeen struct {
	trace any
	err   error
}

// Observe hears each fetch (not the hits) with the values of the caller that started it.
func TestCacheObserveHearsEachFetch(t *testing.T) {
	srv, issuer := newDiscoveryServer(t, "")
	seen := make(chan fetchSeen, 4)
	clock := newFakeClock()
	c := newTestCache(t, Config{Issuer: issuer, Now: clock.Now, Observe: func(ctx context.Context, took time.Duration, err error) {
		assert.Positive(t, took)
		seen <- fetchSeen{ctx.Value(traceKey{}), err}
	}})
	t.Cleanup(c.Close)

	ctx := context.WithValue(t.Context(), traceKey{}, "first")
	for range 3 {
		_, err := c.Metadata(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, fetchSeen{"first", nil}, <-seen)

	srv.Set(http.StatusInternalServerError, "")
	clock.Advance(DefaultTTL + time.Second)
	_, _ = c.Metadata(context.WithValue(t.Context(), traceKey{}, "stale"))
	failed := <-seen
	assert.Equal(t, "stale", failed.trace)
	assert.Error(t, failed.err)
	assert.Len(t, seen, 0, "one fetch each")
}
