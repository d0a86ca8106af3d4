package helseid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/tokenexchange"
)

// ErrNoSubjectToken reports an on-behalf-of call whose context carries no incoming user token:
// the handler was not behind Guard.Middleware, and WithSubjectToken was not used.
var ErrNoSubjectToken = errors.New("no subject token in the request context")

// TokenExchangeRequest asks for a token to a downstream API on behalf of the user whose token
// an API received (RFC 8693). The client must be registered in HelseID for token exchange.
type TokenExchangeRequest struct {
	// Scopes of the downstream API, such as "nhn:reseptformidleren/api". One API only:
	// HelseID APIs accept tokens with one audience.
	Scopes []string
	// Resource optionally names the downstream API (its audience).
	Resource string
}

func (r TokenExchangeRequest) exchangeRequest(subjectToken string, subjectExpiry time.Time) (tokenexchange.Request, error) {
	if err := checkScopes(r.Scopes); err != nil {
		return tokenexchange.Request{}, err
	}
	if strings.ContainsAny(r.Resource, " \t\r\n") {
		return tokenexchange.Request{}, fmt.Errorf("%w: resource %.64q has white space", ErrInvalidRequestParams, r.Resource)
	}
	req := tokenexchange.Request{SubjectToken: subjectToken, Scopes: r.Scopes, SubjectExpiry: subjectExpiry}
	if r.Resource != "" {
		req.Resources = []string{r.Resource}
	}
	return req, nil
}

// ExchangeToken exchanges subjectToken, a user's access token this client's API received, for
// a DPoP-bound token to another API, bypassing the cache: the client authenticates as the
// actor with its own assertion and binds the new token to its own DPoP key. Most callers want
// OnBehalfOf or OnBehalfOfHTTPClient, which cache.
func (c *Client) ExchangeToken(ctx context.Context, subjectToken string, req TokenExchangeRequest) (*fapi.TokenResponse, error) {
	er, err := req.exchangeRequest(subjectToken, time.Time{})
	if err != nil {
		return nil, err
	}
	return c.exchange(ctx, er)
}

// OnBehalfOf returns a cached exchange of subjectToken for req (see tokenexchange.Cache): one
// exchange per subject and target however many callers ask, kept until the earlier of the new
// token's and the subject token's expiry. subjectExpiry is the subject token's exp when known
// (AccessTokenClaims.Expiry); zero reads it from the token.
func (c *Client) OnBehalfOf(ctx context.Context, subjectToken string, subjectExpiry time.Time, req TokenExchangeRequest) (*fapi.Token, error) {
	er, err := req.exchangeRequest(subjectToken, subjectExpiry)
	if err != nil {
		return nil, err
	}
	return c.exchanges.Token(ctx, er)
}

// OnBehalfOfHTTPClient returns an *http.Client that calls one downstream API on behalf of the
// user whose token the incoming request carried: each request's context must come from a
// handler behind Guard.Middleware (or carry WithSubjectToken). The token is exchanged once per
// user and cached (OnBehalfOf), bound to this client's DPoP key, and sent with a fresh proof;
// the API's nonce and a 401 invalid_token are handled as in HTTPClient.
func (c *Client) OnBehalfOfHTTPClient(req TokenExchangeRequest) (*http.Client, error) {
	if _, err := req.exchangeRequest("subject", time.Time{}); err != nil {
		return nil, err
	}
	return c.apiClient(onBehalfSource{client: c, req: req}), nil
}

// exchange is the exchange cache's ExchangeFunc: one token exchange at HelseID's token
// endpoint, with the actor's fresh assertion and DPoP.
func (c *Client) exchange(ctx context.Context, req tokenexchange.Request) (*fapi.TokenResponse, error) {
	md, err := c.discovery.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("helseid: discovery: %w", err)
	}
	ex, err := c.exchanger(md.TokenEndpoint)
	if err != nil {
		return nil, fmt.Errorf("helseid: %w", err)
	}
	start := time.Now()
	resp, err := ex.Exchange(ctx, req)
	c.observeStep(ctx, TokenExchanged, start, err)
	if err != nil {
		return nil, fmt.Errorf("helseid: %w", err)
	}
	return resp, nil
}

// exchanger returns the Exchanger for the token endpoint, made once (and again only if
// discovery names another endpoint).
func (c *Client) exchanger(endpoint string) (*tokenexchange.Exchanger, error) {
	if cur := c.exchangerFor.Load(); cur != nil && cur.endpoint == endpoint {
		return cur.ex, nil
	}
	ex, err := tokenexchange.New(endpoint, c.settings(c.assertions.auth(nil)))
	if err != nil {
		return nil, err
	}
	c.exchangerFor.Store(&endpointExchanger{endpoint: endpoint, ex: ex})
	return ex, nil
}

type endpointExchanger struct {
	endpoint string
	ex       *tokenexchange.Exchanger
}

// onBehalfSource is the dpop.TokenSource of OnBehalfOfHTTPClient.
type onBehalfSource struct {
	client *Client
	req    TokenExchangeRequest
}

func (s onBehalfSource) AccessToken(ctx context.Context) (string, error) {
	subj, ok := ctx.Value(subjectKey{}).(*subjectToken)
	if !ok {
		return "", ErrNoSubjectToken
	}
	tok, err := s.client.OnBehalfOf(ctx, subj.token, subj.expiry, s.req)
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

func (s onBehalfSource) InvalidateToken(ctx context.Context, token string) {
	subj, ok := ctx.Value(subjectKey{}).(*subjectToken)
	if !ok {
		return
	}
	if er, err := s.req.exchangeRequest(subj.token, subj.expiry); err == nil {
		s.client.exchanges.Invalidate(er, token)
	}
}

type subjectKey struct{}

// subjectToken is the incoming access token a request context carries for on-behalf-of calls.
// It redacts itself when printed.
type subjectToken struct {
	token  string
	expiry time.Time
}

func (subjectToken) String() string               { return "helseid.subjectToken(REDACTED)" }
func (s subjectToken) GoString() string           { return s.String() }
func (s subjectToken) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }
func (subjectToken) LogValue() slog.Value         { return slog.StringValue("REDACTED") }

// WithSubjectToken returns a context carrying token, an incoming user's access token (and its
// expiry, if known), for OnBehalfOfHTTPClient. Guard.Middleware does this itself.
func WithSubjectToken(ctx context.Context, token string, expiry time.Time) context.Context {
	// A pointer: fmt prints a nested pointer as its address, so even %#v of the context
	// does not show the token.
	return context.WithValue(ctx, subjectKey{}, &subjectToken{token: token, expiry: expiry})
}
