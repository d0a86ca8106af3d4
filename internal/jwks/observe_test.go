package jwks

import (
	"context"
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type traceKey struct{}

// Observe hears each fetch (not the hits) with the values of the caller that needed it.
func TestSetObserveHearsEachFetch(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}))
	seen := make(chan any, 4)
	s := newTestSet(t, Config{URL: srv.URL, Now: newFakeClock().Now, Observe: func(ctx context.Context, took time.Duration, err error) {
		assert.NoError(t, err)
		assert.Positive(t, took)
		seen <- ctx.Value(traceKey{})
	}})
	ctx := context.WithValue(t.Context(), traceKey{}, "first")
	for range 3 {
		require.NoError(t, verify(ctx, s, signES256(t, ecKey256, "k1")))
	}
	waitIdle(s)
	assert.Equal(t, "first", <-seen)
	assert.Len(t, seen, 0, "one fetch")
}
