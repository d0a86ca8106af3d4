package discovery

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/internal/httpx"
)

const helseIDTestIssuer = "https://helseid-sts.test.nhn.no"

// helseIDDocument returns a discovery document shaped like HelseID's test environment
// (as served in 2025), with metadataIssuer as "issuer" and every endpoint under base.
func helseIDDocument(metadataIssuer, base string) string {
	base = strings.TrimSuffix(base, "/")
	return fmt.Sprintf(`{
  "issuer": %q,
  "jwks_uri": "%[2]s/.well-known/openid-configuration/jwks",
  "authorization_endpoint": "%[2]s/connect/authorize",
  "token_endpoint": "%[2]s/connect/token",
  "userinfo_endpoint": "%[2]s/connect/userinfo",
  "end_session_endpoint": "%[2]s/connect/endsession",
  "check_session_iframe": "%[2]s/connect/checksession",
  "revocation_endpoint": "%[2]s/connect/revocation",
  "introspection_endpoint": "%[2]s/connect/introspect",
  "device_authorization_endpoint": "%[2]s/connect/deviceauthorization",
  "backchannel_authentication_endpoint": "%[2]s/connect/ciba",
  "pushed_authorization_request_endpoint": "%[2]s/connect/par",
  "require_pushed_authorization_requests": false,
  "frontchannel_logout_supported": true,
  "backchannel_logout_supported": true,
  "scopes_supported": ["openid", "profile", "helseid://scopes/identity/pid", "offline_access"],
  "claims_supported": ["sub", "name", "helseid://claims/identity/pid"],
  "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token", "implicit",
    "urn:ietf:params:oauth:grant-type:device_code", "urn:openid:params:grant-type:ciba",
    "urn:ietf:params:oauth:grant-type:token-exchange"],
  "response_types_supported": ["code", "token", "id_token", "id_token token", "code id_token"],
  "response_modes_supported": ["form_post", "query", "fragment"],
  "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
  "id_token_signing_alg_values_supported": ["RS256"],
  "subject_types_supported": ["public"],
  "code_challenge_methods_supported": ["plain", "S256"],
  "request_parameter_supported": true,
  "request_object_signing_alg_values_supported": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"],
  "prompt_values_supported": ["none", "login", "consent", "select_account"],
  "authorization_response_iss_parameter_supported": true,
  "dpop_signing_alg_values_supported": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"],
  "expired_jwks_uri": "%[2]s/connect/expiredjwks",
  "available_idps": "%[2]s/connect/availableidps"
}`, metadataIssuer, base)
}

func TestWellKnownURL(t *testing.T) {
	for _, tc := range []struct{ issuer, want string }{
		{"https://helseid-sts.nhn.no", "https://helseid-sts.nhn.no/.well-known/openid-configuration"},
		{"https://www.certification.openid.net/test/a/alias/", "https://www.certification.openid.net/test/a/alias/.well-known/openid-configuration"},
		{"https://example.com/tenant", "https://example.com/tenant/.well-known/openid-configuration"},
		// only one slash is removed; the issuer is otherwise left alone
		{"https://example.com//", "https://example.com//.well-known/openid-configuration"},
	} {
		assert.Equal(t, tc.want, WellKnownURL(tc.issuer), tc.issuer)
	}
}

func TestParseHelseIDDocument(t *testing.T) {
	md, err := Parse([]byte(helseIDDocument(helseIDTestIssuer, helseIDTestIssuer)), helseIDTestIssuer)
	require.NoError(t, err)

	assert.Equal(t, helseIDTestIssuer, md.Issuer)
	assert.Equal(t, helseIDTestIssuer+"/connect/token", md.TokenEndpoint)
	assert.Equal(t, helseIDTestIssuer+"/.well-known/openid-configuration/jwks", md.JWKSURI)
	assert.Equal(t, helseIDTestIssuer+"/connect/authorize", md.AuthorizationEndpoint)
	assert.Equal(t, helseIDTestIssuer+"/connect/par", md.PushedAuthorizationRequestEndpoint)
	assert.Equal(t, helseIDTestIssuer+"/connect/userinfo", md.UserinfoEndpoint)
	assert.Equal(t, helseIDTestIssuer+"/connect/endsession", md.EndSessionEndpoint)
	assert.Equal(t, helseIDTestIssuer+"/connect/revocation", md.RevocationEndpoint)
	assert.Equal(t, helseIDTestIssuer+"/connect/introspect", md.IntrospectionEndpoint)
	assert.False(t, md.RequirePushedAuthorizationRequests)
	assert.True(t, md.AuthorizationResponseIssParameterSupported)
	assert.True(t, md.RequestParameterSupported)
	assert.Contains(t, md.TokenEndpointAuthMethodsSupported, "private_key_jwt")
	assert.Contains(t, md.CodeChallengeMethodsSupported, "S256")
	assert.Contains(t, md.GrantTypesSupported, "urn:ietf:params:oauth:grant-type:token-exchange")
	assert.Equal(t, []string{"RS256"}, md.IDTokenSigningAlgValuesSupported)
	assert.Len(t, md.DPoPSigningAlgValuesSupported, 9)
	assert.Len(t, md.RequestObjectSigningAlgValuesSupported, 9)
	assert.Contains(t, md.PromptValuesSupported, "login")
	assert.Contains(t, md.ClaimsSupported, "helseid://claims/identity/pid")
	assert.Contains(t, md.ScopesSupported, "offline_access")
	assert.Contains(t, md.ResponseTypesSupported, "code")
	assert.Nil(t, md.TokenEndpointAuthSigningAlgValuesSupported, "HelseID does not publish it")

	var idps string
	ok, err := md.Extension("available_idps", &idps)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, helseIDTestIssuer+"/connect/availableidps", idps)

	ok, err = md.Extension("no_such_member", &idps)
	require.NoError(t, err)
	assert.False(t, ok)

	var wrongType int
	ok, err = md.Extension("available_idps", &wrongType)
	assert.True(t, ok)
	assert.Error(t, err)

	assert.True(t, json.Valid(md.Raw))
}

func TestParseIssuerForms(t *testing.T) {
	// The conformance suite's issuer ends in a slash; it must be accepted as is.
	const suite = "https://www.certification.openid.net/test/a/helseid-go/"
	md, err := Parse([]byte(helseIDDocument(suite, suite)), suite)
	require.NoError(t, err)
	assert.Equal(t, suite, md.Issuer)

	// Loopback http is allowed for in-process test servers.
	const local = "http://127.0.0.1:8443"
	md, err = Parse([]byte(helseIDDocument(local, local)), local)
	require.NoError(t, err)
	assert.Equal(t, local, md.Issuer)
}

func TestParseIssuerMismatch(t *testing.T) {
	const suite = "https://www.certification.openid.net/test/a/helseid-go/"
	for _, tc := range []struct {
		name              string
		configured, inDoc string
	}{
		{"document adds a trailing slash", helseIDTestIssuer, helseIDTestIssuer + "/"},
		{"document drops the trailing slash", suite, strings.TrimSuffix(suite, "/")},
		{"INVALID suffix (conformance discovery-issuer-mismatch)", suite, suite + "INVALID"},
		{"scheme case HTTPS vs https", helseIDTestIssuer, "HTTPS://helseid-sts.test.nhn.no"},
		{"host case", helseIDTestIssuer, "https://HelseID-STS.test.nhn.no"},
		{"another issuer", helseIDTestIssuer, "https://helseid-sts.nhn.no"},
		{"default port spelled out", helseIDTestIssuer, helseIDTestIssuer + ":443"},
		{"empty issuer", helseIDTestIssuer, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := helseIDDocument(tc.inDoc, helseIDTestIssuer)
			md, err := Parse([]byte(doc), tc.configured)
			require.Error(t, err)
			assert.Nil(t, md)
			assert.ErrorIs(t, err, ErrIssuerMismatch)
			assert.NotErrorIs(t, err, ErrInvalidMetadata)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", tc.configured), "the message names the configured issuer")
			if tc.inDoc != "" {
				assert.Contains(t, err.Error(), fmt.Sprintf("%q", tc.inDoc), "the message names the document's issuer")
			}
		})
	}

	t.Run("issuer member missing", func(t *testing.T) {
		_, err := Parse([]byte(`{"token_endpoint":"https://a/t","jwks_uri":"https://a/j"}`), helseIDTestIssuer)
		assert.ErrorIs(t, err, ErrIssuerMismatch)
	})

	t.Run("long issuer is shortened in the message", func(t *testing.T) {
		long := helseIDTestIssuer + "/" + strings.Repeat("x", 5000)
		_, err := Parse([]byte(helseIDDocument(long, helseIDTestIssuer)), helseIDTestIssuer)
		require.ErrorIs(t, err, ErrIssuerMismatch)
		assert.Less(t, len(err.Error()), 600)
	})
}

func TestParseInvalidMetadata(t *testing.T) {
	iss := helseIDTestIssuer
	valid := helseIDDocument(iss, iss)
	replace := func(old, new string) string {
		out := strings.Replace(valid, old, new, 1)
		require.NotEqual(t, valid, out, "test setup: %q not found", old)
		return out
	}
	for _, tc := range []struct {
		name string
		doc  string
	}{
		{"empty", ``},
		{"not JSON", `<html>login</html>`},
		{"null", `null`},
		{"array", `[` + valid + `]`},
		{"string", `"` + iss + `"`},
		{"number", `42`},
		{"truncated", valid[:len(valid)/2]},
		{"trailing garbage", valid + ` x`},
		{"two objects", valid + valid},
		{"duplicate member", `{"issuer":"` + iss + `","issuer":"` + iss + `","token_endpoint":"` + iss + `/t","jwks_uri":"` + iss + `/j"}`},
		{"case variant of a typed member", replace(`"token_endpoint"`, `"Token_Endpoint"`)},
		{"unicode case variant", replace(`"scopes_supported"`, `"ſcopes_supported"`)},
		{"wrong type for a list", replace(`"scopes_supported": [`, `"scopes_supported": "openid", "x": [`)},
		{"wrong type for a bool", replace(`"request_parameter_supported": true`, `"request_parameter_supported": "true"`)},
		{"wrong type for issuer", `{"issuer":1}`},
		{"no token endpoint", replace(`"token_endpoint"`, `"token_endpoint_x"`)},
		{"no jwks_uri", replace(`"jwks_uri"`, `"jwks_uri_x"`)},
		{"http to a non-loopback host", replace(`"token_endpoint": "https://`, `"token_endpoint": "http://`)},
		{"http jwks_uri", replace(`"jwks_uri": "https://`, `"jwks_uri": "http://`)},
		{"http par endpoint", replace(`"pushed_authorization_request_endpoint": "https://`, `"pushed_authorization_request_endpoint": "http://`)},
		{"relative endpoint", replace(`"authorization_endpoint": "https://helseid-sts.test.nhn.no/connect/authorize"`, `"authorization_endpoint": "/connect/authorize"`)},
		{"endpoint with user info", replace(`"userinfo_endpoint": "https://`, `"userinfo_endpoint": "https://user:pw@`)},
		{"endpoint with fragment", replace(`/connect/revocation"`, `/connect/revocation#x"`)},
		{"javascript endpoint", replace(`"end_session_endpoint": "https://helseid-sts.test.nhn.no/connect/endsession"`, `"end_session_endpoint": "javascript:alert(1)"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := Parse([]byte(tc.doc), iss)
			require.Error(t, err)
			assert.Nil(t, md)
			assert.ErrorIs(t, err, ErrInvalidMetadata)
			assert.Equal(t, strings.ToLower(err.Error()[:1]), err.Error()[:1], "errors start lower-case")
		})
	}

	t.Run("insecure endpoint wraps httpx.ErrInsecureURL", func(t *testing.T) {
		_, err := Parse([]byte(replace(`"token_endpoint": "https://`, `"token_endpoint": "http://`)), iss)
		assert.ErrorIs(t, err, httpx.ErrInsecureURL)
	})
}

func TestParseRejectsBadConfiguredIssuer(t *testing.T) {
	for _, issuer := range []string{
		"",
		"helseid-sts.nhn.no",
		"http://helseid-sts.nhn.no",
		"https://helseid-sts.nhn.no?x=1",
		"https://helseid-sts.nhn.no#x",
	} {
		_, err := Parse([]byte(helseIDDocument(issuer, helseIDTestIssuer)), issuer)
		assert.Error(t, err, issuer)
	}
}
