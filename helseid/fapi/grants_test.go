package fapi

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/helseid-go/sdk/internal/clientauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noWait retries at once: the tests count attempts, not time.
func noWait(c *Client) *Client {
	c.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	return c
}

// The documented constants are the signer's.
func TestAssertionConstants(t *testing.T) {
	assert.Equal(t, clientauth.AssertionType, ClientAssertionType)
	assert.Equal(t, clientauth.HeaderType, ClientAssertionHeaderType)
	assert.Equal(t, clientauth.DefaultLifetime, DefaultAssertionLifetime)
	assert.Equal(t, clientauth.MaxLifetime, MaxAssertionLifetime)
}

func TestClientCredentials(t *testing.T) {
	srv := newScript(t, reply(503, ``), reply(200, `{"access_token":"AT","token_type":"Bearer","expires_in":60}`))
	c, err := NewClient(srv.URL, Settings{ClientAuth: &fakeAuth{}})
	require.NoError(t, err)
	resp, err := noWait(c).ClientCredentials(context.Background(), ClientCredentialsRequest{Scopes: []string{"nhn:a/read", "nhn:a/write"},
		Resources: []string{"nhn:a"}})
	require.NoError(t, err, "a 503 is retried")
	assert.Equal(t, "AT", resp.AccessToken)
	reqs := srv.recorded()
	require.Len(t, reqs, 2)
	assert.Equal(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"nhn:a/read nhn:a/write"}, "resource": {"nhn:a"},
		"client_id": {"client-1"}, "client_assertion_type": {ClientAssertionType}, "client_assertion": {"SECRET-ASSERTION-1"}}, reqs[0].form)
	assert.Equal(t, "SECRET-ASSERTION-2", reqs[1].form.Get("client_assertion"), "a new assertion per attempt")
}

func TestExchangeCode(t *testing.T) {
	srv := newScript(t, nonceChallenge, reply(200, `{"access_token":"AT","token_type":"DPoP","refresh_token":"RT","id_token":"ID"}`))
	c, _ := newClient(t, srv.URL, true)
	resp, err := c.ExchangeCode(context.Background(), CodeExchange{Code: "the-code", CodeVerifier: "the-verifier",
		RedirectURI: "https://app.example/cb", Resource: "nhn:a"})
	require.NoError(t, err)
	assert.Equal(t, "RT", resp.RefreshToken)
	assert.Equal(t, "ID", resp.IDToken)
	reqs := srv.recorded()
	require.Len(t, reqs, 2, "the nonce challenge is answered once")
	want := url.Values{"grant_type": {"authorization_code"}, "code": {"the-code"}, "code_verifier": {"the-verifier"},
		"redirect_uri": {"https://app.example/cb"}, "resource": {"nhn:a"}}
	for k, v := range want {
		assert.Equal(t, v, reqs[1].form[k], k)
	}
	assert.Contains(t, reqs[1].proof, "nonce=n-1")
}

// A code is single-use: a transient failure of its exchange is final.
func TestExchangeCodeIsNeverRetried(t *testing.T) {
	srv := newScript(t, reply(503, ``), reply(200, okDPoP))
	c, _ := newClient(t, srv.URL, true)
	_, err := c.ExchangeCode(context.Background(), CodeExchange{Code: "c", CodeVerifier: "v", RedirectURI: "https://app.example/cb"})
	var oe *Error
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, http.StatusServiceUnavailable, oe.StatusCode)
	assert.Len(t, srv.recorded(), 1)
	assert.NotContains(t, err.Error(), "c&")
}

func TestRefresh(t *testing.T) {
	srv := newScript(t, reply(200, okDPoP))
	c, _ := newClient(t, srv.URL, true)
	_, err := c.Refresh(context.Background(), "RT-SECRET", "nhn:b")
	require.NoError(t, err)
	form := srv.recorded()[0].form
	assert.Equal(t, "refresh_token", form.Get("grant_type"))
	assert.Equal(t, "RT-SECRET", form.Get("refresh_token"))
	assert.Equal(t, []string{"nhn:b"}, form["resource"])
}

// Parameters that would make a malformed request are refused before anything is sent, and
// the error names none of the secrets.
func TestGrantRefusals(t *testing.T) {
	srv := newScript(t, reply(200, okDPoP))
	c, _ := newClient(t, srv.URL, true)
	ctx := context.Background()
	okCode := CodeExchange{Code: "CODE-SECRET", CodeVerifier: "VERIFIER-SECRET", RedirectURI: "https://app.example/cb"}
	cases := map[string]func() error{
		"empty scope": func() error {
			_, err := c.ClientCredentials(ctx, ClientCredentialsRequest{Scopes: []string{""}})
			return err
		},
		"scope with space": func() error {
			_, err := c.ClientCredentials(ctx, ClientCredentialsRequest{Scopes: []string{"a b"}})
			return err
		},
		"empty resource": func() error {
			_, err := c.ClientCredentials(ctx, ClientCredentialsRequest{Resources: []string{""}})
			return err
		},
		"no code": func() error {
			r := okCode
			r.Code = ""
			_, err := c.ExchangeCode(ctx, r)
			return err
		},
		"code with space": func() error {
			r := okCode
			r.Code = "CODE SECRET"
			_, err := c.ExchangeCode(ctx, r)
			return err
		},
		"no verifier": func() error {
			r := okCode
			r.CodeVerifier = ""
			_, err := c.ExchangeCode(ctx, r)
			return err
		},
		"no redirect uri": func() error {
			r := okCode
			r.RedirectURI = ""
			_, err := c.ExchangeCode(ctx, r)
			return err
		},
		"resource with space": func() error {
			r := okCode
			r.Resource = "nhn: a"
			_, err := c.ExchangeCode(ctx, r)
			return err
		},
		"no refresh token": func() error {
			_, err := c.Refresh(ctx, "", "nhn:a")
			return err
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			err := call()
			require.Error(t, err)
			assert.ErrorIs(t, err, errInvalidParams)
			for _, secret := range []string{"CODE", "VERIFIER"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
	assert.Empty(t, srv.recorded(), "nothing was sent")
}
