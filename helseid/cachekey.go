package helseid

import (
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

// tokenKey is the cache key: the request and the organisation.
type tokenKey struct {
	spec *tokenSpec
	org  Organization
}

func (c *Client) hashKey(k tokenKey) uint64 {
	h := k.spec.hash
	if !k.org.IsZero() {
		h ^= maphash.String(c.seed, k.org.Parent)*0x9e3779b97f4a7c15 ^ maphash.String(c.seed, k.org.Child)
	}
	return h
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

func (c *Client) observeCache(k tokenKey, e tokencache.Event) {
	ev := Event{Grant: k.spec.grant, Scopes: k.spec.scope, Organization: k.org}
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
	c.observer.Observe(ev)
}
