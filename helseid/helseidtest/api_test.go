package helseidtest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/helseidtest"
)

func TestAPISuccess(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	c := h.clientFor(helseidtest.ClientRegistration{
		ID: "multi", Scopes: []string{readScope, writeScope}, OrgNumber: multiOrg, MultiTenant: true,
	})
	r := h.tokenReq(c)
	h.send(r) // nonce handshake
	r = h.tokenReq(c)
	r.AClaims["assertion_details"] = orgDetail(helseidtest.OIDMultiTenant, "NO:ORGNR:"+parentOrg+":"+childOrg)
	res := h.send(r)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	token := res.JSON["access_token"].(string)

	// Any method, a sub-path, a query (not part of htu), a lower-case scheme name.
	ar := h.apiReq(c, token)
	ar.Method = http.MethodPost
	ar.URL = h.srv.APIURL() + "/patients/42?x=1"
	ar.Auth = "dpop " + token
	ar.PClaims["htm"] = http.MethodPost
	ar.PClaims["htu"] = h.srv.APIURL() + "/patients/42"
	res = h.sendAPI(ar)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))

	var body helseidtest.APIResponse
	require.NoError(t, json.Unmarshal(res.Body, &body))
	assert.Equal(t, helseidtest.APIResponse{
		Method: "POST", Path: "/api/demo/patients/42", ClientID: "multi", Subject: "multi",
		Scope: []string{readScope, writeScope}, Audience: h.srv.APIAudience(),
		Confirmation: helseidtest.Cnf{JKT: c.proof.jkt},
		OrgNrParent:  parentOrg, OrgNrChild: childOrg, OrgNrSupplier: multiOrg, ClientTenancy: "multi-tenant",
	}, body)
	assert.Equal(t, h.srv.Issuer()+"/api/demo", h.srv.APIURL())
	st := h.srv.Stats()
	assert.EqualValues(t, 1, st.APIRequests)
	assert.Zero(t, st.APIRejections)
}

type apiRow struct {
	name   string
	mutate func(h *harness, r *apiReq, token string, good *apiReq)
	status int
	code   string // in WWW-Authenticate, "" for no error parameter
	desc   string
}

func TestAPIStrictness(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	c := h.client("c", readScope)
	token := h.token(c)
	other := h.client("other", otherScope)
	otherToken := h.token(other)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	otherJWK, _ := jwkMap(t, &otherKey.PublicKey)
	privJWK, _ := jwkMap(t, c.proof.priv)

	tamper := func(tok string) string {
		parts := strings.Split(tok, ".")
		cl := claimsOf(t, tok)
		cl["scope"] = []string{readScope, writeScope}
		data, _ := json.Marshal(cl)
		return parts[0] + "." + b64(data) + "." + parts[2]
	}
	now := func() int64 { return h.clock.Now().Unix() }

	rows := []apiRow{
		{name: "no Authorization header", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.Auth = "" }, status: 401},
		{name: "Bearer scheme", mutate: func(_ *harness, r *apiReq, tok string, _ *apiReq) { r.Auth = "Bearer " + tok }, status: 401, code: "invalid_token", desc: "bearer"},
		{name: "Basic scheme", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.Auth = "Basic Yzpk" }, status: 401, code: "invalid_token"},
		{name: "two Authorization headers", mutate: func(_ *harness, r *apiReq, tok string, _ *apiReq) {
			r.Header.Add("Authorization", "DPoP "+tok)
			r.Header.Add("Authorization", "DPoP "+tok)
			r.Auth = ""
		}, status: 400, code: "invalid_request"},
		{name: "token in the query", mutate: func(h *harness, r *apiReq, tok string, _ *apiReq) { r.URL += "?access_token=" + tok }, status: 400, code: "invalid_request"},
		{name: "tampered token", mutate: func(_ *harness, r *apiReq, tok string, _ *apiReq) {
			tt := tamper(tok)
			r.Auth, r.PClaims["ath"] = "DPoP "+tt, ath(tt)
		}, status: 401, code: "invalid_token", desc: "signature"},
		{name: "token for another API", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) {
			r.Auth, r.PClaims["ath"], r.PHeader["jwk"], r.PKey = "DPoP "+otherToken, ath(otherToken), other.proof.jwk, other.proof.priv
		}, status: 401, code: "invalid_token", desc: "aud is not this api"},
		{name: "DPoP header missing", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.NoProof = true }, status: 401, code: "invalid_dpop_proof", desc: "DPoP header is missing"},
		{name: "two DPoP headers", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.ExtraProof = true }, status: 401, code: "invalid_dpop_proof", desc: "2 DPoP headers"},
		{name: "ath missing", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.PClaims["ath"] = del{} }, status: 401, code: "invalid_dpop_proof", desc: "ath"},
		{name: "wrong ath", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.PClaims["ath"] = ath("another token") }, status: 401, code: "invalid_dpop_proof", desc: "ath"},
		{name: "proof by another key (wrong jkt)", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) {
			r.PHeader["jwk"], r.PKey = otherJWK, otherKey
		}, status: 401, code: "invalid_token", desc: "not the one the token is bound to"},
		{name: "private jwk", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.PHeader["jwk"] = privJWK }, status: 401, code: "invalid_dpop_proof", desc: "private"},
		{name: "bad proof signature", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.PKey = otherKey }, status: 401, code: "invalid_dpop_proof", desc: "signature"},
		{name: "typ JWT", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.PHeader["typ"] = "JWT" }, status: 401, code: "invalid_dpop_proof", desc: "typ"},
		{name: "wrong htm", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.PClaims["htm"] = "POST" }, status: 401, code: "invalid_dpop_proof", desc: "htm"},
		{name: "wrong htu path", mutate: func(h *harness, r *apiReq, _ string, _ *apiReq) { r.PClaims["htu"] = h.srv.APIURL() + "/other" }, status: 401, code: "invalid_dpop_proof", desc: "htu"},
		{name: "htu with the query", mutate: func(h *harness, r *apiReq, _ string, _ *apiReq) {
			r.URL += "?x=1"
			r.PClaims["htu"] = h.srv.APIURL() + "?x=1"
		}, status: 401, code: "invalid_dpop_proof", desc: "htu"},
		{name: "htu of the token endpoint", mutate: func(h *harness, r *apiReq, _ string, _ *apiReq) { r.PClaims["htu"] = h.srv.TokenEndpoint() }, status: 401, code: "invalid_dpop_proof", desc: "htu"},
		{name: "old iat", mutate: func(_ *harness, r *apiReq, _ string, _ *apiReq) { r.PClaims["iat"] = now() - 120 }, status: 401, code: "invalid_dpop_proof", desc: "iat"},
		{name: "replayed proof", mutate: func(_ *harness, r *apiReq, _ string, good *apiReq) { r.PClaims["jti"] = good.PClaims["jti"] }, status: 401, code: "invalid_dpop_proof", desc: "already been used"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h := h.with(t)
			tok := token
			good := h.apiReq(c, tok)
			res := h.sendAPI(good)
			require.Equal(t, http.StatusOK, res.Status, "the correct request must succeed: %s", res.Body)

			bad := h.apiReq(c, tok)
			row.mutate(h, bad, tok, good)
			res = h.sendAPI(bad)
			t.Logf("%d %s", res.Status, res.Header.Get("WWW-Authenticate"))
			assert.Equal(t, row.status, res.Status, string(res.Body))
			wa := res.Header.Get("WWW-Authenticate")
			require.True(t, strings.HasPrefix(wa, "DPoP "), wa)
			assert.Contains(t, wa, `algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA"`)
			if row.code == "" {
				assert.NotContains(t, wa, "error=")
			} else {
				assert.Contains(t, wa, `error="`+row.code+`"`)
				assert.Equal(t, row.code, res.code())
			}
			if row.desc != "" {
				assert.Contains(t, wa, row.desc)
			}
			assert.NotContains(t, wa, tok)
		})
	}
}

func TestAPINonce(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	c := h.client("c", readScope)
	token := h.token(c)
	asNonce := h.currentNonce()
	h.srv.RequireAPINonce(true)

	res := h.sendAPI(h.apiReq(c, token))
	require.Equal(t, http.StatusUnauthorized, res.Status)
	assert.Equal(t, `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA"`,
		res.Header.Get("WWW-Authenticate"))
	rsNonce := res.Header.Get("DPoP-Nonce")
	require.NotEmpty(t, rsNonce)
	assert.NotEqual(t, asNonce, rsNonce, "the RS nonce differs from the AS nonce")

	// The AS nonce is not the RS nonce.
	r := h.apiReq(c, token)
	r.PClaims["nonce"] = asNonce
	res = h.sendAPI(r)
	assert.Contains(t, res.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`)

	r = h.apiReq(c, token)
	r.PClaims["nonce"] = rsNonce
	res = h.sendAPI(r)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	assert.Equal(t, rsNonce, res.Header.Get("DPoP-Nonce"))

	h.srv.RotateAPINonce()
	r = h.apiReq(c, token)
	r.PClaims["nonce"] = rsNonce
	res = h.sendAPI(r)
	assert.Contains(t, res.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`)
	assert.NotEqual(t, rsNonce, res.Header.Get("DPoP-Nonce"))

	h.srv.RequireAPINonce(false)
	res = h.sendAPI(h.apiReq(c, token))
	assert.Equal(t, http.StatusOK, res.Status)
	assert.Empty(t, res.Header.Get("DPoP-Nonce"))

	st := h.srv.Stats()
	assert.EqualValues(t, 5, st.APIRequests)
	assert.EqualValues(t, 3, st.APINonceChallenges)
	assert.Zero(t, st.APIRejections)
}

func TestAPITokenLifetimeAndKeyRotation(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	c := h.client("c", readScope)
	token := h.token(c)

	// Valid until exp: 600 s by default, no leeway.
	h.clock.Advance(599 * time.Second)
	require.Equal(t, http.StatusOK, h.sendAPI(h.apiReq(c, token)).Status)
	h.clock.Advance(time.Second)
	res := h.sendAPI(h.apiReq(c, token))
	assert.Equal(t, http.StatusUnauthorized, res.Status)
	assert.Contains(t, res.Header.Get("WWW-Authenticate"), "expired")

	// Rotation keeping the old key: old tokens still verify; new ones use the new kid.
	old := h.token(c)
	oldKid := headerOf(t, old)["kid"]
	h.srv.RotateSigningKey(true)
	fresh := h.token(c)
	assert.NotEqual(t, oldKid, headerOf(t, fresh)["kid"])
	assert.Equal(t, 2, h.srv.PublicKeys().Len())
	verifyWithJWKS(t, h.srv, old)
	verifyWithJWKS(t, h.srv, fresh)
	assert.Equal(t, http.StatusOK, h.sendAPI(h.apiReq(c, old)).Status)
	assert.Equal(t, http.StatusOK, h.sendAPI(h.apiReq(c, fresh)).Status)

	// Rotation dropping the old keys: tokens they signed are refused.
	h.srv.RotateSigningKey(false)
	assert.Equal(t, 1, h.srv.PublicKeys().Len())
	_, found := h.srv.PublicKeys().LookupKeyID(oldKid.(string))
	assert.False(t, found)
	res = h.sendAPI(h.apiReq(c, fresh))
	assert.Equal(t, http.StatusUnauthorized, res.Status)
	assert.Contains(t, res.Header.Get("WWW-Authenticate"), "no matching signing key")
	assert.Equal(t, http.StatusOK, h.sendAPI(h.apiReq(c, h.token(c))).Status)
}
