package helseid_test

import (
	"context"
	"testing"
	"time"

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

// oauth2.ReuseTokenSource writes into each token it gets from its source; two of them over one
// adapter (as two oauth2.NewClient calls make) must not write into one shared token. Under
// -race this fails if the adapter hands both the same *oauth2.Token.
func TestTokenSourceUnderTwoReuseWrappers(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	ts := f.client.TokenSource(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	_, err := ts.Token()
	require.NoError(t, err)
	got := make(chan *oauth2.Token, 2)
	for _, early := range []time.Duration{time.Second, time.Minute} {
		go func() {
			tok, err := oauth2.ReuseTokenSourceWithExpiry(nil, ts, early).Token()
			assert.NoError(t, err)
			got <- tok
		}()
	}
	a, b := <-got, <-got
	require.NotNil(t, a)
	require.NotNil(t, b)
	assert.NotSame(t, a, b)
	assert.Equal(t, a.AccessToken, b.AccessToken)
}
