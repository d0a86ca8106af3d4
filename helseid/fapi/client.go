package fapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/internal/httpx"
)

// ClientAuthenticator adds client authentication to a request form, such as a
// private_key_jwt client assertion (see PrivateKeyJWT). It is called once per HTTP attempt and
// must produce new credentials each time: a client assertion's jti is single-use.
type ClientAuthenticator interface {
	Authenticate(form url.Values) error
}

// ClientAuthenticatorFunc adapts a function to ClientAuthenticator.
type ClientAuthenticatorFunc func(form url.Values) error

// Authenticate calls f.
func (f ClientAuthenticatorFunc) Authenticate(form url.Values) error { return f(form) }

// RotatingAuthenticator is a ClientAuthenticator whose key may be replaced while requests are
// under way, as in a key rotation: the server may refuse the old key from the moment the new
// one is registered, before this process has been told to use it. The Client calls Keys once
// per request. first authenticates the request's attempts; when the server refuses the client
// (invalid_client), next gives the client authentication of another key and the request is
// sent again with it (a new assertion and proof), until next returns nil. No other error is
// answered this way, and the retry counts against neither the DPoP-nonce retry nor the
// RetryPolicy.
//
// Sending a one-time grant again (an authorization code, a rotating refresh token) is safe
// here only because the server authenticates the client before it looks at the grant: it must,
// to know whose code or refresh token it is (RFC 6749 §4.1.3 and §6), so a request refused as
// invalid_client has used nothing up.
type RotatingAuthenticator interface {
	ClientAuthenticator
	Keys() (first ClientAuthenticator, next func() ClientAuthenticator)
}

// proofer makes a DPoP proof for one HTTP attempt; *dpop.Proofer in use, a fake in tests.
type proofer interface {
	Proof(method string, u *url.URL, nonce, accessToken string) (string, error)
}

// nonceStore keeps the newest DPoP nonce per server; *dpop.NonceStore in use.
type nonceStore interface {
	NonceFor(u *url.URL) string
	Observe(u *url.URL, h http.Header)
}

// Settings are how a client talks to an authorization server: written once and shared by the
// token endpoint, the PAR endpoint (package par), refreshes (package resource) and token
// exchanges (package tokenexchange). The zero value of every optional field is a safe default.
type Settings struct {
	// ClientAuth authenticates the client on every attempt, such as a *PrivateKeyJWT. Required.
	// A RotatingAuthenticator is tried with its other keys when the server refuses the client.
	ClientAuth ClientAuthenticator
	// Proofer, when set, adds a DPoP proof (RFC 9449) to every attempt, binding the issued
	// tokens to its key, and a token response must then say token_type DPoP. The server's
	// use_dpop_nonce answer is retried exactly once with a fresh proof and fresh client
	// authentication. Nil sends no proof and expects Bearer tokens.
	Proofer *dpop.Proofer
	// Nonces keeps the server's DPoP nonces per origin; nil means a store of the Client's own.
	// Share one store between the Clients of one server (PAR and token endpoint usually share
	// a nonce) to save a round trip.
	Nonces *dpop.NonceStore
	// HTTPClient sends the requests; nil means a client with a 30 s timeout. Redirects are
	// never followed.
	HTTPClient *http.Client
	// Retry bounds retries of transient failures; the zero value retries (see RetryPolicy).
	Retry RetryPolicy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnRetry, when set, is told of every retry. It must not block.
	OnRetry func(RetryEvent)
	// BeforeAttempt, when set, is called before every HTTP attempt (the first, the
	// use_dpop_nonce retry and each transient retry) and returns how long that attempt may
	// take, from sending to reading the whole response (zero: no bound but the context's). An
	// error ends the call with no request sent; it is wrapped in the returned error. It is for
	// a request that must not be sent without a lease on it, such as a fleet's refresh with a
	// one-time refresh token: renew the lease here to cover the attempt, and refuse once the
	// lease is lost.
	BeforeAttempt func(ctx context.Context) (time.Duration, error)
}

// config is a Client's configuration with DPoP behind interfaces, so tests can fake it.
type config struct {
	HTTPClient *http.Client
	Endpoint   string
	Auth       ClientAuthenticator
	Proofer    proofer
	Nonces     nonceStore
	MaxBody    int64
	Now        func() time.Time
	Retry      RetryPolicy
	Observe    func(RetryEvent)
	Sleep      func(ctx context.Context, d time.Duration) error
	Before     func(ctx context.Context) (time.Duration, error)
}

// RetryKind says what a RetryEvent reports.
type RetryKind int

const (
	// NonceRetry: the server asked for a DPoP nonce and the request is sent again with it.
	NonceRetry RetryKind = iota + 1
	// TransientRetry: a transient failure; the request is sent again after Wait.
	TransientRetry
)

// RetryEvent reports a retry. It carries no secret.
type RetryEvent struct {
	Kind       RetryKind
	Attempt    int           // the attempt that failed, from 1
	StatusCode int           // the failed attempt's HTTP status; 0 for a network error
	Wait       time.Duration // TransientRetry: the wait before the next attempt
}

// Client posts authenticated forms to one endpoint of an authorization server: the token
// endpoint, or one that works like it (PAR, revocation). It is safe for concurrent use.
type Client struct {
	http     *http.Client
	endpoint *url.URL
	auth     ClientAuthenticator
	proofer  proofer
	nonces   nonceStore
	maxBody  int64
	now      func() time.Time
	retry    RetryPolicy
	observe  func(RetryEvent)
	sleep    func(context.Context, time.Duration) error
	before   func(context.Context) (time.Duration, error)
}

// NewClient checks s and returns a Client for endpoint, an https URL (http only for
// localhost). It makes no network call.
func NewClient(endpoint string, s Settings) (*Client, error) {
	cfg := config{HTTPClient: s.HTTPClient, Endpoint: endpoint, Auth: s.ClientAuth, Now: s.Now, Retry: s.Retry, Observe: s.OnRetry,
		Before: s.BeforeAttempt}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = httpx.NewClient()
	}
	if s.Proofer != nil { // a nil *dpop.Proofer must not become a non-nil interface
		cfg.Proofer, cfg.Nonces = s.Proofer, s.Nonces
		if s.Nonces == nil {
			cfg.Nonces = dpop.NewNonceStore()
		}
	} else if s.Nonces != nil {
		cfg.Nonces = s.Nonces
	}
	return newFromConfig(cfg)
}

// newFromConfig checks cfg and returns a Client.
func newFromConfig(cfg config) (*Client, error) {
	u, err := httpx.CheckEndpoint("token endpoint", cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		return nil, errors.New("token endpoint: http client is nil")
	}
	if cfg.Auth == nil {
		return nil, errors.New("token endpoint: client authentication is nil")
	}
	if cfg.Proofer != nil && cfg.Nonces == nil {
		return nil, errors.New("token endpoint: a dpop nonce store is required with a proofer")
	}
	c := &Client{http: httpx.NoRedirects(cfg.HTTPClient), endpoint: u, auth: cfg.Auth, proofer: cfg.Proofer, nonces: cfg.Nonces,
		maxBody: cfg.MaxBody, now: cfg.Now, retry: cfg.Retry.withDefaults(), observe: cfg.Observe, sleep: cfg.Sleep, before: cfg.Before}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	if c.observe == nil {
		c.observe = func(RetryEvent) {}
	}
	return c, nil
}

// DPoP reports whether the client sends DPoP proofs.
func (c *Client) DPoP() bool { return c.proofer != nil }

// Endpoint returns the URL the client posts to.
func (c *Client) Endpoint() string { return c.endpoint.String() }

// SafetyOf returns how a token request with this grant_type may be retried.
func SafetyOf(params url.Values) Safety {
	switch params.Get("grant_type") {
	case "authorization_code":
		return Once
	case "refresh_token":
		return ConsumesOnSuccess
	}
	return Idempotent
}

// Token posts params as a token request and returns the checked response. Transient failures
// are retried as SafetyOf(params) allows.
func (c *Client) Token(ctx context.Context, params url.Values) (*TokenResponse, error) {
	sent := c.now()
	body, _, err := c.Post(ctx, params, http.StatusOK, SafetyOf(params))
	if err != nil {
		return nil, err
	}
	resp, err := ParseResponse(body, sent)
	if err != nil {
		return nil, err
	}
	if err := CheckTokenType(resp.TokenType, c.proofer != nil); err != nil {
		return nil, err
	}
	return resp, nil
}

// CheckTokenType compares token_type case-insensitively (RFC 6749 §5.1) with what was asked
// for: DPoP when a proof was sent, or else Bearer. A DPoP request answered with a Bearer token
// is a downgrade and is refused (RFC 9449 §5).
func CheckTokenType(tokenType string, dpop bool) error {
	want := "Bearer"
	if dpop {
		want = "DPoP"
	}
	if !strings.EqualFold(tokenType, want) {
		return fmt.Errorf("%w: token_type %q, want %s", ErrInvalidResponse, cleanText(tokenType, 32), want)
	}
	return nil
}

// Post sends params with fresh client authentication and, with a Proofer, a fresh DPoP proof
// carrying the newest known nonce. When the server answers use_dpop_nonce with a DPoP-Nonce
// header it retries exactly once with new credentials; transient failures are retried as
// safety and the RetryPolicy allow. It returns the body of a response with status okStatus;
// any other status becomes an *Error.
func (c *Client) Post(ctx context.Context, params url.Values, okStatus int, safety Safety) ([]byte, http.Header, error) {
	return c.PostEach(ctx, params, okStatus, safety, nil)
}

// PostEach is Post with prepare, when not nil, called on each attempt's form before client
// authentication, for parameters that must be new on every attempt as the client assertion
// is (a signed request object's jti and exp). An error from prepare ends the call.
func (c *Client) PostEach(ctx context.Context, params url.Values, okStatus int, safety Safety, prepare func(form url.Values) error) ([]byte, http.Header, error) {
	auth, nextKey := c.auth, (func() ClientAuthenticator)(nil)
	if r, ok := c.auth.(RotatingAuthenticator); ok {
		auth, nextKey = r.Keys()
	}
	nonceRetried, nonce := false, ""
	for attempt, failures := 1, 0; ; attempt++ {
		body, header, err := c.bounded(ctx, auth, params, okStatus, nonce, prepare)
		nonce = ""
		if errors.Is(err, errNotSent) {
			return nil, nil, err
		}
		if err == nil {
			return body, header, nil
		}
		status := 0
		var oe *Error
		if errors.As(err, &oe) {
			status = oe.StatusCode
		}
		// The retry signs the nonce of this very challenge: the shared store may already hold
		// another (a concurrent response, or a resource server on the same origin).
		if challenge := header.Get("DPoP-Nonce"); !nonceRetried && c.proofer != nil && errors.Is(err, ErrUseDPoPNonce) &&
			httpx.ValidDPoPNonce(challenge) && len(header.Values("DPoP-Nonce")) == 1 {
			nonceRetried, nonce = true, challenge
			c.observe(RetryEvent{Kind: NonceRetry, Attempt: attempt, StatusCode: status})
			continue
		}
		if nextKey != nil && errors.Is(err, ErrInvalidClient) {
			if auth = nextKey(); auth != nil { // see RotatingAuthenticator
				continue
			}
			return nil, nil, err
		}
		failures++
		retry := transient(err)
		if !retry || failures >= c.retry.MaxAttempts || safety == Once || (safety == ConsumesOnSuccess && !notProcessed(err)) {
			return nil, nil, err
		}
		wait := c.retry.backoff(failures)
		if d, ok := retryAfter(header, c.now()); ok {
			if d > c.retry.MaxBackoff {
				return nil, nil, err
			}
			wait = max(wait, d)
		}
		c.observe(RetryEvent{Kind: TransientRetry, Attempt: attempt, StatusCode: status, Wait: wait})
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, nil, fmt.Errorf("%w (gave up waiting to retry: %w)", err, serr)
		}
	}
}

// errNotSent marks a BeforeAttempt refusal: no request was sent.
var errNotSent = errors.New("request not sent")

// bounded sends one attempt after BeforeAttempt, within the time it allows.
func (c *Client) bounded(ctx context.Context, auth ClientAuthenticator, params url.Values, okStatus int, nonce string, prepare func(url.Values) error) ([]byte, http.Header, error) {
	if c.before == nil {
		return c.attempt(ctx, auth, params, okStatus, nonce, prepare)
	}
	d, err := c.before(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("token endpoint: %w: %w", errNotSent, err)
	}
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return c.attempt(ctx, auth, params, okStatus, nonce, prepare)
}

// attempt sends one request authenticated by auth; nonce, when set, overrides the store's
// nonce in the proof, and prepare, when set, adds to the form first.
func (c *Client) attempt(ctx context.Context, auth ClientAuthenticator, params url.Values, okStatus int, nonce string, prepare func(url.Values) error) ([]byte, http.Header, error) {
	form := make(url.Values, len(params)+4)
	for k, v := range params {
		form[k] = v
	}
	if prepare != nil {
		if err := prepare(form); err != nil {
			return nil, nil, fmt.Errorf("token endpoint: %w", err)
		}
	}
	if err := auth.Authenticate(form); err != nil {
		return nil, nil, fmt.Errorf("token endpoint: client authentication: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("token endpoint: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.proofer != nil {
		if nonce == "" {
			nonce = c.nonces.NonceFor(c.endpoint)
		}
		proof, err := c.proofer.Proof(http.MethodPost, c.endpoint, nonce, "")
		if err != nil {
			return nil, nil, fmt.Errorf("token endpoint: %w", err)
		}
		req.Header.Set("DPoP", proof)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("token endpoint: %w", &errTransport{redactURLError(err)})
	}
	if c.nonces != nil {
		c.nonces.Observe(c.endpoint, resp.Header)
	}
	body, err := httpx.ReadBody(resp, c.maxBody)
	if err != nil {
		if !errors.Is(err, httpx.ErrBodyTooLarge) {
			err = &errTransport{err} // cut short: the server may have acted on the request
		}
		return nil, resp.Header, fmt.Errorf("token endpoint: %w", err)
	}
	if resp.StatusCode == okStatus {
		return body, resp.Header, nil
	}
	return nil, resp.Header, parseError(resp.StatusCode, body)
}

// parseError turns a non-success response into *Error, reading an RFC 6749 error body when
// there is one.
func parseError(status int, body []byte) *Error {
	e := &Error{StatusCode: status}
	var w struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorURI         string `json:"error_uri"`
	}
	if json.Unmarshal(body, &w) == nil {
		e.Code = cleanText(w.Error, 64)
		e.Description = cleanText(w.ErrorDescription, maxDescription)
		e.URI = cleanText(w.ErrorURI, maxDescription)
	}
	return e
}

// redactURLError drops the request body and URL query from transport errors; the form carries
// the client assertion and codes, which must never reach an error message.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redactQuery(ue.URL), ue.Err)
	}
	return err
}

func redactQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}
