package helseid

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/par"
	"github.com/helseid-go/sdk/pkce"
)

// Errors of a login. After any of them the login is over: start a new one.
var (
	// ErrInvalidCallback reports a callback whose parameters are malformed or repeated.
	ErrInvalidCallback = errors.New("invalid authorization callback")
	// ErrIssuerMismatch reports a callback whose iss is missing (when the server advertises
	// it) or is not exactly the issuer (RFC 9207): a mix-up attack, or a misconfiguration.
	ErrIssuerMismatch = errors.New("authorization response issuer mismatch")
	// ErrStateMismatch reports a callback whose state is not exactly the login's.
	ErrStateMismatch = errors.New("authorization response state mismatch")
	// ErrLoginState reports a LoginState that is expired, already used, or not this client's.
	ErrLoginState = errors.New("unusable login state")
	// ErrLoginDPoPKey reports a login started by a Client with another DPoP key than the one
	// finishing it, with DPoPAtPAR: the code is bound to the starting key (dpop_jkt), so the
	// exchange would be refused, and it is not sent. Every process of a fleet that finishes
	// each other's logins must be configured with the same Config.DPoPKey.
	ErrLoginDPoPKey = errors.New("login started with another DPoP key: configure the same Config.DPoPKey on every replica")
)

// AuthorizationError is an error response of the authorization endpoint (RFC 6749 §4.1.2.1),
// such as access_denied when the user cancels. Its iss and state were checked.
type AuthorizationError struct {
	Code        string
	Description string
	URI         string
}

func (e *AuthorizationError) Error() string {
	if e.Description == "" {
		return "authorization error: " + e.Code
	}
	return "authorization error: " + e.Code + ": " + e.Description
}

// LoginRequest starts a user login (PAR, PKCE S256, state and nonce; helseid/docs/profile.md,
// "User login").
type LoginRequest struct {
	// RedirectURI is the client's registered callback URL. Required.
	RedirectURI string
	// Scope is sent byte for byte as given: "openid profile offline_access
	// helseid://scopes/identity/pid nhn:kjernejournal/api …". It must contain openid.
	Scope string
	// Resources are the APIs (audiences) the login's tokens are for; the code exchange asks
	// for the first, and refreshes for the others, one per token.
	Resources []string
	// ACRValues, such as "idp:testidp-oidc", and Prompt, such as "login", are optional.
	ACRValues string
	Prompt    string
	// Organization optionally names the organisation the user logs in for, sent in a signed
	// request object's authorization_details, as HelseID asks for a login. To change
	// organisation later without a new login, use UserSession.SwitchOrganization.
	Organization Organization
}

// loginLifetime bounds how long a started login may take to come back.
const loginLifetime = 10 * time.Minute

// LoginState is what the application keeps between StartLogin and FinishLogin, server-side in
// its session store or in an encrypted and authenticated, HttpOnly cookie: it holds the PKCE
// verifier, so it is a secret, and a client that could change it could change the login. It
// marshals to JSON; formatting and logging it redact the verifier. FinishLogin accepts it once
// per Client (per process): a store shared by several processes should delete it on use.
type LoginState struct {
	State       string        `json:"state"`
	Nonce       string        `json:"nonce"`
	Verifier    pkce.Verifier `json:"code_verifier"`
	Issuer      string        `json:"iss"`
	ClientID    string        `json:"client_id"`
	RedirectURI string        `json:"redirect_uri"`
	Resources   []string      `json:"resources,omitempty"`
	// Organization is the login's LoginRequest.Organization.
	Organization Organization `json:"organization,omitempty"`
	Expiry       time.Time    `json:"exp"`
	// DPoPKeyThumbprint, with DPoPAtPAR, is the RFC 7638 thumbprint of the DPoP key the code
	// is bound to (dpop_jkt): FinishLogin on a Client with another key fails early
	// (ErrLoginDPoPKey). It is public.
	DPoPKeyThumbprint string `json:"dpop_jkt,omitempty"`
}

func (s LoginState) redacted() string {
	return fmt.Sprintf("LoginState{ClientID:%q, RedirectURI:%q, Expiry:%s, State, Nonce, Verifier:REDACTED}", s.ClientID, s.RedirectURI, s.Expiry.UTC().Format(time.RFC3339))
}

// String redacts the secrets.
func (s LoginState) String() string { return s.redacted() }

// GoString redacts the secrets.
func (s LoginState) GoString() string { return s.redacted() }

// Format redacts the secrets for every verb.
func (s LoginState) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.redacted())) }

// LogValue redacts the secrets.
func (s LoginState) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", s.ClientID), slog.Time("expiry", s.Expiry))
}

// StartLogin pushes the authorization request (PAR, with the client's assertion) and returns
// the URL to redirect the user's browser to, which carries only client_id and request_uri,
// and the LoginState to keep for FinishLogin.
func (c *Client) StartLogin(ctx context.Context, req LoginRequest) (string, *LoginState, error) {
	if req.RedirectURI == "" {
		return "", nil, fmt.Errorf("%w: RedirectURI is empty", ErrInvalidRequestParams)
	}
	if !slices.Contains(strings.Fields(req.Scope), "openid") || strings.ContainsAny(req.Scope, "\t\r\n\"\\") {
		return "", nil, fmt.Errorf("%w: Scope must contain openid and no tabs, newlines, quotes or backslashes", ErrInvalidRequestParams)
	}
	for _, r := range req.Resources {
		if r == "" || strings.ContainsAny(r, " \t\r\n") {
			return "", nil, fmt.Errorf("%w: resource %.64q is empty or has white space", ErrInvalidRequestParams, r)
		}
	}
	md, err := c.discovery.Metadata(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("helseid: discovery: %w", err)
	}
	if md.PushedAuthorizationRequestEndpoint == "" || md.AuthorizationEndpoint == "" {
		return "", nil, fmt.Errorf("helseid: the server has no pushed authorization request or authorization endpoint")
	}
	verifier, err := pkce.NewVerifier()
	if err != nil {
		return "", nil, fmt.Errorf("helseid: %w", err)
	}
	st := &LoginState{State: randomString(), Nonce: randomString(), Verifier: verifier, Issuer: c.cfg.Issuer,
		ClientID: c.cfg.ClientID, RedirectURI: req.RedirectURI, Resources: append([]string(nil), req.Resources...),
		Expiry: c.now().Add(loginLifetime)}
	if c.cfg.DPoPAtPAR {
		st.DPoPKeyThumbprint = c.proofer.Thumbprint() // the code will be bound to this key
	}
	params := url.Values{
		"response_type": {"code"}, "client_id": {c.cfg.ClientID}, "redirect_uri": {req.RedirectURI},
		"scope": {req.Scope}, "state": {st.State}, "nonce": {st.Nonce},
		"code_challenge": {verifier.Challenge()}, "code_challenge_method": {pkce.Method},
	}
	for _, r := range req.Resources {
		params.Add("resource", r)
	}
	if req.ACRValues != "" {
		params.Set("acr_values", req.ACRValues)
	}
	if req.Prompt != "" {
		params.Set("prompt", req.Prompt)
	}
	details, err := req.Organization.AssertionDetails(c.cfg.Tenancy)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalidRequestParams, err)
	}
	auth := c.assertions.auth(nil)
	if details != nil { // not for the zero Organization nor SupplierOrganization
		// Signed per attempt, like the client assertion, and by the same key: a retried push
		// gets a new jti and exp, and one sent again with a rotation's other key (after
		// invalid_client) a request object that key signed.
		auth.requestObject, auth.requestDetails = true, details
		st.Organization = req.Organization
	}
	ps := c.settings(auth)
	if !c.cfg.DPoPAtPAR {
		ps.Proofer, ps.Nonces = nil, nil
	}
	pusher, err := par.New(md.PushedAuthorizationRequestEndpoint, ps)
	if err != nil {
		return "", nil, fmt.Errorf("helseid: %w", err)
	}
	pushStart := time.Now()
	pushed, err := pusher.Push(ctx, params)
	c.observeStep(ctx, AuthorizationPushed, pushStart, err)
	if err != nil {
		return "", nil, fmt.Errorf("helseid: %w", err)
	}
	authURL, err := par.AuthorizationURL(md.AuthorizationEndpoint, c.cfg.ClientID, pushed.RequestURI)
	if err != nil {
		return "", nil, fmt.Errorf("helseid: %w", err)
	}
	return authURL, st, nil
}

// LoginResult is a finished login: the validated ID token, the access token for the first
// resource, and the refresh token that gets the others. Formatting and logging it never show
// a token.
type LoginResult struct {
	IDToken string
	Claims  *IDTokenClaims
	// AccessToken is DPoP-bound to the client's key (Client.Proofer), for Resource.
	AccessToken fapi.Token
	Resource    string
	// RefreshToken rotates: keep the newest. RefreshExpiry is zero when the server gave no
	// rt_expires_in.
	RefreshToken  string
	RefreshExpiry time.Time
	Scope         string
	// Organization is the one the login named (LoginRequest.Organization).
	Organization Organization
}

func (r LoginResult) redacted() string {
	sub := ""
	if r.Claims != nil {
		sub = r.Claims.Subject
	}
	return fmt.Sprintf("LoginResult{Subject:%q, Resource:%q, Scope:%q, IDToken, AccessToken, RefreshToken:REDACTED}", sub, r.Resource, r.Scope)
}

// String redacts the tokens.
func (r LoginResult) String() string { return r.redacted() }

// GoString redacts the tokens.
func (r LoginResult) GoString() string { return r.redacted() }

// Format redacts the tokens for every verb.
func (r LoginResult) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.redacted())) }

// LogValue redacts the tokens.
func (r LoginResult) LogValue() slog.Value {
	return slog.GroupValue(slog.String("resource", r.Resource), slog.String("scope", r.Scope))
}

// FinishLogin completes a login from the callback's query (r.URL.Query() in the redirect
// handler) and the LoginState of StartLogin. In this order: the state is usable and used up
// (a second call with it fails); the callback's parameters are single; iss is exactly the
// issuer (required when the server advertises it); state is exactly the login's; an error
// response becomes *AuthorizationError; the code is exchanged once (no retry but the DPoP
// nonce handshake) with the PKCE verifier, the redirect URI and the first resource;
// token_type must be DPoP; the ID token is validated. After any failure nothing more is sent
// to the server.
func (c *Client) FinishLogin(ctx context.Context, callback url.Values, st *LoginState) (*LoginResult, error) {
	now := c.now()
	if st == nil || st.Issuer != c.cfg.Issuer || st.ClientID != c.cfg.ClientID || !now.Before(st.Expiry) || st.Expiry.After(now.Add(loginLifetime+time.Minute)) {
		return nil, fmt.Errorf("%w: it is missing, expired, of another issuer or client, or lives longer than a login may", ErrLoginState)
	}
	if _, err := pkce.ParseVerifier(string(st.Verifier)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoginState, err)
	}
	if st.DPoPKeyThumbprint != "" && st.DPoPKeyThumbprint != c.proofer.Thumbprint() {
		return nil, fmt.Errorf("helseid: %w", ErrLoginDPoPKey)
	}
	if !c.logins.use(st.State, st.Expiry, c.now()) {
		return nil, fmt.Errorf("%w: it was already used", ErrLoginState)
	}
	cb, err := ParseCallback(callback)
	if err != nil {
		return nil, err
	}
	md, err := c.discovery.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("helseid: discovery: %w", err)
	}
	switch {
	case cb.Issuer == "" && (md.AuthorizationResponseIssParameterSupported || c.cfg.IDTokenProfile == FAPI2Profile):
		return nil, fmt.Errorf("%w: iss is missing", ErrIssuerMismatch)
	case cb.Issuer != "" && cb.Issuer != md.Issuer:
		return nil, fmt.Errorf("%w: iss is not %s", ErrIssuerMismatch, md.Issuer)
	case subtle.ConstantTimeCompare([]byte(cb.State), []byte(st.State)) != 1:
		return nil, ErrStateMismatch
	case cb.Error != "":
		return nil, &AuthorizationError{Code: cb.Error, Description: cb.ErrorDescription, URI: printable(cb.ErrorURI, 256)}
	case cb.Code == "":
		return nil, fmt.Errorf("%w: no code", ErrInvalidCallback)
	}
	if err := c.keys.usable(); err != nil {
		return nil, err // closed: the ID token could not be checked, so the code is not spent
	}
	// Sent again only with a rotation's other key after invalid_client (see SetKeys), which
	// leaves the code unused.
	endpoint, err := c.tokenEndpoint(ctx, &tokenSpec{grant: "authorization_code"}, Organization{}, c.assertions.auth(nil))
	if err != nil {
		return nil, err
	}
	params := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Code}, "redirect_uri": {st.RedirectURI}, "code_verifier": {string(st.Verifier)}}
	res := LoginResult{Organization: st.Organization}
	if len(st.Resources) > 0 {
		res.Resource = st.Resources[0]
		params.Set("resource", res.Resource)
	}
	exchangeStart := time.Now()
	resp, err := endpoint.Token(ctx, params)
	c.observeStep(ctx, CodeExchanged, exchangeStart, err)
	if err != nil {
		return nil, fmt.Errorf("helseid: authorization_code: %w", err)
	}
	if resp.IDToken == "" {
		return nil, fmt.Errorf("%w: the token response has no id_token", ErrInvalidIDToken)
	}
	res.Claims, err = c.validateIDToken(ctx, resp.IDToken, c.idTokenCheck(md.IDTokenSigningAlgValuesSupported, st.Nonce, resp.AccessToken))
	if err != nil {
		return nil, err
	}
	res.IDToken, res.Scope = resp.IDToken, resp.Scope
	res.AccessToken = fapi.Token{AccessToken: resp.AccessToken, Expiry: resp.Expiry}
	res.RefreshToken, res.RefreshExpiry = resp.RefreshToken, resp.RefreshExpiry
	return &res, nil
}

// idTokenCheck is the check of this client's ID tokens; advertised narrows the profile's
// algorithms to the server's id_token_signing_alg_values_supported when it lists any.
func (c *Client) idTokenCheck(advertised []string, nonce, accessToken string) idTokenCheck {
	algs := c.cfg.IDTokenProfile.algorithms()
	if len(advertised) > 0 {
		var both []string
		for _, a := range algs {
			if slices.Contains(advertised, a) {
				both = append(both, a)
			}
		}
		algs = both
	}
	leeway := c.cfg.IDTokenLeeway
	switch {
	case leeway == 0:
		leeway = time.Minute
	case leeway < 0:
		leeway = 0
	}
	return idTokenCheck{issuer: c.cfg.Issuer, clientID: c.cfg.ClientID, nonce: nonce, accessToken: accessToken,
		algs: algs, leeway: leeway, now: c.now(), requireLevel4: c.cfg.RequireSecurityLevel4}
}

// Callback is the parsed query of an authorization response (RFC 6749 §4.1.2, RFC 9207).
// Formatting and logging it never show the code.
type Callback struct {
	Code, State, Issuer               string
	Error, ErrorDescription, ErrorURI string
}

func (c Callback) redacted() string {
	return fmt.Sprintf("Callback{Issuer:%q, Error:%q, Code:REDACTED, State:REDACTED}", c.Issuer, c.Error)
}

// String redacts the code and state.
func (c Callback) String() string { return c.redacted() }

// GoString redacts the code and state.
func (c Callback) GoString() string { return c.redacted() }

// Format redacts the code and state for every verb.
func (c Callback) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.redacted())) }

// LogValue redacts the code and state.
func (c Callback) LogValue() slog.Value {
	return slog.GroupValue(slog.String("iss", c.Issuer), slog.String("error", c.Error))
}

// maxCallbackValue bounds each parameter of a callback.
const maxCallbackValue = 4096

// ParseCallback reads an authorization response's parameters: each at most once and at most
// 4 KiB, code or error (not both), and an error code of RFC 6749's characters. Unknown
// parameters (session_state, …) are ignored. Errors wrap ErrInvalidCallback and never contain
// a parameter's value.
func ParseCallback(q url.Values) (*Callback, error) {
	cb := &Callback{}
	for name, dst := range map[string]*string{"code": &cb.Code, "state": &cb.State, "iss": &cb.Issuer,
		"error": &cb.Error, "error_description": &cb.ErrorDescription, "error_uri": &cb.ErrorURI} {
		vals, ok := q[name]
		if !ok {
			continue
		}
		if len(vals) != 1 || len(vals[0]) > maxCallbackValue || vals[0] == "" {
			return nil, fmt.Errorf("%w: %s is repeated, empty or too long", ErrInvalidCallback, name)
		}
		*dst = vals[0]
	}
	switch {
	case cb.Code != "" && cb.Error != "":
		return nil, fmt.Errorf("%w: both code and error", ErrInvalidCallback)
	case cb.Error != "" && !oauthText(cb.Error):
		return nil, fmt.Errorf("%w: error has characters RFC 6749 does not allow", ErrInvalidCallback)
	}
	cb.ErrorDescription = printable(cb.ErrorDescription, 256)
	return cb, nil
}

// oauthText reports whether s has only RFC 6749 error-code characters (%x20-21 / %x23-5B /
// %x5D-7E).
func oauthText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// printable cuts s to n bytes and replaces what RFC 6749 does not allow, so a hostile server
// cannot put control characters into logs.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}

// usedLogins remembers the states of finished logins until they expire, so a LoginState
// works once.
type usedLogins struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (u *usedLogins) use(state string, expiry, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen = map[string]time.Time{}
	}
	if len(u.seen) > 1024 {
		for k, exp := range u.seen {
			if !now.Before(exp) {
				delete(u.seen, k)
			}
		}
	}
	if _, ok := u.seen[state]; ok {
		return false
	}
	u.seen[state] = expiry
	return true
}

// randomString returns 32 random bytes, base64url: 43 URL-safe characters, as the conformance
// suite wants state and nonce.
func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return base64.RawURLEncoding.EncodeToString(b[:])
}
