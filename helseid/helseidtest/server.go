package helseidtest

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint paths, as HelseID names them. Each is relative to Issuer().
const (
	DiscoveryPath  = "/.well-known/openid-configuration"
	JWKSPath       = "/.well-known/openid-configuration/jwks"
	TokenPath      = "/connect/token"
	AuthorizePath  = "/connect/authorize"
	PARPath        = "/connect/par"
	EndSessionPath = "/connect/endsession"
	RevocationPath = "/connect/revocation"
	APIPath        = "/api/demo"
)

// Defaults for Options.
const (
	DefaultAccessTokenLifetime = 600 * time.Second // HelseID test tokens: exp-iat = 600
	DefaultProofWindow         = 60 * time.Second
	DefaultLeeway              = 5 * time.Second
	DefaultAPIAudience         = "nhn:helseidtest-api"
	// DefaultClientKeyLifetime is the lifetime of keys registered through self-service: a
	// year, helseidtest's choice (HelseID states the expiration in each answer).
	DefaultClientKeyLifetime = 365 * 24 * time.Hour
	// MaxAssertionLifetime is how far in the future a client assertion's exp may be
	// (HelseID: "no more than 60 seconds in the future"); Leeway is added for clock skew.
	MaxAssertionLifetime = 60 * time.Second
)

// TB is the part of testing.TB that NewServer uses; *testing.T and *testing.B satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Options configure a Server. The zero value is a HelseID-like server with rotating nonces.
type Options struct {
	// Now is the clock for every time check and every issued time; default time.Now.
	// It must not go backwards by more than a proof window while the server runs, or replay
	// records may have been pruned too early.
	Now func() time.Time
	// Nonce selects the DPoP nonce behaviour of the token endpoint; default NonceRotating.
	Nonce NonceMode
	// NonceRotateEvery, in NonceRotating mode, rotates the nonce after every that many issued
	// tokens (the 200 that triggers the rotation already carries the new nonce). 0: never.
	NonceRotateEvery int
	// AccessTokenLifetime is the lifetime of issued access tokens; default 600 s.
	AccessTokenLifetime time.Duration
	// ProofWindow is the accepted |iat - now| of DPoP proofs; default 60 s.
	ProofWindow time.Duration
	// Leeway is the clock skew allowed on client-assertion times (exp, iat, nbf); default
	// 5 s. A negative value means none.
	Leeway time.Duration
	// SigningKey is the initial access-token signing key (RS256, at least 2048 bits);
	// default: a generated RSA-2048 key.
	SigningKey *rsa.PrivateKey
	// APIAudience is the audience of the demo API; default "nhn:helseidtest-api". Scopes
	// "<APIAudience>/<name>" give tokens for it.
	APIAudience string
	// ReusableAssertionAfterNonceChallenge keeps a client assertion unused when its request
	// only gets a use_dpop_nonce challenge, as HelseID has been seen to do (its Java library
	// resends the same assertion). By default the server is stricter, like the OpenID
	// conformance suite: every assertion jti is used up once it authenticates, so the retry
	// needs a fresh assertion.
	ReusableAssertionAfterNonceChallenge bool
	// User is the person the authorization endpoint logs in at once, with no page to click
	// (auto-login); the zero value means DefaultTestUser.
	User TestUser
	// ClientKeyLifetime is how long a key registered through the self-service endpoint
	// (ClientSecretPath) stays valid; default DefaultClientKeyLifetime.
	ClientKeyLifetime time.Duration
	// IDTokenAlgorithm signs ID tokens: "RS256" (the default, as HelseID does) or "PS256",
	// which the FAPI 2.0 profile allows.
	IDTokenAlgorithm string
}

// Server is an in-process, strict HelseID: discovery, JWKS, the token endpoint
// (client_credentials with private_key_jwt and DPoP) and a demo DPoP-protected API behind
// helseid.Guard.
// All methods are safe for concurrent use.
type Server struct {
	opts   Options
	ts     *httptest.Server
	issuer string
	once   sync.Once

	keys      keyring
	clientsMu sync.RWMutex
	clients   map[string]*registeredClient

	asNonce     *nonceSource
	api         demoAPI
	selfService demoAPI      // the self-service API's guard (no nonces)
	tokenCount  atomic.Int64 // tokens issued, for NonceRotateEvery

	hook atomic.Pointer[tokenHook]

	assertionJTIs *replayCache // client assertion jti, per client
	proofJTIs     *replayCache // DPoP proof jti at the token endpoint (the API's guard has its own)

	stats counters

	login  logins
	faults atomic.Pointer[LoginFaults]
	alt    altKeyHolder
}

// Start starts a server. The caller must Close it. It fails only on invalid Options.
func Start(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch opts.Nonce {
	case NonceRotating, NonceSilentRotate, NonceNone:
	default:
		return nil, fmt.Errorf("helseidtest: unknown NonceMode %d", int(opts.Nonce))
	}
	if opts.AccessTokenLifetime < 0 || opts.ProofWindow < 0 || opts.NonceRotateEvery < 0 {
		return nil, errors.New("helseidtest: negative AccessTokenLifetime, ProofWindow or NonceRotateEvery")
	}
	if opts.ClientKeyLifetime < 0 {
		return nil, errors.New("helseidtest: negative ClientKeyLifetime")
	}
	if opts.ClientKeyLifetime == 0 {
		opts.ClientKeyLifetime = DefaultClientKeyLifetime
	}
	if opts.AccessTokenLifetime == 0 {
		opts.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if opts.AccessTokenLifetime < time.Second {
		return nil, errors.New("helseidtest: AccessTokenLifetime must be at least 1s")
	}
	if opts.ProofWindow == 0 {
		opts.ProofWindow = DefaultProofWindow
	}
	switch {
	case opts.Leeway == 0:
		opts.Leeway = DefaultLeeway
	case opts.Leeway < 0:
		opts.Leeway = 0
	}
	if opts.APIAudience == "" {
		opts.APIAudience = DefaultAPIAudience
	}
	switch opts.IDTokenAlgorithm {
	case "":
		opts.IDTokenAlgorithm = "RS256"
	case "RS256", "PS256":
	default:
		return nil, fmt.Errorf("helseidtest: IDTokenAlgorithm %q is not RS256 or PS256", opts.IDTokenAlgorithm)
	}
	if !validScopeToken(opts.APIAudience) || strings.Contains(opts.APIAudience, "/") {
		return nil, fmt.Errorf("helseidtest: invalid APIAudience %q", opts.APIAudience)
	}
	key, err := newSigningKey(opts.SigningKey)
	if err != nil {
		return nil, err
	}
	opts.SigningKey = nil // the keyring owns it from here

	s := &Server{
		opts:          opts,
		clients:       make(map[string]*registeredClient),
		asNonce:       newNonceSource(),
		assertionJTIs: newReplayCache(defaultReplayCapacity),
		proofJTIs:     newReplayCache(defaultReplayCapacity),
	}
	s.keys.install(key, false)
	s.login.init()

	mux := http.NewServeMux()
	mux.HandleFunc(DiscoveryPath, s.serveDiscovery)
	mux.HandleFunc(JWKSPath, s.serveJWKS)
	mux.HandleFunc(TokenPath, s.serveToken)
	mux.HandleFunc(APIPath, s.serveAPI)
	mux.HandleFunc(APIPath+"/", s.serveAPI)
	mux.HandleFunc(PARPath, s.servePAR)
	mux.HandleFunc(AuthorizePath, s.serveAuthorize)
	mux.HandleFunc(EndSessionPath, s.serveEndSession)
	mux.HandleFunc(RevocationPath, s.serveRevocation)
	mux.HandleFunc(ClientSecretPath, s.serveClientSecret)
	ts := httptest.NewUnstartedServer(mux)
	// Fault-injection hooks reset connections and write garbage; keep the log quiet.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	s.ts = ts
	s.issuer = ts.URL
	return s, nil
}

// NewServer starts a server for a test and closes it in t.Cleanup. At most one Options may be
// given. It calls t.Fatalf if the server cannot start.
func NewServer(t TB, opts ...Options) *Server {
	t.Helper()
	if len(opts) > 1 {
		t.Fatalf("helseidtest.NewServer: at most one Options, got %d", len(opts))
		return nil
	}
	var o Options
	if len(opts) == 1 {
		o = opts[0]
	}
	s, err := Start(o)
	if err != nil {
		t.Fatalf("helseidtest.NewServer: %v", err)
		return nil
	}
	t.Cleanup(s.Close)
	return s
}

// Issuer returns the issuer identifier: the server's base URL, http://127.0.0.1:PORT, with no
// trailing slash. Client assertions must use exactly this string as aud.
func (s *Server) Issuer() string { return s.issuer }

// URL returns the server's base URL (the same as Issuer).
func (s *Server) URL() string { return s.issuer }

// TokenEndpoint returns the token endpoint URL, the htu of token-endpoint proofs.
func (s *Server) TokenEndpoint() string { return s.issuer + TokenPath }

// Client returns an *http.Client configured for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// APIURL returns the demo DPoP-protected API's URL. Any method and sub-path is accepted.
func (s *Server) APIURL() string { return s.issuer + APIPath }

// APIAudience returns the demo API's audience (the aud its tokens must carry).
func (s *Server) APIAudience() string { return s.opts.APIAudience }

// RotateNonce replaces the token endpoint's DPoP nonce; the previous one is refused from now on.
func (s *Server) RotateNonce() { s.asNonce.rotate() }

// RequireAPINonce makes the demo API demand a resource-server DPoP nonce (RFC 9449 §9),
// a value distinct from the token endpoint's nonce, from a new dpop.NonceSource.
func (s *Server) RequireAPINonce(on bool) { s.resetAPIGuard(func(a *demoAPI) { a.required = on }) }

// RotateAPINonce replaces the demo API's DPoP nonce (with a new nonce secret): earlier nonces
// are refused from now on.
func (s *Server) RotateAPINonce() { s.resetAPIGuard(nil) }

// Close shuts the server down: it closes all client connections (so handlers blocked on their
// request's context return) and waits for running handlers to finish. A token hook that
// blocks without watching r.Context() makes Close wait for it. Close is idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		s.ts.CloseClientConnections()
		s.ts.Close()
		s.resetAPIGuard(nil) // closes the demo API's guard and its background fetches
		resetGuard(&s.selfService, nil)
	})
}

func (s *Server) now() time.Time { return s.opts.Now() }
