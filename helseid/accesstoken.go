package helseid

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/internal/discovery"
	"github.com/helseid-go/sdk/internal/httpx"
	"github.com/helseid-go/sdk/internal/jose"
	"github.com/helseid-go/sdk/internal/jwks"
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
	JKT string
	// hasCnf: the token has a cnf claim, which a token presented as Bearer must not have.
	hasCnf    bool
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
	verified  verifiedTokens
	// verifications counts the tokens checked in full (signature and claims), for tests.
	verifications atomic.Uint64
}

// NewAccessTokenValidator checks cfg and returns a validator. It makes no network call; the
// issuer's metadata and keys are fetched on first use and cached.
func NewAccessTokenValidator(cfg AccessTokenConfig) (*AccessTokenValidator, error) {
	if _, err := httpx.CheckEndpoint("Issuer", cfg.Issuer); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	if cfg.Audience == "" {
		return nil, fmt.Errorf("%w: Audience is empty; an API accepts only tokens for its own audience", errInvalidConfig)
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
	}
	for _, alg := range cfg.Algorithms {
		if err := jose.CheckAlgorithm(alg); err != nil {
			return nil, fmt.Errorf("%w: Algorithms: %w", errInvalidConfig, err)
		}
	}
	switch {
	case cfg.Leeway > 5*time.Minute:
		return nil, fmt.Errorf("%w: Leeway %s is over 5m", errInvalidConfig, cfg.Leeway)
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
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
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
//
// A token that passed is remembered, by its SHA-256, until its exp (bounded to 10,000 tokens
// and 32 MiB), so an API called many times with one token verifies its signature and decodes
// its claims once. A remembered token is still refused as a fresh check would refuse it: exp,
// nbf and iat are compared with the clock on every call, and the issuer's key set must still
// hold the key that signed it under its kid (a withdrawn key stops its tokens once the key set
// is refreshed, as without the cache). Calls with the same token share the claims' Scopes,
// Actor and Raw: treat them as read-only.
func (v *AccessTokenValidator) Validate(ctx context.Context, token string) (*AccessTokenClaims, error) {
	return copyClaims(v.validate(ctx, token, true))
}

// copyClaims gives a caller its own AccessTokenClaims: validate's are shared with the
// verified-token cache.
func copyClaims(c *AccessTokenClaims, err error) (*AccessTokenClaims, error) {
	if c == nil {
		return nil, err
	}
	own := *c
	return &own, err
}

// validate is Validate for a DPoP-bound token (bound) or for one presented as Bearer, which
// must have no cnf at all: a bound token sent as Bearer is refused (RFC 9449 §7.2). The
// binding is checked on every call, remembered token or not, since one token may be presented
// either way. The claims it returns may be the verified-token cache's own: read only.
func (v *AccessTokenValidator) validate(ctx context.Context, token string, bound bool) (*AccessTokenClaims, error) {
	if len(token) > maxTokenSize {
		return nil, invalidToken("it is larger than %d bytes", maxTokenSize)
	}
	digest := tokenDigest(token)
	claims, err := v.remembered(ctx, digest)
	if claims == nil && err == nil {
		claims, err = v.verify(ctx, token, digest)
	}
	if err != nil {
		return nil, err
	}
	if err := checkBinding(claims, bound); err != nil {
		return nil, err
	}
	for _, s := range v.cfg.RequiredScopes {
		if !claims.HasScope(s) {
			return claims, fmt.Errorf("%w: scope %q is required", ErrInsufficientScope, s)
		}
	}
	return claims, nil
}

// remembered answers for a token the validator has verified before: its claims (the cache's
// own, read only) when they still hold, an error when a fresh check would refuse the token now, or nil and nil when the
// token must be verified afresh (not remembered, or its kid now names another key).
func (v *AccessTokenValidator) remembered(ctx context.Context, digest [32]byte) (*AccessTokenClaims, error) {
	e := v.verified.get(digest)
	if e == nil {
		return nil, nil
	}
	if err := v.checkTimes(e.claims, v.cfg.Now()); err != nil {
		if !v.cfg.Now().Before(e.expires) {
			v.verified.drop(digest, e)
		}
		return nil, err
	}
	key, err := issuerKey(ctx, v.keySet, e.kid, e.alg, invalidToken)
	switch {
	case errors.Is(err, ErrInvalidToken):
		v.verified.drop(digest, e) // the key is gone from the issuer's set
		return nil, err
	case err != nil:
		return nil, err
	case !samePublicKey(key, e.key):
		v.verified.drop(digest, e)
		return nil, nil
	}
	return e.claims, nil
}

// verify checks a token the validator does not remember, and remembers it if it passes.
func (v *AccessTokenValidator) verify(ctx context.Context, token string, digest [32]byte) (*AccessTokenClaims, error) {
	v.verifications.Add(1)
	jwt, key, err := verifySignedJWT(ctx, token, v.cfg.Algorithms, isAccessTokenTyp, v.keySet, invalidToken)
	if err != nil {
		return nil, err
	}
	claims, err := v.lastingClaims(jwt.Payload)
	if err != nil {
		return nil, err
	}
	now := v.cfg.Now()
	if err := v.checkTimes(claims, now); err != nil {
		return nil, err
	}
	e := &verifiedToken{claims: claims, kid: jwt.Header.Kid, alg: jwt.Header.Alg, key: key,
		expires: claims.Expiry.Add(v.cfg.Leeway), size: 2*len(token) + 64*len(claims.Raw) + 256}
	v.verified.put(digest, e, now)
	return claims, nil
}

func (v *AccessTokenValidator) keySet(ctx context.Context) (*jwks.Set, error) {
	return v.keys.get(ctx, v.discovery, v.http, v.cfg.Now)
}

// samePublicKey reports whether a and b are one key: the same pointer (the key set was not
// refetched) or equal keys (it was, and still holds the key).
func samePublicKey(a, b crypto.PublicKey) bool {
	switch k := a.(type) {
	case *rsa.PublicKey:
		if p, ok := b.(*rsa.PublicKey); ok && p == k {
			return true
		}
	case *ecdsa.PublicKey:
		if p, ok := b.(*ecdsa.PublicKey); ok && p == k {
			return true
		}
	}
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

func isAccessTokenTyp(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == "at+jwt" || typ == "application/at+jwt"
}

// verifySignedJWT checks a compact JWS from the issuer through the SDK's one verification path
// (jose.ParseCompact, then jose.Compact.Verify): at most maxTokenSize, canonical base64url,
// a header with no member twice and no crit, alg in algs, a typ that typOK accepts, and the
// signature by the issuer's key for its kid and alg (fetched at once for a new kid). It returns
// the parsed token, whose payload is now trusted, and the key that verified it. A refusal is
// invalid(reason); an outage of the issuer's keys is ErrValidatorUnavailable.
func verifySignedJWT(ctx context.Context, token string, algs []string, typOK func(string) bool,
	keySet func(context.Context) (*jwks.Set, error), invalid func(string, ...any) error) (jose.Compact, crypto.PublicKey, error) {
	if len(token) > maxTokenSize {
		return jose.Compact{}, nil, invalid("it is larger than %d bytes", maxTokenSize)
	}
	jwt, err := jose.ParseCompact(token)
	if err != nil {
		return jose.Compact{}, nil, invalid("not a compact jws: %w", err)
	}
	alg := jwt.Header.Alg
	if !slices.Contains(algs, alg) {
		return jose.Compact{}, nil, invalid("algorithm %.16q is not allowed", alg)
	}
	if !typOK(jwt.Header.Typ) {
		return jose.Compact{}, nil, invalid("typ %.24q is not accepted", jwt.Header.Typ)
	}
	key, err := issuerKey(ctx, keySet, jwt.Header.Kid, alg, invalid)
	if err != nil {
		return jose.Compact{}, nil, err
	}
	if err := jwt.Verify(key); err != nil {
		return jose.Compact{}, nil, invalid("signature does not verify")
	}
	return jwt, key, nil
}

// issuerKey returns the issuer's key for kid and alg. A key the set does not have (or cannot
// use for alg) is invalid(reason); an outage of the issuer's keys is ErrValidatorUnavailable.
func issuerKey(ctx context.Context, keySet func(context.Context) (*jwks.Set, error), kid, alg string,
	invalid func(string, ...any) error) (crypto.PublicKey, error) {
	keys, err := keySet(ctx)
	if err != nil {
		return nil, err
	}
	key, err := keys.Key(ctx, kid, alg)
	if err != nil {
		if !errors.Is(err, ErrClosed) && (errors.Is(err, jwks.ErrKeyNotFound) || errors.Is(err, jwks.ErrKeyUnusable) || errors.Is(err, jwks.ErrAmbiguousKey)) {
			return nil, invalid("no matching signing key")
		}
		return nil, fmt.Errorf("%w: issuer keys: %w", ErrValidatorUnavailable, err)
	}
	return key, nil
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

// accessTokenClaimNames are the claims wireClaims reads: a member spelt otherwise (AUD, Exp)
// refuses the token rather than being read by encoding/json's case-insensitive match.
var accessTokenClaimNames = []string{"iss", "sub", "aud", "client_id", "scope", "cnf", "iat", "nbf", "exp", "jti", "act"}

// lastingClaims decodes the claims and checks everything about them that does not depend on
// the time: what it accepts stays accepted for as long as the signing key is the issuer's, so
// the verified-token cache may remember it. exp, nbf and iat are parsed, not compared.
func (v *AccessTokenValidator) lastingClaims(payload []byte) (*AccessTokenClaims, error) {
	raw, err := jose.DecodeObject(payload, accessTokenClaimNames)
	switch {
	case errors.Is(err, jose.ErrDuplicateMember):
		return nil, invalidToken("a claim appears twice: %w", err)
	case err != nil:
		return nil, invalidToken("claims are not a json object")
	}
	// Each claim is read from its exact member, not through a second decode of the payload.
	var w wireClaims
	for _, f := range [...]struct {
		claim string
		dst   *string
	}{{"sub", &w.Subject}, {"client_id", &w.ClientID}, {"jti", &w.JWTID}} {
		if _, err := stringClaim(raw[f.claim], f.dst); err != nil {
			return nil, invalidToken("claims have the wrong types")
		}
	}
	var iss string
	if present, err := stringClaim(raw["iss"], &iss); err != nil {
		return nil, invalidToken("claims have the wrong types")
	} else if present {
		w.Issuer = &iss
	}
	for _, f := range [...]struct {
		claim string
		dst   **json.Number
	}{{"iat", &w.IssuedAt}, {"nbf", &w.NotBefore}, {"exp", &w.Expiry}} {
		if err := numberClaim(raw[f.claim], f.dst); err != nil {
			return nil, invalidToken("claims have the wrong types")
		}
	}
	w.Audience, w.Scope = raw["aud"], raw["scope"]
	if cnf := raw["cnf"]; !isNull(cnf) {
		members, err := jose.DecodeObject(cnf, []string{"jkt"})
		switch {
		case errors.Is(err, jose.ErrDuplicateMember):
			return nil, invalidToken("cnf: %w", err)
		case err != nil:
			return nil, invalidToken("claims have the wrong types")
		}
		var jkt string
		if _, err := stringClaim(members["jkt"], &jkt); err != nil {
			return nil, invalidToken("claims have the wrong types")
		}
		w.Cnf = &struct {
			JKT string `json:"jkt"`
		}{JKT: jkt}
	}
	if act := raw["act"]; !isNull(act) {
		if w.Actor, err = decodeActor(act, 1); err != nil {
			return nil, invalidToken("act: %w", err)
		}
	}
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
	// Any cnf member, null included, makes a token unfit to be presented as Bearer.
	c.hasCnf = len(raw["cnf"]) > 0
	if w.Cnf != nil {
		c.JKT = w.Cnf.JKT
	}
	if c.Expiry, err = numericDate(w.Expiry, "exp", true); err != nil {
		return nil, err
	}
	if c.NotBefore, err = numericDate(w.NotBefore, "nbf", false); err != nil {
		return nil, err
	}
	if c.IssuedAt, err = numericDate(w.IssuedAt, "iat", true); err != nil {
		return nil, err
	}
	for _, f := range [...]struct {
		claim string
		dst   *string
	}{{ClaimOrgNrParent, &c.OrgNrParent}, {ClaimOrgNrChild, &c.OrgNrChild}, {ClaimOrgNrSupplier, &c.OrgNrSupplier},
		{ClaimClientTenancy, &c.ClientTenancy}, {ClaimPID, &c.PID}, {ClaimSecurityLevel, &c.SecurityLevel}, {ClaimHPRNumber, &c.HPRNumber}} {
		if _, err := stringClaim(raw[f.claim], f.dst); err != nil {
			return nil, invalidToken("claim %s is not a string", f.claim)
		}
	}
	return c, nil
}

// checkTimes compares exp, nbf and iat with now, each with the leeway. It runs on every
// request, cached token or not.
func (v *AccessTokenValidator) checkTimes(c *AccessTokenClaims, now time.Time) error {
	if !now.Before(c.Expiry.Add(v.cfg.Leeway)) {
		return invalidToken("token has expired")
	}
	if !c.NotBefore.IsZero() && now.Add(v.cfg.Leeway).Before(c.NotBefore) {
		return invalidToken("token is not valid yet")
	}
	if now.Add(v.cfg.Leeway).Before(c.IssuedAt) {
		return invalidToken("iat is in the future")
	}
	return nil
}

// maxActorDepth bounds how deeply act claims nest: one level per token exchange, which no
// real chain of services repeats this often.
const maxActorDepth = 16

// actorNames are the members an act claim is read from, spelt exactly.
var actorNames = []string{"iss", "sub", "client_id", "act"}

// decodeActor reads an act claim (at nesting depth) the way the claims themselves are read:
// each member once, in its exact spelling, without encoding/json's reflection.
func decodeActor(data json.RawMessage, depth int) (*Actor, error) {
	if depth > maxActorDepth {
		return nil, fmt.Errorf("nested more than %d deep", maxActorDepth)
	}
	m, err := jose.DecodeObject(data, actorNames)
	if errors.Is(err, jose.ErrDuplicateMember) {
		return nil, err
	}
	if err != nil {
		return nil, errors.New("not a json object")
	}
	a := &Actor{}
	for _, f := range [...]struct {
		claim string
		dst   *string
	}{{"iss", &a.Issuer}, {"sub", &a.Subject}, {"client_id", &a.ClientID}} {
		if _, err := stringClaim(m[f.claim], f.dst); err != nil {
			return nil, fmt.Errorf("%s: %w", f.claim, err)
		}
	}
	if inner := m["act"]; !isNull(inner) {
		if a.Actor, err = decodeActor(inner, depth+1); err != nil {
			return nil, fmt.Errorf("act: %w", err)
		}
	}
	return a, nil
}

// isNull reports whether a member is absent or JSON null: encoding/json leaves the field
// unset for both.
func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// stringClaim reads a JSON string member into dst; present is false when it is absent or
// null. Plain ASCII without escapes is taken as it is; anything else goes through
// encoding/json. The member comes from jose.DecodeObject, so it is valid JSON.
func stringClaim(raw json.RawMessage, dst *string) (present bool, err error) {
	if isNull(raw) {
		return false, nil
	}
	if raw[0] != '"' {
		return true, errors.New("not a string")
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c >= 0x80 {
			return true, json.Unmarshal(raw, dst)
		}
	}
	*dst = string(raw[1 : len(raw)-1])
	return true, nil
}

// numberClaim reads a JSON number member (RFC 7519 NumericDate) into dst; an absent or null
// member leaves dst nil.
func numberClaim(raw json.RawMessage, dst **json.Number) error {
	if isNull(raw) {
		return nil
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return errors.New("not a number")
	}
	n := json.Number(raw)
	*dst = &n
	return nil
}

// singleAudience accepts aud as a string or an array of exactly one string.
func singleAudience(raw json.RawMessage) (string, error) {
	if one, present, ok := jose.StringMember(raw); present && ok && one != "" {
		return one, nil
	}
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
	if list, ok := jose.StringsMember(raw); ok {
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

func invalidToken(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrInvalidToken, fmt.Errorf(format, args...))
}

// checkBinding applies the presentation's rule: a DPoP-bound presentation needs cnf.jkt, a
// Bearer one no cnf at all.
func checkBinding(c *AccessTokenClaims, bound bool) error {
	switch {
	case !bound && c.hasCnf:
		return invalidToken("a bound token (cnf) presented as bearer")
	case bound && c.JKT == "":
		return invalidToken("token is not dpop-bound (no cnf.jkt)")
	}
	return nil
}
