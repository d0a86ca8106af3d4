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
	return tokenSource{ctx: ctx, client: c, req: req}
}

type tokenSource struct {
	ctx    context.Context
	client *Client
	req    ClientCredentialsRequest
}

func (s tokenSource) Token() (*oauth2.Token, error) {
	tok, err := s.client.Token(s.ctx, s.req)
	if err != nil {
		return nil, err
	}
	typ := "DPoP"
	if s.req.Bearer {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: tok.AccessToken, TokenType: typ, Expiry: tok.Expiry}, nil
}
