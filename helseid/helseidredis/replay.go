package helseidredis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/helseid-go/sdk/dpop"
)

// DefaultReplayTimeout bounds one replay check when ReplayStoreOptions.Timeout is zero: long
// enough for a Redis on another machine of the same network, short enough that a hung Redis
// holds each request for a moment only before the API answers 503.
const DefaultReplayTimeout = 500 * time.Millisecond

// maxNamespaceLen bounds ReplayStoreOptions.Namespace; an audience or a service name fits.
const maxNamespaceLen = 128

// replayKeyPrefix starts every key the ReplayStore writes, so an operator can find them
// (SCAN MATCH helseid:dpop:*) and tell them from the application's own keys.
const replayKeyPrefix = "helseid:dpop:"

var (
	// ErrReplayStoreUnavailable reports that Redis did not answer a replay check within the
	// store's timeout, or answered with an error. The proof's freshness is then unknown, and a
	// dpop.Verifier refuses it (wrapped in dpop.ErrReplayCheck; a helseid.Guard answers 503).
	ErrReplayStoreUnavailable = errors.New("redis replay store unavailable")
	// ErrInvalidReplayStoreOptions reports options NewReplayStore cannot use.
	ErrInvalidReplayStoreOptions = errors.New("invalid redis replay store options")
)

// ReplayStoreOptions configures a ReplayStore.
type ReplayStoreOptions struct {
	// Namespace separates this API's proofs from those of other APIs sharing the Redis: give
	// every machine of one API the same value (its audience, such as "nhn:your-api") and
	// different APIs different values. Required: 1 to 128 characters of letters, digits and
	// - . _ : / @ (no spaces, no glob characters, no braces, which Redis Cluster would read
	// as a hash tag).
	Namespace string
	// Timeout bounds each check, waiting for a pooled connection and dialling included; zero
	// means DefaultReplayTimeout. A check that takes longer fails closed with
	// ErrReplayStoreUnavailable.
	Timeout time.Duration
	// Now is the clock the time to live of an identifier is measured with: use the
	// dpop.Verifier's. Nil means time.Now.
	Now func() time.Time
}

// ReplayStore is a dpop.ReplayStore in Redis, shared by every machine of an API, so that a
// proof accepted by one machine is refused by all of them (RFC 9449 §11.1).
//
// Each check is one atomic command, SET key 1 NX PX ttl, where the time to live ends when the
// proof could no longer be accepted anyway: no read before the write, so two machines given
// the same proof at the same instant cannot both accept it. The key is the namespace and a
// SHA-256 of the identifier, a fixed length whatever the client sent.
//
// It fails closed: while Redis cannot answer, every check returns an error wrapping
// ErrReplayStoreUnavailable and no proof is accepted unchecked; checks succeed again once Redis
// answers (go-redis reconnects by itself; after as many failed dials as its pool size, it
// tries once a second). A reply lost after Redis applied the SET (the
// connection broke) may make go-redis resend it, and the proof is then refused as a replay:
// refused, never accepted twice.
//
// Failover can forget: Redis replicates asynchronously, so a SET NX acknowledged by a primary
// that fails before its replica received it is lost when Sentinel or Cluster promotes the
// replica, and a proof accepted in the last moments before the failover may be accepted once
// more within its lifetime; a Redis that restarts empty forgets the same way. Where that window
// matters, require server nonces (dpop.VerifierConfig.Nonces) and rotate the nonce secret after
// a failover or an empty restart, so that no proof made before it is accepted.
//
// It is safe for concurrent use and starts no goroutine; the client stays the caller's to
// close.
type ReplayStore struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	now     func() time.Time
}

var _ dpop.ReplayStore = (*ReplayStore)(nil)

// NewReplayStore checks opts and returns a store using client, which must have
// ContextTimeoutEnabled set: without it go-redis ignores the deadline of each check and waits
// its own ReadTimeout (3 s by default) for a Redis that does not answer.
//
// A *redis.Ring is refused: when one of its shards fails, the Ring moves that shard's keys to
// the others, and when it returns, the identifiers recorded meanwhile are on another shard, so
// proofs seen before the failure are accepted again. Use a *redis.Client (a single Redis, or
// Sentinel with redis.NewFailoverClient) or a *redis.ClusterClient. Clients of other types are
// accepted on trust.
func NewReplayStore(client redis.UniversalClient, opts ReplayStoreOptions) (*ReplayStore, error) {
	if isNil(client) {
		return nil, fmt.Errorf("%w: no redis client", ErrInvalidReplayStoreOptions)
	}
	if _, ok := client.(*redis.Ring); ok {
		return nil, fmt.Errorf("%w: a redis.Ring moves a failed shard's keys to another shard, so replays would be accepted when it returns; use a redis.Client or redis.ClusterClient", ErrInvalidReplayStoreOptions)
	}
	if err := checkNamespace(opts.Namespace); err != nil {
		return nil, err
	}
	switch {
	case opts.Timeout == 0:
		opts.Timeout = DefaultReplayTimeout
	case opts.Timeout < 0:
		return nil, fmt.Errorf("%w: negative timeout", ErrInvalidReplayStoreOptions)
	}
	if !contextTimeoutEnabled(client) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidReplayStoreOptions, errNoContextTimeout)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &ReplayStore{client: client, prefix: replayKeyPrefix + opts.Namespace + ":", timeout: opts.Timeout, now: opts.Now}, nil
}

func checkNamespace(ns string) error {
	if ns == "" || len(ns) > maxNamespaceLen {
		return fmt.Errorf("%w: namespace must be 1 to %d characters", ErrInvalidReplayStoreOptions, maxNamespaceLen)
	}
	for _, c := range []byte(ns) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == ':' || c == '/' || c == '@':
		default:
			return fmt.Errorf("%w: namespace may hold only letters, digits and - . _ : / @", ErrInvalidReplayStoreOptions)
		}
	}
	return nil
}

// CheckAndSet implements dpop.ReplayStore with one SET NX PX round trip, bounded by the
// store's timeout and by ctx.
func (s *ReplayStore) CheckAndSet(ctx context.Context, id string, expires time.Time) (bool, error) {
	// Whole milliseconds, rounded up, and at least one: PX 0 is an error in Redis, and an
	// identifier must be kept at least until expires.
	ttl := expires.Sub(s.now())
	ttl = max((ttl + time.Millisecond - 1).Truncate(time.Millisecond), time.Millisecond)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	fresh, err := s.client.SetNX(ctx, s.key(id), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrReplayStoreUnavailable, err)
	}
	return fresh, nil
}

// key is the store's prefix and the base64url SHA-256 of id: 43 characters whatever id is.
func (s *ReplayStore) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	b := make([]byte, len(s.prefix)+base64.RawURLEncoding.EncodedLen(len(sum)))
	copy(b, s.prefix)
	base64.RawURLEncoding.Encode(b[len(s.prefix):], sum[:])
	return string(b)
}
