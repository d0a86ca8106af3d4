package fapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// retryClient records waits and events instead of sleeping.
type retryClient struct {
	*Client
	mu     sync.Mutex
	waits  []time.Duration
	events []RetryEvent
}

func newRetryClient(t *testing.T, endpoint string, policy RetryPolicy) *retryClient {
	t.Helper()
	rc := &retryClient{}
	c, err := newFromConfig(config{
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, Endpoint: endpoint, Auth: &fakeAuth{},
		Proofer: &fakeProofer{}, Nonces: &mapNonces{m: map[string]string{}}, Retry: policy,
		Now: func() time.Time { return time.Unix(1000, 0) },
		Sleep: func(ctx context.Context, d time.Duration) error {
			rc.mu.Lock()
			rc.waits = append(rc.waits, d)
			rc.mu.Unlock()
			return ctx.Err()
		},
		Observe: func(e RetryEvent) { rc.mu.Lock(); rc.events = append(rc.events, e); rc.mu.Unlock() },
	})
	require.NoError(t, err)
	rc.Client = c
	return rc
}

var (
	fail500 = reply(500, `{"error":"server_error"}`)
	ok200   = reply(200, okDPoP)
)

func TestTransientRetry(t *testing.T) {
	cases := []struct {
		name     string
		grant    string
		replies  []func(http.ResponseWriter)
		policy   RetryPolicy
		wantReqs int
		wantOK   bool
	}{
		{"500 then ok", "client_credentials", []func(http.ResponseWriter){fail500, ok200}, RetryPolicy{}, 2, true},
		{"429 then ok", "client_credentials", []func(http.ResponseWriter){reply(429, ``), ok200}, RetryPolicy{}, 2, true},
		{"gives up after max attempts", "client_credentials", []func(http.ResponseWriter){fail500}, RetryPolicy{}, 3, false},
		{"retries disabled", "client_credentials", []func(http.ResponseWriter){fail500, ok200}, RetryPolicy{MaxAttempts: 1}, 1, false},
		{"client error not retried", "client_credentials", []func(http.ResponseWriter){reply(400, `{"error":"invalid_grant"}`), ok200}, RetryPolicy{}, 1, false},
		{"invalid_client not retried", "client_credentials", []func(http.ResponseWriter){reply(401, `{"error":"invalid_client"}`), ok200}, RetryPolicy{}, 1, false},
		{"code exchange never retried", "authorization_code", []func(http.ResponseWriter){fail500, ok200}, RetryPolicy{}, 1, false},
		{"refresh retried after a 503", "refresh_token", []func(http.ResponseWriter){reply(503, ``), ok200}, RetryPolicy{}, 2, true},
		{"refresh retried after a 429", "refresh_token", []func(http.ResponseWriter){reply(429, ``), ok200}, RetryPolicy{}, 2, true},
		{"refresh not retried after a 502 (the server may have rotated it)", "refresh_token", []func(http.ResponseWriter){reply(502, ``), ok200}, RetryPolicy{}, 1, false},
		{"refresh not retried after a 500", "refresh_token", []func(http.ResponseWriter){fail500, ok200}, RetryPolicy{}, 1, false},
		{"nonce challenge then 500 then ok", "client_credentials", []func(http.ResponseWriter){nonceChallenge, fail500, ok200}, RetryPolicy{}, 3, true},
		{"retry-after beyond max backoff ends retries", "client_credentials", []func(http.ResponseWriter){reply(429, ``, "Retry-After", "60"), ok200}, RetryPolicy{}, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScript(t, tc.replies...)
			c := newRetryClient(t, srv.URL, tc.policy)
			_, err := c.Token(context.Background(), url.Values{"grant_type": {tc.grant}})
			if tc.wantOK {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			reqs := srv.recorded()
			require.Len(t, reqs, tc.wantReqs)
			seen := map[string]bool{}
			for _, r := range reqs {
				assert.False(t, seen[r.form.Get("client_assertion")], "every attempt carries a fresh assertion")
				seen[r.form.Get("client_assertion")] = true
				assert.False(t, seen[r.proof], "every attempt carries a fresh proof")
				seen[r.proof] = true
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	srv := newScript(t, reply(503, ``, "Retry-After", "2"), ok200)
	c := newRetryClient(t, srv.URL, RetryPolicy{})
	_, err := c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}})
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{2 * time.Second}, c.waits)
	require.Len(t, c.events, 1)
	assert.Equal(t, RetryEvent{Kind: TransientRetry, Attempt: 1, StatusCode: 503, Wait: 2 * time.Second}, c.events[0])
}

func TestBackoffGrowsWithinBounds(t *testing.T) {
	srv := newScript(t, fail500)
	c := newRetryClient(t, srv.URL, RetryPolicy{MaxAttempts: 5, MinBackoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	_, err := c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}})
	require.Error(t, err)
	require.Len(t, c.waits, 4)
	bounds := []time.Duration{100, 200, 300, 300}
	for i, w := range c.waits {
		hi := bounds[i] * time.Millisecond
		assert.GreaterOrEqual(t, w, hi/2, "wait %d", i)
		assert.LessOrEqual(t, w, hi, "wait %d", i)
	}
}

func TestNetworkErrorRetrySafety(t *testing.T) {
	// A listener that resets every connection, counting them.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			_ = conn.Close()
		}
	}()
	endpoint := "http://" + ln.Addr().String() + "/token"

	c := newRetryClient(t, endpoint, RetryPolicy{})
	_, err = c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}})
	require.Error(t, err)
	assert.Len(t, c.waits, 2, "client credentials: retried after network errors")

	c = newRetryClient(t, endpoint, RetryPolicy{})
	_, err = c.Token(context.Background(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"SECRET-RT"}})
	require.Error(t, err)
	assert.Empty(t, c.waits, "a rotating refresh is never retried after an ambiguous network error")
	assert.NotContains(t, err.Error(), "SECRET")
}

func TestCancelledWhileWaiting(t *testing.T) {
	srv := newScript(t, fail500)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := newFromConfig(config{HTTPClient: http.DefaultClient, Endpoint: srv.URL, Auth: &fakeAuth{},
		Sleep: func(context.Context, time.Duration) error { cancel(); return context.Canceled }})
	require.NoError(t, err)
	_, err = c.Token(ctx, url.Values{"grant_type": {"client_credentials"}})
	require.ErrorIs(t, err, context.Canceled)
	var oe *Error
	require.ErrorAs(t, err, &oe, "the last failure stays reachable")
	assert.Equal(t, 500, oe.StatusCode)
	assert.Len(t, srv.recorded(), 1)
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"3":                             3 * time.Second,
		"0":                             0,
		"Thu, 01 Jan 2026 12:00:10 GMT": 10 * time.Second,
		"Thu, 01 Jan 2026 11:00:00 GMT": 0,
	} {
		d, ok := retryAfter(http.Header{"Retry-After": {v}}, now)
		assert.True(t, ok, v)
		assert.Equal(t, want, d, v)
	}
	for _, v := range []string{"", "-1", "soon", "99999999999"} {
		_, ok := retryAfter(http.Header{"Retry-After": {v}}, now)
		assert.False(t, ok, v)
	}
}

// BeforeAttempt runs before every attempt (the first, the nonce retry and a transient retry),
// bounds each attempt by the time it returns, and a refusal sends nothing more.
func TestBeforeAttempt(t *testing.T) {
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"RT"}}
	t.Run("every attempt", func(t *testing.T) {
		srv := newScript(t, nonceChallenge, reply(503, `{"error":"temporarily_unavailable"}`), ok200)
		rc := newRetryClient(t, srv.URL, RetryPolicy{})
		var calls atomic.Int32
		rc.before = func(context.Context) (time.Duration, error) { calls.Add(1); return time.Second, nil }
		_, err := rc.Token(context.Background(), refresh)
		require.NoError(t, err)
		assert.Len(t, srv.recorded(), 3)
		assert.EqualValues(t, 3, calls.Load(), "one call per attempt")
	})
	t.Run("a refusal sends nothing", func(t *testing.T) {
		srv := newScript(t, reply(503, `{"error":"temporarily_unavailable"}`), ok200)
		rc := newRetryClient(t, srv.URL, RetryPolicy{})
		lost := errors.New("lease lost")
		var calls atomic.Int32
		rc.before = func(context.Context) (time.Duration, error) {
			if calls.Add(1) > 1 {
				return 0, lost
			}
			return time.Second, nil
		}
		_, err := rc.Token(context.Background(), refresh)
		require.ErrorIs(t, err, lost)
		assert.Len(t, srv.recorded(), 1, "the retry is not sent")
	})
	t.Run("each attempt bounded", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		rc := newRetryClient(t, srv.URL, RetryPolicy{})
		rc.before = func(context.Context) (time.Duration, error) { return 50 * time.Millisecond, nil }
		started := time.Now()
		_, err := rc.Token(context.Background(), refresh)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(started), 2*time.Second, "the attempt ends at its bound, not at the client's 5 s")
	})
}
