package helseid_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/tokenexchange"
)

// jwksCounter counts the requests for the issuer's key set.
type jwksCounter struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (c *jwksCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == helseidtest.JWKSPath {
		c.n.Add(1)
	}
	return c.base.RoundTrip(r)
}

// A login finished after Close needs the issuer's keys for the ID token: the closed client
// makes no key set (nothing would stop its fetches) and says it is closed.
func TestLoginAfterCloseMakesNoKeySet(t *testing.T) {
	jwks := &jwksCounter{}
	f := newLoginFixture(t, func(cfg *helseid.Config) {
		jwks.base = cfg.HTTPClient.Transport
		cfg.HTTPClient = &http.Client{Transport: jwks}
	})
	callback, st := f.start(t)
	require.NoError(t, f.client.Close())
	sent := f.requests.n.Load()

	_, err := f.client.FinishLogin(context.Background(), callback, st)
	require.Error(t, err)
	assert.ErrorIs(t, err, helseid.ErrClosed)
	assert.Zero(t, jwks.n.Load(), "no key set was fetched after Close")
	assert.Equal(t, sent, f.requests.n.Load(), "the code is not spent on a login that cannot be checked")
}

// The same for an API's validator (and so its Guard): after Close it fetches no keys.
func TestValidatorAfterCloseMakesNoKeySet(t *testing.T) {
	srv := helseidtest.NewServer(t)
	_, err := srv.GenerateClient("front-end", "nhn:service-a/read")
	require.NoError(t, err)
	proofer, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	tok, err := srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "front-end", Scopes: []string{"nhn:service-a/read"}, JKT: proofer.Thumbprint()})
	require.NoError(t, err)
	jwks := &jwksCounter{base: srv.Client().Transport}
	v, err := helseid.NewAccessTokenValidator(helseid.AccessTokenConfig{Issuer: srv.Issuer(), Audience: "nhn:service-a", HTTPClient: &http.Client{Transport: jwks}})
	require.NoError(t, err)
	v.Close()

	_, err = v.Validate(context.Background(), tok)
	assert.ErrorIs(t, err, helseid.ErrClosed)
	assert.ErrorIs(t, err, helseid.ErrValidatorUnavailable, "a guard answers 503, not 401")
	assert.Zero(t, jwks.n.Load())

	// A validator closed after its keys were fetched still validates with them, but a token
	// signed by a new key is unavailable (no refetch), not invalid.
	w, err := helseid.NewAccessTokenValidator(helseid.AccessTokenConfig{Issuer: srv.Issuer(), Audience: "nhn:service-a", HTTPClient: &http.Client{Transport: jwks}})
	require.NoError(t, err)
	_, err = w.Validate(context.Background(), tok)
	require.NoError(t, err)
	w.Close()
	_, err = w.Validate(context.Background(), tok)
	assert.NoError(t, err, "the keys fetched before Close are still used")
	srv.RotateSigningKey(false)
	rotated, err := srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "front-end", Scopes: []string{"nhn:service-a/read"}, JKT: proofer.Thumbprint()})
	require.NoError(t, err)
	_, err = w.Validate(context.Background(), rotated)
	assert.ErrorIs(t, err, helseid.ErrClosed)
	assert.ErrorIs(t, err, helseid.ErrValidatorUnavailable)
	assert.Equal(t, int32(1), jwks.n.Load(), "one fetch, before Close")
}

// moduleGoroutines returns the stacks of the goroutines (other than the caller) that run code
// of this module or were started by it, by goroutine id.
func moduleGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || !strings.Contains(g, "github.com/helseid-go/sdk/") {
			continue // the caller's, or none of ours
		}
		if fields := strings.Fields(g); len(fields) > 1 {
			out[fields[1]] = g
		}
	}
	return out
}

// assertNoNewGoroutines waits (at most 5 s: goroutines end a moment after the Close that
// stops them) until every goroutine of this module that was not in baseline has ended.
func assertNoNewGoroutines(t *testing.T, baseline map[string]string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		for id, stack := range moduleGoroutines() {
			if _, old := baseline[id]; !old {
				left = append(left, stack)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			slices.Sort(left)
			t.Fatalf("%d goroutines outlived Close:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		<-tick.C
	}
}

// Every type with a Close, after every flow, and after the same flows tried again once
// closed: no goroutine of this module is left.
func TestNoGoroutineOutlivesClose(t *testing.T) {
	baseline := moduleGoroutines()
	ctx := context.Background()

	srv, err := helseidtest.Start(helseidtest.Options{})
	require.NoError(t, err)
	defer srv.Close()
	_, err = srv.GenerateClient("front-end", "nhn:service-a/read")
	require.NoError(t, err)
	priv, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes: []string{"openid", "profile", "offline_access", "helseid://scopes/identity/pid",
			"nhn:service-a/read", "nhn:service-b/read", apiScope},
		RedirectURIs: []string{loginRedirect}, ExchangeAudience: "nhn:service-a"})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "ehr", Key: key, HTTPClient: srv.Client()})
	require.NoError(t, err)
	defer client.Close()
	guard, err := helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{
		Issuer: srv.Issuer(), Audience: srv.APIAudience(), HTTPClient: srv.Client()}})
	require.NoError(t, err)
	defer guard.Close()
	api := httptest.NewServer(guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), nil))
	defer api.Close()
	validator, err := helseid.NewAccessTokenValidator(helseid.AccessTokenConfig{Issuer: srv.Issuer(), Audience: srv.APIAudience(), HTTPClient: srv.Client()})
	require.NoError(t, err)
	defer validator.Close()
	exchanges, err := tokenexchange.NewCache(tokenexchange.CacheConfig{Exchange: func(context.Context, tokenexchange.Request) (*fapi.TokenResponse, error) {
		return &fapi.TokenResponse{AccessToken: "exchanged", TokenType: "DPoP", ExpiresIn: 300, Expiry: time.Now().Add(5 * time.Minute)}, nil
	}})
	require.NoError(t, err)
	defer exchanges.Close()

	get := func(c *http.Client, target string) int {
		resp, err := c.Get(target)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	login := func() (url.Values, *helseid.LoginState) {
		authURL, st, err := client.StartLogin(ctx, helseid.LoginRequest{RedirectURI: loginRedirect,
			Scope: loginScopeWithAPI, Resources: []string{"nhn:service-a", "nhn:service-b", srv.APIAudience()}})
		require.NoError(t, err)
		browser := srv.Client()
		browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := browser.Get(authURL)
		require.NoError(t, err)
		defer resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		return loc.Query(), st
	}
	subject, err := srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "front-end", Scopes: []string{"nhn:service-a/read"}, JKT: client.Proofer().Thumbprint()})
	require.NoError(t, err)

	// Client credentials: a cached token, and a DPoP client through the demo API's guard and ours.
	cc := helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}
	tok, err := client.Token(ctx, cc)
	require.NoError(t, err)
	httpClient, err := client.HTTPClient(cc)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, get(httpClient, srv.APIURL()))
	assert.Equal(t, http.StatusOK, get(httpClient, api.URL), "a request through the Guard")
	_, err = validator.Validate(ctx, tok.AccessToken)
	require.NoError(t, err)
	// Login, a user session, a refresh for a second resource and a call with the session.
	callback, st := login()
	res, err := client.FinishLogin(ctx, callback, st)
	require.NoError(t, err)
	session, err := client.NewUserSession(ctx, res, helseid.SessionOptions{})
	require.NoError(t, err)
	_, err = session.Token(ctx, "nhn:service-b")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, get(session.HTTPClient(srv.APIAudience()), srv.APIURL()))
	// Token exchange, through the client and through a Cache of its own.
	_, err = client.OnBehalfOf(ctx, subject, time.Now().Add(time.Minute), helseid.TokenExchangeRequest{Scopes: []string{"nhn:service-b/read"}})
	require.NoError(t, err)
	_, err = exchanges.Token(ctx, tokenexchange.Request{SubjectToken: subject, Scopes: []string{"nhn:service-b/read"}})
	require.NoError(t, err)
	// A login started before Close, finished after it.
	lateCallback, lateState := login()

	// Close everything; then try every flow again, for keys that were never cached.
	require.NoError(t, client.Close())
	guard.Close()
	validator.Close()
	exchanges.Close()

	_, err = client.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{"nhn:service-a/read"}})
	assert.ErrorIs(t, err, helseid.ErrClosed)
	_, err = client.FinishLogin(ctx, lateCallback, lateState)
	assert.NoError(t, err, "the ID token verifies with the keys fetched before Close")
	_, err = session.Token(ctx, srv.APIAudience())
	assert.NoError(t, err, "a session refresh is a call of the caller's own, not background work")
	_, err = client.OnBehalfOf(ctx, subject, time.Now().Add(time.Minute), helseid.TokenExchangeRequest{Scopes: []string{"nhn:other-api/read"}})
	assert.ErrorIs(t, err, helseid.ErrClosed)
	_, err = exchanges.Token(ctx, tokenexchange.Request{SubjectToken: subject, Scopes: []string{"nhn:other-api/read"}})
	assert.ErrorIs(t, err, tokenexchange.ErrClosed)
	assert.Equal(t, http.StatusOK, get(httpClient, api.URL), "the Guard serves with the keys it holds")

	api.Close()
	srv.Close()
	assertNoNewGoroutines(t, baseline)
}
