package discovery

import (
	"context"
	"fmt"

	"github.com/helseid-go/sdk/internal/httpx"
)

// FetchError reports a discovery endpoint that answered with a status other than 200.
type FetchError = httpx.FetchError

// defaultTimeout bounds one fetch when Config.Timeout is zero.
const defaultTimeout = httpx.DefaultTimeout

// fetch GETs the discovery document and validates it. forced asks intermediaries for a
// fresh copy, as after Invalidate.
func (c *Cache) fetch(ctx context.Context, forced bool) (*Metadata, error) {
	body, err := httpx.GetDocument(ctx, c.client, c.url, "application/json", forced, c.maxBody)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	return Parse(body, c.issuer)
}
