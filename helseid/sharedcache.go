package helseid

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/tokencache"
)

// SharedTokenCache shares client-credentials tokens among the processes of a fleet, so that the
// fleet asks HelseID once per token lifetime for each organisation and API instead of once per
// process (helseidredis.TokenCache is one on Redis). The Client keeps serving hits from its
// own memory; it calls the shared cache only where it would otherwise ask HelseID: on a local
// miss and for a refresh ahead of expiry.
//
// Keys are opaque strings holding every input that changes a token (issuer, client id, DPoP
// key thumbprint, grant, scopes, resource, organisation, Bearer or DPoP-bound); an
// implementation should use the key as associated data when it encrypts, so that a value cannot be moved to another key.
//
// Every method should bound its own time: the Client treats an error as "the shared cache is
// down" and requests the token itself.
type SharedTokenCache interface {
	// LoadToken returns the token stored under key; ok is false when there is none.
	LoadToken(ctx context.Context, key string) (tok SharedToken, ok bool, err error)
	// AcquireLease tries to take the right to fetch key's token for the fleet. It returns a
	// lease id and true when taken, false when another process holds the lease. A lease
	// expires by itself, so that a crashed holder blocks nobody for long.
	AcquireLease(ctx context.Context, key string) (lease string, ok bool, err error)
	// StoreToken stores tok under key until its expiry and releases lease. A holder whose
	// lease has expired meanwhile must not replace a token another holder stored.
	StoreToken(ctx context.Context, key string, tok SharedToken, lease string) error
	// ReleaseLease gives up lease, if it is still held, after a failed fetch, so that another
	// process may try at once.
	ReleaseLease(ctx context.Context, key, lease string) error
	// InvalidateToken deletes key's token if it is still accessToken, which an API rejected
	// (401 invalid_token): otherwise every process would keep taking the rejected token from
	// the shared cache until it nears expiry. A newer token another process stored meanwhile
	// must stay: compare and delete in one step.
	InvalidateToken(ctx context.Context, key, accessToken string) error
}

// SharedLeaseRenewer is implemented by a SharedTokenCache whose leases their holder can extend
// (helseidredis.TokenCache is one). While its token request runs, the Client renews its lease
// every LeaseRenewEvery, so that a request slower than the lease (a slow HelseID, retries) does
// not let another process start a second one, while a crashed holder still blocks the others
// for one lease at most. Renewal stops when the request ends.
type SharedLeaseRenewer interface {
	// RenewLease extends lease to its full time to live if it is still held; held is false
	// when it is not (it expired and another process may hold the key's lease now).
	RenewLease(ctx context.Context, key, lease string) (held bool, err error)
	// LeaseRenewEvery is how often to renew: a fraction of the lease's time to live.
	LeaseRenewEvery() time.Duration
}

// SharedToken is what a SharedTokenCache stores: the token (which formats as REDACTED) and
// when it was fetched, from which other processes judge how much of its lifetime is left.
type SharedToken struct {
	fapi.Token
	Fetched time.Time
}

const (
	// sharedRetryAfter is how long the client fetches locally, without asking the shared
	// cache, after the shared cache failed: a down Redis then costs one failed call a second,
	// not one per fetch, and sharing resumes within a second of its return.
	sharedRetryAfter = time.Second
	// Waiting for another process's fetch polls the shared cache with this backoff.
	sharedPollMin = 10 * time.Millisecond
	sharedPollMax = 250 * time.Millisecond
)

// sharedTokens is the Client's side of a SharedTokenCache.
type sharedTokens struct {
	store     SharedTokenCache
	prefix    string       // the key inputs fixed per Client
	downUntil atomic.Int64 // unix nanoseconds; the shared cache is skipped until then
	down      atomic.Bool  // the last call failed; the next success reports recovery
}

func newSharedTokens(store SharedTokenCache, cfg Config, jkt string) *sharedTokens {
	var b []byte
	for _, f := range [...]string{"helseid-token-v2", cfg.Issuer, cfg.ClientID, jkt} {
		b = appendKeyField(b, f)
	}
	return &sharedTokens{store: store, prefix: string(b)}
}

// keyFor is the shared key of k: every input that changes the token, each prefixed with its
// length, so that no two distinct sets of inputs make the same key (or the same associated
// data) whatever bytes they hold: a separator alone would not do, since scopes and resources
// may contain any byte but white space.
func (s *sharedTokens) keyFor(k tokenKey) string {
	tt := "DPoP"
	if k.spec.bearer {
		tt = "Bearer"
	}
	b := make([]byte, 0, len(s.prefix)+len(k.spec.grant)+len(k.spec.scope)+len(k.spec.resource)+48)
	b = append(b, s.prefix...)
	for _, f := range [...]string{k.spec.grant, k.spec.scope, k.spec.resource, orgString(k.parent), orgString(k.child), tt} {
		b = appendKeyField(b, f)
	}
	return string(b)
}

// appendKeyField appends f to b as its decimal length, a colon and f.
func appendKeyField(b []byte, f string) []byte {
	b = strconv.AppendInt(b, int64(len(f)), 10)
	b = append(b, ':')
	return append(b, f...)
}

// fetchShared is the token cache's Fetch when a shared cache is configured: a token another
// process stored is used when enough of its lifetime is left; otherwise one process of the
// fleet (the lease holder) requests it while the others wait for it. Any failure of the shared
// cache falls back to a local request.
func (c *Client) fetchShared(ctx context.Context, key tokenKey) (*fapi.Token, time.Time, error) {
	s := c.shared
	if c.now().UnixNano() < s.downUntil.Load() {
		return c.fetchLocal(ctx, key, nil)
	}
	name := s.keyFor(key)
	var waitStart time.Time
	poll := sharedPollMin
	for {
		rec, ok, err := s.store.LoadToken(ctx, name)
		if err != nil {
			return c.fetchLocal(ctx, key, err)
		}
		c.sharedUp(ctx, key)
		if ok && c.sharedFresh(rec) {
			return c.sharedHit(ctx, key, rec, waitStart)
		}
		lease, got, err := s.store.AcquireLease(ctx, name)
		if err != nil {
			return c.fetchLocal(ctx, key, err)
		}
		if got {
			return c.fetchLeased(ctx, key, name, lease, waitStart)
		}
		if waitStart.IsZero() {
			waitStart = time.Now()
		}
		// Another process is fetching: wait for the token it stores, or for its lease to end.
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, time.Time{}, ctx.Err()
		}
		poll = min(2*poll, sharedPollMax)
	}
}

// fetchLeased requests the token as the fleet's lease holder and stores it for the others.
func (c *Client) fetchLeased(ctx context.Context, key tokenKey, name, lease string, waitStart time.Time) (*fapi.Token, time.Time, error) {
	s := c.shared
	// Another process may have stored the token between our look and our lease.
	if rec, ok, err := s.store.LoadToken(ctx, name); err == nil && ok && c.sharedFresh(rec) {
		_ = s.store.ReleaseLease(context.WithoutCancel(ctx), name, lease)
		return c.sharedHit(ctx, key, rec, waitStart)
	}
	if !waitStart.IsZero() {
		c.observeShared(ctx, key, Event{Kind: SharedLeaseWaited, Wait: time.Since(waitStart)})
	}
	fetched := c.now()
	stop := c.renewLease(ctx, name, lease)
	tok, expiry, err := c.fetchToken(ctx, key)
	stop()
	if err != nil {
		_ = s.store.ReleaseLease(context.WithoutCancel(ctx), name, lease)
		return nil, time.Time{}, err
	}
	if err := s.store.StoreToken(context.WithoutCancel(ctx), name, SharedToken{Token: *tok, Fetched: fetched}, lease); err != nil {
		c.sharedDown(ctx, key, err)
	}
	return tok, expiry, nil
}

// renewLease keeps lease held while this process requests the token, if the shared cache can
// renew leases; stop ends the renewal and returns once its goroutine has ended.
func (c *Client) renewLease(ctx context.Context, name, lease string) (stop func()) {
	r, ok := c.shared.store.(SharedLeaseRenewer)
	if !ok {
		return func() {}
	}
	every := r.LeaseRenewEvery()
	if every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// A failed renewal is not retried: the lease then expires as if this process had
				// crashed, and StoreToken's fencing keeps a newer token another process stored.
				if held, err := r.RenewLease(ctx, name, lease); err != nil || !held {
					return
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (c *Client) sharedHit(ctx context.Context, key tokenKey, rec SharedToken, waitStart time.Time) (*fapi.Token, time.Time, error) {
	ev := Event{Kind: SharedCacheHit}
	if !waitStart.IsZero() {
		ev.Wait = time.Since(waitStart)
	}
	c.observeShared(ctx, key, ev)
	tok := rec.Token
	return &tok, tok.Expiry, nil
}

// sharedFresh reports whether a stored token has more lifetime left than a refresh ahead of
// expiry would leave it (with the cache's jitter of a fifth of the window), so that taking it
// never starts another refresh at once.
func (c *Client) sharedFresh(rec SharedToken) bool {
	window := c.cfg.RefreshWindow
	if window <= 0 {
		window = tokencache.DefaultRefreshWindow
	}
	if half := rec.Expiry.Sub(rec.Fetched) / 2; half < window {
		window = half
	}
	window += window / 5
	return c.now().Before(rec.Expiry.Add(-window))
}

// invalidateShared deletes token from the shared cache if it still holds it there, so that the
// next miss of any process requests a new token instead of loading the rejected one. A failure
// counts as the shared cache being down; while it is, nothing is asked (the next fetch is local
// anyway).
func (c *Client) invalidateShared(ctx context.Context, key tokenKey, token string) {
	s := c.shared
	if s == nil || c.now().UnixNano() < s.downUntil.Load() {
		return
	}
	if err := s.store.InvalidateToken(ctx, s.keyFor(key), token); err != nil {
		c.sharedDown(ctx, key, err)
	}
}

// fetchLocal requests the token without the fleet, after the shared cache failed with cause
// (nil: it failed less than sharedRetryAfter ago).
func (c *Client) fetchLocal(ctx context.Context, key tokenKey, cause error) (*fapi.Token, time.Time, error) {
	if cause != nil {
		c.sharedDown(ctx, key, cause)
	} else {
		c.observeShared(ctx, key, Event{Kind: SharedCacheDown, Err: errSharedSkipped})
	}
	return c.fetchToken(ctx, key)
}

// errSharedSkipped is the Err of SharedCacheDown while the shared cache is not asked because it
// failed less than a second ago.
var errSharedSkipped = errors.New("helseid: shared token cache failed recently; fetching locally")

func (c *Client) sharedDown(ctx context.Context, key tokenKey, err error) {
	c.shared.downUntil.Store(c.now().Add(sharedRetryAfter).UnixNano())
	c.shared.down.Store(true)
	c.observeShared(ctx, key, Event{Kind: SharedCacheDown, Err: fmt.Errorf("helseid: shared token cache: %w", err)})
}

func (c *Client) sharedUp(ctx context.Context, key tokenKey) {
	if c.shared.down.Load() && c.shared.down.CompareAndSwap(true, false) {
		c.observeShared(ctx, key, Event{Kind: SharedCacheRecovered})
	}
}

func (c *Client) observeShared(ctx context.Context, key tokenKey, ev Event) {
	if c.observer == nil {
		return
	}
	ev.Grant, ev.Scopes, ev.Organization = key.spec.grant, key.spec.scope, key.organization()
	c.observer.Observe(ctx, ev)
}
