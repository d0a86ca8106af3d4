package helseidredis

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/seal"
	"github.com/redis/go-redis/v9"
)

// Defaults for the zero values of TokenCacheConfig.
const (
	DefaultTokenPrefix  = "helseid:"
	DefaultLeaseTTL     = 10 * time.Second
	DefaultTokenTimeout = 500 * time.Millisecond
)

// TokenCacheConfig configures a TokenCache.
type TokenCacheConfig struct {
	// Redis is the client, for example redis.NewClient(opts) from redis.ParseURL, with
	// opts.ContextTimeoutEnabled = true (NewTokenCache refuses a client without it, which would
	// ignore Timeout). Required. The TokenCache does not close it.
	Redis redis.UniversalClient
	// Key is the 32-byte AES-256 key that seals tokens at rest, the same on every process of
	// the fleet. Without it nothing in Redis is a usable token. Required.
	Key []byte
	// OldKeys open tokens but never seal them: the keys a rotation of Key leaves tokens
	// sealed under (each 32 bytes), kept until those tokens have expired. A token sealed under
	// a key in neither is ErrUnknownSealKey, on which the Client requests its token itself and
	// reports the error (helseid.SharedCacheDown) rather than replacing the fleet's token.
	OldKeys [][]byte
	// Prefix namespaces the Redis keys: DefaultTokenPrefix when empty.
	Prefix string
	// LeaseTTL is how long one process may fetch a token for the fleet before another may
	// take over: DefaultLeaseTTL when zero. A crashed holder delays the others by at most
	// this. A live holder renews its lease every third of it while its request runs, so a
	// request slower than the lease (a slow HelseID, retries) is not duplicated.
	LeaseTTL time.Duration
	// Timeout bounds each Redis call: DefaultTokenTimeout when zero. A slower Redis counts as
	// down, and the client requests its token itself.
	Timeout time.Duration
}

// TokenCache is a helseid.SharedTokenCache on Redis: set it as helseid.Config.SharedTokens
// (with the fleet's shared DPoPKey) on every process of a fleet, and the fleet requests one
// token per organisation and API per token lifetime.
//
// Each token is stored sealed (AES-256-GCM with the full cache key as associated data) under
// "<prefix>{<hash>}:token", with a Redis expiry at the token's; the lease that elects one
// fetching process is "<prefix>{<hash>}:lease" (SET NX PX). The hash is SHA-256 of the cache
// key, so keys have a fixed length, say nothing about tenants or scopes, and the two keys of
// one token share a Redis Cluster slot.
type TokenCache struct {
	rdb      redis.UniversalClient
	sealer   *seal.Sealer
	prefix   string
	leaseTTL time.Duration
	timeout  time.Duration
}

var (
	_ helseid.SharedTokenCache   = (*TokenCache)(nil)
	_ helseid.SharedLeaseRenewer = (*TokenCache)(nil)
)

// NewTokenCache checks cfg and returns a TokenCache; it makes no network call.
func NewTokenCache(cfg TokenCacheConfig) (*TokenCache, error) {
	if isNil(cfg.Redis) {
		return nil, errors.New("helseidredis: TokenCacheConfig.Redis is nil")
	}
	if !contextTimeoutEnabled(cfg.Redis) {
		return nil, errors.New("helseidredis: TokenCacheConfig.Redis: " + errNoContextTimeout)
	}
	sealer, err := newSealer("TokenCacheConfig", cfg.Key, cfg.OldKeys)
	if err != nil {
		return nil, fmt.Errorf("helseidredis: %w", err)
	}
	c := &TokenCache{rdb: cfg.Redis, sealer: sealer, prefix: cfg.Prefix, leaseTTL: cfg.LeaseTTL, timeout: cfg.Timeout}
	if c.prefix == "" {
		c.prefix = DefaultTokenPrefix
	}
	if c.leaseTTL <= 0 {
		c.leaseTTL = DefaultLeaseTTL
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTokenTimeout
	}
	return c, nil
}

func (c *TokenCache) keys(key string) (token, lease string) {
	sum := sha256.Sum256([]byte(key))
	base := c.prefix + "{" + base64.RawURLEncoding.EncodeToString(sum[:]) + "}:"
	return base + "token", base + "lease"
}

// LoadToken implements helseid.SharedTokenCache. A value that does not open (changed, or moved
// from another key) counts as absent; one sealed under a key the cache was not given is
// ErrUnknownSealKey, an error like Redis being down: the Client fetches locally, reports it,
// and leaves the stored token to the processes that can open it.
func (c *TokenCache) LoadToken(ctx context.Context, key string) (helseid.SharedToken, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tk, _ := c.keys(key)
	sealed, err := c.rdb.Get(ctx, tk).Bytes()
	if errors.Is(err, redis.Nil) {
		return helseid.SharedToken{}, false, nil
	}
	if err != nil {
		return helseid.SharedToken{}, false, fmt.Errorf("helseidredis: load token: %w", err)
	}
	plain, err := c.sealer.Open(sealed, []byte(key))
	if err != nil {
		if err := unknownSealKey(err); err != nil {
			return helseid.SharedToken{}, false, fmt.Errorf("helseidredis: load token: %w", err)
		}
		return helseid.SharedToken{}, false, nil
	}
	tok, ok := decodeToken(plain)
	return tok, ok, nil
}

// acquireScript takes a lease: set it if absent (SET NX PX), and count it as taken if it is
// already the caller's own id, which happens when go-redis resends the command after losing
// the first reply. A plain SET NX would then answer "held by another" to its own holder, who
// would wait behind its own lease. (SET NX GET does the same from Redis 7.0; the script also
// runs on Redis 6.)
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then return 1 end
return 0`)

// renewScript extends a lease to its full time to live if it is still the caller's.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// AcquireLease implements helseid.SharedTokenCache with one script: SET NX PX, or the lease
// is already the caller's.
func (c *TokenCache) AcquireLease(ctx context.Context, key string) (string, bool, error) {
	lease := newHolderID()
	_, lk := c.keys(key)
	ok, err := c.acquire(ctx, lk, lease)
	if err != nil || !ok {
		return "", false, err
	}
	return lease, true, nil
}

func (c *TokenCache) acquire(ctx context.Context, lk, lease string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	n, err := acquireScript.Run(ctx, c.rdb, []string{lk}, lease, c.leaseTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("helseidredis: acquire lease: %w", err)
	}
	return n == 1, nil
}

// RenewLease implements helseid.SharedLeaseRenewer: the lease is extended to LeaseTTL if it is
// still the caller's.
func (c *TokenCache) RenewLease(ctx context.Context, key, lease string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, lk := c.keys(key)
	n, err := renewScript.Run(ctx, c.rdb, []string{lk}, lease, c.leaseTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("helseidredis: renew lease: %w", err)
	}
	return n == 1, nil
}

// LeaseRenewEvery implements helseid.SharedLeaseRenewer: a third of LeaseTTL, so that two
// renewals may fail before the lease expires.
func (c *TokenCache) LeaseRenewEvery() time.Duration { return c.leaseTTL / 3 }

// storeScript stores a token and releases the lease in one step. A holder whose lease expired
// (it paused past LeaseTTL) stores only where no token is: it never replaces a newer one.
var storeScript = redis.NewScript(`
local held = redis.call('GET', KEYS[2]) == ARGV[3]
if held then redis.call('DEL', KEYS[2]) end
if held or redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// releaseScript deletes KEYS[1] only if it still holds ARGV[1]: a lease only if it is still
// the caller's, and (InvalidateToken) a token only if it is still the value the caller read.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// StoreToken implements helseid.SharedTokenCache; the token expires from Redis with itself.
func (c *TokenCache) StoreToken(ctx context.Context, key string, tok helseid.SharedToken, lease string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tk, lk := c.keys(key)
	ttl := time.Until(tok.Expiry).Milliseconds()
	if ttl <= 0 {
		return c.ReleaseLease(ctx, key, lease)
	}
	sealed := c.sealer.Seal(encodeToken(tok), []byte(key))
	if err := storeScript.Run(ctx, c.rdb, []string{tk, lk}, sealed, ttl, lease).Err(); err != nil {
		return fmt.Errorf("helseidredis: store token: %w", err)
	}
	return nil
}

// ReleaseLease implements helseid.SharedTokenCache.
func (c *TokenCache) ReleaseLease(ctx context.Context, key, lease string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, lk := c.keys(key)
	if err := releaseScript.Run(ctx, c.rdb, []string{lk}, lease).Err(); err != nil {
		return fmt.Errorf("helseidredis: release lease: %w", err)
	}
	return nil
}

// InvalidateToken implements helseid.SharedTokenCache. The stored value is read and opened
// here, since only this side holds the sealing key, and deleted by a script only if it is still
// the very value read: a newer token another process stored meanwhile stays. Two round trips,
// once per token an API rejected.
func (c *TokenCache) InvalidateToken(ctx context.Context, key, accessToken string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tk, _ := c.keys(key)
	sealed, err := c.rdb.Get(ctx, tk).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("helseidredis: invalidate token: %w", err)
	}
	plain, err := c.sealer.Open(sealed, []byte(key))
	if err != nil {
		return nil // not a value LoadToken would hand out: nothing to invalidate
	}
	tok, ok := decodeToken(plain)
	if !ok || subtle.ConstantTimeCompare([]byte(tok.AccessToken), []byte(accessToken)) != 1 {
		return nil
	}
	if err := releaseScript.Run(ctx, c.rdb, []string{tk}, sealed).Err(); err != nil {
		return fmt.Errorf("helseidredis: invalidate token: %w", err)
	}
	return nil
}

// encodeToken lays a token out as fetched and expiry (unix nanoseconds, big-endian) and the
// access token.
func encodeToken(tok helseid.SharedToken) []byte {
	b := make([]byte, 16, 16+len(tok.AccessToken))
	binary.BigEndian.PutUint64(b, uint64(tok.Fetched.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], uint64(tok.Expiry.UnixNano()))
	return append(b, tok.AccessToken...)
}

func decodeToken(b []byte) (helseid.SharedToken, bool) {
	if len(b) <= 16 {
		return helseid.SharedToken{}, false
	}
	var tok helseid.SharedToken
	tok.Fetched = time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	tok.Expiry = time.Unix(0, int64(binary.BigEndian.Uint64(b[8:])))
	tok.AccessToken = string(b[16:])
	return tok, true
}
