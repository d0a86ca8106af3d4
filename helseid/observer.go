package helseid

import (
	"context"
	"log/slog"
	"time"
)

// Observer is told what the client does: cache hits and misses, refreshes, token requests
// with their latency and outcome, and retries. Observe is called on the hot path of every
// token lookup, so it must be fast and must not block. Events carry no secret.
type Observer interface {
	Observe(Event)
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
)

var eventNames = [...]string{"", "cache_hit", "cache_miss", "refresh_started", "token_fetched", "cache_evicted", "nonce_retry", "transient_retry",
	"shared_cache_hit", "shared_lease_waited", "shared_cache_down", "shared_cache_recovered"}

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
	// Background is set on TokenFetched for a refresh ahead of expiry.
	Background bool
	// Duration is the latency of a TokenFetched request.
	Duration time.Duration
	// Err is the outcome of TokenFetched (nil on success).
	Err error
	// StatusCode is the HTTP status of the attempt that led to a retry (0: network error).
	StatusCode int
	// Wait is how long a TransientRetry waits, or how long a SharedCacheHit or
	// SharedLeaseWaited waited for another process.
	Wait time.Duration
}

// SlogObserver logs events to logger: failures at Warn, token requests and retries at Info,
// hits and misses at Debug.
func SlogObserver(logger *slog.Logger) Observer { return slogObserver{logger} }

type slogObserver struct{ l *slog.Logger }

func (o slogObserver) Observe(e Event) {
	level := slog.LevelDebug
	switch {
	case e.Err != nil:
		level = slog.LevelWarn
	case e.Kind == TokenFetched || e.Kind == NonceRetry || e.Kind == TransientRetry ||
		e.Kind == SharedLeaseWaited || e.Kind == SharedCacheRecovered:
		level = slog.LevelInfo
	}
	ctx := context.Background()
	if !o.l.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("event", e.Kind.String()), slog.String("grant", e.Grant), slog.String("scopes", e.Scopes)}
	if !e.Organization.IsZero() {
		attrs = append(attrs, slog.String("orgnr_parent", e.Organization.Parent), slog.String("orgnr_child", e.Organization.Child))
	}
	switch e.Kind {
	case TokenFetched:
		attrs = append(attrs, slog.Duration("duration", e.Duration), slog.Bool("background", e.Background))
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
