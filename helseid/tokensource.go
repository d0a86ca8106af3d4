package helseid

import (
	"context"

	"golang.org/x/oauth2"
)

// TokenSource adapts the client's token cache to oauth2.TokenSource for code that needs one:
// every Token call returns the cached token for req, requesting one when needed, with the
// organisation of req or else of ctx, and ErrNoOrganization as for Client.Token. No
// oauth2.ReuseTokenSource is needed around it. oauth2.TokenSource has no context parameter, so
// ctx is used for every call; pass one that lives as long as the source.
//
// The tokens are DPoP-bound (Type() is "DPoP"): a request must carry a proof from
// c.Proofer() as well as the token. Never hand this source to oauth2.NewClient or
// oauth2.Transport, which send the token without a proof; use HTTPClient instead. Only with
// req.Bearer are the tokens unbound (Type() "Bearer"), for an API that has not moved to DPoP.
func (c *Client) TokenSource(ctx context.Context, req ClientCredentialsRequest) oauth2.TokenSource {
	spec, err := c.spec(req.Scopes, req.Resource, req.Bearer)
	if err != nil {
		return &tokenSource{err: err}
	}
	// ctx is the same for every call, so its organisation is too: the cache key is made once.
	key, err := c.tokenKeyFor(ctx, spec, &req.Organization)
	if err != nil {
		return &tokenSource{err: err}
	}
	return &tokenSource{ctx: ctx, client: c, key: key}
}

// tokenSource validates its request, and finds its cache key, once; a refused request is
// reported by every Token call, since TokenSource cannot return an error.
type tokenSource struct {
	ctx    context.Context
	client *Client
	key    tokenKey
	err    error
}

// Token allocates the *oauth2.Token it returns and nothing else. It returns a new one on every
// call rather than one kept while the token is unchanged, because an *oauth2.Token is not
// read-only once handed out: its fields are exported, and oauth2.ReuseTokenSource (which
// oauth2.NewClient puts around any source) writes into every token it receives, so a token
// shared between two such wrappers would be written by both at once.
func (s *tokenSource) Token() (*oauth2.Token, error) {
	if s.err != nil {
		return nil, s.err
	}
	tok, err := s.client.tokenFor(s.ctx, s.key)
	if err != nil {
		return nil, err
	}
	typ := "DPoP"
	if s.key.spec.bearer {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: tok.AccessToken, TokenType: typ, Expiry: tok.Expiry}, nil
}
