package jwks

import (
	"context"
	"fmt"
	"time"

	"github.com/helseid-go/sdk/internal/httpx"
)

// defaultTimeout bounds one fetch when Config.Timeout is zero.
const defaultTimeout = httpx.DefaultTimeout

// fetch GETs and parses the key set. forced (a refetch for an unknown kid) asks
// intermediaries for a fresh copy.
func (s *Set) fetch(ctx context.Context, forced bool) (ks *keySet, err error) {
	if s.observe != nil {
		defer func(start time.Time) { s.observe(ctx, time.Since(start), err) }(time.Now())
	}
	body, err := httpx.GetDocument(ctx, s.client, s.url, "application/jwk-set+json, application/json", forced, s.maxBody)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return parseSet(body)
}
