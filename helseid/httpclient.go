package helseid

import (
	"net/http"

	"github.com/helseid-go/sdk/dpop"
)

// HTTPClient returns an *http.Client for calling one API with DPoP: every request gets the
// cached token for req (the organisation from the request's context when req names none),
// "Authorization: DPoP <token>" and a fresh proof with ath. It handles the API's DPoP nonce
// (one retry), a 401 invalid_token (the token is dropped from the cache and the request sent
// once more with a new one), and never sends the token or a proof to another origin on a
// redirect. Requests whose body must be sent again need GetBody, as http.NewRequest sets for
// byte and string readers. Each request is bounded by Config.APITimeout.
//
// The API's nonces are kept apart from HelseID's: a resource server and the authorization
// server may share an origin and still use different nonces.
func (c *Client) HTTPClient(req ClientCredentialsRequest) (*http.Client, error) {
	src, err := c.Source(req)
	if err != nil {
		return nil, err
	}
	return c.apiClient(src), nil
}

// apiClient returns a DPoP client for APIs with tokens from tokens: the client's proofer, the
// resource servers' nonces, Config.HTTPClient's transport and Config.APITimeout.
func (c *Client) apiClient(tokens dpop.TokenSource) *http.Client {
	return c.apiClientWith(c.proofer, tokens)
}

// apiClientWith is apiClient signing with proofer (a stored user session's key).
func (c *Client) apiClientWith(proofer *dpop.Proofer, tokens dpop.TokenSource) *http.Client {
	hc := dpop.NewClient(&dpop.Transport{
		Base:    c.http.Transport,
		Proofer: proofer,
		Nonces:  c.apiNonces,
		Tokens:  tokens,
	})
	hc.Timeout = c.apiTimeout
	return hc
}
