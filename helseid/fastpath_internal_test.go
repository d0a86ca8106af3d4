package helseid

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table by address is consulted first, and an entry found there is used only for the very
// request it was made from: one planted at the request's addresses with a marker spec is
// returned when it is that request, and ignored (the hash table's spec returned) when it
// differs in anything.
func TestSpecByAddressVerifiesOnHit(t *testing.T) {
	c := newSpecTestClient(t)
	scopes := []string{"nhn:api/b", "nhn:api/a"}
	const resource = "nhn:api"
	want, err := c.spec(scopes, resource, false)
	require.NoError(t, err)
	a := addrIndex(scopes, resource, false)
	marker := &tokenSpec{grant: "client_credentials", scope: "nhn:api/marker"}
	tests := []struct {
		name     string
		scopes   []string
		resource string
		bearer   bool
		used     bool
	}{
		{"the same request", []string{"nhn:api/b", "nhn:api/a"}, resource, false, true},
		{"other order", []string{"nhn:api/a", "nhn:api/b"}, resource, false, false},
		{"a scope more", []string{"nhn:api/b", "nhn:api/a", "nhn:api/a"}, resource, false, false},
		{"a scope fewer", []string{"nhn:api/b"}, resource, false, false},
		{"other case", []string{"nhn:api/B", "nhn:api/a"}, resource, false, false},
		{"a prefix", []string{"nhn:api/b", "nhn:api/"}, resource, false, false},
		{"other resource", []string{"nhn:api/b", "nhn:api/a"}, "nhn:api2", false, false},
		{"no resource", []string{"nhn:api/b", "nhn:api/a"}, "", false, false},
		{"bearer", []string{"nhn:api/b", "nhn:api/a"}, resource, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			planted := &specEntry{scopes: tt.scopes, resource: tt.resource, bearer: tt.bearer, spec: marker}
			c.specs.byAddr[a].Store(planted)
			c.specs.byAddr[a^1].Store(planted)
			got, err := c.spec(scopes, resource, false)
			require.NoError(t, err)
			if tt.used {
				assert.Same(t, marker, got, "found by address before the hash table")
			} else {
				assert.Same(t, want, got)
			}
		})
	}
}

// After one call, a request of the same strings is found by address, and two requests whose
// addresses share a pair of slots are both kept there.
func TestSpecByAddressRemembers(t *testing.T) {
	c := newSpecTestClient(t)
	scopes := []string{"nhn:api/read"}
	spec, err := c.spec(scopes, "", false)
	require.NoError(t, err)
	a := addrIndex(scopes, "", false)
	e := c.specs.byAddr[a].Load()
	require.NotNil(t, e)
	assert.Same(t, spec, e.spec)

	// Another request placed at the same pair takes the other slot rather than the first's.
	other := []string{"nhn:api/write"}
	otherSpec, _, err := c.newSpec(c.requestHash(other, "", false), other, "", false)
	require.NoError(t, err)
	c.specs.rememberAddr(a, &specEntry{scopes: other, spec: otherSpec})
	assert.Same(t, spec, c.specs.byAddr[a].Load().spec)
	assert.Same(t, otherSpec, c.specs.byAddr[a^1].Load().spec)
}

// Many goroutines asking concurrently for requests that share strings (the same literals in
// other orders, with and without a resource, bound and Bearer), some built anew on every call
// so that they keep replacing entries by address, always get their own request's spec.
func TestSpecByAddressConcurrent(t *testing.T) {
	c := newSpecTestClient(t)
	const x, y, z = "nhn:api/x", "nhn:api/y", "nhn:api/z"
	requests := []struct {
		scopes   []string
		resource string
		bearer   bool
		want     string
	}{
		{[]string{x}, "", false, x},
		{[]string{x}, "", true, x},
		{[]string{x}, "nhn:api", false, x},
		{[]string{x}, "nhn:api", true, x},
		{[]string{x, y}, "", false, x + " " + y},
		{[]string{y, x}, "", false, x + " " + y},
		{[]string{y, x}, "nhn:api", false, x + " " + y},
		{[]string{x, x}, "", false, x},
		{[]string{y}, "", false, y},
		{[]string{z, y, x}, "", true, x + " " + y + " " + z},
		{[]string{x, z}, "", false, x + " " + z},
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				r := requests[(g+i)%len(requests)]
				scopes, resource := r.scopes, r.resource
				if (g+i)%3 == 0 { // new strings: new addresses
					scopes = make([]string, len(r.scopes))
					for j, s := range r.scopes {
						scopes[j] = strings.Clone(s)
					}
					resource = strings.Clone(resource)
				}
				spec, err := c.spec(scopes, resource, r.bearer)
				if err != nil {
					t.Error(err)
					return
				}
				if spec.scope != r.want || spec.resource != r.resource || spec.bearer != r.bearer {
					t.Errorf("request %q %q bearer=%v got spec %q %q bearer=%v", r.scopes, r.resource, r.bearer, spec.scope, spec.resource, spec.bearer)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// keyFor, the hit path's reading of the organisation, accepts exactly what organization
// accepts and makes the same key of it; what it does not accept is left to organization.
func TestKeyForAgreesWithOrganization(t *testing.T) {
	const p, q, ch = "912345678", "923456789", "987654321"
	orgs := []Organization{
		{}, SupplierOrganization(), {Parent: p}, {Parent: p, Child: ch}, {Child: ch}, {Parent: q},
		{Parent: "000000000"}, {Child: "000000000"}, {Parent: "999999999", Child: "000000001"},
		{Parent: "12345678"}, {Parent: "1234567890"}, {Parent: "12345678a"}, {Child: " 12345678"},
		{Parent: p, Child: "98765432/"}, {Parent: "١٢٣٤٥٦٧٨٩"}, {Child: "12345678:"},
		{Parent: p, supplier: true}, {Child: ch, supplier: true},
	}
	spec := &tokenSpec{grant: "client_credentials", scope: "nhn:api/read"}
	for _, tenancy := range []Tenancy{SingleTenant, MultiTenant} {
		c := &Client{cfg: Config{Tenancy: tenancy}}
		for _, inCtx := range orgs {
			ctx := context.Background()
			if !inCtx.IsZero() {
				ctx = WithOrganization(ctx, inCtx)
			}
			for _, fixed := range orgs {
				name := fmt.Sprintf("%s, context %+v, request %+v", tenancy, inCtx, fixed)
				org, err := c.organization(ctx, fixed)
				f := fixed
				key, ok := c.keyFor(ctx, spec, &f)
				assert.Equal(t, err == nil, ok, "%s: accepted alike (organization: %v)", name, err)
				if ok {
					assert.Equal(t, newTokenKey(spec, org), key, name)
				}
				assert.Equal(t, fixed, f, "%s: the request's organisation is not changed", name)
			}
		}
	}
}
