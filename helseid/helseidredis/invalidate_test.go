package helseidredis_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rejectingAPI answers 401 invalid_token to the one access token it was told to reject (as an
// API does for a revoked token) and 200 to any other, and records the tokens it accepted.
type rejectingAPI struct {
	*httptest.Server
	mu       sync.Mutex
	rejected string
	accepted []string
}

func newRejectingAPI(t *testing.T) *rejectingAPI {
	t.Helper()
	api := &rejectingAPI{}
	api.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
		api.mu.Lock()
		defer api.mu.Unlock()
		if !ok || tok == api.rejected {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token", algs="ES256"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		api.accepted = append(api.accepted, tok)
	}))
	t.Cleanup(api.Close)
	return api
}

func (api *rejectingAPI) reject(tok string) {
	api.mu.Lock()
	defer api.mu.Unlock()
	api.rejected = tok
}

func (api *rejectingAPI) lastAccepted() string {
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.accepted) == 0 {
		return ""
	}
	return api.accepted[len(api.accepted)-1]
}

func get(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

// A token an API rejects is replaced for the whole fleet: the replica that saw the 401 deletes
// it from Redis and requests a new one, and another replica holding the rejected token in its
// memory takes the new one from Redis after its own 401, without deleting it.
func TestTokenRejectedByTheAPIIsReplacedFleetWide(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	api := newRejectingAPI(t)
	a, b := f.replica(t, nil, nil), f.replica(t, nil, nil)
	ctx := context.Background()

	first, err := a.Token(ctx, request(1))
	require.NoError(t, err)
	fromB, err := b.Token(ctx, request(1))
	require.NoError(t, err)
	require.Equal(t, first.AccessToken, fromB.AccessToken, "b took a's token from Redis")
	require.EqualValues(t, 1, f.srv.Stats().TokensIssued)

	api.reject(first.AccessToken)
	httpA, err := a.HTTPClient(request(1))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, get(t, httpA, api.URL), "a retried with a new token")
	second := api.lastAccepted()
	assert.NotEmpty(t, second)
	assert.NotEqual(t, first.AccessToken, second)
	assert.EqualValues(t, 2, f.srv.Stats().TokensIssued, "the rejected token was not loaded back from Redis")
	again, err := a.Token(ctx, request(1))
	require.NoError(t, err)
	assert.Equal(t, second, again.AccessToken)

	// b still holds the rejected token in memory; its 401 must not delete the new one a stored.
	httpB, err := b.HTTPClient(request(1))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, get(t, httpB, api.URL), "b retried with the fleet's new token")
	assert.Equal(t, second, api.lastAccepted())
	assert.EqualValues(t, 2, f.srv.Stats().TokensIssued, "b took the new token from Redis")
	c := f.replica(t, nil, nil)
	fromC, err := c.Token(ctx, request(1))
	require.NoError(t, err)
	assert.Equal(t, second, fromC.AccessToken, "the new token is still in Redis")
	assert.EqualValues(t, 2, f.srv.Stats().TokensIssued)
}

func TestInvalidateTokenDeletesOnlyThatToken(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	tc := f.tokenCache(t)
	ctx := context.Background()
	store := func(key, at string) {
		lease, ok, err := tc.AcquireLease(ctx, key)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, tc.StoreToken(ctx, key, helseid.SharedToken{Token: fapi.Token{AccessToken: at, Expiry: time.Now().Add(time.Minute)}, Fetched: time.Now()}, lease))
	}
	load := func(key string) string {
		tok, ok, err := tc.LoadToken(ctx, key)
		require.NoError(t, err)
		if !ok {
			return ""
		}
		return tok.AccessToken
	}

	store("k", "old")
	store("k", "newer") // another replica replaced it meanwhile
	require.NoError(t, tc.InvalidateToken(ctx, "k", "old"))
	assert.Equal(t, "newer", load("k"), "a newer token is not deleted")
	require.NoError(t, tc.InvalidateToken(ctx, "other-key", "newer"))
	assert.Equal(t, "newer", load("k"), "another key's invalidation does not touch it")
	require.NoError(t, tc.InvalidateToken(ctx, "k", "newe"))
	assert.Equal(t, "newer", load("k"), "a prefix of the token is not the token")
	require.NoError(t, tc.InvalidateToken(ctx, "k", "newer"))
	assert.Empty(t, load("k"), "the rejected token is gone")
	require.NoError(t, tc.InvalidateToken(ctx, "k", "newer"), "invalidating an absent token is no error")

	f.redis.Stop()
	assert.ErrorContains(t, tc.InvalidateToken(ctx, "k", "newer"), "invalidate token", "Redis down is reported")
}
