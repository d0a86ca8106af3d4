package helseid_test

import (
	"context"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestTokenSourceWithReuse(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	ts := oauth2.ReuseTokenSource(nil, f.client.TokenSource(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}))
	first, err := ts.Token()
	require.NoError(t, err)
	assert.Equal(t, "DPoP", first.Type())
	assert.True(t, first.Valid())
	assert.Equal(t, f.client.Proofer().Thumbprint(), claimsOf(t, first.AccessToken)["cnf"].(map[string]any)["jkt"])
	second, err := ts.Token()
	require.NoError(t, err)
	assert.Equal(t, first.AccessToken, second.AccessToken, "reused until expiry")
	assert.Equal(t, int64(1), f.srv.Stats().TokensIssued)

	_, err = f.client.TokenSource(context.Background(), helseid.ClientCredentialsRequest{}).Token()
	assert.ErrorIs(t, err, helseid.ErrInvalidRequestParams)
}
