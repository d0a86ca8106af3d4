// Package rfconly_test drives a user login, a refresh per resource and a token exchange against
// oidc-provider with the RFC packages alone (dpop, par, pkce, resource, tokenexchange): no
// import of package helseid, so they serve any FAPI 2.0 server.
package rfconly_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/internal/interop"
	"github.com/helseid-go/sdk/par"
	"github.com/helseid-go/sdk/pkce"
	"github.com/helseid-go/sdk/resource"
	"github.com/helseid-go/sdk/tokenexchange"
)

const (
	redirectURI = "http://127.0.0.1:8089/callback"
	scope       = "openid offline_access nhn:interop-api-a/read nhn:interop-api-b/read"
)

// client is a private_key_jwt client: its metadata for the server and its assertions.
type client struct {
	id       string
	key      jwk.Key
	metadata map[string]any
	issuer   string
}

func newClient(t *testing.T, id string, metadata map[string]any) *client {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	key, err := jwk.FromRaw(priv)
	require.NoError(t, err)
	require.NoError(t, key.Set(jwk.KeyIDKey, id+"-key"))
	require.NoError(t, key.Set(jwk.AlgorithmKey, jwa.ES256))
	pub, err := key.PublicKey()
	require.NoError(t, err)
	metadata["client_id"] = id
	metadata["jwks"] = map[string]any{"keys": []any{pub}}
	metadata["token_endpoint_auth_method"] = "private_key_jwt"
	metadata["token_endpoint_auth_signing_alg"] = "ES256"
	metadata["dpop_bound_access_tokens"] = true
	return &client{id: id, key: key, metadata: metadata}
}

// Authenticate adds a fresh client assertion (RFC 7523; aud is the issuer, FAPI 2.0).
func (c *client) Authenticate(form url.Values) error {
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"iss": c.id, "sub": c.id, "aud": c.issuer, "iat": now, "exp": now + 30, "jti": rand.Text()})
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, c.key.KeyID())
	signed, err := jws.Sign(claims, jws.WithKey(jwa.ES256, c.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return err
	}
	form.Set("client_id", c.id)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", string(signed))
	return nil
}

type metadata struct {
	Issuer        string `json:"issuer"`
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	PAR           string `json:"pushed_authorization_request_endpoint"`
}

func discover(t *testing.T, issuer string) metadata {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	require.NoError(t, err)
	defer resp.Body.Close()
	var md metadata
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&md))
	require.Equal(t, issuer, md.Issuer)
	return md
}

// redeem is the one step no RFC package does: the authorization-code exchange, here by hand
// with a dpop proof and the nonce retry.
func redeem(t *testing.T, md metadata, c *client, proofer *dpop.Proofer, nonces *dpop.NonceStore, code string, verifier pkce.Verifier) map[string]any {
	t.Helper()
	tokenURL, _ := url.Parse(md.Token)
	for attempt := 0; attempt < 2; attempt++ {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
			"code_verifier": {string(verifier)}, "resource": {"nhn:interop-api-a"}}
		require.NoError(t, c.Authenticate(form))
		proof, err := proofer.Proof(http.MethodPost, tokenURL, nonces.NonceFor(tokenURL), "")
		require.NoError(t, err)
		req, _ := http.NewRequest(http.MethodPost, md.Token, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		nonces.Observe(tokenURL, resp.Header)
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return body
		}
		require.Equal(t, "use_dpop_nonce", body["error"], "%v", body)
	}
	t.Fatal("no token after the nonce retry")
	return nil
}

func audOf(t *testing.T, token string) any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(raw, &c))
	return c["aud"]
}

func TestRFCPackagesAlone(t *testing.T) {
	web := newClient(t, "rfc-web", map[string]any{"redirect_uris": []string{redirectURI}, "grant_types": []string{"authorization_code", "refresh_token"},
		"response_types": []string{"code"}, "id_token_signed_response_alg": "ES256", "scope": scope})
	actor := newClient(t, "rfc-actor", map[string]any{"grant_types": []string{"urn:ietf:params:oauth:grant-type:token-exchange"},
		"response_types": []string{}, "redirect_uris": []string{}, "scope": "nhn:interop-api-b/read"})
	srv := interop.Start(t, []map[string]any{web.metadata, actor.metadata})
	web.issuer, actor.issuer = srv.Issuer(), srv.Issuer()
	md := discover(t, srv.Issuer())
	ctx := context.Background()

	// PAR with DPoP (binding the code to the key) and PKCE; the front channel carries only
	// client_id and request_uri.
	proofer, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	nonces := dpop.NewNonceStore()
	pusher, err := par.New(par.Config{Endpoint: md.PAR, ClientAuth: web, Proofer: proofer, Nonces: nonces})
	require.NoError(t, err)
	verifier, err := pkce.NewVerifier()
	require.NoError(t, err)
	pushed, err := pusher.Push(ctx, url.Values{"response_type": {"code"}, "client_id": {web.id}, "redirect_uri": {redirectURI},
		"scope": {scope}, "state": {"st"}, "nonce": {"nc"}, "code_challenge": {verifier.Challenge()}, "code_challenge_method": {pkce.Method},
		"resource": {"nhn:interop-api-a", "nhn:interop-api-b"}})
	require.NoError(t, err, srv.Log())
	authURL, err := par.AuthorizationURL(md.Authorization, web.id, pushed.RequestURI)
	require.NoError(t, err)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectURI) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := browser.Get(authURL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, srv.Issuer(), back.Query().Get("iss"))
	require.Equal(t, "st", back.Query().Get("state"))

	tok := redeem(t, md, web, proofer, nonces, back.Query().Get("code"), verifier)
	assert.Equal(t, "nhn:interop-api-a", audOf(t, tok["access_token"].(string)))

	// resource: a token for the second API from the rotating refresh token.
	sess, err := resource.NewSession(resource.Config{TokenEndpoint: md.Token, ClientAuth: web, Proofer: proofer, Nonces: nonces},
		tok["refresh_token"].(string), time.Time{})
	require.NoError(t, err)
	b, err := sess.Token(ctx, "nhn:interop-api-b")
	require.NoError(t, err, srv.Log())
	assert.Equal(t, "nhn:interop-api-b", audOf(t, b.AccessToken))
	rt, _ := sess.RefreshToken()
	assert.NotEqual(t, tok["refresh_token"], rt, "rotated")

	// tokenexchange: the actor exchanges the user's token for API A.
	actorKey, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	ex, err := tokenexchange.New(tokenexchange.Config{TokenEndpoint: md.Token, ClientAuth: actor, Proofer: actorKey})
	require.NoError(t, err)
	cache, err := tokenexchange.NewCache(tokenexchange.CacheConfig{Exchange: ex.Exchange})
	require.NoError(t, err)
	defer cache.Close()
	xt, err := cache.Token(ctx, tokenexchange.Request{SubjectToken: tok["access_token"].(string), Scopes: []string{"nhn:interop-api-b/read"}, Resources: []string{"nhn:interop-api-b"}})
	require.NoError(t, err, srv.Log())
	assert.Equal(t, "nhn:interop-api-b", audOf(t, xt.AccessToken))
}
