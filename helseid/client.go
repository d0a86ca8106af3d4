package helseid

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/internal/clientauth"
	"github.com/helseid-go/sdk/internal/discovery"
	"github.com/helseid-go/sdk/internal/httpx"
	"github.com/helseid-go/sdk/internal/tokenendpoint"
)

// ErrInvalidConfig reports a Config the client cannot work with; the message says which field.
var ErrInvalidConfig = errors.New("invalid helseid configuration")

// ErrInvalidRequestParams reports a token request the SDK refuses before sending it, such as
// scopes of several APIs in one request.
var ErrInvalidRequestParams = errors.New("invalid token request")

// Config configures a Client. Like tls.Config, the zero value of every optional field is a safe
// default.
type Config struct {
	// Issuer is HelseID's issuer identifier: TestIssuer, ProductionIssuer, or another server
	// such as helseidtest. It is compared exactly with the discovery document's issuer and
	// used verbatim as the audience of client assertions. Required.
	Issuer string
	// ClientID is the client's id in HelseID. Required.
	ClientID string
	// Key signs client assertions; its kid must be the registered public key's. Required.
	Key *Key
	// DPoPKey signs DPoP proofs. Nil means a new P-256 key kept in memory for the life of the
	// Client, which binds its tokens to this process.
	DPoPKey *Key
	// Tenancy is how the client is registered; it decides how organisation numbers are sent.
	Tenancy Tenancy
	// HTTPClient sends every request. Nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AssertionLifetime is the client assertions' exp - iat: 10 s when zero, at most 60 s.
	AssertionLifetime time.Duration
}

// Client talks to HelseID for one registered client. It is safe for concurrent use.
type Client struct {
	cfg        Config
	http       *http.Client
	now        func() time.Time
	discovery  *discovery.Cache
	assertions *clientauth.Builder
	proofer    *dpop.Proofer
	nonces     *dpop.NonceStore
}

// NewClient checks cfg and returns a Client. It makes no network call; discovery happens on
// first use and is cached.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Issuer == "" {
		return nil, fmt.Errorf("%w: Issuer is empty (use helseid.TestIssuer or helseid.ProductionIssuer)", ErrInvalidConfig)
	}
	if _, err := httpx.CheckEndpoint("Issuer", cfg.Issuer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("%w: ClientID is empty", ErrInvalidConfig)
	}
	if cfg.Key == nil {
		return nil, fmt.Errorf("%w: Key is nil; load the client's private JWK with helseid.ParseJWK", ErrInvalidConfig)
	}
	if cfg.Tenancy != SingleTenant && cfg.Tenancy != MultiTenant {
		return nil, fmt.Errorf("%w: unknown Tenancy %d", ErrInvalidConfig, int(cfg.Tenancy))
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient, now: cfg.Now}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.now == nil {
		c.now = time.Now
	}
	var err error
	c.discovery, err = discovery.NewCache(discovery.Config{Issuer: cfg.Issuer, HTTPClient: c.http, Now: c.now})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c.assertions, err = clientauth.New(clientauth.Config{
		ClientID: cfg.ClientID, Audience: cfg.Issuer,
		Key: cfg.Key.Signer(), Algorithm: cfg.Key.Algorithm(), KeyID: cfg.Key.KeyID(),
		Lifetime: cfg.AssertionLifetime, Now: c.now,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	pc := dpop.ProoferConfig{Now: c.now}
	if cfg.DPoPKey != nil {
		pc.Key, pc.Algorithm = cfg.DPoPKey.Signer(), cfg.DPoPKey.Algorithm()
	}
	c.proofer, err = dpop.NewProofer(pc)
	if err != nil {
		return nil, fmt.Errorf("%w: DPoPKey: %w", ErrInvalidConfig, err)
	}
	c.nonces = dpop.NewNonceStore()
	return c, nil
}

// Issuer returns the configured issuer identifier.
func (c *Client) Issuer() string { return c.cfg.Issuer }

// ClientID returns the configured client id.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// Proofer returns the DPoP proofer whose key the client's tokens are bound to, for signing
// proofs to APIs.
func (c *Client) Proofer() *dpop.Proofer { return c.proofer }

// Nonces returns the store of DPoP nonces the client has received, per server.
func (c *Client) Nonces() *dpop.NonceStore { return c.nonces }

// Metadata returns HelseID's discovery document, fetched once and cached for 24 hours.
func (c *Client) Metadata(ctx context.Context) (*Metadata, error) {
	return c.discovery.Metadata(ctx)
}

// ClientCredentialsRequest asks for an access token for one API, for the client itself.
type ClientCredentialsRequest struct {
	// Scopes of one API, such as "nhn:kjernejournal/api". HelseID APIs accept tokens with one
	// audience only, so scopes of several APIs are refused.
	Scopes []string
	// Resource optionally names the API (its audience, such as "nhn:kjernejournal").
	Resource string
	// Organization optionally names the organisation the token is for (HELSEID.md §2).
	Organization Organization
}

// ClientCredentials requests a DPoP-bound access token with the client_credentials grant.
func (c *Client) ClientCredentials(ctx context.Context, req ClientCredentialsRequest) (*TokenResponse, error) {
	if err := checkScopes(req.Scopes); err != nil {
		return nil, err
	}
	details, err := req.Organization.AssertionDetails(c.cfg.Tenancy)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequestParams, err)
	}
	endpoint, err := c.tokenEndpoint(ctx, tokenendpoint.AuthenticatorFunc(func(form url.Values) error {
		return c.assertions.Authenticate(form, details)
	}))
	if err != nil {
		return nil, err
	}
	params := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(req.Scopes, " ")}}
	if req.Resource != "" {
		params.Set("resource", req.Resource)
	}
	resp, err := endpoint.Token(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("helseid: client credentials: %w", err)
	}
	return resp, nil
}

func (c *Client) tokenEndpoint(ctx context.Context, auth tokenendpoint.Authenticator) (*tokenendpoint.Client, error) {
	md, err := c.discovery.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("helseid: discovery: %w", err)
	}
	return tokenendpoint.New(tokenendpoint.Config{
		HTTPClient: c.http, Endpoint: md.TokenEndpoint, Auth: auth,
		Proofer: c.proofer, Nonces: c.nonces, Now: c.now,
	})
}

// identityScopes are user scopes that the client_credentials grant cannot carry.
func isIdentityScope(s string) bool {
	switch s {
	case "openid", "profile", "offline_access", "email":
		return true
	}
	return strings.HasPrefix(s, "helseid://scopes/")
}

// APIOf returns the API (audience) a HelseID scope belongs to: the part before its first "/",
// as in "nhn:kjernejournal/api" → "nhn:kjernejournal" and "nhn:phr/mhd/read-document" →
// "nhn:phr". A scope without "/" is its own API.
func APIOf(scope string) string {
	if i := strings.IndexByte(scope, '/'); i > 0 {
		return scope[:i]
	}
	return scope
}

// checkScopes refuses what HelseID would refuse or answer with a token no API accepts.
func checkScopes(scopes []string) error {
	if len(scopes) == 0 {
		return fmt.Errorf("%w: no scopes", ErrInvalidRequestParams)
	}
	api := ""
	for _, s := range scopes {
		switch {
		case s == "" || strings.ContainsAny(s, " \t\r\n\"\\"):
			return fmt.Errorf("%w: scope %.64q is empty or has white space, quotes or backslashes", ErrInvalidRequestParams, s)
		case isIdentityScope(s):
			return fmt.Errorf("%w: identity scope %q cannot be used with client credentials", ErrInvalidRequestParams, s)
		case api == "":
			api = APIOf(s)
		case APIOf(s) != api:
			return fmt.Errorf("%w: scopes of several APIs (%q and %q); HelseID APIs accept tokens with one audience, so request each API's token separately", ErrInvalidRequestParams, api, APIOf(s))
		}
	}
	return nil
}
