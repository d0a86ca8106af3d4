package interop

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
)

// The SDK's public API against oidc-provider, an independent, certified FAPI 2.0 server: every
// flow the SDK offers, with the server's DPoP nonces, private_key_jwt, PAR and PKCE.

const loginScope = "openid profile offline_access helseid://scopes/identity/pid nhn:interop-api-a/read nhn:interop-api-b/read"

// sdkClient is a client registered at the server and the helseid.Client for it.
type sdkClient struct {
	key      *helseid.Key
	metadata map[string]any
}

func newSDKClient(t *testing.T, id string, metadata map[string]any) *sdkClient {
	t.Helper()
	key, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	pub, err := key.PublicJWK()
	require.NoError(t, err)
	var jwk map[string]any
	require.NoError(t, json.Unmarshal(pub, &jwk))
	metadata["client_id"] = id
	metadata["jwks"] = map[string]any{"keys": []any{jwk}}
	metadata["token_endpoint_auth_method"] = "private_key_jwt"
	metadata["token_endpoint_auth_signing_alg"] = "ES256"
	metadata["dpop_bound_access_tokens"] = true
	return &sdkClient{key: key, metadata: metadata}
}

func (c *sdkClient) client(t *testing.T, srv *Server, profile helseid.IDTokenProfile) *helseid.Client {
	t.Helper()
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: c.metadata["client_id"].(string), Key: c.key, IDTokenProfile: profile})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// world is the server with a web client (login, refresh, logout), a machine client (client
// credentials) and an actor (token exchange).
type world struct {
	srv                 *Server
	web, machine, actor *sdkClient
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{
		web: newSDKClient(t, "sdk-web", map[string]any{
			"redirect_uris": []string{redirectURI}, "post_logout_redirect_uris": []string{postLogoutURI},
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"id_token_signed_response_alg": "ES256", "scope": loginScope,
		}),
		machine: newSDKClient(t, "sdk-machine", map[string]any{
			"grant_types": []string{"client_credentials"}, "response_types": []string{}, "redirect_uris": []string{},
			"scope": "nhn:interop-api-a/read",
		}),
		actor: newSDKClient(t, "sdk-actor", map[string]any{
			"grant_types": []string{tokenExchangeType}, "response_types": []string{}, "redirect_uris": []string{},
			"scope": "nhn:interop-api-b/read",
		}),
	}
	w.srv = Start(t, []map[string]any{w.web.metadata, w.machine.metadata, w.actor.metadata})
	return w
}

// browser follows the server's login and consent redirects with a cookie jar and stops at the
// client's redirect URI (or post-logout URI), which nothing serves.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectURI) || strings.HasPrefix(req.URL.String(), postLogoutURI) || len(via) > 20 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

func (w *world) logIn(t *testing.T, client *helseid.Client, b *http.Client) *helseid.LoginResult {
	t.Helper()
	authURL, st, err := client.StartLogin(context.Background(), helseid.LoginRequest{RedirectURI: redirectURI, Scope: loginScope,
		Resources: []string{"nhn:interop-api-a", "nhn:interop-api-b"}})
	require.NoError(t, err, w.srv.Log())
	u, _ := url.Parse(authURL)
	assert.ElementsMatch(t, []string{"client_id", "request_uri"}, keysOf(u.Query()))
	resp, err := b.Get(authURL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, w.srv.Log())
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	res, err := client.FinishLogin(context.Background(), loc.Query(), st)
	require.NoError(t, err, w.srv.Log())
	return res
}

func keysOf(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

type nonceRetries struct{ n atomic.Int32 }

func (o *nonceRetries) Observe(_ context.Context, e helseid.Event) {
	if e.Kind == helseid.NonceRetry {
		o.n.Add(1)
	}
}

func TestSDKClientCredentials(t *testing.T) {
	w := newWorld(t)
	retries := &nonceRetries{}
	client, err := helseid.NewClient(helseid.Config{Issuer: w.srv.Issuer(), ClientID: "sdk-machine", Key: w.machine.key, Observer: retries})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	req := helseid.ClientCredentialsRequest{Scopes: []string{"nhn:interop-api-a/read"}}
	tok, err := client.ClientCredentials(context.Background(), req)
	require.NoError(t, err, w.srv.Log())
	assert.Equal(t, "DPoP", tok.TokenType)
	assert.Equal(t, int32(1), retries.n.Load(), "the server demanded a DPoP nonce: one use_dpop_nonce handshake")
	c := claims(t, tok.AccessToken)
	assert.Equal(t, "nhn:interop-api-a", c["aud"])
	assert.Equal(t, map[string]any{"jkt": client.Proofer().Thumbprint()}, c["cnf"])
	// The cache: the second call is a hit.
	first, err := client.Token(context.Background(), req)
	require.NoError(t, err)
	again, err := client.Token(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, first.AccessToken, again.AccessToken)
}

// PAR, PKCE, the code exchange with DPoP, the ID token (ES256, so under the strict FAPI 2.0
// profile too), a refresh per resource, token exchange, and logout.
func TestSDKUserLoginAndOnwards(t *testing.T) {
	for name, profile := range map[string]helseid.IDTokenProfile{"helseid profile": helseid.HelseIDProfile, "fapi2 profile": helseid.FAPI2Profile} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			client := w.web.client(t, w.srv, profile)
			b := browser(t)
			login := w.logIn(t, client, b)
			assert.Equal(t, AccountID, login.Claims.Subject)
			assert.Equal(t, "nhn:interop-api-a", claims(t, login.AccessToken.AccessToken)["aud"])
			assert.Equal(t, map[string]any{"jkt": client.Proofer().Thumbprint()}, claims(t, login.AccessToken.AccessToken)["cnf"])

			var persisted []string
			sess, err := client.NewUserSession(context.Background(), login, helseid.SessionOptions{
				Persist: func(_ context.Context, rt string, _ time.Time) error { persisted = append(persisted, rt); return nil }})
			require.NoError(t, err)
			bTok, err := sess.Token(context.Background(), "nhn:interop-api-b")
			require.NoError(t, err, w.srv.Log())
			assert.Equal(t, "nhn:interop-api-b", claims(t, bTok.AccessToken)["aud"], "one audience per token")
			require.Len(t, persisted, 1, "the rotated refresh token was persisted")
			assert.NotEqual(t, login.RefreshToken, persisted[0])

			// Token exchange: the actor exchanges the user's token for API A into one for API B.
			actor := w.actor.client(t, w.srv, profile)
			ex, err := actor.ExchangeToken(context.Background(), login.AccessToken.AccessToken, helseid.TokenExchangeRequest{
				Scopes: []string{"nhn:interop-api-b/read"}, Resource: "nhn:interop-api-b"})
			require.NoError(t, err, w.srv.Log())
			assert.Equal(t, "urn:ietf:params:oauth:token-type:access_token", ex.IssuedTokenType)
			xc := claims(t, ex.AccessToken)
			assert.Equal(t, AccountID, xc["sub"], "the user stays the subject")
			assert.Equal(t, map[string]any{"sub": "sdk-actor"}, xc["act"])
			assert.Equal(t, map[string]any{"jkt": actor.Proofer().Thumbprint()}, xc["cnf"], "bound to the actor's key")

			// Logout: the end-session URL, then the server's confirmation form.
			logout, err := client.LogoutURL(context.Background(), sess.IDToken(), postLogoutURI, "bye")
			require.NoError(t, err)
			resp, err := b.Get(logout)
			require.NoError(t, err)
			page, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", page)
			m := regexp.MustCompile(`name="xsrf" value="([^"]+)"`).FindSubmatch(page)
			require.NotNil(t, m)
			resp, err = b.PostForm(w.srv.Issuer()+"/session/end/confirm", url.Values{"xsrf": {string(m[1])}, "logout": {"yes"}})
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, postLogoutURI+"?state=bye", resp.Header.Get("Location"))

			// Revocation: the session's refresh token is refused afterwards.
			rt, _ := sess.RefreshToken()
			require.NoError(t, client.RevokeRefreshToken(context.Background(), rt), w.srv.Log())
			resumed, err := client.ResumeUserSession(context.Background(), rt, time.Time{}, helseid.SessionOptions{})
			require.NoError(t, err)
			_, err = resumed.Token(context.Background(), "nhn:interop-api-a")
			assert.ErrorIs(t, err, helseid.ErrInvalidGrant)
		})
	}
}
