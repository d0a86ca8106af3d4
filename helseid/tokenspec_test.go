package helseid_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
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

// Many goroutines calling Token at once with requests that share strings (the same literals
// in other orders, with and without a resource, bound and Bearer, for two organisations, on
// the request or in the context), some with strings built anew on every call, each get a
// token for exactly their request: its scopes, audience, organisation and binding.
func TestTokenConcurrentRequestsGetTheirOwnTokens(t *testing.T) {
	scopes := []string{apiScope, writeScope}
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{MultiTenant: true, Scopes: scopes, AllowBearer: true}, helseid.MultiTenant)
	type want struct {
		scopes []string
		parent string
		bearer bool
	}
	type request struct {
		req helseid.ClientCredentialsRequest
		ctx context.Context
		want
	}
	ctx := context.Background()
	inCtx := helseid.WithOrganization(ctx, helseid.Organization{Parent: specOtherParent})
	parent := helseid.Organization{Parent: specParentOrg}
	both := []string{apiScope, writeScope}
	requests := []request{
		{helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: parent}, ctx, want{[]string{apiScope}, specParentOrg, false}},
		{helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}, inCtx, want{[]string{apiScope}, specOtherParent, false}},
		{helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: parent, Bearer: true}, ctx, want{[]string{apiScope}, specParentOrg, true}},
		{helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Resource: "nhn:helseidtest-api", Organization: parent}, ctx, want{[]string{apiScope}, specParentOrg, false}},
		{helseid.ClientCredentialsRequest{Scopes: []string{writeScope}, Organization: parent}, ctx, want{[]string{writeScope}, specParentOrg, false}},
		{helseid.ClientCredentialsRequest{Scopes: []string{apiScope, writeScope}, Organization: parent}, ctx, want{both, specParentOrg, false}},
		{helseid.ClientCredentialsRequest{Scopes: []string{writeScope, apiScope}}, inCtx, want{both, specOtherParent, false}},
		{helseid.ClientCredentialsRequest{Scopes: []string{writeScope, apiScope}, Organization: parent, Bearer: true}, ctx, want{both, specParentOrg, true}},
	}
	var mu sync.Mutex
	checked := map[string]want{} // access token -> the request it was checked against
	check := func(tok string, w want) error {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := checked[tok]; ok {
			if !reflect.DeepEqual(prev, w) {
				return fmt.Errorf("one token for %+v and %+v", prev, w)
			}
			return nil
		}
		checked[tok] = w
		var claims helseidtest.AccessTokenClaims
		raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &claims); err != nil {
			return err
		}
		got := slices.Sorted(slices.Values(claims.Scope))
		if !slices.Equal(got, w.scopes) || claims.OrgNrParent != w.parent || (claims.Confirmation.JKT == "") != w.bearer {
			return fmt.Errorf("token with scopes %q, parent %q, cnf.jkt %q for %+v", got, claims.OrgNrParent, claims.Confirmation.JKT, w)
		}
		return nil
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r := requests[(g+i)%len(requests)]
				req := r.req
				if (g+i)%3 == 0 { // strings of its own: found by hash, not by address
					req.Scopes = make([]string, len(r.req.Scopes))
					for j, s := range r.req.Scopes {
						req.Scopes[j] = strings.Clone(s)
					}
					req.Resource = strings.Clone(r.req.Resource)
				}
				tok, err := f.client.Token(r.ctx, req)
				if err == nil {
					err = check(tok.AccessToken, r.want)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.Len(t, checked, len(requests), "one token per distinct request")
}
