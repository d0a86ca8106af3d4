package helseidtest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/helseidtest"
)

const (
	multiOrg    = "987654321" // the multi-tenant client's (supplier's) organisation
	parentOrg   = "912345678" // a customer that delegated to it
	childOrg    = "920773230"
	singleChild = "920773230"
)

func orgDetail(system, value string) map[string]any {
	return map[string]any{
		"type": "helseid_authorization",
		"practitioner_role": map[string]any{"organization": map[string]any{"identifier": map[string]any{
			"system": system, "type": "ENH", "value": value,
		}}},
	}
}

// strictRow breaks a correct token request in exactly one way.
type strictRow struct {
	name   string
	client string // "" (single-tenant, no children), "multi", "child"
	mutate func(h *harness, r, good *tokenReq)
	status int
	code   string
	desc   string // substring of error_description, if set
	check  func(t *testing.T, h *harness, res *result)
}

func TestTokenEndpointStrictness(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	single := h.client("single", readScope, writeScope, otherScope)
	single.scopes = []string{readScope, writeScope}
	multi := h.clientFor(helseidtest.ClientRegistration{
		ID: "multi", Scopes: []string{readScope}, OrgNumber: multiOrg, MultiTenant: true,
		DelegatedParents: []string{parentOrg},
	})
	child := h.clientFor(helseidtest.ClientRegistration{
		ID: "child", Scopes: []string{readScope}, OrgNumber: helseidtest.DefaultOrgNumber,
		ChildOrgNumbers: []string{singleChild},
	})
	clients := map[string]*tclient{"": single, "multi": multi, "child": child}

	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	rsa1024JWK, _ := jwkMap(t, &rsa1024.PublicKey)
	privateProofJWK, _ := jwkMap(t, single.proof.priv)
	require.Contains(t, privateProofJWK, "d")

	// The first request of a correct client: the nonce handshake.
	h.token(single)
	require.NotEmpty(t, h.currentNonce())

	iss := h.srv.Issuer()
	now := func() int64 { return h.clock.Now().Unix() }
	const (
		s400 = http.StatusBadRequest
		s401 = http.StatusUnauthorized
	)
	rows := []strictRow{
		// HTTP shape.
		{name: "http/GET", mutate: func(_ *harness, r, _ *tokenReq) { r.Method = http.MethodGet }, status: s400, code: "invalid_request"},
		{name: "http/JSON content type", mutate: func(_ *harness, r, _ *tokenReq) { r.ContentType = "application/json" }, status: s400, code: "invalid_request"},
		{name: "http/no content type", mutate: func(_ *harness, r, _ *tokenReq) { r.ContentType = "" }, status: s400, code: "invalid_request"},
		{name: "http/latin1 charset", mutate: func(_ *harness, r, _ *tokenReq) { r.ContentType += "; charset=iso-8859-1" }, status: s400, code: "invalid_request"},
		{name: "http/parameters in URL query", mutate: func(h *harness, r, _ *tokenReq) { r.URL += "?scope=" + readScope }, status: s400, code: "invalid_request"},
		{name: "http/repeated parameter", mutate: func(_ *harness, r, _ *tokenReq) { r.ExtraBody = "&scope=" + readScope }, status: s400, code: "invalid_request", desc: "repeated"},
		{name: "http/body too large", mutate: func(_ *harness, r, _ *tokenReq) { r.ExtraBody = "&pad=" + strings.Repeat("x", 70<<10) }, status: s400, code: "invalid_request"},

		// Client authentication.
		{name: "auth/Authorization header", mutate: func(_ *harness, r, _ *tokenReq) { r.Header.Set("Authorization", "Basic c2luZ2xlOnNlY3JldA==") }, status: s401, code: "invalid_client"},
		{name: "auth/client_secret", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("client_secret", "secret") }, status: s401, code: "invalid_client"},
		{name: "auth/client_assertion_type missing", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Del("client_assertion_type") }, status: s401, code: "invalid_client"},
		{name: "auth/client_assertion_type wrong", mutate: func(_ *harness, r, _ *tokenReq) {
			r.Form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		}, status: s401, code: "invalid_client"},
		{name: "auth/client_assertion missing", mutate: func(_ *harness, r, _ *tokenReq) { r.NoAssertion = true }, status: s401, code: "invalid_client"},
		{name: "auth/client_assertion not a JWS", mutate: func(_ *harness, r, _ *tokenReq) { r.Assertion = "not.a-jws" }, status: s401, code: "invalid_client"},
		{name: "auth/client_id differs from iss", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("client_id", "multi") }, status: s401, code: "invalid_client"},

		// Client assertion header.
		{name: "assertion/typ JWT", mutate: func(_ *harness, r, _ *tokenReq) { r.AHeader["typ"] = "JWT" }, status: s401, code: "invalid_client", desc: "typ"},
		{name: "assertion/typ missing", mutate: func(_ *harness, r, _ *tokenReq) { r.AHeader["typ"] = del{} }, status: s401, code: "invalid_client", desc: "typ"},
		{name: "assertion/typ case differs", mutate: func(_ *harness, r, _ *tokenReq) { r.AHeader["typ"] = "Client-Authentication+JWT" }, status: s401, code: "invalid_client"},
		{name: "assertion/alg none", mutate: func(_ *harness, r, _ *tokenReq) { r.AHeader["alg"] = "none" }, status: s401, code: "invalid_client", desc: "alg"},
		{name: "assertion/alg HS256", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AHeader["alg"], r.AKey = "HS256", []byte("a-shared-secret-of-32-bytes-long!")
		}, status: s401, code: "invalid_client", desc: "alg"},
		{name: "assertion/alg differs from the registered key", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AHeader["alg"], r.AKey = "ES384", p384
		}, status: s401, code: "invalid_client", desc: "registered"},
		{name: "assertion/kid missing", mutate: func(_ *harness, r, _ *tokenReq) { r.AHeader["kid"] = del{} }, status: s401, code: "invalid_client", desc: "kid"},
		{name: "assertion/kid unknown", mutate: func(_ *harness, r, _ *tokenReq) { r.AHeader["kid"] = "another-key" }, status: s401, code: "invalid_client", desc: "kid"},
		{name: "assertion/wrong signature", mutate: func(_ *harness, r, _ *tokenReq) { r.AKey = otherEC }, status: s401, code: "invalid_client", desc: "signature"},
		{name: "assertion/embedded jwk", mutate: func(_ *harness, r, _ *tokenReq) { r.AHeader["jwk"] = single.proof.jwk }, status: s401, code: "invalid_client"},
		{name: "assertion/crit header", mutate: func(_ *harness, r, _ *tokenReq) { r.AHeader["crit"] = []string{"exp"} }, status: s401, code: "invalid_client"},

		// Client assertion claims.
		{name: "assertion/iss differs from sub", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["sub"] = "multi" }, status: s401, code: "invalid_client", desc: "sub"},
		{name: "assertion/iss missing", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["iss"] = del{} }, status: s401, code: "invalid_client"},
		{name: "assertion/unknown client", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["iss"], r.AClaims["sub"] = "nobody", "nobody"
			r.Form.Del("client_id")
		}, status: s401, code: "invalid_client", desc: "unknown client"},
		{name: "assertion/aud as array", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["aud"] = []string{iss} }, status: s401, code: "invalid_client", desc: "single JSON string"},
		{name: "assertion/aud is the token endpoint", mutate: func(h *harness, r, _ *tokenReq) { r.AClaims["aud"] = h.srv.TokenEndpoint() }, status: s401, code: "invalid_client", desc: "token endpoint"},
		{name: "assertion/aud with trailing slash", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["aud"] = iss + "/" }, status: s401, code: "invalid_client", desc: "aud"},
		{name: "assertion/aud missing", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["aud"] = del{} }, status: s401, code: "invalid_client", desc: "aud"},
		{name: "assertion/exp more than 60 s ahead", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["exp"] = now() + 120 }, status: s401, code: "invalid_client", desc: "60 seconds"},
		{name: "assertion/exp just beyond 60 s plus leeway", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["exp"] = now() + 66 }, status: s401, code: "invalid_client", desc: "60 seconds"},
		{name: "assertion/expired", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["iat"], r.AClaims["nbf"], r.AClaims["exp"] = now()-60, now()-60, now()-10
		}, status: s401, code: "invalid_client", desc: "expired"},
		{name: "assertion/exp missing", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["exp"] = del{} }, status: s401, code: "invalid_client", desc: "exp"},
		{name: "assertion/exp as string", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["exp"] = "1750000030" }, status: s401, code: "invalid_client", desc: "exp"},
		{name: "assertion/exp in milliseconds", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["exp"] = (now() + 30) * 1000 }, status: s401, code: "invalid_client", desc: "exp"},
		{name: "assertion/iat missing", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["iat"] = del{} }, status: s401, code: "invalid_client", desc: "iat"},
		{name: "assertion/iat in the future", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["iat"] = now() + 30 }, status: s401, code: "invalid_client", desc: "iat"},
		{name: "assertion/nbf in the future", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["nbf"] = now() + 30 }, status: s401, code: "invalid_client", desc: "nbf"},
		{name: "assertion/jti missing", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["jti"] = del{} }, status: s401, code: "invalid_client", desc: "jti"},
		{name: "assertion/jti reused", mutate: func(_ *harness, r, good *tokenReq) { r.AClaims["jti"] = good.AClaims["jti"] }, status: s401, code: "invalid_client", desc: "already been used"},
		{name: "assertion/whole assertion replayed", mutate: func(_ *harness, r, good *tokenReq) { r.Assertion = good.Assertion }, status: s401, code: "invalid_client", desc: "already been used"},
		{name: "assertion/duplicate claim", mutate: func(_ *harness, r, _ *tokenReq) {
			// A hand-made payload with "sub" twice: parsers disagree on which one counts.
			r.Assertion = signRawPayload(t, r, `{"iss":"single","sub":"single","sub":"multi","aud":"`+iss+`","iat":`+itoa(now())+`,"exp":`+itoa(now()+30)+`,"jti":"`+randID()+`"}`)
		}, status: s401, code: "invalid_client", desc: "duplicate"},

		// DPoP proof.
		{name: "dpop/missing", mutate: func(_ *harness, r, _ *tokenReq) { r.NoProof = true }, status: s400, code: "invalid_dpop_proof", desc: "missing"},
		{name: "dpop/two headers", mutate: func(_ *harness, r, _ *tokenReq) { r.ExtraProof = true }, status: s400, code: "invalid_dpop_proof", desc: "more than one"},
		{name: "dpop/not a JWS", mutate: func(_ *harness, r, _ *tokenReq) { r.Proofs = []string{"garbage"} }, status: s400, code: "invalid_dpop_proof"},
		{name: "dpop/typ JWT", mutate: func(_ *harness, r, _ *tokenReq) { r.PHeader["typ"] = "JWT" }, status: s400, code: "invalid_dpop_proof", desc: "typ"},
		{name: "dpop/typ missing", mutate: func(_ *harness, r, _ *tokenReq) { r.PHeader["typ"] = del{} }, status: s400, code: "invalid_dpop_proof", desc: "typ"},
		{name: "dpop/alg none", mutate: func(_ *harness, r, _ *tokenReq) { r.PHeader["alg"] = "none" }, status: s400, code: "invalid_dpop_proof", desc: "alg"},
		{name: "dpop/alg HS256", mutate: func(_ *harness, r, _ *tokenReq) {
			r.PHeader["alg"], r.PKey = "HS256", []byte("a-shared-secret-of-32-bytes-long!")
		}, status: s400, code: "invalid_dpop_proof", desc: "alg"},
		{name: "dpop/alg does not fit the key", mutate: func(_ *harness, r, _ *tokenReq) { r.PHeader["alg"], r.PAlg = "ES384", "ES256" }, status: s400, code: "invalid_dpop_proof", desc: "alg"},
		{name: "dpop/jwk missing", mutate: func(_ *harness, r, _ *tokenReq) { r.PHeader["jwk"] = del{} }, status: s400, code: "invalid_dpop_proof", desc: "jwk"},
		{name: "dpop/private jwk", mutate: func(_ *harness, r, _ *tokenReq) { r.PHeader["jwk"] = privateProofJWK }, status: s400, code: "invalid_dpop_proof", desc: "private"},
		{name: "dpop/RSA-1024 key", mutate: func(_ *harness, r, _ *tokenReq) {
			r.PHeader["alg"], r.PHeader["jwk"], r.PKey = "RS256", rsa1024JWK, rsa1024
		}, status: s400, code: "invalid_dpop_proof", desc: "bits"},
		{name: "dpop/bad signature", mutate: func(_ *harness, r, _ *tokenReq) { r.PKey = otherEC }, status: s400, code: "invalid_dpop_proof", desc: "signature"},
		{name: "dpop/jti missing", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["jti"] = del{} }, status: s400, code: "invalid_dpop_proof", desc: "jti"},
		{name: "dpop/jti reused", mutate: func(_ *harness, r, good *tokenReq) { r.PClaims["jti"] = good.PClaims["jti"] }, status: s400, code: "invalid_dpop_proof", desc: "already been used"},
		{name: "dpop/htm GET", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["htm"] = "GET" }, status: s400, code: "invalid_dpop_proof", desc: "htm"},
		{name: "dpop/htm lower case", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["htm"] = "post" }, status: s400, code: "invalid_dpop_proof", desc: "htm"},
		{name: "dpop/htu other host", mutate: func(h *harness, r, _ *tokenReq) {
			r.PClaims["htu"] = strings.Replace(h.srv.TokenEndpoint(), "127.0.0.1", "localhost", 1)
		}, status: s400, code: "invalid_dpop_proof", desc: "htu"},
		{name: "dpop/htu other path", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["htu"] = iss + "/connect/par" }, status: s400, code: "invalid_dpop_proof", desc: "htu"},
		{name: "dpop/htu is the issuer", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["htu"] = iss }, status: s400, code: "invalid_dpop_proof", desc: "htu"},
		{name: "dpop/htu with query", mutate: func(h *harness, r, _ *tokenReq) { r.PClaims["htu"] = h.srv.TokenEndpoint() + "?a=b" }, status: s400, code: "invalid_dpop_proof", desc: "query"},
		{name: "dpop/htu with trailing slash", mutate: func(h *harness, r, _ *tokenReq) { r.PClaims["htu"] = h.srv.TokenEndpoint() + "/" }, status: s400, code: "invalid_dpop_proof", desc: "htu"},
		{name: "dpop/htu https", mutate: func(h *harness, r, _ *tokenReq) {
			r.PClaims["htu"] = strings.Replace(h.srv.TokenEndpoint(), "http:", "https:", 1)
		}, status: s400, code: "invalid_dpop_proof", desc: "htu"},
		{name: "dpop/iat too old", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["iat"] = now() - 61 }, status: s400, code: "invalid_dpop_proof", desc: "iat"},
		{name: "dpop/iat in the future", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["iat"] = now() + 61 }, status: s400, code: "invalid_dpop_proof", desc: "iat"},
		{name: "dpop/iat missing", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["iat"] = del{} }, status: s400, code: "invalid_dpop_proof", desc: "iat"},
		{name: "dpop/ath present", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["ath"] = ath("some-token") }, status: s400, code: "invalid_dpop_proof", desc: "ath"},
		{name: "dpop/nonce missing", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["nonce"] = del{} }, status: s400, code: "use_dpop_nonce",
			check: func(t *testing.T, h *harness, res *result) {
				assert.NotEmpty(t, res.Header.Get("DPoP-Nonce"))
				assert.Equal(t, h.currentNonce(), res.Header.Get("DPoP-Nonce"))
			}},
		{name: "dpop/nonce wrong", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["nonce"] = "not-the-nonce" }, status: s400, code: "use_dpop_nonce"},
		{name: "dpop/nonce not a string", mutate: func(_ *harness, r, _ *tokenReq) { r.PClaims["nonce"] = 42 }, status: s400, code: "invalid_dpop_proof"},
		{name: "dpop/stale nonce after rotation", mutate: func(h *harness, r, _ *tokenReq) { h.srv.RotateNonce() }, status: s400, code: "use_dpop_nonce",
			check: func(t *testing.T, h *harness, res *result) {
				assert.NotEmpty(t, res.Header.Get("DPoP-Nonce"))
			}},

		// Grant.
		{name: "grant/missing", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Del("grant_type") }, status: s400, code: "invalid_request", desc: "grant_type"},
		{name: "grant/authorization_code without a code", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("grant_type", "authorization_code"); r.Form.Del("scope") }, status: s400, code: "invalid_grant"},
		{name: "grant/password", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("grant_type", "password") }, status: s400, code: "unsupported_grant_type"},

		// Scope and resource.
		{name: "scope/missing", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Del("scope") }, status: s400, code: "invalid_request", desc: "scope"},
		{name: "scope/scopes of two APIs", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("scope", readScope+" "+otherScope) }, status: s400, code: "invalid_scope", desc: "several APIs"},
		{name: "scope/unknown scope", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("scope", readScope+" nhn:helseidtest-api/admin") }, status: s400, code: "invalid_scope", desc: "not allowed"},
		{name: "scope/identity scope openid", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("scope", "openid "+readScope) }, status: s400, code: "invalid_scope", desc: "identity"},
		{name: "scope/identity scope helseid://", mutate: func(_ *harness, r, _ *tokenReq) {
			r.Form.Set("scope", readScope+" helseid://scopes/identity/pid")
		}, status: s400, code: "invalid_scope", desc: "identity"},
		{name: "scope/offline_access", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("scope", readScope+" offline_access") }, status: s400, code: "invalid_scope"},
		{name: "scope/double space", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("scope", readScope+"  "+writeScope) }, status: s400, code: "invalid_scope"},
		{name: "scope/repeated", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("scope", readScope+" "+readScope) }, status: s400, code: "invalid_scope"},
		{name: "resource/other API", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("resource", "nhn:other-api") }, status: s400, code: "invalid_target"},
		{name: "resource/URL form", mutate: func(_ *harness, r, _ *tokenReq) { r.Form.Set("resource", "https://nhn:helseidtest-api") }, status: s400, code: "invalid_target"},

		// assertion_details.
		{name: "details/a string", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["assertion_details"] = "NO:ORGNR:912345678" }, status: s400, code: "invalid_request", desc: "assertion_details"},
		{name: "details/empty array", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["assertion_details"] = []any{} }, status: s400, code: "invalid_request"},
		{name: "details/array of strings", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["assertion_details"] = []any{"x"} }, status: s400, code: "invalid_request"},
		{name: "details/item without type", mutate: func(_ *harness, r, _ *tokenReq) { r.AClaims["assertion_details"] = map[string]any{"value": "x"} }, status: s400, code: "invalid_request"},
		{name: "details/no identifier", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = map[string]any{"type": "helseid_authorization", "practitioner_role": map[string]any{}}
		}, status: s400, code: "invalid_request", desc: "identifier"},
		{name: "details/identifier type not ENH", client: "child", mutate: func(_ *harness, r, _ *tokenReq) {
			d := orgDetail(helseidtest.OIDSingleTenant, singleChild)
			d["practitioner_role"].(map[string]any)["organization"].(map[string]any)["identifier"].(map[string]any)["type"] = "ORG"
			r.AClaims["assertion_details"] = d
		}, status: s400, code: "invalid_request", desc: "ENH"},
		{name: "details/authorization_details in the assertion", client: "child", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["authorization_details"] = orgDetail(helseidtest.OIDSingleTenant, singleChild)
		}, status: s400, code: "invalid_request", desc: "assertion_details"},
		{name: "details/two helseid_authorization items", client: "child", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = []any{orgDetail(helseidtest.OIDSingleTenant, singleChild), orgDetail(helseidtest.OIDSingleTenant, singleChild)}
		}, status: s400, code: "invalid_request", desc: "more than one"},
		{name: "details/multi-tenant 8-digit parent", client: "multi", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:91234567")
		}, status: s400, code: "invalid_request", desc: "9 digits"},
		{name: "details/multi-tenant 10-digit child", client: "multi", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:"+parentOrg+":9207732301")
		}, status: s400, code: "invalid_request", desc: "9 digits"},
		{name: "details/multi-tenant without NO:ORGNR prefix", client: "multi", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDMultiTenant, parentOrg)
		}, status: s400, code: "invalid_request", desc: "NO:ORGNR"},
		{name: "details/multi-tenant extra segment", client: "multi", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:"+parentOrg+":"+childOrg+":")
		}, status: s400, code: "invalid_request"},
		{name: "details/multi-tenant with single-tenant OID", client: "multi", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDSingleTenant, "NO:ORGNR:"+parentOrg)
		}, status: s400, code: "invalid_request", desc: helseidtest.OIDMultiTenant},
		{name: "details/multi-tenant parent without delegation", client: "multi", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:999888777")
		}, status: s400, code: "invalid_request", desc: "delegated"},
		{name: "details/single-tenant with multi-tenant OID", client: "child", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:"+helseidtest.DefaultOrgNumber+":"+singleChild)
		}, status: s400, code: "invalid_request", desc: helseidtest.OIDSingleTenant},
		{name: "details/single-tenant with the old 4.1.2.101 OID", client: "child", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail("urn:oid:2.16.578.1.12.4.1.2.101", singleChild)
		}, status: s400, code: "invalid_request"},
		{name: "details/single-tenant 8-digit child", client: "child", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDSingleTenant, "92077323")
		}, status: s400, code: "invalid_request", desc: "9 digits"},
		{name: "details/single-tenant unregistered child", client: "child", mutate: func(_ *harness, r, _ *tokenReq) {
			r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDSingleTenant, "111222333")
		}, status: s400, code: "invalid_request", desc: "not registered"},
	}

	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h := h.with(t)
			c := clients[row.client]

			good := h.tokenReq(c)
			res := h.send(good)
			require.Equal(t, http.StatusOK, res.Status, "the correct request must succeed: %s", res.Body)

			bad := h.tokenReq(c)
			row.mutate(h, bad, good)
			before := h.srv.Stats()
			res = h.send(bad)
			assert.Equal(t, row.status, res.Status, string(res.Body))
			assert.Equal(t, row.code, res.code(), string(res.Body))
			t.Logf("%d %s: %v", res.Status, res.code(), res.JSON["error_description"])
			if row.desc != "" {
				assert.Contains(t, res.JSON["error_description"], row.desc)
			}
			assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			if parts := strings.Split(bad.Assertion, "."); len(parts) == 3 {
				assert.NotContains(t, string(res.Body), parts[1], "errors never echo the assertion")
			}
			after := h.srv.Stats()
			assert.Equal(t, before.TokensIssued, after.TokensIssued)
			if row.check != nil {
				row.check(t, h, res)
			}
		})
	}
}

// signRawPayload signs a hand-written payload with the request's assertion header and key.
func signRawPayload(t *testing.T, r *tokenReq, payload string) string {
	t.Helper()
	hb, err := json.Marshal(r.AHeader)
	require.NoError(t, err)
	alg := r.AHeader["alg"].(string)
	input := b64(hb) + "." + b64([]byte(payload))
	signer, err := jws.NewSigner(jwa.SignatureAlgorithm(alg))
	require.NoError(t, err)
	sig, err := signer.Sign([]byte(input), r.AKey)
	require.NoError(t, err)
	return input + "." + b64(sig)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestTokenEndpointAcceptsVariants(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	c := h.client("c", readScope, writeScope)
	h.token(c)
	now := h.clock.Now().Unix()

	for _, alg := range []string{"ES256", "ES384", "PS256", "RS256", "EdDSA"} {
		t.Run("proof key "+alg, func(t *testing.T) {
			h := h.with(t)
			r := h.tokenReq(c)
			pk := newProofKey(t, alg)
			r.PHeader["alg"], r.PHeader["jwk"], r.PKey = alg, pk.jwk, pk.priv
			res := h.send(r)
			require.Equal(t, http.StatusOK, res.Status, string(res.Body))
			assert.Equal(t, pk.jkt, claimsOf(t, res.JSON["access_token"].(string))["cnf"].(map[string]any)["jkt"])
		})
	}
	variants := []struct {
		name   string
		mutate func(r *tokenReq)
	}{
		{"without client_id", func(r *tokenReq) { r.Form.Del("client_id") }},
		{"without nbf", func(r *tokenReq) { r.AClaims["nbf"] = del{} }},
		{"exp exactly 60 s ahead", func(r *tokenReq) { r.AClaims["exp"] = now + 60 }},
		{"exp 64 s ahead (within leeway)", func(r *tokenReq) { r.AClaims["exp"] = now + 64 }},
		{"iat 4 s ahead (within leeway)", func(r *tokenReq) { r.AClaims["iat"] = now + 4 }},
		{"fractional NumericDate", func(r *tokenReq) { r.AClaims["exp"] = float64(now) + 30.5 }},
		{"matching resource", func(r *tokenReq) { r.Form.Set("resource", "nhn:helseidtest-api") }},
		{"one scope", func(r *tokenReq) { r.Form.Set("scope", writeScope) }},
		{"charset utf-8", func(r *tokenReq) { r.ContentType += "; charset=UTF-8" }},
		{"proof iat 59 s old", func(r *tokenReq) { r.PClaims["iat"] = now - 59 }},
		{"unknown detail type ignored", func(r *tokenReq) {
			r.AClaims["assertion_details"] = map[string]any{"type": "nhn:sfm:journal-id", "value": map[string]any{"journal_id": "j"}}
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			h := h.with(t)
			r := h.tokenReq(c)
			v.mutate(r)
			res := h.send(r)
			assert.Equal(t, http.StatusOK, res.Status, string(res.Body))
		})
	}
}

func TestTokenResponseAndAccessToken(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	c := h.client("c", readScope, writeScope)
	res := h.send(h.tokenReq(c))
	require.Equal(t, "use_dpop_nonce", res.code())
	res = h.send(h.tokenReq(c))
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))

	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
	assert.Equal(t, "DPoP", res.JSON["token_type"])
	assert.EqualValues(t, 600, res.JSON["expires_in"])
	assert.Equal(t, readScope+" "+writeScope, res.JSON["scope"])
	assert.NotContains(t, res.JSON, "refresh_token")

	at := res.JSON["access_token"].(string)
	hdr := headerOf(t, at)
	assert.Equal(t, "RS256", hdr["alg"])
	assert.Equal(t, "at+jwt", hdr["typ"])
	_, found := h.srv.PublicKeys().LookupKeyID(hdr["kid"].(string))
	assert.True(t, found, "kid is in the JWKS")
	verifyWithJWKS(t, h.srv, at)

	cl := claimsOf(t, at)
	now := float64(h.clock.Now().Unix())
	assert.Equal(t, h.srv.Issuer(), cl["iss"])
	assert.Equal(t, "nhn:helseidtest-api", cl["aud"], "aud is one string, the API of the scopes")
	assert.Equal(t, "c", cl["client_id"])
	assert.Equal(t, "c", cl["sub"])
	assert.Equal(t, []any{readScope, writeScope}, cl["scope"], "scope is a JSON array")
	assert.Equal(t, map[string]any{"jkt": c.proof.jkt}, cl["cnf"])
	assert.Equal(t, now, cl["iat"])
	assert.Equal(t, now, cl["nbf"])
	assert.Equal(t, now+600, cl["exp"])
	assert.NotEmpty(t, cl["jti"])
	assert.Equal(t, "private_key_jwt", cl["client_amr"])
	assert.Equal(t, helseidtest.DefaultOrgNumber, cl[helseidtest.ClaimOrgNrParent])
	assert.NotContains(t, cl, helseidtest.ClaimOrgNrChild)
	assert.NotContains(t, cl, helseidtest.ClaimOrgNrSupplier)
	assert.Equal(t, "single-tenant", cl[helseidtest.ClaimClientTenancy])

	// Another API's scopes give a token for that API.
	o := h.client("o", otherScope)
	assert.Equal(t, "nhn:other-api", claimsOf(t, h.token(o))["aud"])

	// A scope name may contain '/': the API is the part before the first one.
	n := h.client("nested", "nhn:helseidtest-api/mhd/read-document")
	nested := h.token(n)
	assert.Equal(t, "nhn:helseidtest-api", claimsOf(t, nested)["aud"])
	assert.Equal(t, http.StatusOK, h.sendAPI(h.apiReq(n, nested)).Status)

	// The lifetime is configurable.
	h2 := newHarness(t, helseidtest.Options{AccessTokenLifetime: 90 * time.Second, Nonce: helseidtest.NonceNone})
	c2 := h2.client("c", readScope)
	res = h2.send(h2.tokenReq(c2))
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	assert.EqualValues(t, 90, res.JSON["expires_in"])
	cl = claimsOf(t, res.JSON["access_token"].(string))
	assert.Equal(t, cl["iat"].(float64)+90, cl["exp"])
}

func TestOrganisationClaims(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	multi := h.clientFor(helseidtest.ClientRegistration{ID: "multi", Scopes: []string{readScope}, OrgNumber: multiOrg, MultiTenant: true})
	child := h.clientFor(helseidtest.ClientRegistration{
		ID: "child", Scopes: []string{readScope}, OrgNumber: helseidtest.DefaultOrgNumber, ChildOrgNumbers: []string{singleChild},
	})
	sfm := map[string]any{"type": "nhn:sfm:journal-id", "value": map[string]any{"journal_id": "j-1"}}
	cases := []struct {
		name                            string
		c                               *tclient
		details                         any
		parent, childOrg, supplier, ten string
	}{
		{"multi-tenant without details", multi, nil, multiOrg, "", multiOrg, "multi-tenant"},
		{"multi-tenant parent", multi, orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:"+parentOrg), parentOrg, "", multiOrg, "multi-tenant"},
		{"multi-tenant parent with trailing colon", multi, orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:"+parentOrg+":"), parentOrg, "", multiOrg, "multi-tenant"},
		{"multi-tenant parent and child", multi, orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:"+parentOrg+":"+childOrg), parentOrg, childOrg, multiOrg, "multi-tenant"},
		{"multi-tenant in an array with SFM", multi, []any{sfm, orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:"+parentOrg+":"+childOrg)}, parentOrg, childOrg, multiOrg, "multi-tenant"},
		{"single-tenant without details", child, nil, helseidtest.DefaultOrgNumber, "", "", "single-tenant"},
		{"single-tenant child", child, orgDetail(helseidtest.OIDSingleTenant, singleChild), helseidtest.DefaultOrgNumber, singleChild, "", "single-tenant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := h.with(t)
			r := h.tokenReq(tc.c)
			if tc.details != nil {
				r.AClaims["assertion_details"] = tc.details
			}
			res := h.send(r)
			require.Equal(t, http.StatusOK, res.Status, string(res.Body))
			cl := claimsOf(t, res.JSON["access_token"].(string))
			assert.Equal(t, tc.parent, cl[helseidtest.ClaimOrgNrParent])
			optional := func(name, want string) {
				if want == "" {
					assert.NotContains(t, cl, name)
				} else {
					assert.Equal(t, want, cl[name])
				}
			}
			optional(helseidtest.ClaimOrgNrChild, tc.childOrg)
			optional(helseidtest.ClaimOrgNrSupplier, tc.supplier)
			assert.Equal(t, tc.ten, cl[helseidtest.ClaimClientTenancy])
		})
	}
}

func TestTokenErrorsNeverEchoSecrets(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	c := h.client("c", readScope)
	r := h.tokenReq(c)
	r.AClaims["aud"] = []string{h.srv.Issuer()}
	res := h.send(r)
	require.Equal(t, "invalid_client", res.code())
	proof := r.proof(t)
	for _, secret := range []string{r.Assertion, strings.Split(r.Assertion, ".")[1], strings.Split(proof, ".")[1]} {
		assert.NotContains(t, string(res.Body), secret)
	}
}

func TestBearerTokensForAllowBearerClientsOnly(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	legacy := h.clientFor(helseidtest.ClientRegistration{ID: "legacy", OrgNumber: helseidtest.DefaultOrgNumber, Scopes: []string{readScope}, AllowBearer: true})
	strict := h.client("strict", readScope)
	noProof := func(c *tclient, grant string) *tokenReq {
		r := h.tokenReq(c)
		r.NoProof = true
		r.Form.Set("grant_type", grant)
		return r
	}

	res := h.send(noProof(legacy, "client_credentials"))
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	assert.Equal(t, "Bearer", res.JSON["token_type"])
	cl := claimsOf(t, res.JSON["access_token"].(string))
	assert.NotContains(t, cl, "cnf", "an unbound token")
	assert.Equal(t, "nhn:helseidtest-api", cl["aud"])
	verifyWithJWKS(t, h.srv, res.JSON["access_token"].(string))

	bound := claimsOf(t, h.token(legacy))
	assert.Equal(t, map[string]any{"jkt": legacy.proof.jkt}, bound["cnf"], "with a proof the same client gets a bound token")

	res = h.send(noProof(strict, "client_credentials"))
	assert.Equal(t, http.StatusBadRequest, res.Status)
	assert.Equal(t, "invalid_dpop_proof", res.code(), "a client that requires DPoP gets no Bearer token")

	res = h.send(noProof(legacy, helseidtest.GrantTokenExchange))
	assert.Equal(t, "invalid_dpop_proof", res.code(), "only client credentials may go without a proof")
}
