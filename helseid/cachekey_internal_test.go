package helseid

import (
	"fmt"
	"hash/maphash"
	"runtime"
	"strings"
	"sync"
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
	bound, err := c.spec(req.Scopes, req.Resource, false)
	require.NoError(t, err)
	unbound, err := c.spec(req.Scopes, req.Resource, true)
	require.NoError(t, err)
	again, err := c.spec(req.Scopes, req.Resource, true)
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

func newSpecTestClient(t *testing.T) *Client {
	t.Helper()
	key, err := GenerateKey("ES256")
	require.NoError(t, err)
	c, err := NewClient(Config{Issuer: "https://helseid.example", ClientID: "client", Key: key})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// An entry of the spec table is used only for the very request it was made from: a different
// request that lands on its slots (a hash collision, planted here) gets its own spec.
func TestSpecTableVerifiesOnHit(t *testing.T) {
	c := newSpecTestClient(t)
	scopes := []string{"nhn:api/b", "nhn:api/a"}
	h := c.requestHash(scopes, "", false)
	planted := &tokenSpec{grant: "client_credentials", scope: "nhn:api/planted"}
	tests := []struct {
		name     string
		scopes   []string
		resource string
	}{
		{"other scopes", []string{"nhn:api/x"}, ""},
		{"other order", []string{"nhn:api/a", "nhn:api/b"}, ""},
		{"a scope more", []string{"nhn:api/b", "nhn:api/a", "nhn:api/a"}, ""},
		{"other case", []string{"nhn:api/B", "nhn:api/a"}, ""},
		{"other resource", []string{"nhn:api/b", "nhn:api/a"}, "nhn:api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := uint64(0); i < specWays; i++ {
				c.specs.slots[(h+i)%specSlots].Store(&specEntry{hash: h, scopes: tt.scopes, resource: tt.resource, spec: planted})
			}
			got, err := c.spec(scopes, "", false)
			require.NoError(t, err)
			assert.NotSame(t, planted, got)
			assert.Equal(t, "nhn:api/a nhn:api/b", got.scope)
			assert.Empty(t, got.resource)
		})
	}
}

// A caller passing ever-new scopes cannot grow the client's memory without bound: the table
// has a fixed number of slots, and interned specs nothing holds any more are swept.
func TestSpecTableIsBounded(t *testing.T) {
	c := newSpecTestClient(t)
	const n = 10_000
	for i := range n {
		_, err := c.spec([]string{fmt.Sprintf("nhn:api/scope-%d", i)}, "", false)
		require.NoError(t, err)
		if i%500 == 499 {
			runtime.GC()
		}
	}
	runtime.GC()
	used, live := 0, 0
	for i := range c.specs.slots {
		if c.specs.slots[i].Load() != nil {
			used++
		}
	}
	c.specs.mu.Lock()
	for _, p := range c.specs.interned {
		if p.Value() != nil {
			live++
		}
	}
	interned := len(c.specs.interned)
	c.specs.mu.Unlock()
	byAddr := 0
	for i := range c.specs.byAddr {
		if c.specs.byAddr[i].Load() != nil {
			byAddr++
		}
	}
	assert.LessOrEqual(t, used, specSlots)
	assert.LessOrEqual(t, byAddr, addrSlots)
	assert.LessOrEqual(t, live, specSlots+addrSlots, "only the specs the tables still hold are alive")
	assert.Less(t, interned, 2*(specSlots+500)+1, "dead interned specs are swept")

	// A request too large for an entry is still served, validated on each call.
	var big []string
	for i := range 100 {
		big = append(big, fmt.Sprintf("nhn:api/a-rather-long-scope-name-%03d", i))
	}
	spec, err := c.spec(big, "", false)
	require.NoError(t, err)
	again, err := c.spec(big, "", false)
	require.NoError(t, err)
	assert.Same(t, spec, again, "interned while it is held")
	for i := range c.specs.slots {
		if e := c.specs.slots[i].Load(); e != nil {
			assert.NotSame(t, spec, e.spec, "no entry keeps a request over specMaxBytes")
		}
	}
	for i := range c.specs.byAddr {
		if e := c.specs.byAddr[i].Load(); e != nil {
			assert.NotSame(t, spec, e.spec, "no entry by address keeps a request over specMaxBytes")
		}
	}
}

// Many goroutines asking for more requests than the table has slots, in several orders, all
// get the right spec, and one spec per canonical request while it is held.
func TestSpecTableConcurrent(t *testing.T) {
	c := newSpecTestClient(t)
	const distinct = 3 * specSlots
	var wg sync.WaitGroup
	results := make([][]*tokenSpec, 8)
	for g := range results {
		results[g] = make([]*tokenSpec, distinct)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 3 {
				for i := range distinct {
					a, b := fmt.Sprintf("nhn:api/a%d", i), fmt.Sprintf("nhn:api/b%d", i)
					scopes := []string{a, b}
					if (g+round+i)%2 == 1 {
						scopes = []string{b, a}
					}
					spec, err := c.spec(scopes, "", false)
					if err != nil {
						t.Error(err)
						return
					}
					if spec.scope != a+" "+b {
						t.Errorf("request %d got spec %q", i, spec.scope)
						return
					}
					if results[g][i] == nil {
						results[g][i] = spec
					} else if results[g][i] != spec {
						t.Errorf("request %d got a second spec while the first was held", i)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for i := range distinct {
		for g := 1; g < len(results); g++ {
			assert.Same(t, results[0][i], results[g][i], "request %d", i)
		}
	}
}

// BenchmarkSpecHit is what client.Token adds to Source.Token on a warm table: finding the
// request's spec again. impl=by-address is a request of string literals, as the quick start
// builds it (found by the addresses of its strings); impl=by-hash rotates through copies of
// the request with strings of their own, more than the table by address holds, so that each is
// found by the hash of its scopes.
func BenchmarkSpecHit(b *testing.B) {
	key, err := GenerateKey("ES256")
	require.NoError(b, err)
	c, err := NewClient(Config{Issuer: "https://helseid.example", ClientID: "client", Key: key})
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close() })
	_, err = c.spec([]string{"nhn:kjernejournal/api"}, "", false)
	require.NoError(b, err)
	b.Run("impl=by-address", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.spec([]string{"nhn:kjernejournal/api"}, "", false); err != nil {
				b.Fatal(err)
			}
		}
	})
	copies := make([][]string, 4*addrSlots)
	for i := range copies {
		copies[i] = []string{strings.Clone("nhn:kjernejournal/api")}
	}
	b.Run("impl=by-hash", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := c.spec(copies[i%len(copies)], "", false); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
