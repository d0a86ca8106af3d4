// Package fleetconfig reads the settings the fleet examples share: today's HELSEID_* settings
// of examples/clientcredentials plus the three a fleet needs, and builds a helseid.Client whose
// client-credentials tokens are shared through Redis.
package fleetconfig

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/redis/go-redis/v9"
)

// Settings come from the environment.
type Settings struct {
	Issuer, ClientID, JWKFile, Scope, APIURL, OrgParent, OrgChild string
	// The fleet's three: Redis, the shared DPoP key, the base64 AES-256 key sealing tokens.
	RedisURL, DPoPJWKFile, CacheKey string
}

// FromEnv reads the settings; every one but HELSEID_API_URL and the organisation numbers is
// required.
func FromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{
		Issuer: getenv("HELSEID_ISSUER"), ClientID: getenv("HELSEID_CLIENT_ID"), JWKFile: getenv("HELSEID_JWK_FILE"),
		Scope: getenv("HELSEID_SCOPE"), APIURL: getenv("HELSEID_API_URL"),
		OrgParent: getenv("HELSEID_ORGNR_PARENT"), OrgChild: getenv("HELSEID_ORGNR_CHILD"),
		RedisURL: getenv("HELSEID_REDIS_URL"), DPoPJWKFile: getenv("HELSEID_DPOP_JWK_FILE"), CacheKey: getenv("HELSEID_CACHE_KEY"),
	}
	var missing []string
	for _, v := range []struct{ name, value string }{
		{"HELSEID_ISSUER", s.Issuer}, {"HELSEID_CLIENT_ID", s.ClientID}, {"HELSEID_JWK_FILE", s.JWKFile}, {"HELSEID_SCOPE", s.Scope},
		{"HELSEID_REDIS_URL", s.RedisURL}, {"HELSEID_DPOP_JWK_FILE", s.DPoPJWKFile}, {"HELSEID_CACHE_KEY", s.CacheKey},
	} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("%s not set (a fleet member needs the HelseID settings, Redis, the fleet's DPoP key and the cache key)", strings.Join(missing, ", "))
	}
	return s, nil
}

// Counter counts the tokens taken from Redis (SharedCacheHit, reported before the token is
// handed out, so a count read after Token returns includes it).
type Counter struct {
	shared atomic.Int64
}

// Observe implements helseid.Observer.
func (c *Counter) Observe(_ context.Context, e helseid.Event) {
	if e.Kind == helseid.SharedCacheHit {
		c.shared.Add(1)
	}
}

// Shared is the number of tokens taken from Redis.
func (c *Counter) Shared() int64 { return c.shared.Load() }

// NewClient builds the client; close it with the returned function.
func (s Settings) NewClient(tenancy helseid.Tenancy, obs helseid.Observer) (*helseid.Client, func(), error) {
	key, err := loadKey(s.JWKFile, "HELSEID_JWK_FILE")
	if err != nil {
		return nil, nil, err
	}
	dpopKey, err := loadKey(s.DPoPJWKFile, "HELSEID_DPOP_JWK_FILE")
	if err != nil {
		return nil, nil, err
	}
	sealKey, err := base64.StdEncoding.DecodeString(s.CacheKey)
	if err != nil {
		return nil, nil, errors.New("HELSEID_CACHE_KEY is not base64 (generate one with: openssl rand -base64 32)")
	}
	opts, err := ParseRedisURL(s.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("HELSEID_REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opts)
	shared, err := helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: rdb, Key: sealKey})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("HELSEID_CACHE_KEY: %w", err)
	}
	client, err := helseid.NewClient(helseid.Config{
		Issuer: s.Issuer, ClientID: s.ClientID, Key: key, DPoPKey: dpopKey, Tenancy: tenancy,
		SharedTokens: shared, Observer: obs,
	})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return client, func() { _ = client.Close(); _ = rdb.Close() }, nil
}

func loadKey(file, name string) (*helseid.Key, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	key, err := helseid.ParseJWK(data, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return key, nil
}

// ParseRedisURL is redis.ParseURL for a URL that may hold a password: its error never quotes
// the user name or password (url.Parse's errors quote the whole URL, and they end up in logs).
// The options have ContextTimeoutEnabled set, which the helseidredis stores require so that
// their per-call Timeout holds.
func ParseRedisURL(raw string) (*redis.Options, error) {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		redacted := redactUserInfo(raw)
		if redacted == raw {
			return nil, err
		}
		// The same URL without its user info gives the same error, unless the user info was what
		// was wrong.
		if _, err := redis.ParseURL(redacted); err != nil {
			return nil, err
		}
		return nil, errors.New("malformed user name or password in the URL")
	}
	opts.ContextTimeoutEnabled = true
	return opts, nil
}

// redactUserInfo replaces everything between the scheme and the last '@' (the user name and
// password, even where a stray '/' or '#' in the password ends the URL's authority early) with
// REDACTED.
func redactUserInfo(raw string) string {
	head, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		head, rest = raw[:i+3], raw[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	return head + "REDACTED" + rest[at:]
}
