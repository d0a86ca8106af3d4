package jwks

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/internal/background"
	"github.com/helseid-go/sdk/internal/httpx"
)

// Defaults for the zero values of Config.
const (
	DefaultTTL                 = time.Hour
	DefaultMissRefetchInterval = 10 * time.Second
)

// Config configures a Set. The zero value of every field but URL is a safe default.
type Config struct {
	// URL is the jwks_uri from the issuer's validated discovery document. It must be https
	// (http only to loopback).
	URL string
	// HTTPClient performs the fetches. Nil means a client with a 30 s timeout that follows
	// redirects only to https (or loopback http) URLs.
	HTTPClient *http.Client
	// Now returns the current time; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
	// TTL is the age after which the set is refreshed; 0 means DefaultTTL. A key found in a
	// set older than TTL is still returned at once while the refresh runs in the background.
	TTL time.Duration
	// MissRefetchInterval rate-limits repeated misses: after a refetch for an unknown kid
	// (found or not), no other refetch for an unknown kid starts until this long after it
	// started, and after a failed fetch no fetch at all starts until this long after that
	// one started. The first fetch and TTL refreshes are not refetches for a kid: a kid
	// missing from them is refetched at once. 0 means DefaultMissRefetchInterval.
	MissRefetchInterval time.Duration
	// MaxBody bounds the size of the key set document; 0 means httpx.DefaultMaxBody (1 MiB).
	MaxBody int64
	// Timeout bounds one fetch, independent of the callers' contexts; 0 means 30 s.
	Timeout time.Duration
	// Observe, when set, is told of every fetch when it ends: its context (the values of the
	// caller that started it), its latency and its outcome (nil on success).
	Observe func(ctx context.Context, took time.Duration, err error)
}

// Set is a cached, self-refreshing JWK Set of one issuer. It is safe for concurrent use.
type Set struct {
	url          string
	client       *http.Client
	now          func() time.Time
	ttl          time.Duration
	missInterval time.Duration
	maxBody      int64
	timeout      time.Duration
	observe      func(ctx context.Context, took time.Duration, err error)

	// testHookWaiting, when set, runs each time a caller starts waiting for a fetch.
	testHookWaiting func()

	// snap is the lock-free hit path: the newest successfully fetched set.
	snap atomic.Pointer[snapshot]

	mu          sync.Mutex
	gen         uint64    // fetches completed (successful or not)
	inflight    *call     // the fetch in progress, if any
	lastStart   time.Time // when the last fetch started
	lastErr     error     // error of the last fetch when it failed, else nil
	lastRefetch time.Time // when the last refetch for an unknown kid started; zero if none

	background background.Group // the shared fetches, stopped by Close
}

// Close cancels a fetch in progress and waits for it to end. Keys already fetched are still
// served; a fetch after Close starts no goroutine and fails at once with background.ErrClosed.
func (s *Set) Close() { s.background.Close() }

type snapshot struct {
	keys      *keySet
	fetchedAt time.Time
	gen       uint64 // s.gen when it was stored
}

// call is one fetch shared by every caller that arrives while it runs.
type call struct {
	done chan struct{} // closed when gen and err are set
	gen  uint64        // s.gen after this fetch completed
	err  error
	// refetch says the fetch was started for a kid missing from a set already fetched. Only
	// such a fetch settles a miss: a kid missing from the first fetch or from a TTL refresh
	// may still be refetched at once.
	refetch bool
}

// New validates cfg and returns a Set. It makes no request; the first Key call fetches.
func New(cfg Config) (*Set, error) {
	if _, err := httpx.CheckEndpoint("jwks_uri", cfg.URL); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	s := &Set{
		url:          cfg.URL,
		client:       cfg.HTTPClient,
		now:          cfg.Now,
		ttl:          cfg.TTL,
		missInterval: cfg.MissRefetchInterval,
		maxBody:      cfg.MaxBody,
		timeout:      cfg.Timeout,
		observe:      cfg.Observe,
	}
	if s.client == nil {
		s.client = httpx.NewClient()
	} else {
		s.client = httpx.SecureRedirects(s.client)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.missInterval <= 0 {
		s.missInterval = DefaultMissRefetchInterval
	}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	return s, nil
}

// URL returns the jwks_uri the set is fetched from.
func (s *Set) URL() string { return s.url }

// maxLookups bounds the re-lookups of one Key call when fetches keep completing under it.
const maxLookups = 4

// Key returns the public key that verifies a JWS with header kid and alg.
//
// With a kid, the key must have exactly that kid; without one, exactly one key in the set
// may fit alg. The key must fit alg (RS*/PS*: RSA of 2048 to 16384 bits; ES256/384/512:
// EC P-256/384/521; EdDSA: Ed25519), its own "alg", if any, must equal alg, its "use", if
// any, must be "sig", and its "key_ops", if any, must include "verify". Keys whose private
// members are published are never returned.
//
// An unknown kid triggers a refetch at once, shared by all callers (one request in flight);
// each caller waits for it only as long as its own ctx allows. That holds for a kid missing
// from the very first fetch too (a cache in front of the key set, a rotation in progress):
// the first fetch only loads the set, and the kid gets its own refetch. Only repeated misses
// are rate-limited: after a refetch for an unknown kid, further unknown kids wait until
// Config.MissRefetchInterval has passed since it started (after a failed fetch, every fetch
// waits as long), and Key returns an error wrapping ErrKeyNotFound meanwhile. A set older
// than Config.TTL is refreshed in the background while its keys keep being served; a failed
// refresh keeps the old set.
//
// Errors wrap ErrUnsupportedAlgorithm, ErrKeyNotFound (also carrying the failure of the
// refetch that was tried, if it failed), ErrKeyUnusable or ErrAmbiguousKey. While no set has
// ever been fetched, a fetch failure (*FetchError, ErrInvalidSet, a transport error) is
// returned as such, without ErrKeyNotFound. ctx.Err() is returned when ctx ends first.
//
// The key is a *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey, ready for
// jose.Compact.Verify. It is shared by every caller until the set is refetched, so callers
// must not modify it; a caller may compare it with a key it was given before (Equal) to learn
// whether the set still holds that key.
func (s *Set) Key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	want, err := kindFor(alg)
	if err != nil {
		return nil, err
	}
	snap := s.snap.Load()
	if snap != nil {
		key, err := snap.keys.find(kid, alg, want)
		if key != nil || err != nil {
			if !s.now().Before(snap.fetchedAt.Add(s.ttl)) {
				s.refreshInBackground(ctx)
			}
			return key, err
		}
	}
	return s.miss(ctx, kid, alg, want, snap)
}

// miss handles a lookup that found nothing in snap (nil when nothing has been fetched).
func (s *Set) miss(ctx context.Context, kid, alg string, want kind, snap *snapshot) (crypto.PublicKey, error) {
	var seen uint64
	if snap != nil {
		seen = snap.gen
	}
	for range maxLookups {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.gen != seen {
			// A fetch completed after our lookup: look again before fetching once more.
			seen = s.gen
			snap = s.snap.Load()
			s.mu.Unlock()
			if key, hit, err := lookup(snap, kid, alg, want); hit {
				return key, err
			}
			continue
		}
		c := s.inflight
		if c == nil {
			// With a set fetched, the kid is known to be missing from it: this is the
			// refetch for it. Without one, the fetch only loads the set.
			refetch := snap != nil
			if s.failedRecentlyLocked() || refetch && s.refetchedRecentlyLocked() {
				err := s.lastErr
				s.mu.Unlock()
				return nil, s.notFound(snap, kid, alg, err, true)
			}
			c = s.startLocked(ctx, true, refetch)
		}
		s.mu.Unlock()

		if s.testHookWaiting != nil {
			s.testHookWaiting()
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		snap = s.snap.Load()
		if key, hit, err := lookup(snap, kid, alg, want); hit {
			return key, err
		}
		if c.refetch || c.err != nil {
			return nil, s.notFound(snap, kid, alg, c.err, false)
		}
		// The first fetch or a TTL refresh lacks the kid: it has not had its refetch yet.
		seen = c.gen
	}
	return nil, s.notFound(snap, kid, alg, nil, false)
}

// lookup reports hit when snap answers the request: a key, or a definite error.
func lookup(snap *snapshot, kid, alg string, want kind) (key crypto.PublicKey, hit bool, err error) {
	if snap == nil {
		return nil, false, nil
	}
	key, err = snap.keys.find(kid, alg, want)
	return key, key != nil || err != nil, err
}

// notFound builds the error for a miss. fetchErr is the failure of the fetch that was tried
// or remembered; limited says the refetch was skipped by the rate limit.
func (s *Set) notFound(snap *snapshot, kid, alg string, fetchErr error, limited bool) error {
	what := "no key has kid " + quote(kid)
	if kid == "" {
		what = "the token has no kid and no key fits " + alg
	}
	switch {
	case snap == nil && fetchErr != nil:
		// There is no set at all: the fetch failure is the error, not a missing key (a
		// resource server may answer 503 for one and 401 for the other).
		return fetchErr
	case fetchErr != nil:
		return fmt.Errorf("jwks: %w: %s (refetch failed, serving the previous set): %w", ErrKeyNotFound, what, fetchErr)
	case limited:
		return fmt.Errorf("jwks: %w: %s (refetch rate-limited to one per %v)", ErrKeyNotFound, what, s.missInterval)
	}
	return fmt.Errorf("jwks: %w: %s", ErrKeyNotFound, what)
}

// failedRecentlyLocked reports whether the last fetch failed and started less than
// missInterval ago: no fetch may start yet.
func (s *Set) failedRecentlyLocked() bool {
	return s.lastErr != nil && s.now().Before(s.lastStart.Add(s.missInterval))
}

// refetchedRecentlyLocked reports whether a refetch for an unknown kid started less than
// missInterval ago: another unknown kid is a repeated miss and must wait.
func (s *Set) refetchedRecentlyLocked() bool {
	return !s.lastRefetch.IsZero() && s.now().Before(s.lastRefetch.Add(s.missInterval))
}

// refreshInBackground starts a TTL refresh unless one runs or the rate limit forbids it.
// Nobody waits for it; the caller's key is served from the current set.
func (s *Set) refreshInBackground(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil || s.failedRecentlyLocked() {
		return
	}
	if snap := s.snap.Load(); snap != nil && s.now().Before(snap.fetchedAt.Add(s.ttl)) {
		return // refreshed meanwhile
	}
	s.startLocked(ctx, false, false)
}

// startLocked starts the shared fetch; refetch marks a refetch for an unknown kid. The fetch
// runs on a context that keeps ctx's values but not its cancellation, bounded by s.timeout
// and ended by Close.
func (s *Set) startLocked(ctx context.Context, forced, refetch bool) *call {
	c := &call{done: make(chan struct{}), refetch: refetch}
	s.inflight = c
	s.lastStart = s.now()
	if refetch {
		s.lastRefetch = s.lastStart
	}
	err := s.background.Go(ctx, s.timeout, func(fctx context.Context) {
		keys, err := s.fetch(fctx, forced)
		if err != nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("jwks: fetch did not finish within %v: %w", s.timeout, err)
		}
		s.mu.Lock()
		s.gen++
		c.gen, c.err = s.gen, err
		s.lastErr = err
		if err == nil {
			s.snap.Store(&snapshot{keys: keys, fetchedAt: s.now(), gen: s.gen})
		}
		s.inflight = nil
		s.mu.Unlock()
		close(c.done)
	})
	if err != nil {
		// Closed: no fetch and no goroutine; the keys fetched before are still served.
		c.gen, c.err = s.gen, fmt.Errorf("jwks: %w", err)
		s.lastErr, s.inflight = c.err, nil // a gated retry reports the closure too
		close(c.done)
	}
	return c
}
