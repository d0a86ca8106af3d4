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

// The oauth2.TokenSource adapter allocates the *oauth2.Token it returns and nothing else, and
// each call's token is the caller's own: changing it changes nothing for the next caller.
func TestTokenSourceAllocatesOnlyTheToken(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	ts := f.client.TokenSource(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	first, err := ts.Token()
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := ts.Token(); err != nil {
			panic(err)
		}
	})
	assert.LessOrEqual(t, allocs, 1.0)
	issued := first.AccessToken
	first.AccessToken = "changed by a caller"
	second, err := ts.Token()
	require.NoError(t, err)
	assert.NotSame(t, first, second)
	assert.Equal(t, issued, second.AccessToken)
	assert.Equal(t, int64(1), f.srv.Stats().TokensIssued)
}
