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
// then kept (it refetches on an unknown kid by itself).
type issuerKeys struct {
	mu   sync.Mutex
	keys *jwks.Set
}

// get returns the key set; an outage of discovery or of the key set is ErrValidatorUnavailable.
func (k *issuerKeys) get(ctx context.Context, disc *discovery.Cache, client *http.Client, now func() time.Time) (*jwks.Set, error) {
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	if keys != nil {
		return keys, nil
	}
	md, err := disc.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", ErrValidatorUnavailable, err)
	}
	keys, err = jwks.New(jwks.Config{URL: md.JWKSURI, HTTPClient: client, Now: now})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrValidatorUnavailable, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = keys
	}
	return k.keys, nil
}

// close stops the key set's background fetches, if it was made.
func (k *issuerKeys) close() {
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	if keys != nil {
		keys.Close()
	}
}
