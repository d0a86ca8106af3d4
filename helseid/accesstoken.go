package helseid

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/helseid-go/sdk/internal/discovery"
	"github.com/helseid-go/sdk/internal/httpx"
	"github.com/helseid-go/sdk/internal/jose"
	"github.com/helseid-go/sdk/internal/jwks"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// ErrInvalidToken reports an access token that an API must refuse (RFC 6750 invalid_token):
// malformed, badly signed, expired, for another audience, not DPoP-bound, and so on.
var ErrInvalidToken = errors.New("invalid access token")

// ErrInsufficientScope reports a valid token that lacks a scope the API requires.
var ErrInsufficientScope = errors.New("insufficient scope")

// ErrValidatorUnavailable reports that the issuer's metadata or keys could not be fetched: the
// token may be fine, the API should answer 503, not 401.
var ErrValidatorUnavailable = errors.New("token validation unavailable")

// AccessTokenConfig configures an AccessTokenValidator.
type AccessTokenConfig struct {
	// Issuer is HelseID's issuer identifier; tokens must carry it exactly in iss. Required.
	Issuer string
	// Audience is the API's own audience, such as "nhn:kjernejournal". HelseID APIs accept
	// tokens with exactly one audience, and it must be this one. Required.
	Audience string
	// RequiredScopes must all be present in the token's scope.
	RequiredScopes []string
	// Algorithms allowed for the token signature; nil means HelseID's: RS256..512,
	// PS256..512, ES256..512. none and HS* are never accepted.
	Algorithms []string
	// Leeway for exp, nbf and iat against clock skew: zero means 10 s, negative means none,
	// at most 5 minutes.
	Leeway time.Duration
	// HTTPClient fetches metadata and keys; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer, when set, is told of the fetches of the issuer's metadata and keys, and of a
	// Guard's decisions (GuardDecided); nil means none.
	Observer Observer
}

// AccessTokenClaims are the validated claims of a HelseID access token.
type AccessTokenClaims struct {
	Issuer   string
	Subject  string
	Audience string
	ClientID string
	Scopes   []string
	// JKT is the thumbprint of the key the token is bound to (cnf.jkt).
	JKT       string
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	JWTID     string
	// Organisation claims set by HelseID from the client and its assertion_details.
	OrgNrParent, OrgNrChild, OrgNrSupplier, ClientTenancy string
	// User claims, present when the token was issued for a logged-in user.
	PID, SecurityLevel, HPRNumber string
	// Actor is the act claim of a token-exchange token: who acts on the subject's behalf.
	Actor *Actor
	// Raw holds every claim as sent, for claims this struct does not name.
	Raw map[string]json.RawMessage
}

// Actor is an RFC 8693 act claim; it nests when the token was exchanged more than once.
type Actor struct {
	Issuer   string `json:"iss,omitempty"`
	Subject  string `json:"sub,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Actor    *Actor `json:"act,omitempty"`
}

// HasScope reports whether the token carries scope.
func (c *AccessTokenClaims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// AccessTokenValidator validates HelseID access tokens for one API. It is safe for concurrent use.
type AccessTokenValidator struct {
	cfg       AccessTokenConfig
	discovery *discovery.Cache
	http      *http.Client
	keys      issuerKeys
}

// NewAccessTokenValidator checks cfg and returns a validator. It makes no network call; the
// issuer's metadata and keys are fetched on first use and cached.
func NewAccessTokenValidator(cfg AccessTokenConfig) (*AccessTokenValidator, error) {
	if _, err := httpx.CheckEndpoint("Issuer", cfg.Issuer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.Audience == "" {
		return nil, fmt.Errorf("%w: Audience is empty; an API accepts only tokens for its own audience", ErrInvalidConfig)
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
	}
	for _, alg := range cfg.Algorithms {
		if err := jose.CheckAlgorithm(alg); err != nil {
			return nil, fmt.Errorf("%w: Algorithms: %w", ErrInvalidConfig, err)
		}
	}
	switch {
	case cfg.Leeway > 5*time.Minute:
		return nil, fmt.Errorf("%w: Leeway %s is over 5m", ErrInvalidConfig, cfg.Leeway)
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	case cfg.Leeway == 0:
		cfg.Leeway = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &AccessTokenValidator{cfg: cfg, http: cfg.HTTPClient}
	if v.http == nil {
		v.http = httpx.NewClient()
	}
	var err error
	v.discovery, err = discovery.NewCache(discovery.Config{Issuer: cfg.Issuer, HTTPClient: v.http, Now: cfg.Now,
		Observe: fetchObserver(cfg.Observer, DiscoveryFetched)})
	v.keys.observe = fetchObserver(cfg.Observer, KeysFetched)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return v, nil
}

// Close stops the validator's background fetches of metadata and keys and waits for them.
func (v *AccessTokenValidator) Close() {
	v.discovery.Close()
	v.keys.close()
}

// Algorithms returns the signature algorithms the validator accepts.
func (v *AccessTokenValidator) Algorithms() []string { return slices.Clone(v.cfg.Algorithms) }

// maxTokenSize bounds what is parsed: HelseID access tokens are one or two KiB.
const maxTokenSize = 16 << 10

// Validate checks a DPoP-bound access token: its signature with the issuer's current keys (a
// new kid is fetched at once), typ at+jwt, iss exactly the issuer, exactly one audience equal to
// the API's, the other claims RFC 9068 §2.2 makes mandatory (sub, client_id, jti, and iat no
// later than now plus the leeway), exp and nbf with leeway, the required scopes, and a cnf.jkt
// binding. Comparing cnf.jkt with the proof's key is the caller's part (Guard does both).
// Errors wrap ErrInvalidToken, ErrInsufficientScope or ErrValidatorUnavailable and never
// contain the token.
func (v *AccessTokenValidator) Validate(ctx context.Context, token string) (*AccessTokenClaims, error) {
	keys := func(ctx context.Context) (*jwks.Set, error) { return v.keys.get(ctx, v.discovery, v.http, v.cfg.Now) }
	payload, _, err := verifySignedJWT(ctx, token, v.cfg.Algorithms, isAccessTokenTyp, keys, invalidToken)
	if err != nil {
		return nil, err
	}
	claims, err := v.claims(payload)
	if err != nil {
		return nil, err
	}
	for _, s := range v.cfg.RequiredScopes {
		if !claims.HasScope(s) {
			return claims, fmt.Errorf("%w: scope %q is required", ErrInsufficientScope, s)
		}
	}
	return claims, nil
}

func isAccessTokenTyp(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == "at+jwt" || typ == "application/at+jwt"
}

// verifySignedJWT checks a compact JWS from the issuer: at most maxTokenSize, one signature,
// alg in algs, a typ that typOK accepts, no crit, and the signature by the issuer's key for
// its kid and alg (fetched at once for a new kid). It returns the payload and the alg. A
// refusal is invalid(reason); an outage of the issuer's keys is ErrValidatorUnavailable.
func verifySignedJWT(ctx context.Context, token string, algs []string, typOK func(string) bool,
	keySet func(context.Context) (*jwks.Set, error), invalid func(string, ...any) error) ([]byte, string, error) {
	if len(token) > maxTokenSize {
		return nil, "", invalid("it is larger than %d bytes", maxTokenSize)
	}
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 || strings.Count(token, ".") != 2 {
		return nil, "", invalid("not a compact jws")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg := hdr.Algorithm().String()
	if !slices.Contains(algs, alg) {
		return nil, "", invalid("algorithm %.16q is not allowed", alg)
	}
	if !typOK(hdr.Type()) {
		return nil, "", invalid("typ %.24q is not accepted", hdr.Type())
	}
	if len(hdr.Critical()) > 0 {
		return nil, "", invalid("crit header is not supported")
	}
	keys, err := keySet(ctx)
	if err != nil {
		return nil, "", err
	}
	key, err := keys.Key(ctx, hdr.KeyID(), alg)
	if err != nil {
		if !errors.Is(err, ErrClosed) && (errors.Is(err, jwks.ErrKeyNotFound) || errors.Is(err, jwks.ErrKeyUnusable) || errors.Is(err, jwks.ErrAmbiguousKey)) {
			return nil, "", invalid("no matching signing key")
		}
		return nil, "", fmt.Errorf("%w: issuer keys: %w", ErrValidatorUnavailable, err)
	}
	payload, err := jws.Verify([]byte(token), jws.WithKey(jwa.SignatureAlgorithm(alg), key))
	if err != nil {
		return nil, "", invalid("signature does not verify")
	}
	return payload, alg, nil
}

// wireClaims decodes the registered and HelseID claims; aud and scope come in two shapes.
type wireClaims struct {
	Issuer   *string         `json:"iss"`
	Subject  string          `json:"sub"`
	Audience json.RawMessage `json:"aud"`
	ClientID string          `json:"client_id"`
	Scope    json.RawMessage `json:"scope"`
	Cnf      *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
	IssuedAt  *json.Number `json:"iat"`
	NotBefore *json.Number `json:"nbf"`
	Expiry    *json.Number `json:"exp"`
	JWTID     string       `json:"jti"`
	Actor     *Actor       `json:"act"`
}

func (v *AccessTokenValidator) claims(payload []byte) (*AccessTokenClaims, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, invalidToken("claims are not a json object")
	}
	if err := rejectDuplicateMembers(payload); err != nil {
		return nil, err
	}
	var w wireClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, invalidToken("claims have the wrong types")
	}
	now := v.cfg.Now()
	c := &AccessTokenClaims{Subject: w.Subject, ClientID: w.ClientID, JWTID: w.JWTID, Actor: w.Actor, Raw: raw}
	if w.Issuer == nil || subtle.ConstantTimeCompare([]byte(*w.Issuer), []byte(v.cfg.Issuer)) != 1 {
		return nil, invalidToken("iss is not the issuer")
	}
	c.Issuer = *w.Issuer
	aud, err := singleAudience(w.Audience)
	if err != nil {
		return nil, err
	}
	if aud != v.cfg.Audience {
		return nil, invalidToken("aud is not this api")
	}
	c.Audience = aud
	// RFC 9068 §2.2: an access token without these says neither whom nor which client it was
	// issued to, nor lets an API recognise it again.
	for _, required := range [...]struct{ claim, value string }{{"sub", c.Subject}, {"client_id", c.ClientID}, {"jti", c.JWTID}} {
		if required.value == "" {
			return nil, invalidToken("%s is missing", required.claim)
		}
	}
	if c.Scopes, err = scopes(w.Scope); err != nil {
		return nil, err
	}
	if w.Cnf == nil || w.Cnf.JKT == "" {
		return nil, invalidToken("token is not dpop-bound (no cnf.jkt)")
	}
	c.JKT = w.Cnf.JKT
	if c.Expiry, err = numericDate(w.Expiry, "exp", true); err != nil {
		return nil, err
	}
	if !now.Before(c.Expiry.Add(v.cfg.Leeway)) {
		return nil, invalidToken("token has expired")
	}
	if c.NotBefore, err = numericDate(w.NotBefore, "nbf", false); err != nil {
		return nil, err
	}
	if !c.NotBefore.IsZero() && now.Add(v.cfg.Leeway).Before(c.NotBefore) {
		return nil, invalidToken("token is not valid yet")
	}
	if c.IssuedAt, err = numericDate(w.IssuedAt, "iat", true); err != nil {
		return nil, err
	}
	if now.Add(v.cfg.Leeway).Before(c.IssuedAt) {
		return nil, invalidToken("iat is in the future")
	}
	for claim, dst := range map[string]*string{ClaimOrgNrParent: &c.OrgNrParent, ClaimOrgNrChild: &c.OrgNrChild,
		ClaimOrgNrSupplier: &c.OrgNrSupplier, ClaimClientTenancy: &c.ClientTenancy, ClaimPID: &c.PID,
		ClaimSecurityLevel: &c.SecurityLevel, ClaimHPRNumber: &c.HPRNumber} {
		if v, ok := raw[claim]; ok && json.Unmarshal(v, dst) != nil {
			return nil, invalidToken("claim %s is not a string", claim)
		}
	}
	return c, nil
}

// singleAudience accepts aud as a string or an array of exactly one string.
func singleAudience(raw json.RawMessage) (string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil && one != "" {
		return one, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		if len(many) == 1 && many[0] != "" {
			return many[0], nil
		}
		if len(many) > 1 {
			return "", invalidToken("token has %d audiences; HelseID APIs accept exactly one", len(many))
		}
	}
	return "", invalidToken("aud is missing")
}

// scopes accepts scope as a JSON array (HelseID) or a space-separated string (RFC 9068).
func scopes(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.Fields(s), nil
	}
	return nil, invalidToken("scope is neither a string nor an array of strings")
}

func numericDate(n *json.Number, name string, required bool) (time.Time, error) {
	if n == nil {
		if required {
			return time.Time{}, invalidToken("%s is missing", name)
		}
		return time.Time{}, nil
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, invalidToken("%s is not a numeric date", name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

// rejectDuplicateMembers refuses a claims object with a repeated top-level member: Go's json
// keeps the last, another parser the first, and the two would disagree on what was signed.
func rejectDuplicateMembers(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if _, err := dec.Token(); err != nil {
		return invalidToken("claims are not a json object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return invalidToken("claims are not a json object")
		}
		name, _ := t.(string)
		if seen[name] {
			return invalidToken("claim %.40q appears twice", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return invalidToken("claims are not a json object")
		}
	}
	return nil
}

func invalidToken(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}
