package tokenexchange

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync"
	"time"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/accesstoken"
	"github.com/helseid-go/sdk/internal/tokencache"
)

// ExchangeFunc performs one exchange; Exchanger.Exchange is one.
type ExchangeFunc func(ctx context.Context, req Request) (*fapi.TokenResponse, error)

// CacheConfig configures a Cache.
type CacheConfig struct {
	// Exchange makes the exchanges. Required.
	Exchange ExchangeFunc
	// MaxEntries bounds the cache: 10,000 when zero. An API needs about one entry per active
	// user and downstream API.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Cache keeps exchanged access tokens. An entry is keyed by SHA-256 of the subject token and
// the target (every other field of the Request but SubjectExpiry), so different subjects or
// targets never share a token and no key holds a subject token; the subject token itself is
// kept in memory with its entry, to refresh it. An entry is handed out until the earlier of
// the issued token's expiry and the subject token's (the earlier of Request.SubjectExpiry and
// the exp of a JWT subject token), and refreshed ahead of expiry only when a new exchange can
// last longer. One exchange is in flight per key however many callers wait; a caller whose
// context ends returns at once. It is safe for concurrent use; Close stops it.
type Cache struct {
	cache *tokencache.Cache[cacheKey, fapi.Token]
	now   func() time.Time
	exch  ExchangeFunc
}

type cacheKey [sha256.Size]byte

// NewCache checks cfg and returns a Cache.
func NewCache(cfg CacheConfig) (*Cache, error) {
	if cfg.Exchange == nil {
		return nil, errors.New("token exchange: CacheConfig.Exchange is nil")
	}
	c := &Cache{now: cfg.Now, exch: cfg.Exchange}
	if c.now == nil {
		c.now = time.Now
	}
	var err error
	c.cache, err = tokencache.New(tokencache.Config[cacheKey, fapi.Token]{
		Hash:       func(k cacheKey) uint64 { return binary.LittleEndian.Uint64(k[:8]) },
		Now:        cfg.Now,
		MaxEntries: cfg.MaxEntries,
	})
	if err != nil {
		return nil, fmt.Errorf("token exchange: %w", err)
	}
	return c, nil
}

// Token returns a cached exchange of req, exchanging when none is usable. An expired subject
// token is refused with ErrSubjectExpired without a request (the server would refuse it too),
// and so is one whose exchanged token, capped at the subject's expiry, is in its last seconds
// (then a new exchange could not last longer).
// A hit costs a SHA-256 of the subject token and a lock-free lookup: no allocation, no
// parsing, no network. Only access tokens are cached (RequestedTokenType empty or
// TokenTypeAccessToken).
func (c *Cache) Token(ctx context.Context, req Request) (*fapi.Token, error) {
	key := keyOf(req)
	if tok := c.cache.Lookup(ctx, key); tok != nil {
		return tok, nil // only a validated request was ever stored under key
	}
	return c.miss(ctx, key, req)
}

func (c *Cache) miss(ctx context.Context, key cacheKey, req Request) (*fapi.Token, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	if req.RequestedTokenType != "" && req.RequestedTokenType != TokenTypeAccessToken {
		return nil, fmt.Errorf("%w: Cache hands out access tokens; exchange for %.80q with Exchanger", ErrInvalidRequest, req.RequestedTokenType)
	}
	// The fetch outlives this call (it refreshes the entry): it gets copies of the caller's
	// slices, so a later change to them cannot change what is sent under this key.
	req.Scopes, req.Resources, req.Audiences = slices.Clone(req.Scopes), slices.Clone(req.Resources), slices.Clone(req.Audiences)
	subjectExpiry := earliest(req.SubjectExpiry, accesstoken.JWTExpiry(req.SubjectToken))
	return c.cache.GetWith(ctx, key, func(ctx context.Context) (*fapi.Token, time.Time, error) {
		if !subjectExpiry.IsZero() {
			if !c.now().Before(subjectExpiry) {
				return nil, time.Time{}, ErrSubjectExpired
			}
			if cur := c.cache.Peek(key); cur != nil && cur.Expiry.Equal(subjectExpiry) {
				// Capped at the subject's expiry already: another exchange cannot last longer.
				// Once that token is too close to its expiry to hand out, so is the subject.
				return nil, time.Time{}, tokencache.NoRefresh(errSubjectExpiring)
			}
		}
		resp, err := c.exch(ctx, req)
		if err != nil {
			return nil, time.Time{}, err
		}
		expiry := earliest(resp.Expiry, subjectExpiry)
		return &fapi.Token{AccessToken: resp.AccessToken, Expiry: expiry}, expiry, nil
	})
}

// errSubjectExpiring reports a subject token that has not expired yet but will within the
// margin in which the cache no longer hands out a token exchanged for it.
// It matches ErrSubjectExpired and ErrInvalidGrant: for the caller it has expired.
var errSubjectExpiring error = subjectExpiring{}

type subjectExpiring struct{}

func (subjectExpiring) Error() string {
	return "token exchange: the subject token expires within seconds, too soon to exchange it again"
}

func (subjectExpiring) Is(target error) bool {
	return target == ErrSubjectExpired || target == ErrInvalidGrant
}

// earliest returns the earlier of two times, a zero time meaning unknown.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// Invalidate drops the cached exchange of req if its token is token, for example after the
// downstream API answered 401 invalid_token; a newer token fetched meanwhile is kept.
func (c *Cache) Invalidate(req Request, token string) {
	key := keyOf(req)
	if cur := c.cache.Peek(key); cur != nil && cur.AccessToken == token {
		c.cache.Invalidate(key, cur)
	}
}

// Len returns the number of cached entries.
func (c *Cache) Len() int { return c.cache.Len() }

// Close stops background refreshes and waits for running exchanges to end. Cached tokens are
// still handed out afterwards while they are usable; once none is, Token returns an error that
// matches ErrClosed (errors.Is), as does a call waiting for an exchange that Close stopped.
func (c *Cache) Close() { c.cache.Close() }

// keyOf hashes every field that changes the result, each length-prefixed so that no two
// requests share an encoding.
func keyOf(req Request) cacheKey {
	hs := hashers.Get().(*hasher)
	defer hashers.Put(hs)
	hs.h.Reset()
	hs.str(req.SubjectToken)
	hs.str(req.subjectType())
	for _, list := range [...][]string{req.Scopes, req.Resources, req.Audiences} {
		hs.num(len(list))
		for _, v := range list {
			hs.str(v)
		}
	}
	hs.str(req.ActorToken)
	hs.str(req.ActorTokenType)
	hs.str(req.RequestedTokenType)
	var k cacheKey
	copy(k[:], hs.h.Sum(hs.buf[:0])) // into the pooled buffer: a Sum into k would move k to the heap
	clear(hs.buf[:])                 // no part of a token stays in the pool
	return k
}

// hasher is a SHA-256 with a buffer to feed it strings through, pooled so that hashing a
// request allocates nothing.
type hasher struct {
	h   hash.Hash
	buf [512]byte
}

var hashers = sync.Pool{New: func() any { return &hasher{h: sha256.New()} }}

func (hs *hasher) num(n int) {
	binary.BigEndian.PutUint64(hs.buf[:8], uint64(n))
	hs.h.Write(hs.buf[:8])
}

func (hs *hasher) str(s string) {
	hs.num(len(s))
	for len(s) > 0 {
		n := copy(hs.buf[:], s)
		hs.h.Write(hs.buf[:n])
		s = s[n:]
	}
}
