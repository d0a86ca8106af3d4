package helseid

import (
	"hash/maphash"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOrgNumberRoundTrip(t *testing.T) {
	for _, s := range []string{"", "000000000", "000000001", "912345678", "999999999", "100000000"} {
		assert.Equal(t, s, orgString(orgNumber(s)), s)
	}
	assert.NotEqual(t, orgNumber(""), orgNumber("000000000"))
	spec := &tokenSpec{}
	a := newTokenKey(spec, Organization{Parent: "912345678", Child: "987654321"})
	b := newTokenKey(spec, Organization{Parent: "987654321", Child: "912345678"})
	assert.NotEqual(t, a, b, "parent and child are not interchangeable")
	assert.Equal(t, Organization{Parent: "912345678", Child: "987654321"}, a.organization())
}

func TestBearerAndBoundTokensHaveApartKeys(t *testing.T) {
	c := &Client{seed: maphash.MakeSeed()}
	req := ClientCredentialsRequest{Scopes: []string{"nhn:api/read"}, Resource: "nhn:api"}
	bound, err := c.spec(req)
	require.NoError(t, err)
	req.Bearer = true
	unbound, err := c.spec(req)
	require.NoError(t, err)
	again, err := c.spec(req)
	require.NoError(t, err)

	assert.Same(t, unbound, again, "equal Bearer requests share one spec")
	assert.NotSame(t, bound, unbound)
	assert.True(t, unbound.bearer)
	assert.False(t, bound.bearer)
	org := Organization{Parent: "912345678"}
	assert.NotEqual(t, newTokenKey(bound, org), newTokenKey(unbound, org))
	assert.NotEqual(t, c.hashKey(newTokenKey(bound, org)), c.hashKey(newTokenKey(unbound, org)))

	shared := newSharedTokens(nil, Config{Issuer: "https://issuer", ClientID: "c"}, "jkt")
	assert.NotEqual(t, shared.keyFor(newTokenKey(bound, org)), shared.keyFor(newTokenKey(unbound, org)),
		"a fleet keeps bound and unbound tokens apart too")
}
