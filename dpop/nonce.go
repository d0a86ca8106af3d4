package dpop

import (
	"github.com/helseid-go/sdk/internal/httpx"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
)

// Bounds on what a NonceStore keeps: nonces and origins longer than these are ignored, and at
// most maxNonceOrigins origins are remembered, so a client that follows many origins (or a
// server that makes it) cannot grow the store without limit.
const (
	maxNonceLen     = 1024
	maxOriginLen    = 1024
	maxNonceOrigins = 1024
)

// ValidNonce reports whether s has the syntax of a DPoP nonce (RFC 9449 §8.1):
// nonce = 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E, and at most 1024 characters.
func ValidNonce(s string) bool { return httpx.ValidDPoPNonce(s) }

// responseNonce returns the value of the DPoP-Nonce header in h when there is exactly one and
// it is a valid nonce. RFC 9449 §8.1 forbids more than one; two are ignored, since there is no
// telling which the server meant.
func responseNonce(h http.Header) (string, bool) {
	vs := h.Values("Dpop-Nonce")
	if len(vs) != 1 || !ValidNonce(vs[0]) {
		return "", false
	}
	return vs[0], true
}

// NonceStore keeps the newest DPoP nonce each server (origin) has sent (RFC 9449 §8, §9), so
// later proofs to that server can carry it and save a round trip. Authorization and resource
// servers have different origins and different nonces; the store never mixes them.
//
// It is safe for concurrent use and made for a hot path: Nonce takes no lock and does not
// allocate. It holds at most 1024 origins; when full, a new origin replaces the one whose
// nonce was set longest ago, which costs that server at most one extra round trip later.
// Create one with NewNonceStore.
type NonceStore struct {
	mu      sync.Mutex // serialises changes to the set of origins
	origins atomic.Pointer[map[string]*nonceEntry]
	seq     atomic.Uint64 // orders Set calls, for eviction
}

// nonceEntry holds one origin's nonce. Updating it replaces the value atomically, so an
// origin's nonce changes without copying the map of origins.
type nonceEntry struct {
	v atomic.Pointer[nonceValue]
}

type nonceValue struct {
	nonce string
	seq   uint64 // when it was set
}

// NewNonceStore returns an empty NonceStore.
func NewNonceStore() *NonceStore {
	s := &NonceStore{}
	m := make(map[string]*nonceEntry)
	s.origins.Store(&m)
	return s
}

// Nonce returns the newest nonce recorded for origin (as returned by Origin), or "" when
// there is none.
func (s *NonceStore) Nonce(origin string) string {
	m := s.origins.Load()
	if m == nil {
		return ""
	}
	e := (*m)[origin]
	if e == nil {
		return ""
	}
	return e.v.Load().nonce
}

// Set records nonce as the newest nonce for origin (as returned by Origin) and reports
// whether it did. An invalid nonce (see ValidNonce), an empty origin or one longer than 1024
// bytes is ignored and leaves the stored nonce as it was. The value of the latest Set wins.
func (s *NonceStore) Set(origin, nonce string) bool {
	if !ValidNonce(nonce) || origin == "" || len(origin) > maxOriginLen {
		return false
	}
	v := &nonceValue{nonce: nonce, seq: s.seq.Add(1)}
	if m := s.origins.Load(); m != nil {
		if e := (*m)[origin]; e != nil {
			e.v.Store(v)
			return true
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var old map[string]*nonceEntry
	if m := s.origins.Load(); m != nil {
		old = *m
	}
	if e := old[origin]; e != nil { // added since the check above
		e.v.Store(v)
		return true
	}
	evict := ""
	if len(old) >= maxNonceOrigins {
		evict = oldestOrigin(old)
	}
	m := make(map[string]*nonceEntry, len(old)+1)
	for k, e := range old {
		if k != evict {
			m[k] = e
		}
	}
	e := &nonceEntry{}
	e.v.Store(v)
	m[origin] = e
	s.origins.Store(&m)
	return true
}

// Observe records the DPoP-Nonce header of any response from u (success or error; RFC 9449
// §8.2 lets a server send the next nonce on a 200) under Origin(u). A response without the
// header, with more than one, or with an invalid nonce changes nothing.
func (s *NonceStore) Observe(u *url.URL, h http.Header) {
	if u == nil || u.Host == "" {
		return
	}
	if nonce, ok := responseNonce(h); ok {
		s.Set(Origin(u), nonce)
	}
}

// oldestOrigin returns the origin in m whose nonce was set longest ago.
func oldestOrigin(m map[string]*nonceEntry) string {
	oldest, oldestSeq := "", uint64(0)
	for k, e := range m {
		if seq := e.v.Load().seq; oldest == "" || seq < oldestSeq {
			oldest, oldestSeq = k, seq
		}
	}
	return oldest
}

// NonceFor returns the newest nonce of the server u belongs to, or "" when none is known.
func (s *NonceStore) NonceFor(u *url.URL) string { return s.Nonce(Origin(u)) }
