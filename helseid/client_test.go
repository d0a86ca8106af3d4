package helseid_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const apiScope = "nhn:helseidtest-api/read"

type fixture struct {
	srv    *helseidtest.Server
	client *helseid.Client
	key    *helseid.Key
}

func newFixture(t *testing.T, opts helseidtest.Options, reg helseidtest.ClientRegistration, tenancy helseid.Tenancy) fixture {
	t.Helper()
	srv := helseidtest.NewServer(t, opts)
	if reg.ID == "" {
		reg.ID = "client-1"
	}
	if reg.OrgNumber == "" {
		reg.OrgNumber = helseidtest.DefaultOrgNumber
	}
	if reg.Scopes == nil {
		reg.Scopes = []string{apiScope, "nhn:helseidtest-api/write", "nhn:other-api/read"}
	}
	privateJWK, err := srv.GenerateClientFor(reg)
	require.NoError(t, err)
	key, err := helseid.ParseJWK(privateJWK, "")
	require.NoError(t, err)
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: reg.ID, Key: key, Tenancy: tenancy, HTTPClient: srv.Client()})
	require.NoError(t, err)
	return fixture{srv: srv, client: client, key: key}
}

func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	return claims
}

func TestClientCredentialsDPoPBound(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	tok, err := f.client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope, "nhn:helseidtest-api/write"}})
	require.NoError(t, err)
	assert.Equal(t, "DPoP", tok.TokenType)
	assert.Positive(t, tok.ExpiresIn)
	claims := claimsOf(t, tok.AccessToken)
	assert.Equal(t, "nhn:helseidtest-api", claims["aud"])
	assert.Equal(t, "client-1", claims["client_id"])
	assert.Equal(t, map[string]any{"jkt": f.client.Proofer().Thumbprint()}, claims["cnf"], "token bound to the client's DPoP key")
}

func TestNonceHandshake(t *testing.T) {
	t.Run("server sends nonces on success: one round trip after the first handshake", func(t *testing.T) {
		f := newFixture(t, helseidtest.Options{Nonce: helseidtest.NonceRotating}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
		for i := 0; i < 3; i++ {
			_, err := f.client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
			require.NoError(t, err)
		}
		st := f.srv.Stats()
		assert.Equal(t, int64(1), st.NonceChallenges)
		assert.Equal(t, int64(4), st.TokenRequests, "2 for the first token, then 1 each")
	})
	t.Run("server rotates silently: one retry per request", func(t *testing.T) {
		f := newFixture(t, helseidtest.Options{Nonce: helseidtest.NonceSilentRotate}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
		for i := 0; i < 3; i++ {
			_, err := f.client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
			require.NoError(t, err)
		}
		st := f.srv.Stats()
		assert.Equal(t, int64(3), st.NonceChallenges)
		assert.Equal(t, int64(6), st.TokenRequests)
		assert.Equal(t, int64(3), st.TokensIssued)
	})
	t.Run("no nonce required", func(t *testing.T) {
		f := newFixture(t, helseidtest.Options{Nonce: helseidtest.NonceNone}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
		_, err := f.client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
		require.NoError(t, err)
		assert.Equal(t, int64(1), f.srv.Stats().TokenRequests)
	})
}

func TestOrganizations(t *testing.T) {
	const (
		supplier = "994598759"
		parent   = "912345678"
		child    = "987654321"
		orgNS    = "helseid://claims/client/claims/"
	)
	t.Run("multi-tenant", func(t *testing.T) {
		f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{OrgNumber: supplier, MultiTenant: true}, helseid.MultiTenant)
		tok, err := f.client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.Organization{Parent: parent, Child: child}})
		require.NoError(t, err)
		claims := claimsOf(t, tok.AccessToken)
		assert.Equal(t, parent, claims[orgNS+"orgnr_parent"])
		assert.Equal(t, child, claims[orgNS+"orgnr_child"])
		assert.Equal(t, supplier, claims[orgNS+"orgnr_supplier"])
	})
	t.Run("single-tenant child", func(t *testing.T) {
		f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{OrgNumber: supplier, ChildOrgNumbers: []string{child}}, helseid.SingleTenant)
		tok, err := f.client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.Organization{Child: child}})
		require.NoError(t, err)
		claims := claimsOf(t, tok.AccessToken)
		assert.Equal(t, supplier, claims[orgNS+"orgnr_parent"])
		assert.Equal(t, child, claims[orgNS+"orgnr_child"])
	})
}

// Requests the SDK refuses never reach the token endpoint.
func TestRefusedRequestsSendNothing(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	cases := []struct {
		name string
		req  helseid.ClientCredentialsRequest
		is   error
		msg  string
	}{
		{"no scopes", helseid.ClientCredentialsRequest{}, helseid.ErrInvalidRequestParams, "no scopes"},
		{"two APIs", helseid.ClientCredentialsRequest{Scopes: []string{apiScope, "nhn:other-api/read"}}, helseid.ErrInvalidRequestParams, "several APIs"},
		{"identity scope", helseid.ClientCredentialsRequest{Scopes: []string{"openid", apiScope}}, helseid.ErrInvalidRequestParams, "identity scope"},
		{"helseid identity scope", helseid.ClientCredentialsRequest{Scopes: []string{"helseid://scopes/identity/pid"}}, helseid.ErrInvalidRequestParams, "identity scope"},
		{"scope with space", helseid.ClientCredentialsRequest{Scopes: []string{apiScope + " openid"}}, helseid.ErrInvalidRequestParams, "white space"},
		{"8-digit org", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.Organization{Child: "12345678"}}, helseid.ErrInvalidOrganization, "9 digits"},
		{"parent for single-tenant", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.Organization{Parent: "912345678"}}, helseid.ErrInvalidOrganization, "single-tenant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.ClientCredentials(context.Background(), tc.req)
			require.ErrorIs(t, err, tc.is)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	assert.Zero(t, f.srv.Stats().TokenRequests)
}

func TestIssuerMismatchStopsBeforeTokenRequest(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	client, err := helseid.NewClient(helseid.Config{Issuer: f.srv.Issuer() + "/", ClientID: "client-1", Key: f.key, HTTPClient: f.srv.Client()})
	require.NoError(t, err)
	_, err = client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "issuer")
	assert.Zero(t, f.srv.Stats().TokenRequests)
}

func TestUnregisteredKeyIsInvalidClient(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	other, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	client, err := helseid.NewClient(helseid.Config{Issuer: f.srv.Issuer(), ClientID: "client-1", Key: other, HTTPClient: f.srv.Client()})
	require.NoError(t, err)
	_, err = client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	require.ErrorIs(t, err, helseid.ErrInvalidClient)
	var oe *fapi.Error
	require.True(t, errors.As(err, &oe))
	assert.Equal(t, http.StatusUnauthorized, oe.StatusCode)
}

func TestSeparateDPoPKey(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	dpopKey, err := helseid.GenerateKey("ES384")
	require.NoError(t, err)
	client, err := helseid.NewClient(helseid.Config{Issuer: f.srv.Issuer(), ClientID: "client-1", Key: f.key, DPoPKey: dpopKey, HTTPClient: f.srv.Client()})
	require.NoError(t, err)
	tok, err := client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"jkt": dpopKey.Thumbprint()}, claimsOf(t, tok.AccessToken)["cnf"])
}

func TestConcurrentTokenRequests(t *testing.T) {
	f := newFixture(t, helseidtest.Options{Nonce: helseidtest.NonceSilentRotate}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	failures := 0
	for err := range errs {
		// A silently rotating server may invalidate a nonce between one goroutine's challenge
		// and its retry; that is the only acceptable failure, and it is typed.
		if err != nil {
			require.ErrorIs(t, err, helseid.ErrUseDPoPNonce)
			failures++
		}
	}
	assert.Less(t, failures, n)
	assert.Equal(t, int64(n-failures), f.srv.Stats().TokensIssued)
}

func TestNewClientValidation(t *testing.T) {
	key, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	edDPoP, err := helseid.GenerateKey("EdDSA")
	require.NoError(t, err)
	ok := helseid.Config{Issuer: helseid.TestIssuer, ClientID: "c", Key: key}
	_, err = helseid.NewClient(ok)
	require.NoError(t, err)
	cases := map[string]struct {
		mutate func(*helseid.Config)
		msg    string
	}{
		"no issuer":                           {func(c *helseid.Config) { c.Issuer = "" }, "Issuer is empty"},
		"http issuer":                         {func(c *helseid.Config) { c.Issuer = "http://helseid-sts.nhn.no" }, "https"},
		"no client id":                        {func(c *helseid.Config) { c.ClientID = "" }, "ClientID"},
		"no key":                              {func(c *helseid.Config) { c.Key = nil }, "Key is nil"},
		"bad tenancy":                         {func(c *helseid.Config) { c.Tenancy = 9 }, "Tenancy"},
		"long assertion":                      {func(c *helseid.Config) { c.AssertionLifetime = 2 * time.Minute }, "exceeds"},
		"eddsa dpop key":                      {func(c *helseid.Config) { c.DPoPKey = edDPoP }, ""},
		"refresh window below the minimum":    {func(c *helseid.Config) { c.RefreshWindow = helseid.MinRefreshWindow - time.Millisecond }, "RefreshWindow"},
		"refresh window of the expiry margin": {func(c *helseid.Config) { c.RefreshWindow = 5 * time.Second }, "RefreshWindow"},
		"negative refresh window":             {func(c *helseid.Config) { c.RefreshWindow = -time.Minute }, "RefreshWindow"},
		"smallest refresh window":             {func(c *helseid.Config) { c.RefreshWindow = helseid.MinRefreshWindow }, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			_, err := helseid.NewClient(cfg)
			if tc.msg == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "invalid helseid configuration")
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestAPIOf(t *testing.T) {
	for scope, api := range map[string]string{
		"nhn:kjernejournal/api":                         "nhn:kjernejournal",
		"nhn:phr/mhd/read-document":                     "nhn:phr",
		"nhn:hgd-persontjenesten-api/restricted-access": "nhn:hgd-persontjenesten-api",
		"nhn:selvbetjening/client":                      "nhn:selvbetjening",
		"plain":                                         "plain",
	} {
		assert.Equal(t, api, helseid.APIOf(scope), scope)
	}
}
