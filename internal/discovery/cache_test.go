package discovery

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/internal/docserver"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/helseid-go/sdk/internal/httpx"
)

func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC))
}

// newDiscoveryServer starts a server for the issuer srv.URL+path; it serves a valid document.
func newDiscoveryServer(t *testing.T, path string) (*docserver.Server, string) {
	t.Helper()
	s := docserver.New(t, "application/json", "")
	issuer := s.URL + path
	s.Set(http.StatusOK, helseIDDocument(issuer, s.URL))
	return s, issuer
}

func newTestCache(t *testing.T, cfg Config) *Cache {
	t.Helper()
	c, err := NewCache(cfg)
	require.NoError(t, err)
	c.jitter = func(d time.Duration) time.Duration { return d } // no jitter: waits are nominal
	return c
}

func TestNewCacheValidatesConfig(t *testing.T) {
	for _, issuer := range []string{"", "not a url", "http://helseid-sts.nhn.no", "https://x.example?tenant=1", "https://u:p@x.example"} {
		_, err := NewCache(Config{Issuer: issuer})
		assert.Error(t, err, issuer)
	}
	_, err := NewCache(Config{Issuer: helseIDTestIssuer, MinRetry: time.Minute, MaxRetry: time.Second})
	assert.Error(t, err)

	c, err := NewCache(Config{Issuer: helseIDTestIssuer})
	require.NoError(t, err)
	assert.Equal(t, helseIDTestIssuer+"/.well-known/openid-configuration", c.URL())
	assert.Equal(t, helseIDTestIssuer, c.Issuer())
	assert.Equal(t, DefaultTTL, c.ttl)
	assert.Equal(t, DefaultMinRetry, c.minRetry)
	assert.Equal(t, DefaultMaxRetry, c.maxRetry)
	assert.Equal(t, 30*time.Second, c.client.Timeout)
}

func TestCacheFetchesAndServesFromCache(t *testing.T) {
	srv, issuer := newDiscoveryServer(t, "")
	c := newTestCache(t, Config{Issuer: issuer, Now: newFakeClock().Now})

	md, err := c.Metadata(t.Context())
	require.NoError(t, err)
	assert.Equal(t, issuer, md.Issuer)
	assert.Equal(t, srv.URL+"/connect/token", md.TokenEndpoint)
	assert.Equal(t, "application/json", srv.LastHeader().Get("Accept"))

	for range 10 {
		again, err := c.Metadata(t.Context())
		require.NoError(t, err)
		assert.Same(t, md, again)
	}
	assert.EqualValues(t, 1, srv.Requests.Load())
}

func TestCacheIssuerWithTrailingSlash(t *testing.T) {
	// The conformance suite's issuer form: a path ending in "/". The document is fetched from
	// issuer + ".well-known/openid-configuration" and its issuer compared without normalising.
	var gotPath atomic.Value
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath.Store(r.URL.Path)
		_, _ = w.Write([]byte(helseIDDocument(issuer, issuer)))
	}))
	t.Cleanup(srv.Close)
	issuer = srv.URL + "/test/a/helseid-go/"

	c := newTestCache(t, Config{Issuer: issuer})
	md, err := c.Metadata(t.Context())
	require.NoError(t, err)
	assert.Equal(t, issuer, md.Issuer)
	assert.Equal(t, "/test/a/helseid-go/.well-known/openid-configuration", gotPath.Load())
}

func TestCacheIssuerMismatchFromServer(t *testing.T) {
	// Conformance module discovery-issuer-mismatch: the document's issuer is the real one plus
	// "INVALID". The document must be refused, and nothing more requested inside the backoff.
	srv, issuer := newDiscoveryServer(t, "/test/a/alias/")
	srv.Set(http.StatusOK, helseIDDocument(issuer+"INVALID", srv.URL))
	clock := newFakeClock()
	c := newTestCache(t, Config{Issuer: issuer, Now: clock.Now})

	md, err := c.Metadata(t.Context())
	require.Error(t, err)
	assert.Nil(t, md)
	assert.ErrorIs(t, err, ErrIssuerMismatch)
	assert.Contains(t, err.Error(), issuer+"INVALID")

	_, err = c.Metadata(t.Context())
	assert.ErrorIs(t, err, ErrIssuerMismatch)
	assert.EqualValues(t, 1, srv.Requests.Load())
}

func TestCacheSingleFetchForConcurrentCallers(t *testing.T) {
	const callers = 100
	srv, issuer := newDiscoveryServer(t, "")
	release := make(chan struct{})
	srv.SetBlock(release)
	c := newTestCache(t, Config{Issuer: issuer})

	var waiting atomic.Int32
	allWaiting := make(chan struct{})
	c.testHookWaiting = func() {
		if waiting.Add(1) == callers {
			close(allWaiting)
		}
	}

	results := make([]*Metadata, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Metadata(context.Background())
		}()
	}
	<-allWaiting
	close(release)
	wg.Wait()

	assert.EqualValues(t, 1, srv.Requests.Load(), "one request for all callers")
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Same(t, results[0], results[i])
	}
}

func TestCacheWaiterWithEndedContextReturnsAtOnce(t *testing.T) {
	srv, issuer := newDiscoveryServer(t, "")
	release := make(chan struct{})
	srv.SetBlock(release)
	c := newTestCache(t, Config{Issuer: issuer})

	waiting := make(chan struct{}, 2)
	c.testHookWaiting = func() { waiting <- struct{}{} }

	// The first caller starts the fetch with a context it then cancels: the fetch must go on.
	starterCtx, cancelStarter := context.WithCancel(context.Background())
	starterErr := make(chan error, 1)
	go func() {
		_, err := c.Metadata(starterCtx)
		starterErr <- err
	}()
	<-waiting

	patient := make(chan *Metadata, 1)
	go func() {
		md, err := c.Metadata(context.Background())
		assert.NoError(t, err)
		patient <- md
	}()
	<-waiting

	cancelStarter()
	assert.ErrorIs(t, <-starterErr, context.Canceled, "the impatient caller returns before the fetch ends")

	// A caller whose context has already ended does not wait at all.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Metadata(done)
	assert.ErrorIs(t, err, context.Canceled)

	close(release)
	md := <-patient
	require.NotNil(t, md)
	assert.Equal(t, issuer, md.Issuer)
	assert.EqualValues(t, 1, srv.Requests.Load())
}

func TestCacheRefetchesAfterTTL(t *testing.T) {
	srv, issuer := newDiscoveryServer(t, "")
	clock := newFakeClock()
	c := newTestCache(t, Config{Issuer: issuer, Now: clock.Now, TTL: time.Hour})

	first, err := c.Metadata(t.Context())
	require.NoError(t, err)

	clock.Advance(time.Hour - time.Nanosecond)
	again, err := c.Metadata(t.Context())
	require.NoError(t, err)
	assert.Same(t, first, again)
	assert.EqualValues(t, 1, srv.Requests.Load())

	srv.Set(http.StatusOK, strings.Replace(helseIDDocument(issuer, srv.URL), "/connect/token", "/connect/token2", 1))
	clock.Advance(time.Nanosecond)
	second, err := c.Metadata(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 2, srv.Requests.Load())
	assert.Equal(t, srv.URL+"/connect/token2", second.TokenEndpoint)
	assert.Empty(t, srv.LastHeader().Get("Cache-Control"), "a TTL refresh is not forced")
}

func TestCacheBackoffAfterFailure(t *testing.T) {
	srv, issuer := newDiscoveryServer(t, "")
	srv.Set(http.StatusServiceUnavailable, "")
	clock := newFakeClock()
	c := newTestCache(t, Config{Issuer: issuer, Now: clock.Now, MinRetry: time.Second, MaxRetry: 4 * time.Second})

	expectFailure := func(requests int32) {
		t.Helper()
		_, err := c.Metadata(t.Context())
		var fe *FetchError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, http.StatusServiceUnavailable, fe.StatusCode)
		assert.EqualValues(t, requests, srv.Requests.Load())
	}

	expectFailure(1) // t=0: fails; next try at 1 s
	clock.Advance(999 * time.Millisecond)
	expectFailure(1) // inside the window: the remembered error, no request
	clock.Advance(time.Millisecond)
	expectFailure(2) // t=1 s: tries again, fails; the wait doubles to 2 s
	clock.Advance(1999 * time.Millisecond)
	expectFailure(2)
	clock.Advance(time.Millisecond)
	expectFailure(3) // t=3 s: the wait doubles to 4 s, the maximum
	clock.Advance(4 * time.Second)
	expectFailure(4) // t=7 s: the wait stays at 4 s
	clock.Advance(4*time.Second - time.Millisecond)
	expectFailure(4)

	// Success resets the backoff: the next failure waits MinRetry again.
	srv.Set(http.StatusOK, helseIDDocument(issuer, srv.URL))
	clock.Advance(time.Millisecond)
	_, err := c.Metadata(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 5, srv.Requests.Load())
	assert.Zero(t, c.failures)

	srv.Set(http.StatusInternalServerError, "")
	c.Invalidate()
	c.mu.Lock()
	c.doc = nil // forget the document so that the failure surfaces
	c.mu.Unlock()
	_, err = c.Metadata(t.Context())
	require.Error(t, err)
	assert.EqualValues(t, 6, srv.Requests.Load())
	c.mu.Lock()
	assert.Equal(t, clock.Now().Add(time.Second), c.retryAt)
	c.mu.Unlock()
}

func TestCacheBackoffJitter(t *testing.T) {
	c, err := NewCache(Config{Issuer: helseIDTestIssuer, MinRetry: time.Second, MaxRetry: time.Minute})
	require.NoError(t, err)
	for n := 1; n <= 20; n++ {
		nominal := min(time.Second<<min(n-1, 30), time.Minute)
		for range 50 {
			w := c.backoff(n)
			assert.GreaterOrEqual(t, w, max(nominal/2, time.Second))
			assert.LessOrEqual(t, w, nominal)
		}
	}
	// No overflow with extreme settings.
	c.maxRetry = time.Duration(1<<63 - 1)
	assert.Positive(t, c.backoff(1000))
}

func TestCacheServesStaleDocumentWhenRefreshFails(t *testing.T) {
	srv, issuer := newDiscoveryServer(t, "")
	clock := newFakeClock()
	c := newTestCache(t, Config{Issuer: issuer, Now: clock.Now, TTL: time.Hour})

	first, err := c.Metadata(t.Context())
	require.NoError(t, err)

	srv.Set(http.StatusBadGateway, "")
	clock.Advance(2 * time.Hour)
	stale, err := c.Metadata(t.Context())
	require.NoError(t, err, "a failed refresh is not an error while a document exists")
	assert.Same(t, first, stale)
	assert.EqualValues(t, 2, srv.Requests.Load())

	// Inside the backoff window the stale document is served without a request.
	stale, err = c.Metadata(t.Context())
	require.NoError(t, err)
	assert.Same(t, first, stale)
	assert.EqualValues(t, 2, srv.Requests.Load())

	// A document that fails validation does not replace the good one either.
	srv.Set(http.StatusOK, helseIDDocument(issuer+"INVALID", srv.URL))
	clock.Advance(time.Minute)
	stale, err = c.Metadata(t.Context())
	require.NoError(t, err)
	assert.Same(t, first, stale)
	assert.EqualValues(t, 3, srv.Requests.Load())

	// Recovery.
	srv.Set(http.StatusOK, helseIDDocument(issuer, srv.URL))
	clock.Advance(time.Hour)
	fresh, err := c.Metadata(t.Context())
	require.NoError(t, err)
	assert.NotSame(t, first, fresh)
	assert.EqualValues(t, 4, srv.Requests.Load())
}

func TestCacheInvalidate(t *testing.T) {
	srv, issuer := newDiscoveryServer(t, "")
	clock := newFakeClock()
	c := newTestCache(t, Config{Issuer: issuer, Now: clock.Now})

	_, err := c.Metadata(t.Context())
	require.NoError(t, err)
	c.Invalidate()
	_, err = c.Metadata(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 2, srv.Requests.Load())
	assert.Equal(t, "no-cache", srv.LastHeader().Get("Cache-Control"), "a forced refresh bypasses HTTP caches")

	// Invalidate skips the backoff window after a failure.
	srv.Set(http.StatusInternalServerError, "")
	c.Invalidate()
	_, err = c.Metadata(t.Context())
	require.NoError(t, err, "stale document served")
	assert.EqualValues(t, 3, srv.Requests.Load())
	_, err = c.Metadata(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 3, srv.Requests.Load(), "inside the backoff window")
	c.Invalidate()
	_, err = c.Metadata(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 4, srv.Requests.Load(), "Invalidate skips the window")
}

func TestCacheInvalidateJoinsFetchInFlight(t *testing.T) {
	srv, issuer := newDiscoveryServer(t, "")
	release := make(chan struct{})
	srv.SetBlock(release)
	c := newTestCache(t, Config{Issuer: issuer})
	waiting := make(chan struct{}, 2)
	c.testHookWaiting = func() { waiting <- struct{}{} }

	results := make(chan error, 2)
	go func() { _, err := c.Metadata(context.Background()); results <- err }()
	<-waiting
	c.Invalidate()
	go func() { _, err := c.Metadata(context.Background()); results <- err }()
	<-waiting
	close(release)
	require.NoError(t, <-results)
	require.NoError(t, <-results)
	assert.EqualValues(t, 1, srv.Requests.Load(), "Invalidate does not start a second fetch while one runs")
}

func TestCacheFetchErrors(t *testing.T) {
	t.Run("500 is a typed error", func(t *testing.T) {
		srv, issuer := newDiscoveryServer(t, "")
		srv.Set(http.StatusInternalServerError, `{"error":"server_error"}`)
		c := newTestCache(t, Config{Issuer: issuer})
		_, err := c.Metadata(t.Context())
		var fe *FetchError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, http.StatusInternalServerError, fe.StatusCode)
		assert.Equal(t, issuer+"/.well-known/openid-configuration", fe.URL)
		assert.Contains(t, err.Error(), "500")
	})
	t.Run("oversized body", func(t *testing.T) {
		srv, issuer := newDiscoveryServer(t, "")
		srv.Set(http.StatusOK, helseIDDocument(issuer, srv.URL))
		c := newTestCache(t, Config{Issuer: issuer, MaxBody: 512})
		_, err := c.Metadata(t.Context())
		assert.ErrorIs(t, err, httpx.ErrBodyTooLarge)
	})
	t.Run("default limit is 1 MiB", func(t *testing.T) {
		srv, issuer := newDiscoveryServer(t, "")
		doc := helseIDDocument(issuer, srv.URL)
		srv.Set(http.StatusOK, strings.Replace(doc, `"issuer"`, `"padding": "`+strings.Repeat("x", httpx.DefaultMaxBody)+`", "issuer"`, 1))
		c := newTestCache(t, Config{Issuer: issuer})
		_, err := c.Metadata(t.Context())
		assert.ErrorIs(t, err, httpx.ErrBodyTooLarge)
	})
	t.Run("not JSON", func(t *testing.T) {
		srv, issuer := newDiscoveryServer(t, "")
		srv.Set(http.StatusOK, "<html><body>maintenance</body></html>")
		c := newTestCache(t, Config{Issuer: issuer})
		_, err := c.Metadata(t.Context())
		assert.ErrorIs(t, err, ErrInvalidMetadata)
	})
	t.Run("transport error", func(t *testing.T) {
		srv, issuer := newDiscoveryServer(t, "")
		srv.Close()
		c := newTestCache(t, Config{Issuer: issuer})
		_, err := c.Metadata(t.Context())
		require.Error(t, err)
		assert.Contains(t, err.Error(), issuer)
		assert.True(t, strings.HasPrefix(err.Error(), "discovery: "), err.Error())
	})
	t.Run("redirect to plain http is refused by the default client", func(t *testing.T) {
		target := "http://discovery.example/.well-known/openid-configuration"
		srv := httptest.NewServer(http.RedirectHandler(target, http.StatusFound))
		t.Cleanup(srv.Close)
		c := newTestCache(t, Config{Issuer: srv.URL})
		_, err := c.Metadata(t.Context())
		assert.ErrorIs(t, err, httpx.ErrInsecureURL)
	})
	t.Run("fetch is bounded by its own timeout", func(t *testing.T) {
		srv, issuer := newDiscoveryServer(t, "")
		never := make(chan struct{})
		srv.SetBlock(never)
		c := newTestCache(t, Config{Issuer: issuer, Timeout: 20 * time.Millisecond})
		_, err := c.Metadata(context.Background())
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "did not finish"))
	})
}
