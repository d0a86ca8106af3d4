package helseid

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/helseid-go/sdk/dpop"
)

// GuardConfig configures a Guard: the access tokens it accepts and how it checks proofs.
type GuardConfig struct {
	AccessTokenConfig
	// DPoP configures proof checking: algorithms, proof age, the replay store (share one
	// across machines, see dpop.ReplayStore), resource-server nonces and the API's external
	// URL (set it in production: without it the htu is checked against the client's Host
	// header). Its Now defaults to AccessTokenConfig.Now.
	DPoP dpop.VerifierConfig
	// AllowBearer ALSO ACCEPTS UNBOUND BEARER TOKENS ("Authorization: Bearer <token>", RFC
	// 6750), which anyone who obtains one can replay: set it only for an API still migrating
	// to DPoP, and turn it off once its clients have moved. DPoP requests are checked as
	// before. A Bearer token must carry no cnf claim, so a DPoP-bound token sent as Bearer to
	// get around the proof is refused (RFC 9449 §7.2), as is a Bearer request with a DPoP
	// header; refusals then challenge with both schemes. False (the default) refuses Bearer.
	AllowBearer bool
}

// Guard protects an API with HelseID DPoP-bound access tokens: it validates the token
// (AccessTokenValidator), verifies the request's DPoP proof (dpop.Verifier: method, URL, age,
// ath, replay, nonce), requires the proof's key to be the one the token is bound to, and refuses
// Bearer tokens unless GuardConfig.AllowBearer says otherwise. A token it has verified is
// remembered until its exp (see AccessTokenValidator.Validate), so a client's later requests
// with it cost about one proof check. It is safe for concurrent use.
type Guard struct {
	tokens      *AccessTokenValidator
	proofs      *dpop.Verifier
	algs        string // for WWW-Authenticate
	allowBearer bool
	observer    Observer
}

// NewGuard checks cfg and returns a Guard.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	tokens, err := NewAccessTokenValidator(cfg.AccessTokenConfig)
	if err != nil {
		return nil, err
	}
	if cfg.DPoP.Now == nil {
		cfg.DPoP.Now = cfg.AccessTokenConfig.Now
	}
	proofs, err := dpop.NewVerifier(cfg.DPoP)
	if err != nil {
		return nil, fmt.Errorf("%w: DPoP: %w", errInvalidConfig, err)
	}
	return &Guard{tokens: tokens, proofs: proofs, algs: strings.Join(proofs.Algorithms(), " "),
		allowBearer: cfg.AllowBearer, observer: cfg.Observer}, nil
}

// Close stops the guard's background fetches of the issuer's metadata and keys and waits for
// them to end.
func (g *Guard) Close() { g.tokens.Close() }

// AuthError is why a Guard refused a request: the HTTP status and the RFC 6750 / RFC 9449
// error code it answers with. Err holds the detail for logs; it is never sent to the client.
type AuthError struct {
	Status int
	// Code is invalid_request, invalid_token, invalid_dpop_proof, use_dpop_nonce or
	// insufficient_scope; empty when the request carried no credentials at all.
	Code string
	Err  error
	// bearer marks a refusal of a Bearer request, answered with a Bearer challenge.
	bearer bool

	check string // for observers, when Code does not say which check refused
}

// checkName names the check that refused, for Event.Check.
func (e *AuthError) checkName() string {
	switch {
	case e.check != "":
		return e.check
	case e.Status == http.StatusServiceUnavailable:
		return "unavailable"
	case e.Code == "" || e.Code == "invalid_request":
		return "credentials"
	case e.Code == "invalid_token":
		return "token"
	case e.Code == "invalid_dpop_proof":
		return "proof"
	case e.Code == "use_dpop_nonce":
		return "nonce"
	case e.Code == "insufficient_scope":
		return "scope"
	}
	return e.Code
}

func (e *AuthError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("unauthenticated request (http %d): %v", e.Status, e.Err)
	}
	return fmt.Sprintf("%s (http %d): %v", e.Code, e.Status, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

var errNoCredentials = errors.New("no authorization header")

type claimsKey struct{}

// guardContext is what Middleware adds to a request's context, in one allocation: the
// handler's own copy of the claims (ClaimsFromContext) and the token for on-behalf-of calls,
// as WithSubjectToken would add it.
type guardContext struct {
	context.Context
	claims  AccessTokenClaims
	subject subjectToken
}

func newGuardContext(parent context.Context, claims *AccessTokenClaims, token string) *guardContext {
	return &guardContext{Context: parent, claims: *claims, subject: subjectToken{token: token, expiry: claims.Expiry}}
}

func (c *guardContext) Value(key any) any {
	switch key.(type) {
	case claimsKey:
		return &c.claims
	case subjectKey:
		return &c.subject
	}
	return c.Context.Value(key)
}

// String names the values as context.WithValue does, and shows neither.
func (c *guardContext) String() string {
	return fmt.Sprint(c.Context) + ".WithValue(helseid.claimsKey, helseid.subjectKey)"
}

// GoString keeps %#v from printing the claims and the token's fields.
func (c *guardContext) GoString() string { return c.String() }

// ClaimsFromContext returns the claims a Guard's Middleware put in the request's context.
func ClaimsFromContext(ctx context.Context) (*AccessTokenClaims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*AccessTokenClaims)
	return c, ok
}

// Authenticate checks r and returns the token's claims, or an *AuthError.
func (g *Guard) Authenticate(r *http.Request) (*AccessTokenClaims, error) {
	claims, _, err := g.authenticate(r)
	return copyClaims(claims, err)
}

// authenticate is Authenticate that also returns the accepted token; it reports the decision
// to the observer. The claims may be the verified-token cache's own: read only.
func (g *Guard) authenticate(r *http.Request) (*AccessTokenClaims, string, error) {
	if g.observer == nil {
		return g.check(r)
	}
	start := time.Now()
	claims, token, err := g.check(r)
	e := Event{Kind: GuardDecided, Duration: time.Since(start), Err: err}
	var aerr *AuthError
	if errors.As(err, &aerr) {
		e.Check, e.StatusCode = aerr.checkName(), aerr.Status
	}
	g.observer.Observe(r.Context(), e)
	return claims, token, err
}

// check runs the checks of a request.
func (g *Guard) check(r *http.Request) (*AccessTokenClaims, string, error) {
	token, bearer, aerr := accessTokenOf(r, g.allowBearer)
	if aerr != nil {
		aerr.check = "credentials"
		return nil, "", aerr
	}
	if bearer {
		return g.authenticateBearer(r, token)
	}
	claims, err := g.tokens.validate(r.Context(), token, true) // shared claims: copied before they leave the Guard
	insufficient := errors.Is(err, ErrInsufficientScope)
	switch {
	case err == nil || insufficient:
	case errors.Is(err, ErrValidatorUnavailable):
		return nil, "", &AuthError{Status: http.StatusServiceUnavailable, Err: err}
	default:
		return nil, "", &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Err: err}
	}
	_, err = g.proofs.Verify(r.Context(), r, token, claims.JKT)
	switch {
	case err == nil:
	case errors.Is(err, dpop.ErrKeyNotBound):
		return nil, "", &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", check: "key_binding",
			Err: fmt.Errorf("%w: the proof's key is not the one the token is bound to", ErrInvalidToken)}
	case errors.Is(err, dpop.ErrReplayCheck):
		// The replay store is down: the proof's freshness is unknown, so refuse without
		// blaming the client.
		return nil, "", &AuthError{Status: http.StatusServiceUnavailable, Err: err}
	case errors.Is(err, dpop.ErrUseNonce):
		return nil, "", &AuthError{Status: http.StatusUnauthorized, Code: "use_dpop_nonce", Err: err}
	default:
		return nil, "", &AuthError{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof", Err: err}
	}
	if insufficient {
		return nil, "", &AuthError{Status: http.StatusForbidden, Code: "insufficient_scope", Err: ErrInsufficientScope}
	}
	return claims, token, nil
}

// authenticateBearer checks a token sent as Bearer (GuardConfig.AllowBearer): valid as a
// DPoP-bound token would be, but with no cnf claim and no DPoP header on the request.
func (g *Guard) authenticateBearer(r *http.Request, token string) (*AccessTokenClaims, string, error) {
	if len(r.Header.Values("DPoP")) > 0 {
		return nil, "", &AuthError{Status: http.StatusBadRequest, Code: "invalid_request", bearer: true,
			Err: errors.New("a dpop proof with a bearer token: send a bound token as dpop")}
	}
	claims, err := g.tokens.validate(r.Context(), token, false)
	switch {
	case err == nil:
		return claims, token, nil
	case errors.Is(err, ErrInsufficientScope):
		return nil, "", &AuthError{Status: http.StatusForbidden, Code: "insufficient_scope", Err: ErrInsufficientScope, bearer: true}
	case errors.Is(err, ErrValidatorUnavailable):
		return nil, "", &AuthError{Status: http.StatusServiceUnavailable, Err: err}
	default:
		return nil, "", &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Err: err, bearer: true}
	}
}

// accessTokenOf takes the token from "Authorization: DPoP <token>", or from "Authorization:
// Bearer <token>" when allowBearer (bearer is then true), refusing other schemes, several
// Authorization headers, and tokens in the URL (RFC 6750 §2, RFC 9449 §7.2).
func accessTokenOf(r *http.Request, allowBearer bool) (token string, bearer bool, _ *AuthError) {
	if r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return "", false, &AuthError{Status: http.StatusBadRequest, Code: "invalid_request", Err: errors.New("access token in the url")}
	}
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", false, &AuthError{Status: http.StatusUnauthorized, Err: errNoCredentials}
	case 1:
	default:
		return "", false, &AuthError{Status: http.StatusBadRequest, Code: "invalid_request", Err: errors.New("several authorization headers")}
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	token = strings.TrimLeft(token, " ")
	switch {
	case !ok || token == "" || hasSeparator(token):
		return "", false, &AuthError{Status: http.StatusBadRequest, Code: "invalid_request", Err: errors.New("malformed authorization header")}
	case strings.EqualFold(scheme, "DPoP"):
		return token, false, nil
	case strings.EqualFold(scheme, "Bearer") && allowBearer:
		return token, true, nil
	case strings.EqualFold(scheme, "Bearer"):
		return "", false, &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Err: errors.New("bearer token where a dpop-bound token is required")}
	default:
		// The scheme is not quoted: a client that put a secret there would find it in logs.
		return "", false, &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Err: errors.New("unsupported authorization scheme")}
	}
}

// hasSeparator reports whether token holds a space, a tab or a comma: three strings.IndexByte
// scans, which run many bytes at a time, cost a tenth of one loop over a kilobyte-long token's
// bytes, and strings.ContainsAny more than that loop.
func hasSeparator(token string) bool {
	return strings.IndexByte(token, ' ') >= 0 || strings.IndexByte(token, '\t') >= 0 || strings.IndexByte(token, ',') >= 0
}

// Middleware calls next with the token's claims in the request context (ClaimsFromContext),
// and the token itself for on-behalf-of calls (Client.OnBehalfOfHTTPClient),
// or answers the failure itself: the status, WWW-Authenticate with the error code and the
// accepted proof algorithms (and, with AllowBearer, a Bearer challenge as well, carrying the
// error code when the request was a Bearer one), and a DPoP-Nonce when nonces are in use. Nothing beyond the error
// code is disclosed; pass onError to log the detail (it may be nil).
func (g *Guard) Middleware(next http.Handler, onError func(*http.Request, *AuthError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, token, err := g.authenticate(r)
		if nonces := g.proofs.Nonces(); nonces != nil {
			w.Header().Set("DPoP-Nonce", nonces.Nonce())
		}
		if err != nil {
			var aerr *AuthError
			if !errors.As(err, &aerr) {
				aerr = &AuthError{Status: http.StatusInternalServerError, Err: err}
			}
			if onError != nil {
				onError(r, aerr)
			}
			g.refuse(w, aerr)
			return
		}
		next.ServeHTTP(w, r.WithContext(newGuardContext(r.Context(), claims, token)))
	})
}

func (g *Guard) refuse(w http.ResponseWriter, e *AuthError) {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusBadRequest || e.Status == http.StatusForbidden {
		challenge := `DPoP algs="` + g.algs + `"`
		if e.Code != "" && !e.bearer {
			challenge = `DPoP error="` + e.Code + `", algs="` + g.algs + `"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		if g.allowBearer {
			// RFC 9449 §7.2: a server accepting both schemes offers both challenges.
			bearer := "Bearer"
			if e.Code != "" && e.bearer {
				bearer = `Bearer error="` + e.Code + `"`
			}
			w.Header().Add("WWW-Authenticate", bearer)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(e.Status), e.Status)
}
