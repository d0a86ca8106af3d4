package helseid

import (
	"context"
	"fmt"

	"github.com/helseid-go/sdk/helseid/fapi"
)

// Source hands out cached tokens for one kind of request without re-validating it on every
// call: with a fixed organisation, or the one in each call's context. It is what DPoP HTTP
// clients use, and implements dpop.TokenSource. Its Token allocates nothing on a cache hit.
type Source struct {
	client *Client
	spec   *tokenSpec
	org    Organization
}

// Source validates req once and returns a Source for it. A Source whose request names no
// organisation takes each call's from its context; for a multi-tenant client a call whose
// context names none fails with ErrNoOrganization, as Token does. A Source hands out
// DPoP-bound tokens only: it refuses a request with Bearer set, so that an unbound token
// cannot reach a DPoP transport (use BearerHTTPClient, or Token, for those).
func (c *Client) Source(req ClientCredentialsRequest) (*Source, error) {
	if req.Bearer {
		return nil, fmt.Errorf("%w: Bearer is set: a Source and HTTPClient send DPoP-bound tokens only; use BearerHTTPClient", ErrInvalidRequestParams)
	}
	return c.source(req)
}

// source is Source for either kind of token.
func (c *Client) source(req ClientCredentialsRequest) (*Source, error) {
	spec, err := c.spec(req.Scopes, req.Resource, req.Bearer)
	if err != nil {
		return nil, err
	}
	if err := req.Organization.Validate(c.cfg.Tenancy); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequestParams, err)
	}
	return &Source{client: c, spec: spec, org: req.Organization}, nil
}

// Token returns a cached token, as Client.Token does.
func (s *Source) Token(ctx context.Context) (*fapi.Token, error) {
	return s.client.cachedToken(ctx, s.spec, &s.org)
}

// AccessToken returns the access token string (dpop.TokenSource).
func (s *Source) AccessToken(ctx context.Context) (string, error) {
	tok, err := s.Token(ctx)
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// InvalidateToken drops token from the cache if it is still the cached one, so that the next
// call requests a new token; for example after an API answered 401 invalid_token
// (dpop.TokenInvalidator). With Config.SharedTokens it is also deleted from the shared cache if
// it is still the one stored there, so that neither this process nor another takes it again.
func (s *Source) InvalidateToken(ctx context.Context, token string) {
	org, err := s.client.organization(ctx, s.org)
	if err != nil {
		return
	}
	key := newTokenKey(s.spec, org)
	// The shared copy goes first: a local miss in between would load it back.
	s.client.invalidateShared(ctx, key, token)
	if cur := s.client.cache.Peek(key); cur != nil && cur.AccessToken == token {
		s.client.cache.Invalidate(key, cur)
	}
}
