package fapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/fapi"
)

func newPrivateKeyJWT(t *testing.T, mutate func(*fapi.PrivateKeyJWTConfig)) (*fapi.PrivateKeyJWT, *ecdsa.PrivateKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Unix(1_800_000_000, 0)
	cfg := fapi.PrivateKeyJWTConfig{ClientID: "client-1", Issuer: "https://as.example", Key: priv, Algorithm: "ES256", KeyID: "kid-1",
		Now: func() time.Time { return now }}
	if mutate != nil {
		mutate(&cfg)
	}
	auth, err := fapi.NewPrivateKeyJWT(cfg)
	require.NoError(t, err)
	return auth, priv
}

// verified checks the assertion's signature with the public key and returns its header and
// claims.
func verified(t *testing.T, assertion string, priv *ecdsa.PrivateKey) (map[string]any, map[string]any) {
	t.Helper()
	payload, err := jws.Verify([]byte(assertion), jws.WithKey(jwa.ES256, &priv.PublicKey))
	require.NoError(t, err)
	var claims, header map[string]any
	require.NoError(t, json.Unmarshal(payload, &claims))
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(assertion, ".", 2)[0])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &header))
	return header, claims
}

func TestPrivateKeyJWTAuthenticate(t *testing.T) {
	auth, priv := newPrivateKeyJWT(t, nil)
	var jtis []any
	for range 2 {
		form := url.Values{}
		require.NoError(t, auth.Authenticate(form))
		assert.Equal(t, "client-1", form.Get("client_id"))
		assert.Equal(t, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", form.Get("client_assertion_type"))
		header, claims := verified(t, form.Get("client_assertion"), priv)
		assert.Equal(t, map[string]any{"alg": "ES256", "kid": "kid-1", "typ": "client-authentication+jwt"}, header)
		assert.Equal(t, "client-1", claims["iss"])
		assert.Equal(t, "client-1", claims["sub"])
		assert.Equal(t, "https://as.example", claims["aud"], "aud is the issuer, not the token endpoint")
		assert.Equal(t, float64(1_800_000_000), claims["iat"])
		assert.Equal(t, float64(1_800_000_000), claims["nbf"])
		assert.Equal(t, float64(1_800_000_010), claims["exp"], "10 s by default")
		jti, err := base64.RawURLEncoding.DecodeString(claims["jti"].(string))
		require.NoError(t, err)
		assert.Len(t, jti, 16, "a 128-bit jti")
		assert.NotContains(t, claims, "assertion_details")
		jtis = append(jtis, claims["jti"])
	}
	assert.NotEqual(t, jtis[0], jtis[1], "a new assertion per call")
}

func TestPrivateKeyJWTDetails(t *testing.T) {
	details := json.RawMessage(`{"type":"helseid_authorization","practitioner_role":{"organization":{"identifier":{"value":"NO:ORGNR:999977775"}}}}`)
	auth, priv := newPrivateKeyJWT(t, func(c *fapi.PrivateKeyJWTConfig) { c.Details = details; c.Lifetime = 30 * time.Second })
	assertion, err := auth.Assertion()
	require.NoError(t, err)
	_, claims := verified(t, assertion, priv)
	assert.Equal(t, float64(1_800_000_030), claims["exp"])
	got, _ := json.Marshal(claims["assertion_details"])
	assert.JSONEq(t, string(details), string(got))

	other, err := auth.WithDetails(json.RawMessage(`[{"type":"x"}]`))
	require.NoError(t, err)
	assertion, err = other.Assertion()
	require.NoError(t, err)
	_, claims = verified(t, assertion, priv)
	assert.Equal(t, []any{map[string]any{"type": "x"}}, claims["assertion_details"])
	none, err := auth.WithDetails(nil)
	require.NoError(t, err)
	assertion, err = none.Assertion()
	require.NoError(t, err)
	_, claims = verified(t, assertion, priv)
	assert.NotContains(t, claims, "assertion_details")

	ro, err := auth.RequestObject(json.RawMessage(`[{"type":"helseid_authorization"}]`))
	require.NoError(t, err)
	_, claims = verified(t, ro, priv)
	assert.Equal(t, "client-1", claims["client_id"])
	assert.Contains(t, claims, "authorization_details")
}

func TestPrivateKeyJWTRefusals(t *testing.T) {
	cases := map[string]func(*fapi.PrivateKeyJWTConfig){
		"no client id":        func(c *fapi.PrivateKeyJWTConfig) { c.ClientID = "" },
		"no issuer":           func(c *fapi.PrivateKeyJWTConfig) { c.Issuer = "" },
		"no key id":           func(c *fapi.PrivateKeyJWTConfig) { c.KeyID = "" },
		"no key":              func(c *fapi.PrivateKeyJWTConfig) { c.Key = nil },
		"wrong algorithm":     func(c *fapi.PrivateKeyJWTConfig) { c.Algorithm = "RS256" },
		"alg none":            func(c *fapi.PrivateKeyJWTConfig) { c.Algorithm = "none" },
		"lifetime over 60 s":  func(c *fapi.PrivateKeyJWTConfig) { c.Lifetime = 61 * time.Second },
		"negative lifetime":   func(c *fapi.PrivateKeyJWTConfig) { c.Lifetime = -time.Second },
		"fractional lifetime": func(c *fapi.PrivateKeyJWTConfig) { c.Lifetime = 1500 * time.Millisecond },
		"details not json":    func(c *fapi.PrivateKeyJWTConfig) { c.Details = json.RawMessage(`{`) },
		"details not object":  func(c *fapi.PrivateKeyJWTConfig) { c.Details = json.RawMessage(`"x"`) },
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := fapi.PrivateKeyJWTConfig{ClientID: "c", Issuer: "https://as.example", Key: priv, Algorithm: "ES256", KeyID: "k"}
			mutate(&cfg)
			_, err := fapi.NewPrivateKeyJWT(cfg)
			assert.ErrorContains(t, err, "private_key_jwt")
		})
	}
}

func TestPrivateKeyJWTRedacts(t *testing.T) {
	auth, priv := newPrivateKeyJWT(t, nil)
	d := priv.D.String()
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("auth", "a", auth)
	for _, s := range []string{fmt.Sprint(auth), fmt.Sprintf("%+v %#v %s %q %x", auth, auth, auth, auth, auth), b.String()} {
		assert.NotContains(t, s, d)
		assert.Contains(t, s, "client-1")
	}
}
