package helseid

import (
	"crypto"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/helseid-go/sdk/internal/jose"
)

// Bounds of an AccessTokenValidator's verified-token cache. An entry holds the decoded claims
// of one token (about the token's size again, plus the claim map), so the cache stays under
// maxVerifiedBytes however many clients call the API.
const (
	maxVerifiedTokens = 10_000
	maxVerifiedBytes  = 32 << 20
)

// verifiedToken is a token whose signature and time-independent claims were checked: what a
// later request with the same token needs to be accepted again without either.
type verifiedToken struct {
	claims  *AccessTokenClaims
	kid     string
	alg     string
	key     crypto.PublicKey // the issuer key that verified the signature
	expires time.Time        // exp plus the leeway: the entry is never used from then on
	size    int              // bytes charged against maxVerifiedBytes
}

// verifiedTokens remembers verified access tokens by the SHA-256 of the token, so that an API
// called many times with one token verifies its signature and decodes its claims once. It
// never answers for a token past its exp (plus leeway): such an entry is dropped when met, and
// every insertion first sweeps out the expired ones once the earliest exp has passed. It
// starts no goroutine and no timer.
type verifiedTokens struct {
	mu       sync.RWMutex
	m        map[[sha256.Size]byte]*verifiedToken
	bytes    int
	earliest time.Time // the earliest expiry (exp + leeway) among the entries; zero when empty
	disabled bool      // set only by tests and benchmarks, before use: remember nothing
}

// tokenDigest hashes token without copying it: SHA-256 reads the bytes and keeps none.
func tokenDigest(token string) [sha256.Size]byte {
	return sha256.Sum256(jose.ReadOnlyBytes(token))
}

// get returns the entry for digest, or nil.
func (c *verifiedTokens) get(digest [sha256.Size]byte) *verifiedToken {
	c.mu.RLock()
	e := c.m[digest]
	c.mu.RUnlock()
	return e
}

// drop removes the entry for digest if it is still e.
func (c *verifiedTokens) drop(digest [sha256.Size]byte, e *verifiedToken) {
	c.mu.Lock()
	if c.m[digest] == e {
		delete(c.m, digest)
		c.bytes -= e.size
	}
	c.mu.Unlock()
}

// put remembers e. It first sweeps out the expired
// entries when the earliest has passed, then makes room by dropping entries the map's
// iteration order picks, which are as good as random, until the bounds hold.
func (c *verifiedTokens) put(digest [sha256.Size]byte, e *verifiedToken, now time.Time) {
	if e.size > maxVerifiedBytes/16 || c.disabled {
		return // far larger than any access token's claims: not worth the space
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]*verifiedToken)
	}
	if !c.earliest.IsZero() && !now.Before(c.earliest) {
		c.earliest = time.Time{}
		for d, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, d)
				c.bytes -= old.size
			} else if c.earliest.IsZero() || old.expires.Before(c.earliest) {
				c.earliest = old.expires
			}
		}
	}
	if old, ok := c.m[digest]; ok {
		delete(c.m, digest)
		c.bytes -= old.size
	}
	for d, old := range c.m {
		if len(c.m) < maxVerifiedTokens && c.bytes+e.size <= maxVerifiedBytes {
			break
		}
		delete(c.m, d)
		c.bytes -= old.size
	}
	c.m[digest] = e
	c.bytes += e.size
	if c.earliest.IsZero() || e.expires.Before(c.earliest) {
		c.earliest = e.expires
	}
}

// len returns the number of entries.
func (c *verifiedTokens) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
