package helseid_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
)

// A loaded session serves the record's tokens until their last 10 s, as a session kept in
// memory does (the resource package's default margin), and after that refreshes once.
func TestLoadedSessionMargin(t *testing.T) {
	ctx := context.Background()
	for _, loaded := range []bool{true, false} {
		r := newReplicas(t, 2, nil, nil)
		started := r.login(t) // kept in memory by replica 1
		tok, err := started.Token(ctx, "nhn:service-a")
		require.NoError(t, err)
		issued := r.srv.Stats().TokensIssued
		get := func() string {
			s := started
			if loaded {
				s, err = r.clients[0].LoadUserSession(ctx, started.ID())
				require.NoError(t, err)
			}
			got, err := s.Token(ctx, "nhn:service-a")
			require.NoError(t, err)
			return got.AccessToken
		}
		r.clock.Set(tok.Expiry.Add(-10*time.Second - time.Millisecond))
		assert.Equal(t, tok.AccessToken, get(), "loaded=%v: outside the margin the stored token is served", loaded)
		r.clock.Set(tok.Expiry.Add(-10 * time.Second))
		assert.NotEqual(t, tok.AccessToken, get(), "loaded=%v: inside the margin a new token is got", loaded)
		assert.Equal(t, issued+1, r.srv.Stats().TokensIssued, "loaded=%v", loaded)
	}
}

// An API that refuses a loaded session's token (401 invalid_token) before anything else was
// asked of the session gets a new token on the retry, not the refused one again.
func TestLoadedSessionInvalidatedToken(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 2, nil, nil)
	started := r.login(t)
	first, err := started.Token(ctx, "nhn:service-a")
	require.NoError(t, err)
	var mu sync.Mutex
	var seen []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, strings.TrimPrefix(req.Header.Get("Authorization"), "DPoP "))
		if len(seen) == 1 {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(api.Close)

	s, err := r.clients[1].LoadUserSession(ctx, started.ID())
	require.NoError(t, err)
	resp, err := s.HTTPClient("nhn:service-a").Get(api.URL)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	assert.Equal(t, first.AccessToken, seen[0])
	assert.NotEqual(t, first.AccessToken, seen[1], "the refused token is not sent again")
}

// A loaded session's refresh token is the record's, before and after anything is built, and
// a session ended before anything was built serves nothing more.
func TestLoadedSessionRefreshTokenAndEnd(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 2, nil, nil)
	started := r.login(t)
	rt, exp := started.RefreshToken()
	s, err := r.clients[1].LoadUserSession(ctx, started.ID())
	require.NoError(t, err)
	gotRT, gotExp := s.RefreshToken()
	assert.Equal(t, rt, gotRT)
	assert.True(t, exp.Equal(gotExp))

	_, err = s.Token(ctx, "nhn:service-a")
	require.NoError(t, err)
	require.NoError(t, s.EndUserSession(ctx))
	_, err = s.Token(ctx, "nhn:service-a")
	assert.ErrorIs(t, err, helseid.ErrSessionEnded)
}
