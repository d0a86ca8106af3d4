// Package rfconly_test drives client credentials, a user login (PAR, code exchange), a refresh
// per resource and a token exchange against oidc-provider with the RFC packages and the public
// building blocks of helseid/fapi alone: no import of package helseid, no hand-written client
// assertion or code exchange, so they serve any FAPI 2.0 server.
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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/fapi"
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

// client is a private_key_jwt client: its metadata for the server and its authenticator.
type client struct {
	id       string
	priv     *ecdsa.PrivateKey
	metadata map[string]any
	auth     *fapi.PrivateKeyJWT
}

func newClient(t *testing.T, id string, metadata map[string]any) *client {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	key, err := jwk.FromRaw(priv.Public())
	require.NoError(t, err)
	require.NoError(t, key.Set(jwk.KeyIDKey, id+"-key"))
	require.NoError(t, key.Set(jwk.AlgorithmKey, jwa.ES256))
	metadata["client_id"] = id
	metadata["jwks"] = map[string]any{"keys": []any{key}}
	metadata["token_endpoint_auth_method"] = "private_key_jwt"
	metadata["token_endpoint_auth_signing_alg"] = "ES256"
	metadata["dpop_bound_access_tokens"] = true
	return &client{id: id, priv: priv, metadata: metadata}
}

// authenticate makes the client's private_key_jwt authenticator once the issuer is known.
func (c *client) authenticate(t *testing.T, issuer string) {
	t.Helper()
	var err error
	c.auth, err = fapi.NewPrivateKeyJWT(fapi.PrivateKeyJWTConfig{ClientID: c.id, Issuer: issuer, Key: c.priv, Algorithm: "ES256", KeyID: c.id + "-key"})
	require.NoError(t, err)
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
	machine := newClient(t, "rfc-machine", map[string]any{"grant_types": []string{"client_credentials"},
		"response_types": []string{}, "redirect_uris": []string{}, "scope": "nhn:interop-api-a/read"})
	srv := interop.Start(t, []map[string]any{web.metadata, actor.metadata, machine.metadata})
	for _, c := range []*client{web, actor, machine} {
		c.authenticate(t, srv.Issuer())
	}
	md := discover(t, srv.Issuer())
	ctx := context.Background()

	// Client credentials with DPoP, the nonce handshake done by fapi.Client.
	machineKey, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	machineEndpoint, err := fapi.NewClient(md.Token, fapi.Settings{ClientAuth: machine.auth, Proofer: machineKey})
	require.NoError(t, err)
	cc, err := machineEndpoint.ClientCredentials(ctx, fapi.ClientCredentialsRequest{Scopes: []string{"nhn:interop-api-a/read"},
		Resources: []string{"nhn:interop-api-a"}})
	require.NoError(t, err, srv.Log())
	assert.Equal(t, "nhn:interop-api-a", audOf(t, cc.AccessToken))
	assert.True(t, strings.EqualFold(cc.TokenType, "DPoP"))

	// PAR with DPoP (binding the code to the key) and PKCE; the front channel carries only
	// client_id and request_uri.
	// The settings are written once, shared by PAR, the code exchange and the refreshes.
	proofer, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	webSettings := fapi.Settings{ClientAuth: web.auth, Proofer: proofer, Nonces: dpop.NewNonceStore()}
	pusher, err := par.New(md.PAR, webSettings)
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

	tokenEndpoint, err := fapi.NewClient(md.Token, webSettings)
	require.NoError(t, err)
	tok, err := tokenEndpoint.ExchangeCode(ctx, fapi.CodeExchange{Code: back.Query().Get("code"), CodeVerifier: string(verifier),
		RedirectURI: redirectURI, Resource: "nhn:interop-api-a"})
	require.NoError(t, err, srv.Log())
	assert.Equal(t, "nhn:interop-api-a", audOf(t, tok.AccessToken))
	assert.NotEmpty(t, tok.IDToken)

	// resource: a token for the second API from the rotating refresh token.
	sess, err := resource.NewSession(resource.Config{TokenEndpoint: md.Token, Settings: webSettings}, tok.RefreshToken, time.Time{})
	require.NoError(t, err)
	b, err := sess.Token(ctx, "nhn:interop-api-b")
	require.NoError(t, err, srv.Log())
	assert.Equal(t, "nhn:interop-api-b", audOf(t, b.AccessToken))
	rt, _ := sess.RefreshToken()
	assert.NotEqual(t, tok.RefreshToken, rt, "rotated")

	// tokenexchange: the actor exchanges the user's token for API A.
	actorKey, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	ex, err := tokenexchange.New(md.Token, fapi.Settings{ClientAuth: actor.auth, Proofer: actorKey})
	require.NoError(t, err)
	cache, err := tokenexchange.NewCache(tokenexchange.CacheConfig{Exchange: ex.Exchange})
	require.NoError(t, err)
	defer cache.Close()
	xt, err := cache.Token(ctx, tokenexchange.Request{SubjectToken: tok.AccessToken, Scopes: []string{"nhn:interop-api-b/read"}, Resources: []string{"nhn:interop-api-b"}})
	require.NoError(t, err, srv.Log())
	assert.Equal(t, "nhn:interop-api-b", audOf(t, xt.AccessToken))
}
