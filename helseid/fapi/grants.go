package fapi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// errInvalidParams reports request parameters refused before anything is sent.
var errInvalidParams = errors.New("invalid token request")

// ClientCredentialsRequest is a client-credentials grant (RFC 6749 §4.4).
type ClientCredentialsRequest struct {
	// Scopes are sent space-separated in this order.
	Scopes []string
	// Resources are sent as resource parameters (RFC 8707).
	Resources []string
}

// ClientCredentials requests a token for the client itself. It is retried after transient
// failures as the Settings' RetryPolicy allows. Errors wrap *Error for the server's answers
// and never contain a token or an assertion.
func (c *Client) ClientCredentials(ctx context.Context, req ClientCredentialsRequest) (*TokenResponse, error) {
	params := url.Values{"grant_type": {"client_credentials"}}
	if err := addScopes(params, req.Scopes); err != nil {
		return nil, err
	}
	if err := addResources(params, req.Resources); err != nil {
		return nil, err
	}
	resp, err := c.Token(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("client credentials: %w", err)
	}
	return resp, nil
}

// CodeExchange is an authorization-code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636).
type CodeExchange struct {
	// Code is the authorization code from the callback, after its state and iss are checked.
	// Required.
	Code string
	// CodeVerifier is the PKCE verifier whose challenge went with the authorization request.
	// Required.
	CodeVerifier string
	// RedirectURI is the redirect_uri of the authorization request. Required.
	RedirectURI string
	// Resource, when set, is the one resource the access token is for (RFC 8707 §2.2; send
	// every resource at the authorization request and one here).
	Resource string
}

// ExchangeCode redeems an authorization code. With a Proofer the tokens are bound to its key
// (and must be the key whose thumbprint went to PAR as dpop_jkt); the server's use_dpop_nonce
// answer is retried once, but nothing else is: a code is single-use, so a failed exchange is
// final. The ID token, when there is one, is returned as received: verify it before trusting
// it. Errors wrap *Error for the server's answers and never contain the code, verifier, a
// token or an assertion.
func (c *Client) ExchangeCode(ctx context.Context, req CodeExchange) (*TokenResponse, error) {
	switch {
	case req.Code == "" || hasSpace(req.Code):
		return nil, fmt.Errorf("code exchange: %w: the code is empty or has white space", errInvalidParams)
	case req.CodeVerifier == "" || hasSpace(req.CodeVerifier):
		return nil, fmt.Errorf("code exchange: %w: the code verifier is empty or has white space", errInvalidParams)
	case req.RedirectURI == "":
		return nil, fmt.Errorf("code exchange: %w: the redirect uri is empty", errInvalidParams)
	}
	params := url.Values{"grant_type": {"authorization_code"}, "code": {req.Code}, "code_verifier": {req.CodeVerifier},
		"redirect_uri": {req.RedirectURI}}
	if req.Resource != "" {
		if err := addResources(params, []string{req.Resource}); err != nil {
			return nil, err
		}
	}
	resp, err := c.Token(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("code exchange: %w", err)
	}
	return resp, nil
}

// Refresh sends a refresh-token grant (RFC 6749 §6) for one resource (RFC 8707 §2.2; empty:
// none). A refresh token that rotates is used up when the server acts on the request, so a
// refresh is retried only after an answer saying the server did not (429, 503,
// temporarily_unavailable); keep the response's RefreshToken, when set, for the next one.
func (c *Client) Refresh(ctx context.Context, refreshToken, resource string) (*TokenResponse, error) {
	if refreshToken == "" || hasSpace(refreshToken) {
		return nil, fmt.Errorf("refresh: %w: the refresh token is empty or has white space", errInvalidParams)
	}
	params := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if resource != "" {
		if err := addResources(params, []string{resource}); err != nil {
			return nil, err
		}
	}
	return c.Token(ctx, params)
}

func hasSpace(s string) bool { return strings.ContainsAny(s, " \t\r\n") }

func addScopes(params url.Values, scopes []string) error {
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			return fmt.Errorf("%w: scope %.64q is empty or has white space, quotes or backslashes", errInvalidParams, s)
		}
	}
	if len(scopes) > 0 {
		params.Set("scope", strings.Join(scopes, " "))
	}
	return nil
}

func addResources(params url.Values, resources []string) error {
	for _, r := range resources {
		if r == "" || hasSpace(r) {
			return fmt.Errorf("%w: resource %.64q is empty or has white space", errInvalidParams, r)
		}
		params.Add("resource", r)
	}
	return nil
}
