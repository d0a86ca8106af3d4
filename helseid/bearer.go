package helseid

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/internal/httpx"
)

// BearerHTTPClient returns an *http.Client for an API that has not moved to DPoP yet: every
// request gets an unbound token for req (req.Bearer is implied) in "Authorization: Bearer
// <token>" (RFC 6750 §2.1), and no DPoP proof. Use it only for such an API: a Bearer token
// works for anyone who obtains it, which is why HelseID asks for DPoP, and the Client's
// other HTTP clients never send one. The client must be registered to get Bearer tokens.
//
// Like HTTPClient it takes the organisation from each request's context when req names
// none, drops a token the API answers 401 invalid_token for and sends the request once more
// with a new one (when the body can be sent again), sends the token over https only (or plain
// http to a loopback address), never to another origin on a redirect, refuses a request that
// already has an Authorization header, and bounds each request by Config.APITimeout.
func (c *Client) BearerHTTPClient(req ClientCredentialsRequest) (*http.Client, error) {
	req.Bearer = true
	src, err := c.source(req)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &bearerTransport{base: c.http.Transport, tokens: src}, Timeout: c.apiTimeout}, nil
}

// bearerTransport sends requests with "Authorization: Bearer <token>".
type bearerTransport struct {
	base   http.RoundTripper // nil: http.DefaultTransport
	tokens *Source           // of Bearer tokens
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.URL == nil {
		httpx.CloseRequestBody(req)
		return nil, errors.New("helseid: bearer transport: request has no url")
	}
	if req.Response != nil && !httpx.SameOriginAsFirst(req, dpop.Origin) {
		return base.RoundTrip(req) // a redirect to another origin gets no token
	}
	if !httpx.TokenURLAllowed(req.URL) {
		httpx.CloseRequestBody(req)
		return nil, fmt.Errorf("helseid: %w: %s to %q, which is not a loopback address", dpop.ErrInsecureURL, req.URL.Scheme, req.URL.Hostname())
	}
	if httpx.CredentialHeader(req.Header, "Authorization") != "" {
		httpx.CloseRequestBody(req)
		return nil, fmt.Errorf("helseid: %w: the request has an Authorization header", dpop.ErrRequestHasCredentials)
	}
	ctx := req.Context()
	token, err := t.tokens.AccessToken(ctx)
	if err != nil {
		httpx.CloseRequestBody(req)
		return nil, fmt.Errorf("helseid: get bearer token: %w", err)
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for retried := false; ; retried = true {
		r := req.Clone(ctx)
		if r.Header == nil {
			r.Header = make(http.Header, 1)
		}
		if retried && req.Body != nil && req.Body != http.NoBody {
			if r.Body, err = req.GetBody(); err != nil {
				return nil, fmt.Errorf("helseid: get the request body again for the retry: %w", err)
			}
		}
		r.Header.Set("Authorization", "Bearer "+token)
		resp, err := base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		resp.Request = req // the clone carries the token
		if resp.StatusCode != http.StatusUnauthorized || retried || !replayable || !bearerInvalidToken(resp) {
			return resp, nil
		}
		t.tokens.InvalidateToken(ctx, token)
		next, err := t.tokens.AccessToken(ctx)
		if err != nil {
			httpx.DrainAndClose(resp)
			return nil, fmt.Errorf("helseid: get a new bearer token after invalid_token: %w", err)
		}
		if next == token {
			return resp, nil
		}
		token = next
		httpx.DrainAndClose(resp)
	}
}

// bearerInvalidToken reports whether resp challenges with Bearer error="invalid_token"
// (RFC 6750 §3.1).
func bearerInvalidToken(resp *http.Response) bool {
	cs, err := dpop.ParseChallenges(resp.Header.Values("Www-Authenticate")...)
	if err != nil {
		return false
	}
	c, ok := dpop.FindChallenge(cs, "Bearer")
	return ok && c.Param("error") == "invalid_token"
}
