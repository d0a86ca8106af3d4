package helseid_test

import (
	"context"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	writeScope      = "nhn:helseidtest-api/write"
	casedReadScope  = "nhn:helseidtest-api/Read"
	specParentOrg   = "912345678"
	specOtherParent = "923456789"
	specChildOrg    = "987654321"
)

// Requests that differ only in the order (or repetition) of their scopes are one request and
// share one token; the canonical form is computed once per request as given.
func TestTokenScopeOrderSharesOneToken(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	ctx := context.Background()
	first, err := f.client.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope, writeScope}})
	require.NoError(t, err)
	for _, scopes := range [][]string{{writeScope, apiScope}, {apiScope, writeScope}, {writeScope, apiScope, writeScope}} {
		tok, err := f.client.Token(ctx, helseid.ClientCredentialsRequest{Scopes: scopes})
		require.NoError(t, err, scopes)
		assert.Same(t, first, tok, "%q", scopes)
	}
	assert.Equal(t, int64(1), f.srv.Stats().TokensIssued)
}

// Every input that changes the token keeps tokens apart: scopes compared byte for byte (case
// included), the resource and the organisation numbers.
func TestTokenDifferentRequestsNeverShare(t *testing.T) {
	scopes := []string{apiScope, writeScope, casedReadScope}
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{MultiTenant: true, Scopes: scopes}, helseid.MultiTenant)
	parent := helseid.Organization{Parent: specParentOrg}
	tests := []struct {
		name string
		a, b helseid.ClientCredentialsRequest
	}{
		{"scope case", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: parent},
			helseid.ClientCredentialsRequest{Scopes: []string{casedReadScope}, Organization: parent}},
		{"another scope", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: parent},
			helseid.ClientCredentialsRequest{Scopes: []string{writeScope}, Organization: parent}},
		{"a scope more", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: parent},
			helseid.ClientCredentialsRequest{Scopes: []string{apiScope, writeScope}, Organization: parent}},
		{"resource", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: parent},
			helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Resource: "nhn:helseidtest-api", Organization: parent}},
		{"parent", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: parent},
			helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.Organization{Parent: specOtherParent}}},
		{"child", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: parent},
			helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.Organization{Parent: specParentOrg, Child: specChildOrg}}},
		{"supplier", helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: parent},
			helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.SupplierOrganization()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			a, err := f.client.Token(ctx, tt.a)
			require.NoError(t, err)
			b, err := f.client.Token(ctx, tt.b)
			require.NoError(t, err)
			assert.NotEqual(t, a.AccessToken, b.AccessToken)
			again, err := f.client.Token(ctx, tt.a)
			require.NoError(t, err)
			assert.Same(t, a, again, "the first request's token is still its own")
		})
	}
}

// A warm client.Token allocates nothing for the call the quick start shows (the request built
// at the call), single- and multi-tenant, with the organisation on the request or in the
// context, and the supplier's token.
func TestTokenHitDoesNotAllocate(t *testing.T) {
	single := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{ChildOrgNumbers: []string{specChildOrg}}, helseid.SingleTenant)
	multi := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{OrgNumber: mtSupplier, MultiTenant: true}, helseid.MultiTenant)
	ctx := context.Background()
	tests := []struct {
		name   string
		client *helseid.Client
		ctx    context.Context
		org    helseid.Organization
	}{
		{"single-tenant", single.client, ctx, helseid.Organization{}},
		{"single-tenant child on the request", single.client, ctx, helseid.Organization{Child: specChildOrg}},
		{"multi-tenant organisation in the context", multi.client, helseid.WithOrganization(ctx, helseid.Organization{Parent: specParentOrg, Child: specChildOrg}), helseid.Organization{}},
		{"multi-tenant organisation on the request", multi.client, ctx, helseid.Organization{Parent: specParentOrg}},
		{"multi-tenant supplier", multi.client, ctx, helseid.SupplierOrganization()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.Token(tt.ctx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope, writeScope}, Organization: tt.org})
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(1000, func() {
				if _, err := tt.client.Token(tt.ctx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope, writeScope}, Organization: tt.org}); err != nil {
					panic(err)
				}
			})
			assert.Zero(t, allocs)
		})
	}
	// The organisation rule still holds on the fast path.
	_, err := multi.client.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope, writeScope}})
	assert.ErrorIs(t, err, helseid.ErrNoOrganization)
	_, err = multi.client.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope, writeScope}, Organization: helseid.Organization{Parent: "12345"}})
	assert.ErrorIs(t, err, helseid.ErrInvalidOrganization)
}
