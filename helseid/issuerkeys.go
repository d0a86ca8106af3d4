package helseid

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/helseid-go/sdk/internal/discovery"
	"github.com/helseid-go/sdk/internal/jwks"
)

// issuerKeys is the issuer's JWKS cache, made from the discovered jwks_uri on first use and
// then kept (it refetches on an unknown kid by itself). Once closed it makes none: a set made
// after its owner's Close would run fetches that nothing stops.
type issuerKeys struct {
	observe func(context.Context, time.Duration, error) // set before first use; nil: none
	mu      sync.Mutex
	keys    *jwks.Set
	closed  bool
}

// get returns the key set; an outage of discovery or of the key set is ErrValidatorUnavailable,
// and so is a first use after close, which also wraps ErrClosed. A set made before close is
// still returned: it serves the keys it holds and fetches no more.
func (k *issuerKeys) get(ctx context.Context, disc *discovery.Cache, client *http.Client, now func() time.Time) (*jwks.Set, error) {
	k.mu.Lock()
	keys, closed := k.keys, k.closed
	k.mu.Unlock()
	if keys != nil {
		return keys, nil
	}
	if closed {
		return nil, fmt.Errorf("%w: %w", ErrValidatorUnavailable, ErrClosed)
	}
	md, err := disc.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", ErrValidatorUnavailable, err)
	}
	keys, err = jwks.New(jwks.Config{URL: md.JWKSURI, HTTPClient: client, Now: now, Observe: k.observe})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrValidatorUnavailable, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.keys != nil:
		return k.keys, nil // another caller's set won; ours never fetched
	case k.closed:
		keys.Close() // closed while we looked up jwks_uri
		return nil, fmt.Errorf("%w: %w", ErrValidatorUnavailable, ErrClosed)
	}
	k.keys = keys
	return keys, nil
}

// usable reports whether get can still return a set: ErrClosed (wrapped in
// ErrValidatorUnavailable) once closed before a set was made.
func (k *issuerKeys) usable() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil && k.closed {
		return fmt.Errorf("%w: %w", ErrValidatorUnavailable, ErrClosed)
	}
	return nil
}

// close stops the key set's background fetches, if it was made, and makes get refuse to make
// one from now on.
func (k *issuerKeys) close() {
	k.mu.Lock()
	keys := k.keys
	k.closed = true
	k.mu.Unlock()
	if keys != nil {
		keys.Close()
	}
}
