package helseid

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/resource"
)

// UserSession is a logged-in user's tokens: the ID token's claims, the rotating refresh
// token, and an access token per API, each got with exactly one resource (HelseID APIs accept
// one audience). It is safe for concurrent use.
type UserSession struct {
	client   *Client
	claims   *IDTokenClaims
	idToken  string
	tokens   *resource.Session
	org      atomic.Pointer[Organization] // sent as assertion_details on refreshes
	resource string                       // the login's first resource
	proofer  *dpop.Proofer                // the key the session's tokens are bound to
	fleet    *storedSession               // nil unless started or loaded with the SessionStore
}

// SessionOptions configure a UserSession.
type SessionOptions struct {
	// Persist stores every new refresh token before the access token it came with is handed
	// out. Keep the newest: HelseID's refresh tokens are one-time. When it fails, the session
	// keeps the new refresh token in memory (RefreshToken) and holds the access token back:
	// Token and the HTTP clients' requests fail with resource.ErrPersistFailed (cached tokens
	// are still served), no further refresh is sent, and a later call retries Persist after a
	// backoff (2 s, doubling to at most 30 s), handing the held token out once it succeeds
	// (see resource.PersistFunc).
	Persist resource.PersistFunc
	// Organization, for ResumeUserSession, is the organisation the session spoke for (its
	// refreshes send it in assertion_details); NewUserSession takes the login's.
	Organization Organization
}

// NewUserSession starts a session from a finished login.
func (c *Client) NewUserSession(ctx context.Context, login *LoginResult, opts SessionOptions) (*UserSession, error) {
	if login == nil || login.RefreshToken == "" {
		return nil, fmt.Errorf("%w: the login has no refresh token (ask for offline_access)", ErrInvalidRequestParams)
	}
	s, err := c.ResumeUserSession(ctx, login.RefreshToken, login.RefreshExpiry, opts)
	if err != nil {
		return nil, err
	}
	s.claims, s.idToken, s.resource = login.Claims, login.IDToken, login.Resource
	org := login.Organization
	s.org.Store(&org) // refreshes keep speaking for the login's organisation
	if login.Resource != "" {
		s.tokens.Put(login.Resource, login.AccessToken)
	}
	return s, nil
}

// ResumeUserSession continues a session from a stored refresh token (and its expiry, zero
// when unknown), for example after a restart. Its Claims and IDToken are empty.
func (c *Client) ResumeUserSession(ctx context.Context, refreshToken string, refreshExpiry time.Time, opts SessionOptions) (*UserSession, error) {
	return c.resumeUserSession(ctx, refreshToken, refreshExpiry, opts, &UserSession{client: c, proofer: c.proofer})
}

// resumeUserSession sets s (with its client and proofer set) up for refreshToken.
func (c *Client) resumeUserSession(ctx context.Context, refreshToken string, refreshExpiry time.Time, opts SessionOptions, s *UserSession) (*UserSession, error) {
	if err := opts.Organization.Validate(c.cfg.Tenancy); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequestParams, err)
	}
	if s.fleet == nil { // a stored session's organisation is its record's, which adopt may change meanwhile
		org := opts.Organization
		s.org.Store(&org)
	}
	md, err := c.discovery.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("helseid: discovery: %w", err)
	}
	settings := c.settings(&keyAuth{keys: c.assertions, details: func() (json.RawMessage, error) {
		return s.org.Load().AssertionDetails(c.cfg.Tenancy)
	}})
	settings.Proofer = s.proofer // a stored session's tokens are bound to its own key
	if s.fleet != nil {
		settings.BeforeAttempt = s.beforeRefreshAttempt // only under the fleet's lease
	}
	s.tokens, err = resource.NewSession(resource.Config{
		TokenEndpoint: md.TokenEndpoint,
		Settings:      settings,
		Persist:       opts.Persist,
		Observe:       c.observeRefresh(),
	}, refreshToken, refreshExpiry)
	if err != nil {
		return nil, fmt.Errorf("helseid: %w", err)
	}
	return s, nil
}

// Claims returns the login's validated ID-token claims (nil for a resumed session).
func (s *UserSession) Claims() *IDTokenClaims { return s.claims }

// IDToken returns the login's ID token, for LogoutURL.
func (s *UserSession) IDToken() string { return s.idToken }

// RefreshToken returns the newest refresh token and its expiry.
func (s *UserSession) RefreshToken() (string, time.Time) {
	if s.fleet != nil {
		return s.refreshToken()
	}
	return s.tokens.RefreshToken()
}

// Token returns an access token for one API (its resource, such as "nhn:kjernejournal"),
// refreshing with exactly that resource when none is cached. Refreshes of the session run one
// at a time, since each uses up the refresh token. A refresh refused for one API (say
// invalid_target) is remembered for that API only, briefly and with backoff; invalid_grant
// ends the whole session (see resource.Session.Token). A token that came without
// expires_in is kept until its JWT exp (HelseID's are JWTs), else for
// resource.UnknownLifetime.
//
// For a session of the SessionStore (StartUserSession, LoadUserSession), a token this process
// has is served from memory as for any session; otherwise the store is asked first, and the
// refresh is single-flight across the fleet (see StartUserSession). A session held in memory
// also asks the store once per Config.SessionRecheck whether it still stands: a logout on
// another process (EndUserSession) reaches it within that interval (ErrSessionEnded, and its
// tokens are dropped), as does an organisation switch (the other organisation's tokens are
// dropped). A session loaded per request sees both at once. While the store cannot answer
// that check, Token fails with its error: the session may have ended.
func (s *UserSession) Token(ctx context.Context, resource string) (*fapi.Token, error) {
	if s.fleet == nil {
		return s.tokens.Token(ctx, resource)
	}
	now := s.client.now() // the session's clock (its refreshes use the Client's), read once
	if tok := s.cachedToken(resource, now); tok != nil {
		if !s.due(now) {
			return tok, nil
		}
		if err := s.recheck(ctx); err != nil {
			return nil, err
		}
		if tok := s.cachedToken(resource, s.client.now()); tok != nil {
			return tok, nil
		}
	}
	return s.fleetToken(ctx, resource)
}

// SwitchOrganization makes the session's tokens speak for org from now on: a refresh with
// the organisation in the client assertion's assertion_details, as HelseID recommends for a
// user who changes organisation without logging in again. Every cached access token is
// dropped; the returned one is for resource. If only Persist fails
// (resource.ErrPersistFailed), the switch has happened at the server and stays; the token
// comes once Persist succeeds.
func (s *UserSession) SwitchOrganization(ctx context.Context, org Organization, resource string) (*fapi.Token, error) {
	if err := org.Validate(s.client.cfg.Tenancy); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequestParams, err)
	}
	var prev *Organization
	switchOrg := func(ctx context.Context) (*fapi.Token, error) {
		return s.tokens.Switch(ctx, resource,
			func() { // with no other refresh in flight
				prev = s.org.Swap(&org)
				if s.fleet != nil { // the other tokens belong to the old organisation
					s.fleet.mu.Lock()
					s.fleet.tokens = nil
					s.fleet.mu.Unlock()
				}
			},
			func() { s.org.Store(prev) })
	}
	if s.fleet != nil {
		return s.underLease(ctx, func() *fapi.Token { return nil }, resource, switchOrg)
	}
	return switchOrg(ctx)
}

// HTTPClient returns an *http.Client that calls one API with the session's token for resource,
// a fresh DPoP proof per request, the API's nonce, and one new token after a 401
// invalid_token.
func (s *UserSession) HTTPClient(resource string) *http.Client {
	return s.client.apiClientWith(s.proofer, sessionSource{s: s, resource: resource})
}

type sessionSource struct {
	s        *UserSession
	resource string
}

func (src sessionSource) AccessToken(ctx context.Context) (string, error) {
	tok, err := src.s.Token(ctx, src.resource)
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// InvalidateToken drops a token the API refused (dpop.TokenInvalidator), so the retry gets a
// new one from a refresh.
func (src sessionSource) InvalidateToken(_ context.Context, token string) {
	if src.s.fleet != nil {
		src.s.invalidate(src.resource, token)
		return
	}
	src.s.tokens.Invalidate(src.resource, token)
}

// LogoutURL returns the end-session URL (OpenID Connect RP-Initiated Logout) with
// id_token_hint, post_logout_redirect_uri and state; redirect the browser there after ending
// the application's own session.
func (c *Client) LogoutURL(ctx context.Context, idToken, postLogoutRedirectURI, state string) (string, error) {
	md, err := c.discovery.Metadata(ctx)
	if err != nil {
		return "", fmt.Errorf("helseid: discovery: %w", err)
	}
	if md.EndSessionEndpoint == "" {
		return "", fmt.Errorf("helseid: the server has no end_session_endpoint")
	}
	u, err := url.Parse(md.EndSessionEndpoint)
	if err != nil {
		return "", fmt.Errorf("helseid: end_session_endpoint: %w", err)
	}
	q := u.Query()
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	if postLogoutRedirectURI != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirectURI)
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// RevokeRefreshToken revokes a refresh token at the server's revocation endpoint (RFC 7009)
// when it has one, so a logged-out session cannot be refreshed again. Without an endpoint it
// does nothing.
func (c *Client) RevokeRefreshToken(ctx context.Context, refreshToken string) error {
	md, err := c.discovery.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("helseid: discovery: %w", err)
	}
	if md.RevocationEndpoint == "" {
		return nil
	}
	s := c.settings(c.assertions.auth(nil))
	s.Proofer, s.Nonces = nil, nil // RFC 7009 has no DPoP
	endpoint, err := fapi.NewClient(md.RevocationEndpoint, s)
	if err != nil {
		return fmt.Errorf("helseid: %w", err)
	}
	_, _, err = endpoint.Post(ctx, url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}, http.StatusOK, fapi.Idempotent)
	if err != nil {
		return fmt.Errorf("helseid: revocation: %w", err)
	}
	return nil
}
