package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// errInvalidNonceConfig starts the message of a NonceSource that cannot be made from its
// inputs (a configuration mistake, not handled at run time, so it is not exported).
var errInvalidNonceConfig = errors.New("invalid dpop nonce configuration")

// DefaultNonceLifetime is how long a NonceSource's nonce is current when no lifetime is given.
const DefaultNonceLifetime = 5 * time.Minute

// NonceSource issues and checks a server's DPoP nonces (RFC 9449 §8, §9) without keeping any
// state: a nonce is the number of the time window it was issued in, stamped with an HMAC under
// a secret. Every machine of an API given the same secret issues and accepts the same nonces,
// with no shared store. A nonce is current for one lifetime and accepted for one more, so a
// client that was just sent one never meets a boundary. It is safe for concurrent use; Nonce
// costs an atomic load. Formatting and logging it never show the secret.
type NonceSource struct {
	secret   []byte
	lifetime time.Duration
	now      func() time.Time
	current  atomic.Pointer[windowNonce]
}

type windowNonce struct {
	window int64
	nonce  string
}

// nonceMACSize is how much of the HMAC-SHA256 a nonce carries: 128 bits are far beyond guessing
// within a window.
const nonceMACSize = 16

// NewNonceSource returns a NonceSource. secret must be at least 32 random bytes and is kept
// secret (share it only among the API's machines); lifetime zero means DefaultNonceLifetime,
// and it must be at least a second; now nil means time.Now.
func NewNonceSource(secret []byte, lifetime time.Duration, now func() time.Time) (*NonceSource, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("%w: the secret has %d bytes, at least 32 are required", errInvalidNonceConfig, len(secret))
	}
	if lifetime == 0 {
		lifetime = DefaultNonceLifetime
	}
	if lifetime < time.Second {
		return nil, fmt.Errorf("%w: lifetime %s is under a second", errInvalidNonceConfig, lifetime)
	}
	if now == nil {
		now = time.Now
	}
	return &NonceSource{secret: append([]byte(nil), secret...), lifetime: lifetime, now: now}, nil
}

// Nonce returns the current nonce, to send in a DPoP-Nonce header.
func (s *NonceSource) Nonce() string {
	w := s.window(s.now())
	if c := s.current.Load(); c != nil && c.window == w {
		return c.nonce
	}
	c := &windowNonce{window: w, nonce: s.stamp(w)}
	s.current.Store(c)
	return c.nonce
}

// Valid reports whether nonce was issued by this source (or one with the same secret) in the
// current or the previous window.
func (s *NonceSource) Valid(nonce string) bool {
	var raw [8 + nonceMACSize]byte
	if base64.RawURLEncoding.EncodedLen(len(raw)) != len(nonce) {
		return false
	}
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(nonce)); err != nil || n != len(raw) {
		return false
	}
	w := int64(binary.BigEndian.Uint64(raw[:8]))
	if now := s.window(s.now()); w != now && w != now-1 {
		return false
	}
	want := s.mac(w)
	return subtle.ConstantTimeCompare(raw[8:], want[:nonceMACSize]) == 1
}

func (s *NonceSource) window(t time.Time) int64 { return t.UnixNano() / int64(s.lifetime) }

// stamp returns base64url(window || HMAC(secret, window)[:16]): 32 characters, valid NQCHARs.
func (s *NonceSource) stamp(w int64) string {
	var raw [8 + nonceMACSize]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(w))
	mac := s.mac(w)
	copy(raw[8:], mac[:nonceMACSize])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func (s *NonceSource) mac(w int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(w))
	h := hmac.New(sha256.New, s.secret)
	h.Write(b[:])
	return h.Sum(nil)
}
