package helseid

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/clientauth"
	"github.com/helseid-go/sdk/internal/discovery"
	"github.com/helseid-go/sdk/internal/httpx"
	"github.com/helseid-go/sdk/internal/tokencache"
	"github.com/helseid-go/sdk/tokenexchange"
)

// errInvalidConfig starts the message of a refused Config, which says which field. It is not
// exported: a configuration is fixed by its author, not handled at run time.
var errInvalidConfig = errors.New("invalid helseid configuration")

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
	// Client, which binds its tokens to this process. A fleet sharing tokens (SharedTokens)
	// must share this key too: load it from configuration like Key. A stored user session
	// (Sessions) carries the key its tokens are bound to in its record, so that every process
	// signs its proofs with it.
	DPoPKey *Key
	// SharedTokens, when set, shares client-credentials tokens with the other processes of a
	// fleet (helseidredis.TokenCache): a local miss or refresh looks there first, and one
	// process of the fleet requests each token while the others wait for it. Hits are still
	// served from memory. When it fails, tokens are requested locally and the Observer is
	// told (SharedCacheDown). It requires DPoPKey.
	SharedTokens SharedTokenCache
	// Logins keeps the logins of StartStoredLogin until their callback; nil means
	// NewMemoryLoginStore. A fleet without sticky sessions shares one (helseidredis.LoginStore).
	Logins LoginStore
	// Sessions keeps the user sessions of StartUserSession, so that any process of a fleet can
	// serve a logged-in user (helseidredis.SessionStore); nil means NewMemorySessionStore.
	Sessions SessionStore
	// SessionRecheck is how often a stored user session held in memory asks Sessions whether
	// it still stands, on the Token path (one store read; the calls in between are served
	// from memory): a logout or an organisation switch on another process reaches it within
	// this. DefaultSessionRecheck when zero; every call when negative.
	SessionRecheck time.Duration
	// Tenancy is how the client is registered; it decides how organisation numbers are sent.
	Tenancy Tenancy
	// HTTPClient sends every request. Nil means a client with a 30 s timeout. The DPoP HTTP
	// clients for APIs send through its Transport, with APITimeout as their own timeout.
	HTTPClient *http.Client
	// APITimeout bounds each request of the DPoP HTTP clients for APIs (HTTPClient,
	// OnBehalfOfHTTPClient, UserSession.HTTPClient), from sending it to reading the whole
	// response body, retries and redirects included: dpop.DefaultClientTimeout (30 s) when
	// zero, none when negative (for long downloads, bounded by each request's context instead).
	APITimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AssertionLifetime is the client assertions' exp - iat: 10 s when zero, at most 60 s.
	AssertionLifetime time.Duration
	// Observer is told of cache hits and misses, refreshes, every network step (token
	// requests of every grant, PAR, discovery and key fetches) and retries, with the context
	// of the call; nil means none. See SlogObserver, and the helseidotel module for
	// OpenTelemetry.
	Observer Observer
	// RefreshWindow is how long before expiry a cached token is refreshed in the background
	// (60 s when zero; at most half the token's lifetime). Callers keep getting the current
	// token meanwhile, and while a refresh fails. It must be at least MinRefreshWindow: a token
	// is not handed out in its last 5 s, and the refresh needs time before that to finish, or
	// callers would wait for it at every expiry.
	RefreshWindow time.Duration
	// MaxCachedTokens bounds the token cache: 10,000 when zero. A multi-tenant system should
	// set it to at least its number of organisations times the APIs each uses. A token being
	// requested, and a failed request's backoff (kept 30 s), are never evicted, so that a full
	// cache still sends one request per token and honours the backoff; they come on top.
	MaxCachedTokens int
	// Retry bounds retries of transient token-request failures (network errors, 5xx, 429);
	// the zero value retries up to 3 attempts. Set MaxAttempts to 1 to disable.
	Retry fapi.RetryPolicy

	// IDTokenProfile chooses the ID-token signature algorithms: HelseIDProfile (the zero
	// value, RS/PS/ES 256..512) or the stricter FAPI2Profile (PS256, ES256, EdDSA, and the
	// callback's iss required even where the server does not advertise it).
	IDTokenProfile IDTokenProfile
	// IDTokenLeeway is the clock skew allowed on ID-token times: 60 s when zero, none when
	// negative, at most 5 minutes.
	IDTokenLeeway time.Duration
	// RequireSecurityLevel4 refuses logins below HelseID security level 4.
	RequireSecurityLevel4 bool
	// DPoPAtPAR sends a DPoP proof and dpop_jkt with pushed authorization requests, binding
	// the code to the DPoP key (RFC 9449 §10). HelseID's samples do not; it is off by default.
	DPoPAtPAR bool
}

// MinRefreshWindow is the smallest Config.RefreshWindow: twice the 5 s before expiry in which
// a cached token is no longer handed out, so that a refresh ahead of expiry has at least as
// long again to finish.
const MinRefreshWindow = 2 * tokencache.DefaultExpiryMargin

// Client talks to HelseID for one registered client. It is safe for concurrent use.
type Client struct {
	cfg          Config
	http         *http.Client
	now          func() time.Time
	discovery    *discovery.Cache
	assertions   *clientKeys // SetKeys swaps the key
	proofer      *dpop.Proofer
	nonces       *dpop.NonceStore // the authorization server's
	apiNonces    *dpop.NonceStore // resource servers'
	apiTimeout   time.Duration    // of the DPoP HTTP clients for APIs; 0 means none
	cache        *tokencache.Cache[tokenKey, cachedToken]
	exchanges    *tokenexchange.Cache
	exchangerFor atomic.Pointer[endpointExchanger]
	keys         issuerKeys // the issuer's JWKS, for ID tokens
	logins       usedLogins
	specs        specCache
	seed         maphash.Seed
	observer     Observer
	shared       *sharedTokens // nil without Config.SharedTokens

	dpopKey      *Key         // Config.DPoPKey or the Client's own
	loginStore   LoginStore   // Config.Logins or the memory default
	sessionStore SessionStore // Config.Sessions or the memory default
	sessionKeys  sync.Map     // a stored session's DPoP private JWK -> its *dpop.Proofer
	// sessionRecheck is Config.SessionRecheck with its default; negative: every call.
	sessionRecheck time.Duration
	// testRefreshStep, set by tests only, is called at each step of a stored session's refresh.
	testRefreshStep func(step string)
	// testSaveTimeout, set by tests only, replaces sessionSaveTimeout.
	testSaveTimeout time.Duration
}

// NewClient checks cfg and returns a Client. It makes no network call; discovery happens on
// first use and is cached.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Issuer == "" {
		return nil, fmt.Errorf("%w: Issuer is empty (use helseid.TestIssuer or helseid.ProductionIssuer)", errInvalidConfig)
	}
	if _, err := httpx.CheckEndpoint("Issuer", cfg.Issuer); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("%w: ClientID is empty", errInvalidConfig)
	}
	if cfg.Key == nil {
		return nil, fmt.Errorf("%w: Key is nil; load the client's private JWK with helseid.ParseJWK", errInvalidConfig)
	}
	if cfg.Tenancy != SingleTenant && cfg.Tenancy != MultiTenant {
		return nil, fmt.Errorf("%w: unknown Tenancy %d", errInvalidConfig, int(cfg.Tenancy))
	}
	if cfg.IDTokenProfile != HelseIDProfile && cfg.IDTokenProfile != FAPI2Profile {
		return nil, fmt.Errorf("%w: unknown IDTokenProfile %d", errInvalidConfig, int(cfg.IDTokenProfile))
	}
	if cfg.RefreshWindow != 0 && cfg.RefreshWindow < MinRefreshWindow {
		return nil, fmt.Errorf("%w: RefreshWindow %s is under %s (zero means 60s)", errInvalidConfig, cfg.RefreshWindow, MinRefreshWindow)
	}
	if cfg.IDTokenLeeway > 5*time.Minute {
		// The conformance suite sends an ID token expired 6 minutes ago; a client must refuse it.
		return nil, fmt.Errorf("%w: IDTokenLeeway %s is over 5m", errInvalidConfig, cfg.IDTokenLeeway)
	}
	if cfg.SharedTokens != nil && cfg.DPoPKey == nil {
		// Tokens are bound to the DPoP key: a key of this process's own would make the shared
		// tokens useless to the rest of the fleet.
		return nil, fmt.Errorf("%w: SharedTokens needs DPoPKey, the fleet's shared DPoP key (load it with helseid.ParseJWK)", errInvalidConfig)
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient, now: cfg.Now, apiTimeout: cfg.APITimeout}
	switch {
	case c.apiTimeout == 0:
		c.apiTimeout = dpop.DefaultClientTimeout
	case c.apiTimeout < 0:
		c.apiTimeout = 0
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.now == nil {
		c.now = time.Now
	}
	var err error
	c.discovery, err = discovery.NewCache(discovery.Config{Issuer: cfg.Issuer, HTTPClient: c.http, Now: c.now,
		Observe: fetchObserver(cfg.Observer, DiscoveryFetched)})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	c.assertions, err = newClientKeys(clientauth.Config{
		ClientID: cfg.ClientID, Audience: cfg.Issuer, Lifetime: cfg.AssertionLifetime, Now: c.now,
	}, cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	c.dpopKey = cfg.DPoPKey
	if c.dpopKey == nil {
		// A key of the Client's own, as a Key so that a stored user session can carry it to
		// the other processes of a fleet.
		if c.dpopKey, err = GenerateKey("ES256"); err != nil {
			return nil, fmt.Errorf("helseid: DPoP key: %w", err)
		}
	}
	pc := dpop.ProoferConfig{Now: c.now, Key: c.dpopKey.Signer(), Algorithm: c.dpopKey.Algorithm()}
	c.proofer, err = dpop.NewProofer(pc)
	if err != nil {
		return nil, fmt.Errorf("%w: DPoPKey: %w", errInvalidConfig, err)
	}
	c.loginStore, c.sessionStore = cfg.Logins, cfg.Sessions
	c.sessionRecheck = cfg.SessionRecheck
	if c.sessionRecheck == 0 {
		c.sessionRecheck = DefaultSessionRecheck
	}
	if c.loginStore == nil {
		c.loginStore = NewMemoryLoginStore(c.now)
	}
	if c.sessionStore == nil {
		c.sessionStore = NewMemorySessionStore(c.now)
	}
	c.nonces = dpop.NewNonceStore()
	c.apiNonces = dpop.NewNonceStore()
	c.seed = maphash.MakeSeed()
	c.observer = cfg.Observer
	c.keys.observe = fetchObserver(cfg.Observer, KeysFetched)
	fetch := c.fetchToken
	if cfg.SharedTokens != nil {
		c.shared = newSharedTokens(cfg.SharedTokens, cfg, c.proofer.Thumbprint())
		fetch = c.fetchShared
	}
	cacheCfg := tokencache.Config[tokenKey, cachedToken]{
		Fetch: func(ctx context.Context, key tokenKey) (*cachedToken, time.Time, error) {
			tok, expiry, err := fetch(ctx, key)
			if tok == nil {
				return nil, expiry, err
			}
			return &cachedToken{Token: *tok, org: key.organization()}, expiry, err
		},
		Hash:          c.hashKey,
		Now:           cfg.Now,
		RefreshWindow: cfg.RefreshWindow,
		MaxEntries:    cfg.MaxCachedTokens,
	}
	if c.observer != nil {
		cacheCfg.Observe = c.observeCache
	}
	c.cache, err = tokencache.New(cacheCfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	c.exchanges, err = tokenexchange.NewCache(tokenexchange.CacheConfig{
		Exchange: c.exchange, Now: cfg.Now, MaxEntries: cfg.MaxCachedTokens,
	})
	if err != nil {
		c.cache.Close()
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	return c, nil
}

// Close stops the client's background work (token refreshes, discovery and key fetches) and
// waits for it to end. Cached tokens are still served afterwards while they are usable (by the
// real clock, outside the expiry margin); no new token is requested through the cache, so once
// none is usable Token (and TokenSource, HTTPClient, exchanges) return an error that matches
// ErrClosed, as does a call that was waiting for a token request Close stopped.
func (c *Client) Close() error {
	c.cache.Close()
	c.exchanges.Close()
	c.discovery.Close()
	c.keys.close()
	return nil
}

// Issuer returns the configured issuer identifier.
func (c *Client) Issuer() string { return c.cfg.Issuer }

// ClientID returns the configured client id.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// Proofer returns the DPoP proofer whose key the client's tokens are bound to, for signing
// proofs to APIs.
func (c *Client) Proofer() *dpop.Proofer { return c.proofer }

// APINonces returns the store of DPoP nonces resource servers have sent, per origin, for
// proofs made by hand with Proofer; HTTPClient uses it. HelseID's own nonces are kept apart.
func (c *Client) APINonces() *dpop.NonceStore { return c.apiNonces }

// Metadata returns HelseID's discovery document, fetched once and cached for 24 hours.
func (c *Client) Metadata(ctx context.Context) (*fapi.Metadata, error) {
	return c.discovery.Metadata(ctx)
}

// ClientCredentialsRequest asks for an access token for one API, for the client itself.
type ClientCredentialsRequest struct {
	// Scopes of one API, such as "nhn:kjernejournal/api". HelseID APIs accept tokens with one
	// audience only, so scopes of several APIs are refused.
	Scopes []string
	// Resource optionally names the API (its audience, such as "nhn:kjernejournal").
	Resource string
	// Organization names the organisation the token is for; when zero, the context's
	// (WithOrganization) is used. A multi-tenant client requires one of the two, or
	// SupplierOrganization for the supplier's own token (see Organization).
	Organization Organization
	// Bearer asks for an unbound Bearer token instead of a DPoP-bound one, for an API that
	// has not moved to DPoP yet. Anyone who obtains a Bearer token can use it: set this only
	// for such an API, and only if the client is registered to get Bearer tokens (HelseID
	// refuses a request without a DPoP proof from a client that requires DPoP). The token
	// request then carries no DPoP proof and the answer must have token_type Bearer. Bearer
	// and DPoP-bound tokens are cached apart and never stand in for each other. Send Bearer
	// tokens with BearerHTTPClient; HTTPClient and Source refuse such a request.
	Bearer bool
}

// ClientCredentials requests a new DPoP-bound access token (an unbound one with req.Bearer)
// with the client_credentials grant, bypassing the cache; most callers want Token, which caches. The organisation is the
// request's, or else the one in ctx (WithOrganization), as for Token.
func (c *Client) ClientCredentials(ctx context.Context, req ClientCredentialsRequest) (*fapi.TokenResponse, error) {
	spec, err := c.spec(req.Scopes, req.Resource, req.Bearer)
	if err != nil {
		return nil, err
	}
	org, err := c.organization(ctx, req.Organization)
	if err != nil {
		return nil, err
	}
	return c.requestToken(ctx, spec, org)
}

// Token returns a cached DPoP-bound access token for req (an unbound Bearer token with
// req.Bearer), requesting one when none is usable.
// One request is in flight per token however many callers wait; a caller whose ctx ends
// returns at once. Tokens are refreshed in the background before they expire. The
// organisation is the request's, or else the one in ctx (WithOrganization); tokens of
// different organisations never mix. A multi-tenant client that finds neither fails with
// ErrNoOrganization rather than return the supplier's own token; ask for that with
// SupplierOrganization.
//
// A request is validated and put in canonical form (scopes sorted) once; later calls with
// the same scopes in the same order and the same resource find that again without sorting or
// allocating, and without hashing them when they are the same strings (literals, or values
// loaded once), so building req at the call, as in the package example, costs nothing extra
// on a cache hit. A Source saves the lookup as well.
func (c *Client) Token(ctx context.Context, req ClientCredentialsRequest) (*fapi.Token, error) {
	spec, err := c.spec(req.Scopes, req.Resource, req.Bearer)
	if err != nil {
		return nil, err
	}
	return c.cachedToken(ctx, spec, &req.Organization)
}

func (c *Client) cachedToken(ctx context.Context, spec *tokenSpec, fixed *Organization) (*fapi.Token, error) {
	key, err := c.tokenKeyFor(ctx, spec, fixed)
	if err != nil {
		return nil, err
	}
	return c.tokenFor(ctx, key)
}

// tokenKeyFor is keyFor, with organization's error for what keyFor does not accept.
func (c *Client) tokenKeyFor(ctx context.Context, spec *tokenSpec, fixed *Organization) (tokenKey, error) {
	if key, ok := c.keyFor(ctx, spec, fixed); ok {
		return key, nil
	}
	// keyFor accepts every organisation organization accepts, so this is the error path:
	// organization says what is wrong.
	org, err := c.organization(ctx, *fixed)
	if err != nil {
		return tokenKey{}, err
	}
	return newTokenKey(spec, org), nil
}

// tokenFor is the cached token of key, fetched when needed.
func (c *Client) tokenFor(ctx context.Context, key tokenKey) (*fapi.Token, error) {
	spec := key.spec
	if c.observer != nil {
		// The hit is reported here, with the organisation kept beside the token: rebuilding it
		// from the key (which holds the numbers as integers) would cost an allocation per hit.
		if v := c.cache.Lookup(ctx, key); v != nil {
			c.observer.Observe(ctx, Event{Kind: CacheHit, Grant: spec.grant, Scopes: spec.scope, Organization: v.org})
			return &v.Token, nil
		}
	}
	v, err := c.cache.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return &v.Token, nil
}

// cachedToken is what the client's cache holds: the token, and its organisation as strings
// made once when it was fetched, for observers. Reporting the caller's Organization instead
// would let the caller's request escape to the heap (escape analysis does not tell its fields
// apart), costing Token an allocation per call, observed or not.
type cachedToken struct {
	fapi.Token
	org Organization
}

// errNoOrganization is organization's answer for a multi-tenant call naming no organisation.
var errNoOrganization = fmt.Errorf("%w: %w: name it on the request or in the context (WithOrganization), "+
	"or name SupplierOrganization for the supplier's own token", ErrInvalidRequestParams, ErrNoOrganization)

// organization picks the request's organisation, or else the context's, and validates it. It
// returns SupplierOrganization as the zero Organization (both send no numbers, so they share
// a cache entry), and refuses a multi-tenant call that names no organisation at all.
func (c *Client) organization(ctx context.Context, fixed Organization) (Organization, error) {
	org := fixed
	if org.IsZero() {
		org, _ = OrganizationFromContext(ctx)
	}
	if err := org.Validate(c.cfg.Tenancy); err != nil {
		return Organization{}, fmt.Errorf("%w: %w", ErrInvalidRequestParams, err)
	}
	switch {
	case org.supplier:
		return Organization{}, nil
	case org.IsZero() && c.cfg.Tenancy == MultiTenant:
		return Organization{}, errNoOrganization
	}
	return org, nil
}

// requestToken sends one client-credentials token request, with the nonce handshake,
// transient retries, and the other keys of a rotation after invalid_client (see keyAuth).
func (c *Client) requestToken(ctx context.Context, spec *tokenSpec, org Organization) (*fapi.TokenResponse, error) {
	details, err := org.AssertionDetails(c.cfg.Tenancy)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequestParams, err)
	}
	endpoint, err := c.tokenEndpoint(ctx, spec, org, c.assertions.auth(details))
	if err != nil {
		return nil, err
	}
	params := url.Values{"grant_type": {spec.grant}, "scope": {spec.scope}}
	if spec.resource != "" {
		params.Set("resource", spec.resource)
	}
	resp, err := endpoint.Token(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("helseid: %s: %w", spec.grant, err)
	}
	return resp, nil
}

// fetchToken is the cache's Fetch.
func (c *Client) fetchToken(ctx context.Context, key tokenKey) (*fapi.Token, time.Time, error) {
	resp, err := c.requestToken(ctx, key.spec, key.organization())
	if err != nil {
		return nil, time.Time{}, err
	}
	return &fapi.Token{AccessToken: resp.AccessToken, Expiry: resp.Expiry}, resp.Expiry, nil
}

func (c *Client) tokenEndpoint(ctx context.Context, spec *tokenSpec, org Organization, auth *keyAuth) (*fapi.Client, error) {
	md, err := c.discovery.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("helseid: discovery: %w", err)
	}
	s := c.settings(auth)
	if spec.bearer {
		// No proof: the token endpoint then requires token_type Bearer in the answer, so a
		// DPoP-bound token is never taken for an unbound one.
		s.Proofer, s.Nonces = nil, nil
	}
	if c.observer != nil {
		s.OnRetry = func(e fapi.RetryEvent) {
			kind := NonceRetry
			if e.Kind == fapi.TransientRetry {
				kind = TransientRetry
			}
			c.observer.Observe(ctx, Event{Kind: kind, Grant: spec.grant, Scopes: spec.scope, Organization: org, StatusCode: e.StatusCode, Wait: e.Wait})
		}
	}
	return fapi.NewClient(md.TokenEndpoint, s)
}

// settings are what every request to HelseID shares (DPoP key and nonces, HTTP client, clock
// and Config.Retry), with auth as the client authentication: the token requests, PAR, the
// session refreshes and the token exchanges alike. auth is a *keyAuth, not any
// authenticator, so that every request survives a key rotation.
func (c *Client) settings(auth *keyAuth) fapi.Settings {
	return fapi.Settings{ClientAuth: auth, Proofer: c.proofer, Nonces: c.nonces, HTTPClient: c.http, Now: c.now, Retry: c.cfg.Retry}
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
