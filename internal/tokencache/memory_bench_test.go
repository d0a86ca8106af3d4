package tokencache

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/oauth2"
)

// tenantTokenBytes is the size of one tenant's access token in the memory measurements, about
// that of a HelseID access token; it is subtracted from the heap each entry costs.
const tenantTokenBytes = 1000

// heapPerEntry fills a structure with n tenants' tokens through fill and returns the heap in use
// (HeapInuse: spans holding any object, the memory the process keeps) and the heap alive
// (HeapAlloc) that each entry added beyond its token bytes, both measured after a GC. fill
// returns what holds the tokens, so that it stays reachable until measured.
func heapPerEntry(n int, fill func() any) (inUse, live float64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	held := fill()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(held)
	per := func(a, b uint64) float64 { return float64(int64(b)-int64(a))/float64(n) - tenantTokenBytes }
	return per(before.HeapInuse, after.HeapInuse), per(before.HeapAlloc, after.HeapAlloc)
}

func tenantKeys(n int) []tenantKey {
	spec := "client_credentials nhn:kjernejournal/api"
	keys := make([]tenantKey, n)
	for i := range keys {
		keys[i] = tenantKey{spec: &spec, parent: uint32(900000000 + i), child: uint32(800000000 + i)}
	}
	return keys
}

func hashTenant(k tenantKey) uint64 {
	h := uint64(k.parent)<<32 | uint64(k.child)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	return h ^ h>>33
}

// fillTenants gets every key's token through c, as callers of a multi-tenant client do.
func fillTenants(tb testing.TB, c *Cache[tenantKey, token], keys []tenantKey) {
	ctx := context.Background()
	for _, k := range keys {
		if _, err := c.Get(ctx, k); err != nil {
			tb.Fatal(err)
		}
	}
}

func newTenantCache(tb testing.TB, n int) *Cache[tenantKey, token] {
	c, err := New(Config[tenantKey, token]{
		Fetch: func(context.Context, tenantKey) (*token, time.Time, error) {
			return &token{value: strings.Repeat("x", tenantTokenBytes)}, time.Now().Add(time.Hour), nil
		},
		Hash:       hashTenant,
		MaxEntries: n,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// mutexMap is the baseline a user would write by hand: a map of organisation to token under a
// mutex.
type mutexMap struct {
	mu sync.Mutex
	m  map[tenantKey]*oauth2.Token
}

func (m *mutexMap) token(k tenantKey) *oauth2.Token {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[k]
}

// BenchmarkTenantsMemory measures the heap each cached tenant token costs beyond its bytes, in
// use and alive after a GC, at 10k, 20k and 100k tenants, next to the baseline map under a
// mutex in the same run (target: in use ≤ 300 B, flat); and a scattered hit among them.
func BenchmarkTenantsMemory(b *testing.B) {
	for _, n := range []int{10_000, 20_000, 100_000} {
		keys := tenantKeys(n)
		b.Run(fmt.Sprintf("entries=%d/impl=map-mutex", n), func(b *testing.B) {
			var m *mutexMap
			inUse, live := heapPerEntry(n, func() any {
				m = &mutexMap{m: map[tenantKey]*oauth2.Token{}}
				for _, k := range keys {
					m.mu.Lock()
					m.m[k] = &oauth2.Token{AccessToken: strings.Repeat("x", tenantTokenBytes), Expiry: time.Now().Add(time.Hour)}
					m.mu.Unlock()
				}
				return m
			})
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if m.token(keys[i%n]) == nil {
					b.Fatal("missing")
				}
				i += 7919
			}
			b.ReportMetric(inUse, "B-inuse/entry")
			b.ReportMetric(live, "B-live/entry")
		})
		b.Run(fmt.Sprintf("entries=%d/impl=tokencache", n), func(b *testing.B) {
			var c *Cache[tenantKey, token]
			inUse, live := heapPerEntry(n, func() any {
				c = newTenantCache(b, n)
				fillTenants(b, c, keys)
				return c
			})
			defer c.Close()
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := c.Get(ctx, keys[i%n]); err != nil {
					b.Fatal(err)
				}
				i += 7919
			}
			b.ReportMetric(inUse, "B-inuse/entry")
			b.ReportMetric(live, "B-live/entry")
		})
	}
}

// Heap in use per cached tenant token stays within 300 B beyond the token bytes and flat from
// 10k to 20k tenants, about what a map of tokens costs: adding a tenant must not leave
// garbage behind in proportion to the shard it joins.
func TestHeapInUsePerTenantFlat(t *testing.T) {
	for _, n := range []int{10_000, 20_000} {
		keys := tenantKeys(n)
		baseline, _ := heapPerEntry(n, func() any {
			m := map[tenantKey]*oauth2.Token{}
			for _, k := range keys {
				m[k] = &oauth2.Token{AccessToken: strings.Repeat("x", tenantTokenBytes), Expiry: time.Now().Add(time.Hour)}
			}
			return m
		})
		var c *Cache[tenantKey, token]
		inUse, live := heapPerEntry(n, func() any {
			c = newTenantCache(t, n)
			fillTenants(t, c, keys)
			return c
		})
		c.Close()
		t.Logf("%d tenants: %.0f B in use, %.0f B alive per entry; a map of tokens: %.0f B in use", n, inUse, live, baseline)
		assert.LessOrEqual(t, inUse, 300.0, "%d tenants: heap in use per entry beyond the token", n)
		assert.LessOrEqual(t, inUse, baseline+32, "%d tenants: heap in use per entry next to a map of tokens", n)
	}
}
