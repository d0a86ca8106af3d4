package helseid

import (
	"context"

	"golang.org/x/oauth2"
)

// TokenSource adapts client-credentials requests to oauth2.TokenSource for code that needs one.
// Each Token call requests a new token with ctx; wrap it in oauth2.ReuseTokenSource to reuse
// tokens until they expire.
//
// The tokens are DPoP-bound (Type() is "DPoP"): a request must carry a proof from
// c.Proofer() as well as the token. Never hand this source to oauth2.NewClient or
// oauth2.Transport, which send the token without a proof; the API would refuse every call.
func (c *Client) TokenSource(ctx context.Context, req ClientCredentialsRequest) oauth2.TokenSource {
	return tokenSource{ctx: ctx, client: c, req: req}
}

type tokenSource struct {
	ctx    context.Context
	client *Client
	req    ClientCredentialsRequest
}

func (s tokenSource) Token() (*oauth2.Token, error) {
	resp, err := s.client.ClientCredentials(s.ctx, s.req)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: resp.AccessToken, TokenType: resp.TokenType, Expiry: resp.Expiry, ExpiresIn: resp.ExpiresIn}, nil
}
