package discovery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/internal/background"
	"github.com/helseid-go/sdk/internal/httpx"
)

// Defaults for the zero values of Config.
const (
	DefaultTTL      = 24 * time.Hour
	DefaultMinRetry = time.Second
	DefaultMaxRetry = 5 * time.Minute
)

// Config configures a Cache. The zero value of every field but Issuer is a safe default.
type Config struct {
	// Issuer is the issuer identifier exactly as the authorization server states it, e.g.
	// "https://helseid-sts.nhn.no" (no trailing slash) or a conformance-suite issuer that ends
	// in "/". It must be https (http only to loopback) with no query or fragment.
	Issuer string
	// HTTPClient performs the fetch. Nil means a client with a 30 s timeout that follows
	// redirects only to https (or loopback http) URLs.
	HTTPClient *http.Client
	// Now returns the current time; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
	// TTL is how long a fetched document is served without a new fetch; 0 means DefaultTTL.
	TTL time.Duration
	// MinRetry and MaxRetry bound the wait after a failed fetch before another is tried.
	// The wait starts at MinRetry and doubles with each consecutive failure up to MaxRetry,
	// with jitter (each wait lies in [max(MinRetry, w/2), w] for the nominal wait w).
	// 0 means DefaultMinRetry and DefaultMaxRetry.
	MinRetry, MaxRetry time.Duration
	// MaxBody bounds the size of the document; 0 means httpx.DefaultMaxBody (1 MiB).
	MaxBody int64
	// Timeout bounds one fetch, independent of the callers' contexts; 0 means 30 s.
	Timeout time.Duration
	// Observe, when set, is told of every fetch when it ends: its context (the values of the
	// caller that started it), its latency and its outcome (nil on success).
	Observe func(ctx context.Context, took time.Duration, err error)
}

// Cache serves the validated discovery document of one issuer. It is safe for concurrent
// use. See the package documentation for its refresh and failure behaviour.
type Cache struct {
	issuer, url        string
	client             *http.Client
	now                func() time.Time
	ttl                time.Duration
	minRetry, maxRetry time.Duration
	maxBody            int64
	timeout            time.Duration
	observe            func(ctx context.Context, took time.Duration, err error)

	// jitter returns a random duration in [0, d]; tests replace it.
	jitter func(d time.Duration) time.Duration
	// testHookWaiting, when set, runs each time a caller starts waiting for a fetch.
	testHookWaiting func()

	// fresh is the lock-free hit path: the current document and when it goes stale.
	// It is nil before the first success and after Invalidate.
	fresh atomic.Pointer[entry]

	mu       sync.Mutex
	doc      *Metadata // newest valid document, possibly stale; served when a refresh fails
	inflight *call     // the fetch in progress, if any
	forced   bool      // Invalidate was called: fetch even inside the backoff window
	failures int       // consecutive failed fetches
	lastErr  error     // error of the last fetch when it failed
	retryAt  time.Time // no new fetch before this time after a failure (unless forced)

	background background.Group // the shared fetches, stopped by Close
}

// Close cancels a fetch in progress and waits for it to end. The cached document is still
// served; a fetch after Close starts no goroutine and fails at once with background.ErrClosed.
func (c *Cache) Close() {
	c.background.Close()
	// Forget a failure that Close itself may have caused, so that later callers learn that
	// the cache is closed rather than that a fetch was cancelled.
	c.mu.Lock()
	c.lastErr = nil
	c.mu.Unlock()
}

type entry struct {
	doc   *Metadata
	until time.Time
}

// call is one fetch shared by every caller that arrives while it runs.
type call struct {
	done chan struct{} // closed when doc, stale and err are set
	doc  *Metadata     // the fetched document on success
	// stale is the previous document, served to waiters when the fetch failed.
	stale *Metadata
	err   error
}

// NewCache validates cfg and returns a Cache. It makes no request.
func NewCache(cfg Config) (*Cache, error) {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	c := &Cache{
		issuer:   cfg.Issuer,
		url:      WellKnownURL(cfg.Issuer),
		client:   cfg.HTTPClient,
		now:      cfg.Now,
		ttl:      cfg.TTL,
		minRetry: cfg.MinRetry,
		maxRetry: cfg.MaxRetry,
		maxBody:  cfg.MaxBody,
		timeout:  cfg.Timeout,
		observe:  cfg.Observe,
		jitter:   func(d time.Duration) time.Duration { return rand.N(d + 1) },
	}
	if c.client == nil {
		c.client = httpx.NewClient()
	} else {
		c.client = httpx.SecureRedirects(c.client)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.minRetry <= 0 {
		c.minRetry = DefaultMinRetry
	}
	if c.maxRetry <= 0 {
		c.maxRetry = DefaultMaxRetry
	}
	if c.maxRetry < c.minRetry {
		return nil, fmt.Errorf("discovery: MaxRetry (%v) is shorter than MinRetry (%v)", c.maxRetry, c.minRetry)
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	return c, nil
}

// Issuer returns the configured issuer.
func (c *Cache) Issuer() string { return c.issuer }

// URL returns the discovery URL the cache fetches.
func (c *Cache) URL() string { return c.url }

// Metadata returns the issuer's discovery document, fetching it when the cached copy is
// absent, stale or invalidated. Concurrent callers share one fetch; a caller whose ctx ends
// first returns ctx.Err() and the fetch goes on for the others. When a refresh fails but an
// older document exists, the older document is returned with a nil error. Errors wrap
// ErrIssuerMismatch, ErrInvalidMetadata, *FetchError or the transport error.
func (c *Cache) Metadata(ctx context.Context) (*Metadata, error) {
	if e := c.fresh.Load(); e != nil && c.now().Before(e.until) {
		return e.doc, nil
	}
	return c.slow(ctx)
}

func (c *Cache) slow(ctx context.Context) (*Metadata, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if e := c.fresh.Load(); e != nil && c.now().Before(e.until) {
		c.mu.Unlock()
		return e.doc, nil
	}
	cl := c.inflight
	if cl == nil {
		if c.lastErr != nil && !c.forced && c.now().Before(c.retryAt) {
			doc, err := c.doc, c.lastErr
			c.mu.Unlock()
			if doc != nil {
				return doc, nil
			}
			return nil, err
		}
		cl = c.startLocked(ctx)
	}
	c.mu.Unlock()

	if c.testHookWaiting != nil {
		c.testHookWaiting()
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if cl.err != nil {
		if cl.stale != nil {
			return cl.stale, nil
		}
		return nil, cl.err
	}
	return cl.doc, nil
}

// Invalidate makes the next call to Metadata fetch the document again, even inside a backoff
// window. A fetch already in flight is joined, not duplicated. Until a fetch succeeds, a
// failed refresh still serves the document held before.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fresh.Store(nil)
	c.forced = true
}

// startLocked starts the shared fetch. The fetch runs on a context that keeps ctx's values
// but not its cancellation, bounded by c.timeout and ended by Close.
func (c *Cache) startLocked(ctx context.Context) *call {
	cl := &call{done: make(chan struct{})}
	c.inflight = cl
	forced := c.forced
	c.forced = false
	err := c.background.Go(ctx, c.timeout, func(fctx context.Context) {
		start := time.Now()
		doc, err := c.fetch(fctx, forced)
		if c.observe != nil {
			c.observe(fctx, time.Since(start), err)
		}
		c.finish(cl, doc, err)
	})
	if err != nil {
		// Closed: no fetch and no goroutine; the document held before is still served.
		c.inflight = nil
		cl.err, cl.stale = fmt.Errorf("discovery: %w", err), c.doc
		close(cl.done)
	}
	return cl
}

// finish records the outcome of a fetch and releases its waiters.
func (c *Cache) finish(cl *call, doc *Metadata, err error) {
	c.mu.Lock()
	now := c.now()
	if err == nil {
		c.doc = doc
		c.failures = 0
		c.lastErr = nil
		c.retryAt = time.Time{}
		if !c.forced { // an Invalidate during the fetch wins: the next call fetches again
			c.fresh.Store(&entry{doc: doc, until: now.Add(c.ttl)})
		}
		cl.doc = doc
	} else {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("discovery: fetch did not finish within %v: %w", c.timeout, err)
		}
		c.failures++
		c.lastErr = err
		c.retryAt = now.Add(c.backoff(c.failures))
		cl.err = err
		cl.stale = c.doc
	}
	c.inflight = nil
	c.mu.Unlock()
	close(cl.done)
}

// backoff returns the wait after the n-th consecutive failure (n >= 1): nominally
// minRetry·2^(n-1) capped at maxRetry, jittered down by up to half, never below minRetry.
func (c *Cache) backoff(n int) time.Duration {
	w := c.minRetry
	for i := 1; i < n && w < c.maxRetry && w <= math.MaxInt64/2; i++ {
		w *= 2
	}
	w = min(w, c.maxRetry)
	w = w/2 + c.jitter(w-w/2)
	return max(w, c.minRetry)
}
