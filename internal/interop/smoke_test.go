package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publicJWK is the public half of key as an ES256 JWK.
func publicJWK(t testing.TB, key *ecdsa.PrivateKey, kid string) map[string]any {
	t.Helper()
	// The uncompressed point 0x04 || X || Y, each coordinate padded to 32 bytes.
	point, err := key.PublicKey.ECDH()
	require.NoError(t, err)
	raw := point.Bytes()
	require.Len(t, raw, 65)
	b64 := base64.RawURLEncoding.EncodeToString
	return map[string]any{
		"kty": "EC",
		"crv": "P-256",
		"x":   b64(raw[1:33]),
		"y":   b64(raw[33:65]),
		"kid": kid,
		"alg": "ES256",
		"use": "sig",
	}
}

func newES256Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return key
}

func TestSmokeDiscovery(t *testing.T) {
	key := newES256Key(t)
	srv := Start(t, []map[string]any{{
		"client_id":                       "interop-smoke",
		"jwks":                            map[string]any{"keys": []any{publicJWK(t, key, "smoke-1")}},
		"token_endpoint_auth_method":      "private_key_jwt",
		"token_endpoint_auth_signing_alg": "ES256",
		"redirect_uris":                   []string{"http://127.0.0.1:8089/callback"},
		"grant_types":                     []string{"authorization_code"},
		"response_types":                  []string{"code"},
		"scope":                           "openid",
		"dpop_bound_access_tokens":        true,
		"id_token_signed_response_alg":    "ES256",
	}})

	resp, err := http.Get(srv.Issuer() + "/.well-known/openid-configuration")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var meta struct {
		Issuer                             string   `json:"issuer"`
		PushedAuthorizationRequestEndpoint string   `json:"pushed_authorization_request_endpoint"`
		RequirePushedAuthorizationRequests bool     `json:"require_pushed_authorization_requests"`
		DPoPSigningAlgValuesSupported      []string `json:"dpop_signing_alg_values_supported"`
		TokenEndpointAuthMethodsSupported  []string `json:"token_endpoint_auth_methods_supported"`
		IDTokenSigningAlgValuesSupported   []string `json:"id_token_signing_alg_values_supported"`
		AuthorizationResponseISSParameter  bool     `json:"authorization_response_iss_parameter_supported"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&meta))

	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, srv.Issuer())
	assert.Equal(t, srv.Issuer(), meta.Issuer)
	assert.Equal(t, srv.Issuer()+"/request", meta.PushedAuthorizationRequestEndpoint)
	assert.True(t, meta.RequirePushedAuthorizationRequests)
	assert.Contains(t, meta.DPoPSigningAlgValuesSupported, "ES256")
	assert.Contains(t, meta.TokenEndpointAuthMethodsSupported, "private_key_jwt")
	assert.Contains(t, meta.IDTokenSigningAlgValuesSupported, "ES256")
	assert.True(t, meta.AuthorizationResponseISSParameter)
}
