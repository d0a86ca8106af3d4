package helseid

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/helseid-go/sdk/internal/tokencache"
)

// tokenSpec is one kind of token request: grant, sorted scopes and resource. Specs are
// interned per Client, so equal requests share one *tokenSpec and a cache key can compare it
// by pointer. The cache belongs to one Client, which fixes the issuer, the client id and the
// DPoP key (its thumbprint), the remaining inputs that change a token.
type tokenSpec struct {
	grant    string
	scope    string // sorted, space-separated: the scope parameter sent
	resource string
	hash     uint64
}

// tokenKey is the cache key: the request and the organisation. Organisation numbers are nine
// digits, so they are kept as integers (0: none): a key then holds no strings, which saves
// memory per cached tenant and two cache misses per lookup among many tenants.
type tokenKey struct {
	spec          *tokenSpec
	parent, child uint32
}

func newTokenKey(spec *tokenSpec, org Organization) tokenKey {
	return tokenKey{spec: spec, parent: orgNumber(org.Parent), child: orgNumber(org.Child)}
}

// orgNumber converts a validated 9-digit number (or "") to an integer; 999,999,999 fits in 32
// bits. The encoding adds 1<<31 so that "000000000" differs from "".
func orgNumber(s string) uint32 {
	if s == "" {
		return 0
	}
	var n uint32
	for i := 0; i < len(s); i++ {
		n = n*10 + uint32(s[i]-'0')
	}
	return n | 1<<31
}

// organization rebuilds the Organization of a key, for observers.
func (k tokenKey) organization() Organization {
	return Organization{Parent: orgString(k.parent), Child: orgString(k.child)}
}

func orgString(n uint32) string {
	if n == 0 {
		return ""
	}
	var b [9]byte
	n &^= 1 << 31
	for i := 8; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
}

func (c *Client) hashKey(k tokenKey) uint64 {
	h := uint64(k.parent)<<32 | uint64(k.child)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h ^ k.spec.hash
}

// spec validates req and returns its interned spec.
func (c *Client) spec(req ClientCredentialsRequest) (*tokenSpec, error) {
	if err := checkScopes(req.Scopes); err != nil {
		return nil, err
	}
	if strings.ContainsAny(req.Resource, " \t\r\n") {
		return nil, fmt.Errorf("%w: resource %.64q has white space", ErrInvalidRequestParams, req.Resource)
	}
	scopes := slices.Clone(req.Scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	spec := &tokenSpec{grant: "client_credentials", scope: strings.Join(scopes, " "), resource: req.Resource}
	canonical := spec.grant + "\n" + spec.scope + "\n" + spec.resource
	if known, ok := c.specs.Load(canonical); ok {
		return known.(*tokenSpec), nil
	}
	spec.hash = maphash.String(c.seed, canonical)
	known, _ := c.specs.LoadOrStore(canonical, spec)
	return known.(*tokenSpec), nil
}

func (c *Client) observeCache(ctx context.Context, k tokenKey, e tokencache.Event) {
	ev := Event{Grant: k.spec.grant, Scopes: k.spec.scope, Organization: k.organization()}
	switch e.Kind {
	case tokencache.Hit:
		ev.Kind = CacheHit
	case tokencache.Miss:
		ev.Kind = CacheMiss
	case tokencache.RefreshStarted:
		ev.Kind = RefreshStarted
	case tokencache.Fetched:
		ev.Kind, ev.Background, ev.Duration, ev.Err = TokenFetched, e.Background, e.Duration, e.Err
	case tokencache.Evicted:
		ev.Kind = CacheEvicted
	default:
		return
	}
	c.observer.Observe(ctx, ev)
}
