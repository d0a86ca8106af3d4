package helseid_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/helseid-go/sdk/internal/jose"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testIssuer serves discovery and a JWKS whose keys the test controls, and signs tokens.
type testIssuer struct {
	*httptest.Server
	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey
}

var (
	issuerKeyOnce sync.Once
	issuerKeys    [2]*rsa.PrivateKey
)

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	issuerKeyOnce.Do(func() {
		for i := range issuerKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			require.NoError(t, err)
			issuerKeys[i] = k
		}
	})
	ti := &testIssuer{keys: map[string]*rsa.PrivateKey{"k1": issuerKeys[0]}}
	mux := http.NewServeMux()
	ti.Server = httptest.NewServer(mux)
	t.Cleanup(ti.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": ti.URL, "token_endpoint": ti.URL + "/connect/token", "jwks_uri": ti.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		ti.mu.Lock()
		defer ti.mu.Unlock()
		set := jwk.NewSet()
		for kid, k := range ti.keys {
			pub, err := jwk.FromRaw(k.Public())
			require.NoError(t, err)
			_ = pub.Set(jwk.KeyIDKey, kid)
			_ = pub.Set(jwk.AlgorithmKey, jwa.RS256)
			_ = set.AddKey(pub)
		}
		_ = json.NewEncoder(w).Encode(set)
	})
	return ti
}

func (ti *testIssuer) publish(kid string, k *rsa.PrivateKey) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.keys[kid] = k
}

// withdraw removes kid from the issuer's key set.
func (ti *testIssuer) withdraw(kid string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	delete(ti.keys, kid)
}

var tokenNow = time.Unix(1_800_000_000, 0)

func goodClaims(iss string) map[string]any {
	return map[string]any{
		"iss": iss, "aud": "nhn:test-api", "sub": "client-1", "client_id": "client-1",
		"scope": []string{"nhn:test-api/read", "nhn:test-api/write"}, "cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
		"iat": tokenNow.Unix(), "nbf": tokenNow.Unix(), "exp": tokenNow.Add(10 * time.Minute).Unix(), "jti": "j1",
		helseid.ClaimOrgNrParent: "912345678", helseid.ClaimOrgNrChild: "987654321", helseid.ClaimOrgNrSupplier: "994598759",
		helseid.ClaimClientTenancy: "multi-tenant", helseid.ClaimPID: "06828399789", helseid.ClaimSecurityLevel: "4",
		"act": map[string]any{"client_id": "sfm-api", "act": map[string]any{"client_id": "ehr"}},
	}
}

// sign builds a JWS with header typ/kid/alg and the raw JSON payload.
func sign(t testing.TB, key *rsa.PrivateKey, alg jwa.SignatureAlgorithm, typ, kid string, payload []byte) string {
	t.Helper()
	h := jws.NewHeaders()
	if typ != "" {
		require.NoError(t, h.Set("typ", typ))
	}
	if kid != "" {
		require.NoError(t, h.Set("kid", kid))
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	require.NoError(t, err)
	return string(out)
}

// signedWithHeader signs payload with issuer key k1 under exactly the protected header given.
func signedWithHeader(t testing.TB, header string, payload []byte) string {
	t.Helper()
	signer, err := jose.NewSigner(issuerKeys[0], "RS256")
	require.NoError(t, err)
	tok, err := signer.SignCompact(jose.EncodeHeader([]byte(header)), payload)
	require.NoError(t, err)
	return tok
}

func newValidator(t *testing.T, ti *testIssuer, clock *fakeclock.Clock, scopes ...string) *helseid.AccessTokenValidator {
	t.Helper()
	v, err := helseid.NewAccessTokenValidator(helseid.AccessTokenConfig{Issuer: ti.URL, Audience: "nhn:test-api",
		RequiredScopes: scopes, HTTPClient: ti.Client(), Now: clock.Now})
	require.NoError(t, err)
	return v
}

func TestAccessTokenValid(t *testing.T) {
	ti := newTestIssuer(t)
	v := newValidator(t, ti, fakeclock.New(tokenNow), "nhn:test-api/read")
	payload, _ := json.Marshal(goodClaims(ti.URL))
	c, err := v.Validate(context.Background(), sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", payload))
	require.NoError(t, err)
	assert.Equal(t, "nhn:test-api", c.Audience)
	assert.Equal(t, "client-1", c.ClientID)
	assert.Equal(t, []string{"nhn:test-api/read", "nhn:test-api/write"}, c.Scopes)
	assert.Equal(t, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", c.JKT)
	assert.Equal(t, "912345678", c.OrgNrParent)
	assert.Equal(t, "987654321", c.OrgNrChild)
	assert.Equal(t, "994598759", c.OrgNrSupplier)
	assert.Equal(t, "multi-tenant", c.ClientTenancy)
	assert.Equal(t, "06828399789", c.PID)
	assert.Equal(t, "4", c.SecurityLevel)
	require.NotNil(t, c.Actor)
	assert.Equal(t, "sfm-api", c.Actor.ClientID)
	assert.Equal(t, "ehr", c.Actor.Actor.ClientID)
	assert.Equal(t, tokenNow.Add(10*time.Minute), c.Expiry)
}

func TestAccessTokenRefused(t *testing.T) {
	ti := newTestIssuer(t)
	clock := fakeclock.New(tokenNow)
	v := newValidator(t, ti, clock)
	with := func(mutate func(map[string]any)) []byte {
		c := goodClaims(ti.URL)
		mutate(c)
		b, _ := json.Marshal(c)
		return b
	}
	good, _ := json.Marshal(goodClaims(ti.URL))
	cases := []struct {
		name  string
		token string
		msg   string
	}{
		{"wrong issuer", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", with(func(c map[string]any) { c["iss"] = ti.URL + "/" })), "iss"},
		{"two audiences", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", with(func(c map[string]any) { c["aud"] = []string{"nhn:test-api", "nhn:other"} })), "2 audiences"},
		{"other audience", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", with(func(c map[string]any) { c["aud"] = "nhn:other" })), "aud"},
		{"expired", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", with(func(c map[string]any) { c["exp"] = tokenNow.Add(-11 * time.Second).Unix() })), "expired"},
		{"not yet valid", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", with(func(c map[string]any) { c["nbf"] = tokenNow.Add(time.Minute).Unix() })), "not valid yet"},
		{"not dpop-bound", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", with(func(c map[string]any) { delete(c, "cnf") })), "cnf.jkt"},
		{"scope of wrong type", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", with(func(c map[string]any) { c["scope"] = 5 })), "scope"},
		{"typ JWT", sign(t, issuerKeys[0], jwa.RS256, "JWT", "k1", good), "typ"},
		{"no typ", sign(t, issuerKeys[0], jwa.RS256, "", "k1", good), "typ"},
		{"unknown kid", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "nope", good), "no matching signing key"},
		{"signed by another key", sign(t, issuerKeys[1], jwa.RS256, "at+jwt", "k1", good), "signature"},
		{"algorithm not allowed", "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9." + strings.Split(sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", good), ".")[1] + ".c2ln", "not allowed"},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + strings.Split(sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", good), ".")[1] + ".", "not allowed"},
		{"duplicate claim", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", []byte(strings.Replace(string(good), `{"act"`, `{"aud":"nhn:evil","act"`, 1))), "twice"},
		{"duplicate claim, escaped", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", []byte(strings.Replace(string(good), `{"act"`, `{"\u0061ud":"nhn:evil","act"`, 1))), "twice"},
		{"claim in another case", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", []byte(strings.Replace(string(good), `"aud":`, `"AUD":`, 1))), "is not spelt"},
		{"cnf member in another case", sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", with(func(c map[string]any) { c["cnf"] = map[string]any{"jkt": "a", "JKT": "b"} })), "cnf"},
		{"duplicate header member", signedWithHeader(t, `{"alg":"RS256","kid":"k1","typ":"at+jwt","alg":"RS256"}`, good), "twice"},
		{"crit header", signedWithHeader(t, `{"alg":"RS256","kid":"k1","typ":"at+jwt","crit":["exp"],"exp":1}`, good), "crit"},
		{"kid in another case", signedWithHeader(t, `{"alg":"RS256","KID":"k1","typ":"at+jwt"}`, good), "is not spelt"},
		{"line break in the token", strings.Replace(sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", good), ".", "\n.", 1), "base64url"},
		{"not a jwt", "abc.def", "compact"},
		{"oversize", strings.Repeat("a", 20000), "larger"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Validate(context.Background(), tc.token)
			require.ErrorIs(t, err, helseid.ErrInvalidToken)
			assert.Contains(t, err.Error(), tc.msg)
			if len(tc.token) > 20 {
				assert.NotContains(t, err.Error(), tc.token[len(tc.token)-20:], "no token in errors")
			}
		})
	}
}

// RFC 9068 §2.2 makes iss, exp, aud, sub, client_id, iat and jti mandatory; iat may not lie
// further in the future than the leeway (10 s by default).
func TestAccessTokenRFC9068Claims(t *testing.T) {
	ti := newTestIssuer(t)
	v := newValidator(t, ti, fakeclock.New(tokenNow))
	rows := []struct {
		name   string
		mutate func(map[string]any)
		refuse string // the reason in the error; empty when the token is accepted
	}{
		{"no iss", func(c map[string]any) { delete(c, "iss") }, "iss is not the issuer"},
		{"no exp", func(c map[string]any) { delete(c, "exp") }, "exp is missing"},
		{"no aud", func(c map[string]any) { delete(c, "aud") }, "aud is missing"},
		{"no sub", func(c map[string]any) { delete(c, "sub") }, "sub is missing"},
		{"empty sub", func(c map[string]any) { c["sub"] = "" }, "sub is missing"},
		{"no client_id", func(c map[string]any) { delete(c, "client_id") }, "client_id is missing"},
		{"empty client_id", func(c map[string]any) { c["client_id"] = "" }, "client_id is missing"},
		{"no iat", func(c map[string]any) { delete(c, "iat") }, "iat is missing"},
		{"no jti", func(c map[string]any) { delete(c, "jti") }, "jti is missing"},
		{"empty jti", func(c map[string]any) { c["jti"] = "" }, "jti is missing"},
		{"iat beyond the leeway", func(c map[string]any) { c["iat"] = tokenNow.Add(11 * time.Second).Unix() }, "iat is in the future"},
		{"iat within the leeway", func(c map[string]any) { c["iat"] = tokenNow.Add(10 * time.Second).Unix() }, ""},
		{"iat in the past", func(c map[string]any) { c["iat"] = tokenNow.Add(-time.Minute).Unix() }, ""},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			claims := goodClaims(ti.URL)
			row.mutate(claims)
			payload, err := json.Marshal(claims)
			require.NoError(t, err)
			got, err := v.Validate(context.Background(), sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", payload))
			if row.refuse != "" {
				require.ErrorIs(t, err, helseid.ErrInvalidToken)
				assert.Contains(t, err.Error(), row.refuse)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, time.Unix(claims["iat"].(int64), 0), got.IssuedAt)
			assert.Equal(t, "client-1", got.Subject)
			assert.Equal(t, "j1", got.JWTID)
		})
	}
}

func TestAccessTokenScopesAndLeeway(t *testing.T) {
	ti := newTestIssuer(t)
	clock := fakeclock.New(tokenNow)
	c := goodClaims(ti.URL)
	c["scope"] = "nhn:test-api/read other" // RFC 9068 form
	c["exp"] = tokenNow.Add(-5 * time.Second).Unix()
	payload, _ := json.Marshal(c)
	token := sign(t, issuerKeys[0], jwa.RS256, "application/at+jwt", "k1", payload)

	claims, err := newValidator(t, ti, clock, "nhn:test-api/read").Validate(context.Background(), token)
	require.NoError(t, err, "5 s past exp is within the 10 s leeway")
	assert.Equal(t, []string{"nhn:test-api/read", "other"}, claims.Scopes)

	_, err = newValidator(t, ti, clock, "nhn:test-api/write").Validate(context.Background(), token)
	assert.ErrorIs(t, err, helseid.ErrInsufficientScope)
}

func TestAccessTokenKeyRotation(t *testing.T) {
	ti := newTestIssuer(t)
	v := newValidator(t, ti, fakeclock.New(tokenNow))
	payload, _ := json.Marshal(goodClaims(ti.URL))
	_, err := v.Validate(context.Background(), sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", payload))
	require.NoError(t, err)
	ti.publish("k2", issuerKeys[1]) // the issuer rotates after the keys were cached
	_, err = v.Validate(context.Background(), sign(t, issuerKeys[1], jwa.RS256, "at+jwt", "k2", payload))
	assert.NoError(t, err, "an unknown kid is fetched at once")
}

func TestAccessTokenIssuerDown(t *testing.T) {
	ti := newTestIssuer(t)
	v := newValidator(t, ti, fakeclock.New(tokenNow))
	ti.Close()
	payload, _ := json.Marshal(goodClaims(ti.URL))
	_, err := v.Validate(context.Background(), sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", payload))
	assert.ErrorIs(t, err, helseid.ErrValidatorUnavailable, "an outage is not the token's fault")
	assert.NotErrorIs(t, err, helseid.ErrInvalidToken)
}

func TestAccessTokenConfig(t *testing.T) {
	for name, cfg := range map[string]helseid.AccessTokenConfig{
		"no audience":   {Issuer: helseid.TestIssuer},
		"http issuer":   {Issuer: "http://helseid.example", Audience: "a"},
		"hs256 allowed": {Issuer: helseid.TestIssuer, Audience: "a", Algorithms: []string{"HS256"}},
		"huge leeway":   {Issuer: helseid.TestIssuer, Audience: "a", Leeway: time.Hour},
	} {
		_, err := helseid.NewAccessTokenValidator(cfg)
		assert.ErrorContains(t, err, "invalid helseid configuration", name)
	}
}
