package helseidotel_test

import (
	"context"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/stretchr/testify/assert"
)

// Counting a cache hit, the observer's work on the SDK's hot path, allocates nothing.
func TestObservedHitDoesNotAllocate(t *testing.T) {
	tel := newTelemetry(t)
	ctx := context.Background()
	hit := helseid.Event{Kind: helseid.CacheHit, Grant: "client_credentials", Scopes: apiScope}
	tel.obs.Observe(ctx, hit)
	allocs := testing.AllocsPerRun(1000, func() { tel.obs.Observe(ctx, hit) })
	assert.Zero(t, allocs)
	counts, _ := tel.metrics(t)
	assert.Equal(t, int64(1002), counts["cache_hit"])
}
