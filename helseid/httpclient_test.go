package helseid_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
)

// Every DPoP client for APIs has a timeout: dpop.DefaultClientTimeout unless Config.APITimeout
// says otherwise, none when it is negative.
func TestAPIClientsTimeout(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"default", 0, dpop.DefaultClientTimeout},
		{"configured", 7 * time.Second, 7 * time.Second},
		{"none", -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newLoginFixture(t, func(c *helseid.Config) { c.APITimeout = tc.timeout })
			api, err := f.client.HTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, api.Timeout, "HTTPClient")
			obo, err := f.client.OnBehalfOfHTTPClient(helseid.TokenExchangeRequest{Scopes: []string{apiScope}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, obo.Timeout, "OnBehalfOfHTTPClient")
			s, _ := f.loggedIn(t)
			assert.Equal(t, tc.want, s.HTTPClient("nhn:service-a").Timeout, "UserSession.HTTPClient")
		})
	}
}

// An API that stops answering does not hold the caller beyond APITimeout.
func TestAPIClientTimesOut(t *testing.T) {
	f := newLoginFixture(t, func(c *helseid.Config) { c.APITimeout = 100 * time.Millisecond })
	reached := make(chan struct{}, 1)
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
		<-r.Context().Done() // answers only when the client gives up
	}))
	t.Cleanup(stuck.Close)
	req := helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}
	_, err := f.client.Token(context.Background(), req) // cached: the timeout is the API's alone
	require.NoError(t, err)
	api, err := f.client.HTTPClient(req)
	require.NoError(t, err)

	_, err = api.Get(stuck.URL)
	require.Error(t, err)
	var ne net.Error
	require.True(t, errors.As(err, &ne), "a net.Error: %v", err)
	assert.True(t, ne.Timeout())
	assert.NotErrorIs(t, err, context.Canceled)
	select {
	case <-reached:
	default:
		t.Fatal("the request never reached the API")
	}
}
