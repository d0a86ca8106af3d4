package helseid_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var bearerReq = helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Bearer: true}

// proofsSeen counts the token requests that carried a DPoP header.
func proofsSeen(srv *helseidtest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.SetTokenHook(func(_ http.ResponseWriter, r *http.Request) bool {
		if len(r.Header.Values("DPoP")) > 0 {
			n.Add(1)
		}
		return false
	})
	return &n
}

func TestBearerTokenIsUnbound(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{AllowBearer: true}, helseid.SingleTenant)
	proofs := proofsSeen(f.srv)
	resp, err := f.client.ClientCredentials(context.Background(), bearerReq)
	require.NoError(t, err)
	assert.Equal(t, "Bearer", resp.TokenType)
	claims := claimsOf(t, resp.AccessToken)
	assert.NotContains(t, claims, "cnf", "an unbound token")
	assert.Equal(t, "nhn:helseidtest-api", claims["aud"])
	assert.Zero(t, proofs.Load(), "a Bearer token request carries no DPoP proof")
	assert.Equal(t, int64(1), f.srv.Stats().TokenRequests, "no nonce handshake without a proof")

	bound, err := f.client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	require.NoError(t, err)
	assert.Equal(t, "DPoP", bound.TokenType, "the same client still gets DPoP-bound tokens by default")
	assert.Contains(t, claimsOf(t, bound.AccessToken), "cnf")
	assert.Positive(t, proofs.Load())
}

func TestBearerRefusedForClientThatRequiresDPoP(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	_, err := f.client.ClientCredentials(context.Background(), bearerReq)
	require.Error(t, err)
	assert.ErrorIs(t, err, helseid.ErrInvalidDPoPProof)
	_, err = f.client.Token(context.Background(), bearerReq)
	assert.ErrorIs(t, err, helseid.ErrInvalidDPoPProof)
}

// A Bearer request answered with a DPoP token, or a DPoP request answered with a Bearer token,
// is refused: neither kind is ever taken for the other.
func TestBearerTokenTypeMustMatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    helseid.ClientCredentialsRequest
		answer string
	}{
		{"bearer request, dpop answer", bearerReq, "DPoP"},
		{"dpop request, bearer answer", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}, "Bearer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, helseidtest.Options{Nonce: helseidtest.NonceNone}, helseidtest.ClientRegistration{AllowBearer: true}, helseid.SingleTenant)
			f.srv.SetTokenHook(func(w http.ResponseWriter, _ *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"access_token":"a.b.c","token_type":"`+tc.answer+`","expires_in":300}`)
				return true
			})
			_, err := f.client.ClientCredentials(context.Background(), tc.req)
			assert.ErrorIs(t, err, helseid.ErrInvalidResponse)
			_, err = f.client.Token(context.Background(), tc.req)
			assert.ErrorIs(t, err, helseid.ErrInvalidResponse)
		})
	}
}

func TestBearerAndBoundTokensAreCachedApart(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{AllowBearer: true}, helseid.SingleTenant)
	boundReq := helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}
	bound, err := f.client.Token(context.Background(), boundReq)
	require.NoError(t, err)
	unbound, err := f.client.Token(context.Background(), bearerReq)
	require.NoError(t, err)
	assert.NotEqual(t, bound.AccessToken, unbound.AccessToken)
	assert.Contains(t, claimsOf(t, bound.AccessToken), "cnf")
	assert.NotContains(t, claimsOf(t, unbound.AccessToken), "cnf")
	issued := f.srv.Stats().TokensIssued
	assert.Equal(t, int64(2), issued)

	for i := 0; i < 3; i++ {
		b, err := f.client.Token(context.Background(), boundReq)
		require.NoError(t, err)
		u, err := f.client.Token(context.Background(), bearerReq)
		require.NoError(t, err)
		assert.Equal(t, bound.AccessToken, b.AccessToken)
		assert.Equal(t, unbound.AccessToken, u.AccessToken)
	}
	assert.Equal(t, issued, f.srv.Stats().TokensIssued, "both served from the cache")

	ts, err := f.client.TokenSource(context.Background(), bearerReq).Token()
	require.NoError(t, err)
	assert.Equal(t, "Bearer", ts.Type())
	assert.Equal(t, unbound.AccessToken, ts.AccessToken)
	ts, err = f.client.TokenSource(context.Background(), boundReq).Token()
	require.NoError(t, err)
	assert.Equal(t, "DPoP", ts.Type())
}

func TestDPoPClientsRefuseBearerRequests(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{AllowBearer: true}, helseid.SingleTenant)
	_, err := f.client.Source(bearerReq)
	assert.ErrorIs(t, err, helseid.ErrInvalidRequestParams)
	_, err = f.client.HTTPClient(bearerReq)
	assert.ErrorIs(t, err, helseid.ErrInvalidRequestParams)
	assert.ErrorContains(t, err, "BearerHTTPClient")
	assert.Zero(t, f.srv.Stats().TokenRequests)
}

// legacyClient registers a client allowed Bearer tokens with srv and returns a Client for it.
func legacyClient(t *testing.T, srv *helseidtest.Server) *helseid.Client {
	t.Helper()
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "legacy", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes: []string{apiScope}, AllowBearer: true})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(privateJWK, "")
	require.NoError(t, err)
	legacy, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "legacy", Key: key, HTTPClient: srv.Client()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = legacy.Close() })
	return legacy
}

func TestBearerHTTPClientSendsBearerOnly(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	legacy := legacyClient(t, f.srv)
	var mu sync.Mutex
	var seen []http.Header
	var invalidOnce atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
	}))
	t.Cleanup(other.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/elsewhere", http.StatusFound)
		case "/expired":
			if !invalidOnce.Swap(true) {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				w.WriteHeader(http.StatusUnauthorized)
			}
		}
	}))
	t.Cleanup(api.Close)
	client, err := legacy.BearerHTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	require.NoError(t, err)
	get := func(url string) *http.Response {
		t.Helper()
		resp, err := client.Get(url)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp
	}
	reset := func() []http.Header {
		mu.Lock()
		defer mu.Unlock()
		s := seen
		seen = nil
		return s
	}

	assert.Equal(t, http.StatusOK, get(api.URL+"/plain").StatusCode)
	h := reset()
	require.Len(t, h, 1)
	first := h[0].Get("Authorization")
	assert.True(t, strings.HasPrefix(first, "Bearer "), "Authorization: Bearer")
	assert.Empty(t, h[0].Values("DPoP"), "no proof")
	assert.NotContains(t, claimsOf(t, strings.TrimPrefix(first, "Bearer ")), "cnf")

	assert.Equal(t, http.StatusOK, get(api.URL+"/away").StatusCode)
	h = reset()
	require.Len(t, h, 2)
	assert.NotEmpty(t, h[0].Get("Authorization"))
	assert.Empty(t, h[1].Get("Authorization"), "no token to another origin on a redirect")

	issued := f.srv.Stats().TokensIssued
	assert.Equal(t, http.StatusOK, get(api.URL+"/expired").StatusCode)
	h = reset()
	require.Len(t, h, 2, "one retry after invalid_token")
	assert.NotEqual(t, h[0].Get("Authorization"), h[1].Get("Authorization"), "with a new token")
	assert.Equal(t, issued+1, f.srv.Stats().TokensIssued)

	_, err = client.Get("http://example.com/x")
	assert.ErrorIs(t, err, dpop.ErrInsecureURL)
	req, err := http.NewRequest(http.MethodGet, api.URL+"/plain", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic eA==")
	_, err = client.Do(req)
	assert.ErrorIs(t, err, dpop.ErrRequestHasCredentials)
	assert.Empty(t, reset(), "nothing sent for a refused request")
	// A key set directly in another case is the same header to the server.
	req, err = http.NewRequest(http.MethodGet, api.URL+"/plain", nil)
	require.NoError(t, err)
	req.Header["authorization"] = []string{"Basic eA=="}
	_, err = client.Do(req)
	assert.ErrorIs(t, err, dpop.ErrRequestHasCredentials)
	assert.Empty(t, reset(), "nothing sent for a refused request")
}
