package helseid_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/tokenexchange"
)

// chain: a user's token for service A; A (a HelseID client allowed token exchange) calls B on
// the user's behalf; B shows what it saw.
type chain struct {
	srv      *helseidtest.Server
	a, b     *httptest.Server
	actor    *helseid.Client
	userKey  *dpop.Proofer
	bReached int
	bClaims  *helseid.AccessTokenClaims
	rejectB  atomic.Bool // B answers the next call with 401 invalid_token
}

func newChain(t *testing.T) *chain {
	t.Helper()
	c := &chain{srv: helseidtest.NewServer(t)}
	_, err := c.srv.GenerateClient("front-end", "nhn:service-a/read")
	require.NoError(t, err)
	priv, err := c.srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "service-a", Scopes: []string{"nhn:service-b/read"},
		OrgNumber: helseidtest.DefaultOrgNumber, ExchangeAudience: "nhn:service-a"})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	c.actor, err = helseid.NewClient(helseid.Config{Issuer: c.srv.Issuer(), ClientID: "service-a", Key: key, HTTPClient: c.srv.Client()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.actor.Close() })
	c.userKey, err = dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)

	guard := func(aud string) *helseid.Guard {
		g, err := helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{Issuer: c.srv.Issuer(), Audience: aud, HTTPClient: c.srv.Client()}})
		require.NoError(t, err)
		return g
	}
	guardB := guard("nhn:service-b").Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.bReached++
		c.bClaims, _ = helseid.ClaimsFromContext(r.Context())
		_, _ = io.WriteString(w, "from b")
	}), nil)
	c.b = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.rejectB.CompareAndSwap(true, false) {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		guardB.ServeHTTP(w, r)
	}))
	t.Cleanup(c.b.Close)
	downstream, err := c.actor.OnBehalfOfHTTPClient(helseid.TokenExchangeRequest{Scopes: []string{"nhn:service-b/read"}})
	require.NoError(t, err)
	c.a = httptest.NewServer(guard("nhn:service-a").Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, c.b.URL+"/prescriptions", nil)
		resp, err := downstream.Do(req)
		if err != nil {
			http.Error(w, "b: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}), nil))
	t.Cleanup(c.a.Close)
	return c
}

func (c *chain) userToken(t *testing.T, user helseidtest.TestUser) string {
	t.Helper()
	tok, err := c.srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "front-end", Scopes: []string{"nhn:service-a/read"}, JKT: c.userKey.Thumbprint(), User: user})
	require.NoError(t, err)
	return tok
}

func (c *chain) callA(t *testing.T, tok string) *http.Response {
	t.Helper()
	client := dpop.NewClient(&dpop.Transport{Proofer: c.userKey, Tokens: fixedToken(tok)})
	resp, err := client.Get(c.a.URL + "/start")
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

type fixedToken string

func (f fixedToken) AccessToken(context.Context) (string, error) { return string(f), nil }

func TestOnBehalfOfChain(t *testing.T) {
	c := newChain(t)
	user := helseidtest.DefaultTestUser()
	tok := c.userToken(t, user)
	resp := c.callA(t, tok)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "from b", string(body))

	require.NotNil(t, c.bClaims)
	assert.Equal(t, user.PID, c.bClaims.PID, "B sees the user")
	assert.Equal(t, user.SecurityLevel, c.bClaims.SecurityLevel)
	assert.Equal(t, "service-a", c.bClaims.ClientID)
	require.NotNil(t, c.bClaims.Actor)
	assert.Equal(t, "service-a", c.bClaims.Actor.ClientID, "and that A acts for them")
	assert.Equal(t, c.actor.Proofer().Thumbprint(), c.bClaims.JKT, "the exchanged token is bound to A's key")

	// A second call with the same token reuses the exchanged token; another user's is
	// exchanged anew.
	issued := c.srv.Stats().TokensIssued
	resp = c.callA(t, tok)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, issued, c.srv.Stats().TokensIssued, "no new exchange for the same subject token")
	assert.Equal(t, 2, c.bReached)
	other := helseidtest.TestUser{PID: "01010112345", SecurityLevel: "3"}
	resp = c.callA(t, c.userToken(t, other))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, issued+1, c.srv.Stats().TokensIssued)
	assert.Equal(t, other.PID, c.bClaims.PID)
}

func TestOnBehalfOfNeedsTheIncomingToken(t *testing.T) {
	c := newChain(t)
	downstream, err := c.actor.OnBehalfOfHTTPClient(helseid.TokenExchangeRequest{Scopes: []string{"nhn:service-b/read"}})
	require.NoError(t, err)
	_, err = downstream.Get(c.b.URL + "/x")
	assert.ErrorIs(t, err, helseid.ErrNoSubjectToken)

	_, err = c.actor.OnBehalfOfHTTPClient(helseid.TokenExchangeRequest{Scopes: []string{"nhn:service-b/read", "nhn:other/read"}})
	assert.ErrorIs(t, err, helseid.ErrInvalidRequestParams, "scopes of two APIs")
}

func TestExchangeTokenRefusesForeignSubject(t *testing.T) {
	c := newChain(t)
	// A token the front end got for service B directly: not for A, so A may not exchange it.
	_, err := c.srv.GenerateClient("b-user", "nhn:service-b/read")
	require.NoError(t, err)
	foreign, err := c.srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "b-user", Scopes: []string{"nhn:service-b/read"}, JKT: c.userKey.Thumbprint()})
	require.NoError(t, err)
	_, err = c.actor.ExchangeToken(context.Background(), foreign, helseid.TokenExchangeRequest{Scopes: []string{"nhn:service-b/read"}})
	assert.ErrorIs(t, err, helseid.ErrInvalidGrant)
	assert.NotContains(t, err.Error(), foreign)

	ctx := helseid.WithSubjectToken(context.Background(), foreign, time.Time{})
	downstream, err := c.actor.OnBehalfOfHTTPClient(helseid.TokenExchangeRequest{Scopes: []string{"nhn:service-b/read"}})
	require.NoError(t, err)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.b.URL+"/x", nil)
	_, err = downstream.Do(req)
	assert.ErrorIs(t, err, helseid.ErrInvalidGrant)
	assert.Zero(t, c.bReached, "nothing reached B")
}

// B refusing the exchanged token makes A drop it and exchange the user's token once more.
func TestOnBehalfOfReexchangesAfterInvalidToken(t *testing.T) {
	c := newChain(t)
	tok := c.userToken(t, helseidtest.DefaultTestUser())
	require.Equal(t, http.StatusOK, c.callA(t, tok).StatusCode)
	issued := c.srv.Stats().TokensIssued
	c.rejectB.Store(true)
	resp := c.callA(t, tok)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, issued+1, c.srv.Stats().TokensIssued, "one new exchange after B's invalid_token")
	assert.Equal(t, 2, c.bReached)
}

func TestOnBehalfOfExpiredSubject(t *testing.T) {
	c := newChain(t)
	tok := c.userToken(t, helseidtest.DefaultTestUser())
	_, err := c.actor.OnBehalfOf(context.Background(), tok, time.Now().Add(-time.Second), helseid.TokenExchangeRequest{Scopes: []string{"nhn:service-b/read"}})
	assert.ErrorIs(t, err, tokenexchange.ErrSubjectExpired)
	assert.ErrorIs(t, err, helseid.ErrInvalidGrant)
}

func TestSubjectTokenInContextIsRedacted(t *testing.T) {
	ctx := helseid.WithSubjectToken(context.Background(), "eyJ-the-raw-subject-token", time.Time{})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(verb, ctx), "the-raw-subject-token", verb)
	}
}
