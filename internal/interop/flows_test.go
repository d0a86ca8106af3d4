package interop

// End-to-end checks of the interop server itself, with a minimal hand-rolled client (standard
// library only, so that they do not depend on the SDK packages under test): PAR + DPoP code
// flow, refresh with resource=, refresh token rotation and revocation, token exchange,
// client credentials and RP-initiated logout. They also show the exact client metadata and
// requests each flow needs.

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	redirectURI       = "http://127.0.0.1:8089/callback"
	postLogoutURI     = "http://127.0.0.1:8089/logged-out"
	tokenExchangeType = "urn:ietf:params:oauth:grant-type:token-exchange"
	accessTokenType   = "urn:ietf:params:oauth:token-type:access_token"
)

var b64 = base64.RawURLEncoding

// testClient is a private_key_jwt client with its own DPoP key.
type testClient struct {
	id       string
	key      *ecdsa.PrivateKey // client authentication
	dpopKey  *ecdsa.PrivateKey
	issuer   string
	nonce    string // last DPoP-Nonce seen
	http     *http.Client
	metadata map[string]any
}

func newTestClient(t *testing.T, id string, metadata map[string]any) *testClient {
	t.Helper()
	c := &testClient{id: id, key: newES256Key(t), dpopKey: newES256Key(t)}
	m := map[string]any{
		"client_id":                       id,
		"jwks":                            map[string]any{"keys": []any{publicJWK(t, c.key, id+"-key")}},
		"token_endpoint_auth_method":      "private_key_jwt",
		"token_endpoint_auth_signing_alg": "ES256",
		"dpop_bound_access_tokens":        true,
	}
	for k, v := range metadata {
		m[k] = v
	}
	c.metadata = m
	return c
}

func (c *testClient) bind(t *testing.T, srv *Server) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c.issuer = srv.Issuer()
	c.http = &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirectURI) || strings.HasPrefix(req.URL.String(), postLogoutURI) {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return fmt.Errorf("too many redirects")
			}
			return nil
		},
	}
}

func signES256(t *testing.T, key *ecdsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	p, err := json.Marshal(claims)
	require.NoError(t, err)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	require.NoError(t, err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig)
}

func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b64.EncodeToString(b)
}

func (c *testClient) assertion(t *testing.T) string {
	t.Helper()
	now := time.Now().Unix()
	return signES256(t, c.key,
		map[string]any{"alg": "ES256", "typ": "JWT", "kid": c.id + "-key"},
		map[string]any{
			"iss": c.id, "sub": c.id, "aud": c.issuer, // aud must be exactly the issuer
			"jti": randomString(t), "iat": now, "exp": now + 60,
		})
}

func dpopJWK(t *testing.T, key *ecdsa.PrivateKey) map[string]any {
	jwk := publicJWK(t, key, "")
	return map[string]any{"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"], "y": jwk["y"]}
}

func jkt(t *testing.T, key *ecdsa.PrivateKey) string {
	jwk := dpopJWK(t, key)
	canonical := fmt.Sprintf(`{"crv":%q,"kty":%q,"x":%q,"y":%q}`, jwk["crv"], jwk["kty"], jwk["x"], jwk["y"])
	sum := sha256.Sum256([]byte(canonical))
	return b64.EncodeToString(sum[:])
}

func (c *testClient) proof(t *testing.T, method, htu, accessToken string) string {
	t.Helper()
	claims := map[string]any{"jti": randomString(t), "htm": method, "htu": htu, "iat": time.Now().Unix()}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = b64.EncodeToString(sum[:])
	}
	return signES256(t, c.dpopKey, map[string]any{"alg": "ES256", "typ": "dpop+jwt", "jwk": dpopJWK(t, c.dpopKey)}, claims)
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (r response) str(name string) string { s, _ := r.body[name].(string); return s }

// post sends a client-authenticated form with a DPoP proof, retrying once with the nonce the
// server asks for.
func (c *testClient) post(t *testing.T, path string, form url.Values, dpop bool) response {
	t.Helper()
	endpoint := c.issuer + path
	for attempt := 0; ; attempt++ {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("client_id", c.id)
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		f.Set("client_assertion", c.assertion(t))
		req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(f.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if dpop {
			req.Header.Set("DPoP", c.proof(t, http.MethodPost, endpoint, ""))
		}
		resp, err := c.http.Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		r := response{status: resp.StatusCode, header: resp.Header, body: map[string]any{}}
		if len(raw) > 0 {
			require.NoError(t, json.Unmarshal(raw, &r.body), "%s: %s", path, raw)
		}
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			c.nonce = n
		}
		if r.str("error") == "use_dpop_nonce" && attempt == 0 {
			continue
		}
		return r
	}
}

// claims decodes a JWT's payload without verifying it.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3, "not a JWS: %q", jwt)
	raw, err := b64.DecodeString(parts[1])
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func header(t *testing.T, jwt string) map[string]any {
	t.Helper()
	raw, err := b64.DecodeString(strings.Split(jwt, ".")[0])
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

// authorize runs PAR, then the front channel with the server's auto-login, and returns the
// code from the redirect.
func (c *testClient) authorize(t *testing.T, scope string, resources []string, verifier string) string {
	t.Helper()
	challenge := sha256.Sum256([]byte(verifier))
	state := randomString(t)
	form := url.Values{
		"response_type":         {"code"},
		"redirect_uri":          {redirectURI}, // required even with one registered
		"scope":                 {scope},
		"state":                 {state},
		"nonce":                 {randomString(t)},
		"code_challenge":        {b64.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	for _, r := range resources {
		form.Add("resource", r)
	}
	par := c.post(t, "/request", form, true)
	require.Equal(t, http.StatusCreated, par.status, "PAR: %v", par.body)
	requestURI := par.str("request_uri")
	require.True(t, strings.HasPrefix(requestURI, "urn:ietf:params:oauth:request_uri:"), requestURI)

	resp, err := c.http.Get(c.issuer + "/auth?" + url.Values{"client_id": {c.id}, "request_uri": {requestURI}}.Encode())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "authorization: %s", body)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, redirectURI, loc.Scheme+"://"+loc.Host+loc.Path)
	q := loc.Query()
	require.Empty(t, q.Get("error"), "%s: %s", q.Get("error"), q.Get("error_description"))
	assert.Equal(t, state, q.Get("state"))
	assert.Equal(t, c.issuer, q.Get("iss"))
	require.NotEmpty(t, q.Get("code"))
	return q.Get("code")
}

func TestFlows(t *testing.T) {
	web := newTestClient(t, "interop-web", map[string]any{
		"redirect_uris":                []string{redirectURI},
		"post_logout_redirect_uris":    []string{postLogoutURI},
		"grant_types":                  []string{"authorization_code", "refresh_token"},
		"response_types":               []string{"code"},
		"scope":                        "openid profile offline_access helseid://scopes/identity/pid nhn:interop-api-a/read nhn:interop-api-b/read",
		"id_token_signed_response_alg": "ES256",
	})
	api := newTestClient(t, "interop-api-a", map[string]any{
		"redirect_uris":                   []string{},
		"response_types":                  []string{},
		"grant_types":                     []string{tokenExchangeType},
		"scope":                           "nhn:interop-api-b/read",
		"token_exchange_subject_audience": "nhn:interop-api-a",
	})
	machine := newTestClient(t, "interop-machine", map[string]any{
		"redirect_uris":  []string{},
		"response_types": []string{},
		"grant_types":    []string{"client_credentials"},
		"scope":          "nhn:interop-api-a/read",
	})

	srv := Start(t, []map[string]any{web.metadata, api.metadata, machine.metadata})
	for _, c := range []*testClient{web, api, machine} {
		c.bind(t, srv)
	}

	// Code flow with PAR + DPoP, two resources; the token is for the first.
	verifier := randomString(t)
	code := web.authorize(t, "openid profile offline_access helseid://scopes/identity/pid nhn:interop-api-a/read nhn:interop-api-b/read",
		[]string{"nhn:interop-api-a", "nhn:interop-api-b"}, verifier)
	tok := web.post(t, "/token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	}, true)
	require.Equal(t, http.StatusOK, tok.status, "token: %v\n%s", tok.body, srv.Log())
	assert.Equal(t, "DPoP", tok.str("token_type"))
	require.NotEmpty(t, tok.str("refresh_token"), "offline_access without prompt=consent must give a refresh token")
	assert.Equal(t, "nhn:interop-api-a/read", tok.str("scope"))
	at := claims(t, tok.str("access_token"))
	assert.Equal(t, "at+jwt", header(t, tok.str("access_token"))["typ"])
	assert.Equal(t, "ES256", header(t, tok.str("access_token"))["alg"])
	assert.Equal(t, "nhn:interop-api-a", at["aud"])
	assert.Equal(t, AccountID, at["sub"])
	assert.Equal(t, "interop-web", at["client_id"])
	assert.Equal(t, map[string]any{"jkt": jkt(t, web.dpopKey)}, at["cnf"])
	idt := claims(t, tok.str("id_token"))
	assert.Equal(t, "ES256", header(t, tok.str("id_token"))["alg"])
	assert.Equal(t, AccountID, idt["sub"])
	assert.Equal(t, "Interop Testbruker", idt["name"])
	assert.Equal(t, "06828399789", idt["helseid://claims/identity/pid"])

	// Refresh with resource=: a token for the second resource; the refresh token rotates.
	rt1 := tok.str("refresh_token")
	ref := web.post(t, "/token", url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {rt1},
		"resource":      {"nhn:interop-api-b"},
	}, true)
	require.Equal(t, http.StatusOK, ref.status, "refresh: %v\n%s", ref.body, srv.Log())
	assert.Equal(t, "nhn:interop-api-b", claims(t, ref.str("access_token"))["aud"])
	assert.Equal(t, "nhn:interop-api-b/read", ref.str("scope"))
	rt2 := ref.str("refresh_token")
	require.NotEmpty(t, rt2)
	assert.NotEqual(t, rt1, rt2)

	// Refresh without resource=: the first granted resource.
	ref2 := web.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, true)
	require.Equal(t, http.StatusOK, ref2.status, "refresh: %v", ref2.body)
	assert.Equal(t, "nhn:interop-api-a", claims(t, ref2.str("access_token"))["aud"])
	rt3 := ref2.str("refresh_token")

	// Token exchange by the API client: subject token for nhn:interop-api-a -> nhn:interop-api-b.
	tx := api.post(t, "/token", url.Values{
		"grant_type":         {tokenExchangeType},
		"subject_token":      {tok.str("access_token")},
		"subject_token_type": {accessTokenType},
		"resource":           {"nhn:interop-api-b"},
		"scope":              {"nhn:interop-api-b/read"},
	}, true)
	require.Equal(t, http.StatusOK, tx.status, "token exchange: %v\n%s", tx.body, srv.Log())
	assert.Equal(t, "DPoP", tx.str("token_type"))
	assert.Equal(t, accessTokenType, tx.str("issued_token_type"))
	assert.Equal(t, "nhn:interop-api-b/read", tx.str("scope"))
	xat := claims(t, tx.str("access_token"))
	assert.Equal(t, "nhn:interop-api-b", xat["aud"])
	assert.Equal(t, AccountID, xat["sub"])
	assert.Equal(t, "interop-api-a", xat["client_id"])
	assert.Equal(t, map[string]any{"sub": "interop-api-a"}, xat["act"])
	assert.Equal(t, map[string]any{"jkt": jkt(t, api.dpopKey)}, xat["cnf"])

	// A subject token for a resource the actor may not exchange.
	bad := api.post(t, "/token", url.Values{
		"grant_type":         {tokenExchangeType},
		"subject_token":      {ref.str("access_token")},
		"subject_token_type": {accessTokenType},
		"resource":           {"nhn:interop-api-b"},
	}, true)
	assert.Equal(t, http.StatusBadRequest, bad.status)
	assert.Equal(t, "invalid_grant", bad.str("error"))

	// Client credentials, resource inferred from the scope.
	cc := machine.post(t, "/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"nhn:interop-api-a/read"}}, true)
	require.Equal(t, http.StatusOK, cc.status, "client credentials: %v\n%s", cc.body, srv.Log())
	assert.Equal(t, "DPoP", cc.str("token_type"))
	cat := claims(t, cc.str("access_token"))
	assert.Equal(t, "nhn:interop-api-a", cat["aud"])
	assert.Equal(t, "interop-machine", cat["sub"])
	assert.Equal(t, "nhn:interop-api-a/read", cat["scope"])

	// Reusing a rotated refresh token fails (and revokes the grant).
	reuse := web.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, true)
	assert.Equal(t, "invalid_grant", reuse.str("error"))
	gone := web.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt3}}, true)
	assert.Equal(t, "invalid_grant", gone.str("error"))

	// A new login; revocation of its refresh token.
	verifier = randomString(t)
	code = web.authorize(t, "openid offline_access nhn:interop-api-a/read", nil, verifier)
	tok = web.post(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}, true)
	require.Equal(t, http.StatusOK, tok.status, "token: %v", tok.body)
	assert.Equal(t, "nhn:interop-api-a", claims(t, tok.str("access_token"))["aud"])
	rev := web.post(t, "/token/revocation", url.Values{"token": {tok.str("refresh_token")}, "token_type_hint": {"refresh_token"}}, false)
	assert.Equal(t, http.StatusOK, rev.status, "revocation: %v", rev.body)
	after := web.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}, true)
	assert.Equal(t, "invalid_grant", after.str("error"))

	// RP-initiated logout: GET end_session, then POST the form it renders (xsrf, logout=yes).
	endSession := srv.Issuer() + "/session/end?" + url.Values{
		"id_token_hint":            {tok.str("id_token")},
		"post_logout_redirect_uri": {postLogoutURI},
		"state":                    {"bye"},
	}.Encode()
	resp, err := web.http.Get(endSession)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", page)
	m := regexp.MustCompile(`name="xsrf" value="([^"]+)"`).FindSubmatch(page)
	require.NotNil(t, m, "no xsrf in %s", page)
	resp, err = web.http.PostForm(srv.Issuer()+"/session/end/confirm", url.Values{"xsrf": {string(m[1])}, "logout": {"yes"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, postLogoutURI+"?state=bye", resp.Header.Get("Location"))

	// Without offline_access: no refresh token.
	verifier = randomString(t)
	code = web.authorize(t, "openid nhn:interop-api-a/read", nil, verifier)
	tok = web.post(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}, true)
	require.Equal(t, http.StatusOK, tok.status, "token: %v", tok.body)
	assert.Empty(t, tok.str("refresh_token"))
	assert.NotEmpty(t, tok.str("id_token"))
}

// TestDPoPNonceRequired shows the nonce challenge a client must handle at every endpoint.
func TestDPoPNonceRequired(t *testing.T) {
	machine := newTestClient(t, "interop-machine", map[string]any{
		"redirect_uris":  []string{},
		"response_types": []string{},
		"grant_types":    []string{"client_credentials"},
		"scope":          "nhn:interop-api-a/read",
	})
	srv := Start(t, []map[string]any{machine.metadata})
	machine.bind(t, srv)

	// One try, no nonce: the challenge.
	f := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {"nhn:interop-api-a/read"},
		"client_id":             {machine.id},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {machine.assertion(t)},
	}
	req, err := http.NewRequest(http.MethodPost, srv.Issuer()+"/token", strings.NewReader(f.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", machine.proof(t, http.MethodPost, srv.Issuer()+"/token", ""))
	resp, err := machine.http.Do(req)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "use_dpop_nonce", body["error"])
	assert.NotEmpty(t, resp.Header.Get("DPoP-Nonce"))

	// Without a DPoP proof at all: refused, the client requires DPoP-bound tokens.
	r := machine.post(t, "/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"nhn:interop-api-a/read"}}, false)
	assert.Equal(t, "invalid_grant", r.str("error"))

}
