package helseid

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	"github.com/helseid-go/sdk/internal/tokencache"
)

// tokenSpec is one kind of token request: grant, sorted scopes, resource and whether the token
// is an unbound Bearer token (ClientCredentialsRequest.Bearer) or DPoP-bound. Specs are
// interned per Client while anything (a cache key, the spec table, a Source) holds them, so
// equal requests share one *tokenSpec and a cache key can compare it by pointer. The cache
// belongs to one Client, which fixes the issuer, the client id and the
// DPoP key (its thumbprint), the remaining inputs that change a token.
type tokenSpec struct {
	grant    string
	scope    string // sorted, space-separated: the scope parameter sent
	resource string
	bearer   bool // unbound: no DPoP proof at the token endpoint, token_type Bearer
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

// Request specs are found again per call in a small table keyed by a hash of the request as
// given (scopes in the caller's order, resource), each entry verified against the request on a
// hit, so that Token on a warm cache neither sorts, joins nor allocates. The table is fixed in
// size: a caller passing ever-new scopes replaces entries rather than adding them.
const (
	specSlots = 256 // a power of two
	specWays  = 4   // slots probed per request
	// specMaxBytes bounds the scope and resource bytes an entry keeps: larger requests are
	// validated on every call instead, so the table holds at most specSlots × specMaxBytes.
	specMaxBytes = 1024
)

// specEntry is one request as given and its spec. It is immutable once published.
type specEntry struct {
	hash     uint64
	scopes   []string // the caller's order, duplicates included
	resource string
	bearer   bool
	spec     *tokenSpec
}

func (e *specEntry) matches(h uint64, scopes []string, resource string, bearer bool) bool {
	return e != nil && e.hash == h && e.equal(scopes, resource, bearer)
}

// specCache is a Client's table of request specs and the interning of the specs themselves.
type specCache struct {
	slots  [specSlots]atomic.Pointer[specEntry]
	victim atomic.Uint32 // rotates the way replaced when all are taken

	// byAddr finds an entry before slots does, without hashing a byte: it is indexed by where
	// the request's strings are in memory (see addrIndex), which is the same on every call
	// for scopes written as literals or loaded once from configuration, as in the quick start.
	// An entry found there is verified against the request like one found in slots, so a
	// request whose strings are built anew for each call merely misses it and is found by
	// hash; the address is only a hint and is never kept.
	byAddr [addrSlots]atomic.Pointer[specEntry]

	// interned maps a canonical request to its spec while anything (a table entry, a cache
	// key, a Source) still holds it, so equal requests share one token; dead entries are
	// swept when the map has doubled since the last sweep.
	mu        sync.Mutex
	interned  map[string]weak.Pointer[tokenSpec]
	sweepSize int
}

// requestHash hashes the request as given; the order of the scopes counts, since entries are
// verified against the request in that order.
func (c *Client) requestHash(scopes []string, resource string, bearer bool) uint64 {
	// One maphash.String per string (no buffer to fill), chained through a multiply so that
	// the order counts.
	h := uint64(len(scopes))
	if bearer {
		h ^= 1 << 63
	}
	if resource != "" {
		h ^= maphash.String(c.seed, resource)
	}
	for _, s := range scopes {
		h = (h ^ maphash.String(c.seed, s)) * 0x9e3779b97f4a7c15
		h ^= h >> 32
	}
	return h
}

// addrSlots is the size of the table of entries by address: as many as the hash table has, so
// that as many requests of fixed strings as that table keeps are found without hashing.
const (
	addrBits  = 8
	addrSlots = 1 << addrBits
)

// addrIndex places a request in specCache.byAddr by the addresses and lengths of its strings.
func addrIndex(scopes []string, resource string, bearer bool) uint64 {
	h := uint64(len(scopes))<<1 | uint64(len(resource))<<8
	if bearer {
		h |= 1
	}
	h ^= uint64(uintptr(unsafe.Pointer(unsafe.StringData(resource))))
	for _, s := range scopes {
		h = (h ^ uint64(uintptr(unsafe.Pointer(unsafe.StringData(s))))) * 0x9e3779b97f4a7c15
	}
	return (h ^ h>>29) * 0xbf58476d1ce4e5b9 >> (64 - addrBits) // the top bits, the best mixed
}

// equal reports whether e was made from exactly this request (scopes in the same order).
func (e *specEntry) equal(scopes []string, resource string, bearer bool) bool {
	if e == nil || e.bearer != bearer || e.resource != resource || len(e.scopes) != len(scopes) {
		return false
	}
	for i, s := range e.scopes {
		if s != scopes[i] {
			return false
		}
	}
	return true
}

// spec validates a request's scopes and resource and returns its interned spec (a Bearer one
// with bearer): on a warm table without sorting, joining or allocating, and for a request of
// the same strings as before without hashing either. Nothing of the arguments is kept (entries
// hold copies), so a caller's request built on the stack stays there.
func (c *Client) spec(scopes []string, resource string, bearer bool) (*tokenSpec, error) {
	a := addrIndex(scopes, resource, bearer)
	if e := c.specs.byAddr[a].Load(); e.equal(scopes, resource, bearer) {
		return e.spec, nil
	}
	if e := c.specs.byAddr[a^1].Load(); e.equal(scopes, resource, bearer) {
		return e.spec, nil
	}
	h := c.requestHash(scopes, resource, bearer)
	for i := uint64(0); i < specWays; i++ {
		if e := c.specs.slots[(h+i)%specSlots].Load(); e.matches(h, scopes, resource, bearer) {
			c.specs.rememberAddr(a, e)
			return e.spec, nil
		}
	}
	spec, e, err := c.newSpec(h, scopes, resource, bearer)
	if e != nil {
		c.specs.rememberAddr(a, e)
	}
	return spec, err
}

// rememberAddr puts e in the pair of byAddr slots at a: in a free one, else in place of the
// first, so that two requests whose addresses share a pair are both found there.
func (s *specCache) rememberAddr(a uint64, e *specEntry) {
	if !s.byAddr[a].CompareAndSwap(nil, e) && !s.byAddr[a^1].CompareAndSwap(nil, e) {
		s.byAddr[a].Store(e)
	}
}

// newSpec validates and canonicalises a request, interns its spec and remembers it in the
// table; it returns the table's new entry too, nil for a request too large for one.
func (c *Client) newSpec(h uint64, scopes []string, resource string, bearer bool) (*tokenSpec, *specEntry, error) {
	if err := checkScopes(scopes); err != nil {
		return nil, nil, err
	}
	if strings.ContainsAny(resource, " \t\r\n") {
		return nil, nil, fmt.Errorf("%w: resource %.64q has white space", ErrInvalidRequestParams, strings.Clone(resource))
	}
	kept := strings.Clone(resource) // a new variable: storing resource itself would move the caller's request to the heap
	sorted := slices.Clone(scopes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	spec := c.intern(&tokenSpec{grant: "client_credentials", scope: strings.Join(sorted, " "), resource: kept, bearer: bearer})

	size := len(kept)
	for _, s := range scopes {
		size += len(s)
	}
	if size > specMaxBytes {
		return spec, nil, nil
	}
	given := make([]string, len(scopes))
	for i, s := range scopes {
		given[i] = strings.Clone(s)
	}
	e := &specEntry{hash: h, scopes: given, resource: kept, bearer: bearer, spec: spec}
	for i := uint64(0); i < specWays; i++ {
		if c.specs.slots[(h+i)%specSlots].CompareAndSwap(nil, e) {
			return spec, e, nil
		}
	}
	way := uint64(c.specs.victim.Add(1)) % specWays
	c.specs.slots[(h+way)%specSlots].Store(e)
	return spec, e, nil
}

// intern returns the live spec equal to spec, or spec itself, now interned.
func (c *Client) intern(spec *tokenSpec) *tokenSpec {
	canonical := spec.grant + "\n" + spec.scope + "\n" + spec.resource
	if spec.bearer {
		// A bound and an unbound token for the same request are different specs, so they
		// never share a cache entry.
		canonical += "\nBearer"
	}
	s := &c.specs
	s.mu.Lock()
	defer s.mu.Unlock()
	if known := s.interned[canonical].Value(); known != nil {
		return known
	}
	if s.interned == nil {
		s.interned = make(map[string]weak.Pointer[tokenSpec])
	}
	if len(s.interned) >= max(2*s.sweepSize, 64) {
		for k, p := range s.interned {
			if p.Value() == nil {
				delete(s.interned, k)
			}
		}
		s.sweepSize = len(s.interned)
	}
	spec.hash = maphash.String(c.seed, canonical)
	s.interned[canonical] = weak.Make(spec)
	return spec
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

// keyFor is the hit path's organization and newTokenKey in one: it picks fixed, or else the
// context's organisation, and validates and encodes its numbers in one pass over their digits,
// without copying the Organization more than once. It returns false for anything it does not
// accept as is (an invalid number, a multi-tenant call naming no organisation), which the
// caller hands to organization for the error; for every organisation it accepts, the key is
// the one newTokenKey makes of organization's answer.
func (c *Client) keyFor(ctx context.Context, spec *tokenSpec, fixed *Organization) (tokenKey, bool) {
	org := fixed
	var fromCtx Organization
	if org.IsZero() {
		fromCtx, _ = ctx.Value(organizationKey{}).(Organization)
		org = &fromCtx
	}
	parent, ok := orgDigits(org.Parent)
	if !ok {
		return tokenKey{}, false
	}
	child, ok := orgDigits(org.Child)
	if !ok {
		return tokenKey{}, false
	}
	switch {
	case org.supplier:
		if parent != 0 || child != 0 {
			return tokenKey{}, false
		}
	case c.cfg.Tenancy == MultiTenant:
		if parent == 0 { // no organisation (refused), or a child without its parent
			return tokenKey{}, false
		}
	default:
		if parent != 0 { // a single-tenant client names no parent
			return tokenKey{}, false
		}
	}
	return tokenKey{spec: spec, parent: parent, child: child}, true
}

// orgDigits is orgNumber for a number not yet validated: false unless s is empty or 9 digits.
func orgDigits(s string) (uint32, bool) {
	if s == "" {
		return 0, true
	}
	if len(s) != 9 {
		return 0, false
	}
	var n uint32
	for i := 0; i < 9; i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint32(d)
	}
	return n | 1<<31, true
}
