package helseid

import (
	"context"
	"log/slog"
	"time"
)

// Observer is told what the SDK does: cache hits and misses, refreshes, every network step
// (token requests of every grant, PAR, discovery and key fetches) with its latency and
// outcome, retries, and a Guard's decisions. Events carry no secret.
//
// ctx is the context of the call the event belongs to, so that a trace or a request id in it
// can be joined: the caller's own for a hit, a miss, a retry or a request made in its call. A
// request the SDK makes for several callers or ahead of expiry (a cached token's fetch, a
// discovery or key fetch) runs on a context with the values of the caller that started it but
// not its cancellation, and its event comes with that context. Observe must not keep ctx.
//
// Observe is called on the hot path of every token lookup, so it must be fast and must not
// block; a cache hit allocates nothing on the SDK's side.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// EventKind says what an Event reports.
type EventKind int

const (
	// CacheHit: a cached token was served.
	CacheHit EventKind = iota + 1
	// CacheMiss: no usable cached token; the caller waits for a token request.
	CacheMiss
	// RefreshStarted: a token near expiry is being refreshed in the background.
	RefreshStarted
	// TokenFetched: a token request ended; Duration is its latency and Err its outcome. With
	// Config.SharedTokens it also ends a fetch answered by the shared cache, which a
	// SharedCacheHit of the same key reports first.
	TokenFetched
	// CacheEvicted: a token was dropped to keep the cache within its size.
	CacheEvicted
	// NonceRetry: the token endpoint asked for a DPoP nonce; the request is sent again.
	NonceRetry
	// TransientRetry: a token request failed transiently; it is sent again after Wait.
	TransientRetry
	// SharedCacheHit: a token another process of the fleet stored in the shared cache
	// (Config.SharedTokens) was taken instead of requesting one; Wait is how long this process
	// waited for that process's request (zero: the token was there).
	SharedCacheHit
	// SharedLeaseWaited: this process waited Wait for another process's lease, which ended
	// without a token (it failed or crashed), and now requests the token itself.
	SharedLeaseWaited
	// SharedCacheDown: the shared cache failed (Err says how), so the token is requested
	// locally; for a second after a failure the shared cache is not asked.
	SharedCacheDown
	// SharedCacheRecovered: the shared cache answers again after SharedCacheDown.
	SharedCacheRecovered
	// AuthorizationPushed: the pushed authorization request of StartLogin ended; Duration is
	// its latency and Err its outcome.
	AuthorizationPushed
	// CodeExchanged: the authorization-code token request of FinishLogin ended (Duration,
	// Err).
	CodeExchanged
	// SessionRefreshed: a user session's refresh-token request for Resource ended (Duration,
	// Err).
	SessionRefreshed
	// TokenExchanged: a token-exchange request (ExchangeToken, OnBehalfOf) ended (Duration,
	// Err).
	TokenExchanged
	// DiscoveryFetched: a fetch of the issuer's discovery document ended (Duration, Err).
	DiscoveryFetched
	// KeysFetched: a fetch of the issuer's signing keys (JWKS) ended (Duration, Err).
	KeysFetched
	// GuardDecided: a Guard accepted a request (Err nil) or refused it: Check names the check
	// that refused it, StatusCode is the HTTP status answered and Err the reason (never the
	// token). Duration is the time the checks took.
	GuardDecided
)

var eventNames = [...]string{"", "cache_hit", "cache_miss", "refresh_started", "token_fetched", "cache_evicted", "nonce_retry", "transient_retry",
	"shared_cache_hit", "shared_lease_waited", "shared_cache_down", "shared_cache_recovered",
	"authorization_pushed", "code_exchanged", "session_refreshed", "token_exchanged", "discovery_fetched", "keys_fetched",
	"guard_decided"}

func (k EventKind) String() string {
	if int(k) > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one thing the client did.
type Event struct {
	Kind EventKind
	// Grant is the OAuth grant, such as client_credentials.
	Grant string
	// Scopes are the requested scopes, space-separated and sorted.
	Scopes string
	// Organization is the organisation the token is for (zero: the client's own).
	Organization Organization
	// Resource is the API a SessionRefreshed request was for.
	Resource string
	// Check is the Guard check that refused a request (GuardDecided with Err set):
	// "credentials" (no or malformed Authorization), "token", "proof", "key_binding", "nonce",
	// "scope", or "unavailable" (the issuer's keys or the replay store could not be reached).
	Check string
	// Background is set on TokenFetched for a refresh ahead of expiry.
	Background bool
	// Duration is the latency of a network step (TokenFetched, AuthorizationPushed,
	// CodeExchanged, SessionRefreshed, TokenExchanged, DiscoveryFetched, KeysFetched) or of a
	// Guard's checks.
	Duration time.Duration
	// Err is the outcome of a network step or of a Guard's checks (nil on success).
	Err error
	// StatusCode is the HTTP status of the attempt that led to a retry (0: network error), or
	// the status a Guard answered a refused request with.
	StatusCode int
	// Wait is how long a TransientRetry waits, or how long a SharedCacheHit or
	// SharedLeaseWaited waited for another process.
	Wait time.Duration
}

// SlogObserver logs events to logger with the event's context (so a handler can add its trace
// id): failures at Warn, network steps and retries at Info, hits, misses and a Guard's
// decisions at Debug (a refusal at Info, one for an outage at Warn).
func SlogObserver(logger *slog.Logger) Observer { return slogObserver{logger} }

type slogObserver struct{ l *slog.Logger }

func (o slogObserver) Observe(ctx context.Context, e Event) {
	level := slog.LevelDebug
	switch {
	case e.Kind == GuardDecided:
		if e.Err != nil {
			level = slog.LevelInfo
		}
		if e.StatusCode >= 500 {
			level = slog.LevelWarn
		}
	case e.Err != nil:
		level = slog.LevelWarn
	case e.Kind == TokenFetched || e.Kind == NonceRetry || e.Kind == TransientRetry ||
		e.Kind == SharedLeaseWaited || e.Kind == SharedCacheRecovered || e.Kind >= AuthorizationPushed:
		level = slog.LevelInfo
	}
	if !o.l.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("event", e.Kind.String())}
	if e.Grant != "" {
		attrs = append(attrs, slog.String("grant", e.Grant))
	}
	if e.Scopes != "" {
		attrs = append(attrs, slog.String("scopes", e.Scopes))
	}
	if e.Resource != "" {
		attrs = append(attrs, slog.String("resource", e.Resource))
	}
	if !e.Organization.IsZero() {
		attrs = append(attrs, slog.String("orgnr_parent", e.Organization.Parent), slog.String("orgnr_child", e.Organization.Child))
	}
	switch e.Kind {
	case TokenFetched:
		attrs = append(attrs, slog.Duration("duration", e.Duration), slog.Bool("background", e.Background))
	case AuthorizationPushed, CodeExchanged, SessionRefreshed, TokenExchanged, DiscoveryFetched, KeysFetched:
		attrs = append(attrs, slog.Duration("duration", e.Duration))
	case GuardDecided:
		attrs = append(attrs, slog.Duration("duration", e.Duration))
		if e.Err != nil {
			attrs = append(attrs, slog.String("check", e.Check), slog.Int("status", e.StatusCode))
		}
	case NonceRetry, TransientRetry:
		attrs = append(attrs, slog.Int("status", e.StatusCode), slog.Duration("wait", e.Wait))
	case SharedCacheHit, SharedLeaseWaited:
		attrs = append(attrs, slog.Duration("wait", e.Wait))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	o.l.LogAttrs(ctx, level, "helseid", attrs...)
}

// fetchObserver returns the hook through which an internal cache reports a fetch of kind;
// nil without an observer.
func fetchObserver(o Observer, kind EventKind) func(context.Context, time.Duration, error) {
	if o == nil {
		return nil
	}
	return func(ctx context.Context, took time.Duration, err error) {
		o.Observe(ctx, Event{Kind: kind, Duration: took, Err: err})
	}
}

// observeStep reports a network step that started at start and ended with err.
func (c *Client) observeStep(ctx context.Context, kind EventKind, start time.Time, err error) {
	if c.observer != nil {
		c.observer.Observe(ctx, Event{Kind: kind, Duration: time.Since(start), Err: err})
	}
}

// observeRefresh returns a user session's hook for its refreshes; nil without an observer.
func (c *Client) observeRefresh() func(context.Context, string, time.Duration, error) {
	if c.observer == nil {
		return nil
	}
	return func(ctx context.Context, resource string, took time.Duration, err error) {
		c.observer.Observe(ctx, Event{Kind: SessionRefreshed, Grant: "refresh_token", Resource: resource, Duration: took, Err: err})
	}
}
