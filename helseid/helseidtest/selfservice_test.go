package helseidtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/fakeclock"
)

// selfServiceClient registers a client with scopes and returns a helseid.Client for it.
func selfServiceClient(t *testing.T, srv *helseidtest.Server, clock *fakeclock.Clock, reg helseidtest.ClientRegistration) (*helseid.Client, *helseid.Key) {
	t.Helper()
	if reg.OrgNumber == "" {
		reg.OrgNumber = helseidtest.DefaultOrgNumber
	}
	priv, err := srv.GenerateClientFor(reg)
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	return newSDKClient(t, srv, clock, reg.ID, key), key
}

func newSDKClient(t *testing.T, srv *helseidtest.Server, clock *fakeclock.Clock, id string, key *helseid.Key) *helseid.Client {
	t.Helper()
	c, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: id, Key: key, HTTPClient: srv.Client(), Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dpopClient returns a DPoP HTTP client with tokens for scope.
func dpopClient(t *testing.T, c *helseid.Client, scope string) *http.Client {
	t.Helper()
	hc, err := c.HTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{scope}})
	require.NoError(t, err)
	return hc
}

func publicJWK(t *testing.T, alg string) (*helseid.Key, map[string]any) {
	t.Helper()
	k, err := helseid.GenerateKey(alg)
	require.NoError(t, err)
	raw, err := k.PublicJWK()
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return k, m
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func postClientSecret(t *testing.T, hc *http.Client, srv *helseidtest.Server, method, contentType string, body any) (*http.Response, problem) {
	t.Helper()
	var text string
	switch b := body.(type) {
	case string:
		text = b
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		text = string(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, srv.SelfServiceURL()+helseidtest.ClientSecretPath, strings.NewReader(text))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var p problem
	if resp.StatusCode != http.StatusOK {
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		require.NoError(t, json.Unmarshal(raw, &p), "body %s", raw)
		assert.Equal(t, resp.StatusCode, p.Status)
	} else {
		require.NoError(t, json.Unmarshal(raw, &struct{ Expiration string }{}))
	}
	return resp, p
}

func TestClientSecretEndpointChecks(t *testing.T) {
	clock := newClock()
	srv := helseidtest.NewServer(t, helseidtest.Options{Now: clock.Now, SigningKey: testSigningKey()})
	client, _ := selfServiceClient(t, srv, clock, helseidtest.ClientRegistration{
		ID: "rotator", Scopes: []string{helseidtest.SelfServiceScope, readScope}})
	narrow, _ := selfServiceClient(t, srv, clock, helseidtest.ClientRegistration{
		ID: "narrow", Scopes: []string{helseidtest.SelfServiceAudience + "/read-only"}})
	selfService := dpopClient(t, client, helseidtest.SelfServiceScope)

	withoutProof := func() *http.Client {
		tok, err := client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{helseidtest.SelfServiceScope}})
		require.NoError(t, err)
		return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r.Header.Set("Authorization", "DPoP "+tok.AccessToken)
			return srv.Client().Transport.RoundTrip(r)
		})}
	}

	_, good := publicJWK(t, "ES256")
	without := func(name string) map[string]any {
		m := map[string]any{}
		for k, v := range good {
			if k != name {
				m[k] = v
			}
		}
		return m
	}
	privateKey, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	privateJWK, err := privateKey.PrivateJWK()
	require.NoError(t, err)

	cases := []struct {
		name        string
		hc          *http.Client
		method      string
		contentType string
		body        any
		status      int
		challenge   bool
	}{
		{"no token", srv.Client(), http.MethodPost, "application/json", good, http.StatusUnauthorized, true},
		{"token without a proof", withoutProof(), http.MethodPost, "application/json", good, http.StatusUnauthorized, true},
		{"token for another API", dpopClient(t, client, readScope), http.MethodPost, "application/json", good, http.StatusUnauthorized, true},
		{"self-service token without the client scope", dpopClient(t, narrow, helseidtest.SelfServiceAudience+"/read-only"), http.MethodPost, "application/json", good, http.StatusForbidden, true},
		{"GET", selfService, http.MethodGet, "", "", http.StatusMethodNotAllowed, false},
		{"not json", selfService, http.MethodPost, "text/plain", good, http.StatusUnsupportedMediaType, false},
		{"private jwk", selfService, http.MethodPost, "application/json", string(privateJWK), http.StatusBadRequest, false},
		{"jwk set", selfService, http.MethodPost, "application/json", map[string]any{"keys": []any{good}}, http.StatusBadRequest, false},
		{"no use", selfService, http.MethodPost, "application/json", without("use"), http.StatusBadRequest, false},
		{"no alg", selfService, http.MethodPost, "application/json", without("alg"), http.StatusBadRequest, false},
		{"no kid", selfService, http.MethodPost, "application/json", without("kid"), http.StatusBadRequest, false},
		{"not a jwk", selfService, http.MethodPost, "application/json", "[1]", http.StatusBadRequest, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, p := postClientSecret(t, tc.hc, srv, tc.method, tc.contentType, tc.body)
			assert.Equal(t, tc.status, resp.StatusCode, "%+v", p)
			assert.NotEmpty(t, p.Title)
			if tc.challenge {
				assert.Regexp(t, `^DPoP `, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	assert.Zero(t, srv.Stats().KeysRegistered, "nothing was registered")
	kids, _, ok := srv.ClientKeyIDs("rotator")
	require.True(t, ok)
	assert.Len(t, kids, 1)

	resp, _ := postClientSecret(t, selfService, srv, http.MethodPost, "application/json; charset=utf-8", good)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the same request with everything right")
	assert.EqualValues(t, 1, srv.Stats().KeysRegistered)
	_, expires, _ := srv.ClientKeyIDs("rotator")
	assert.True(t, clock.Now().Add(helseidtest.DefaultClientKeyLifetime).Equal(expires), "the default lifetime")
}

func TestRegisteredKeyReplacesAndExpires(t *testing.T) {
	clock := newClock()
	srv := helseidtest.NewServer(t, helseidtest.Options{Now: clock.Now, SigningKey: testSigningKey(), ClientKeyLifetime: 24 * time.Hour})
	client, oldKey := selfServiceClient(t, srv, clock, helseidtest.ClientRegistration{
		ID: "rotator", Scopes: []string{helseidtest.SelfServiceScope, readScope}})
	newKey, jwkBody := publicJWK(t, "PS256")

	resp, _ := postClientSecret(t, dpopClient(t, client, helseidtest.SelfServiceScope), srv, http.MethodPost, "application/json", jwkBody)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	kids, expires, ok := srv.ClientKeyIDs("rotator")
	require.True(t, ok)
	assert.Equal(t, []string{newKey.KeyID()}, kids)
	assert.True(t, clock.Now().Add(24*time.Hour).Equal(expires), "expires %s", expires)

	token := func(key *helseid.Key) error {
		_, err := newSDKClient(t, srv, clock, "rotator", key).ClientCredentials(context.Background(),
			helseid.ClientCredentialsRequest{Scopes: []string{readScope}})
		return err
	}
	assert.ErrorIs(t, token(oldKey), helseid.ErrInvalidClient, "the replaced key is refused at once")
	assert.NoError(t, token(newKey))
	clock.Advance(24*time.Hour - time.Second)
	assert.NoError(t, token(newKey), "a second before its expiration")
	clock.Advance(time.Second)
	err := token(newKey)
	require.ErrorIs(t, err, helseid.ErrInvalidClient, "an expired key is refused")
	assert.Contains(t, err.Error(), "expired")
}

func TestRegisteredClientKeysExpire(t *testing.T) {
	clock := newClock()
	srv := helseidtest.NewServer(t, helseidtest.Options{Now: clock.Now, SigningKey: testSigningKey()})
	client, _ := selfServiceClient(t, srv, clock, helseidtest.ClientRegistration{
		ID: "expiring", Scopes: []string{readScope}, KeysExpire: clock.Now().Add(time.Hour)})
	req := helseid.ClientCredentialsRequest{Scopes: []string{readScope}}
	_, err := client.ClientCredentials(context.Background(), req)
	require.NoError(t, err)
	clock.Advance(time.Hour)
	_, err = client.ClientCredentials(context.Background(), req)
	require.ErrorIs(t, err, helseid.ErrInvalidClient)
	assert.Contains(t, err.Error(), "expired")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
