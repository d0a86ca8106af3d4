package helseid_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

const (
	mtSupplier = "994598759"
	mtParent   = "912345678"
	claimOrgNS = "helseid://claims/client/claims/"
)

// entryPoints are the ways to get a client-credentials token; each returns the parent
// organisation the token it got speaks for.
var entryPoints = []struct {
	name string
	get  func(t *testing.T, f fixture, ctx context.Context, req helseid.ClientCredentialsRequest) (string, error)
}{
	{"Token", func(t *testing.T, f fixture, ctx context.Context, req helseid.ClientCredentialsRequest) (string, error) {
		tok, err := f.client.Token(ctx, req)
		if err != nil {
			return "", err
		}
		return orgParentOf(t, tok.AccessToken), nil
	}},
	{"ClientCredentials", func(t *testing.T, f fixture, ctx context.Context, req helseid.ClientCredentialsRequest) (string, error) {
		tok, err := f.client.ClientCredentials(ctx, req)
		if err != nil {
			return "", err
		}
		return orgParentOf(t, tok.AccessToken), nil
	}},
	{"Source", func(t *testing.T, f fixture, ctx context.Context, req helseid.ClientCredentialsRequest) (string, error) {
		src, err := f.client.Source(req)
		require.NoError(t, err, "a Source without an organisation takes each call's from its context")
		tok, err := src.AccessToken(ctx)
		if err != nil {
			return "", err
		}
		return orgParentOf(t, tok), nil
	}},
	{"TokenSource", func(t *testing.T, f fixture, ctx context.Context, req helseid.ClientCredentialsRequest) (string, error) {
		tok, err := f.client.TokenSource(ctx, req).Token()
		if err != nil {
			return "", err
		}
		return orgParentOf(t, tok.AccessToken), nil
	}},
	{"HTTPClient", func(t *testing.T, f fixture, ctx context.Context, req helseid.ClientCredentialsRequest) (string, error) {
		api, err := f.client.HTTPClient(req)
		require.NoError(t, err)
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.APIURL(), nil)
		require.NoError(t, err)
		resp, err := api.Do(r)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var seen helseidtest.APIResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&seen))
		return seen.OrgNrParent, nil
	}},
}

func orgParentOf(t *testing.T, token string) string {
	t.Helper()
	s, _ := claimsOf(t, token)[claimOrgNS+"orgnr_parent"].(string)
	return s
}

// A multi-tenant client never falls back to the supplier's token because an organisation is
// missing: every entry point refuses, before any request, unless the caller asks for the
// supplier's own token explicitly.
func TestMultiTenantWithoutOrganizationIsRefused(t *testing.T) {
	scopes := []string{apiScope}
	for _, ep := range entryPoints {
		t.Run(ep.name, func(t *testing.T) {
			f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{OrgNumber: mtSupplier, MultiTenant: true}, helseid.MultiTenant)
			missing := []struct {
				name string
				ctx  context.Context
			}{
				{"no context value", context.Background()},
				{"zero organisation in the context", helseid.WithOrganization(context.Background(), helseid.Organization{})},
			}
			for _, m := range missing {
				_, err := ep.get(t, f, m.ctx, helseid.ClientCredentialsRequest{Scopes: scopes})
				require.ErrorIs(t, err, helseid.ErrNoOrganization, m.name)
				assert.ErrorIs(t, err, helseid.ErrInvalidRequestParams, m.name)
				assert.Contains(t, err.Error(), "SupplierOrganization", "the error says how to ask for the supplier's token")
			}
			assert.Zero(t, f.srv.Stats().TokenRequests, "nothing is sent")

			supplierCtx := helseid.WithOrganization(context.Background(), helseid.SupplierOrganization())
			orgCtx := helseid.WithOrganization(context.Background(), helseid.Organization{Parent: mtParent})
			cases := []struct {
				name string
				ctx  context.Context
				org  helseid.Organization
				want string
			}{
				{"supplier on the request", context.Background(), helseid.SupplierOrganization(), mtSupplier},
				{"supplier in the context", supplierCtx, helseid.Organization{}, mtSupplier},
				{"supplier on the request wins over the context", orgCtx, helseid.SupplierOrganization(), mtSupplier},
				{"organisation on the request wins over supplier in the context", supplierCtx, helseid.Organization{Parent: mtParent}, mtParent},
				{"organisation in the context", orgCtx, helseid.Organization{}, mtParent},
			}
			for _, tc := range cases {
				got, err := ep.get(t, f, tc.ctx, helseid.ClientCredentialsRequest{Scopes: scopes, Organization: tc.org})
				require.NoError(t, err, tc.name)
				assert.Equal(t, tc.want, got, tc.name)
			}
		})
	}
}

// The supplier's token asked for on the request and in the context is one cache entry.
func TestSupplierOrganizationSharesOneToken(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{OrgNumber: mtSupplier, MultiTenant: true}, helseid.MultiTenant)
	a, err := f.client.Token(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.SupplierOrganization()})
	require.NoError(t, err)
	b, err := f.client.Token(helseid.WithOrganization(context.Background(), helseid.SupplierOrganization()), readReq)
	require.NoError(t, err)
	assert.Equal(t, a.AccessToken, b.AccessToken)
	assert.Equal(t, int64(1), f.srv.Stats().TokensIssued)
	_, hasChild := claimsOf(t, a.AccessToken)[claimOrgNS+"orgnr_child"]
	assert.False(t, hasChild)
}

// A single-tenant client keeps the zero Organization's meaning, its own organisation, and
// accepts SupplierOrganization as the same.
func TestSingleTenantWithoutOrganization(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{OrgNumber: mtSupplier}, helseid.SingleTenant)
	for _, ep := range entryPoints {
		got, err := ep.get(t, f, context.Background(), readReq)
		require.NoError(t, err, ep.name)
		assert.Equal(t, mtSupplier, got, ep.name)
		got, err = ep.get(t, f, context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.SupplierOrganization()})
		require.NoError(t, err, ep.name)
		assert.Equal(t, mtSupplier, got, ep.name)
	}
}

// The organisation rule keeps a cache hit through a Source free of allocations, whether the
// context names an organisation or the supplier.
func TestSourceHitWithOrganizationDoesNotAllocate(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{OrgNumber: mtSupplier, MultiTenant: true}, helseid.MultiTenant)
	src, err := f.client.Source(readReq)
	require.NoError(t, err)
	for _, org := range []helseid.Organization{{Parent: mtParent}, helseid.SupplierOrganization()} {
		ctx := helseid.WithOrganization(context.Background(), org)
		_, err := src.Token(ctx)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := src.Token(ctx); err != nil {
				panic(err)
			}
		})
		assert.Zero(t, allocs, "%+v", org)
	}
}
