package jwks

import (
	"context"
	"crypto/ecdsa"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/internal/background"
)

// After Close the keys already fetched are served, and a miss starts no fetch (and no
// goroutine): it fails at once with the closed error.
func TestClosedSetServesKeysAndStartsNoFetch(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}))
	s := newTestSet(t, Config{URL: srv.URL})
	_, err := s.Key(context.Background(), "k1", "ES256")
	require.NoError(t, err)
	s.Close()

	_, err = s.Key(context.Background(), "k1", "ES256")
	assert.NoError(t, err, "a known key is still served")
	_, err = s.Key(context.Background(), "k2", "ES256")
	assert.ErrorIs(t, err, background.ErrClosed)
	assert.ErrorIs(t, err, ErrKeyNotFound)
	_, err = s.Key(context.Background(), "k3", "ES256")
	assert.ErrorIs(t, err, background.ErrClosed, "and so is the next miss")
	assert.Equal(t, int32(1), srv.Requests.Load(), "no fetch after Close")

	never := newTestSet(t, Config{URL: srv.URL})
	never.Close()
	_, err = never.Key(context.Background(), "k1", "ES256")
	assert.ErrorIs(t, err, background.ErrClosed, "a set closed before its first fetch never fetches")
	assert.Equal(t, int32(1), srv.Requests.Load())
}
