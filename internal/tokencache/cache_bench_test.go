package tokencache

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// staticSource is the TokenSource behind oauth2.ReuseTokenSource in the baseline: it is never
// called on a hit, exactly like our Fetch.
type staticSource struct{ tok *oauth2.Token }

func (s staticSource) Token() (*oauth2.Token, error) { return s.tok, nil }

// Compare impl=tokencache with impl=oauth2-reuse in the same run: serial, and under
// b.RunParallel on every core.
func BenchmarkHit(b *testing.B) {
	c, err := New(Config[string, token]{
		Fetch: func(context.Context, string) (*token, time.Time, error) {
			return &token{value: "t"}, time.Now().Add(time.Hour), nil
		},
		Hash: hashString,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Get(ctx, "key"); err != nil {
		b.Fatal(err)
	}
	reuse := oauth2.ReuseTokenSource(nil, staticSource{&oauth2.Token{AccessToken: "t", Expiry: time.Now().Add(time.Hour)}})

	b.Run("mode=serial/impl=tokencache", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Get(ctx, "key"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mode=serial/impl=oauth2-reuse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reuse.Token(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mode=parallel/impl=tokencache", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Get(ctx, "key"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("mode=parallel/impl=oauth2-reuse", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := reuse.Token(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// tenantKey is shaped like the SDK's real key: a shared request spec and an organisation's
// 9-digit numbers as integers.
type tenantKey struct {
	spec          *string
	parent, child uint32
}

// BenchmarkTenants fills a cache with 100,000 tenants' tokens (each 1,000 bytes, like a
// HelseID access token) and measures a hit among them against a hit in a one-entry cache, and
// the memory each entry costs beyond its token bytes.
func BenchmarkTenants(b *testing.B) {
	const tenants = 100_000
	const tokenBytes = 1000
	spec := "client_credentials nhn:kjernejournal/api"
	hash := func(k tenantKey) uint64 {
		h := uint64(k.parent)<<32 | uint64(k.child)
		h ^= h >> 33
		h *= 0xff51afd7ed558ccd
		return h ^ h>>33
	}
	newC := func() *Cache[tenantKey, token] {
		c, err := New(Config[tenantKey, token]{
			Fetch: func(_ context.Context, k tenantKey) (*token, time.Time, error) {
				return &token{value: strings.Repeat("x", tokenBytes)}, time.Now().Add(time.Hour), nil
			},
			Hash:       hash,
			MaxEntries: tenants,
		})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	keys := make([]tenantKey, tenants)
	for i := range keys {
		keys[i] = tenantKey{spec: &spec, parent: uint32(900000000 + i), child: uint32(800000000 + i)}
	}
	ctx := context.Background()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	big := newC()
	defer big.Close()
	for _, k := range keys {
		if _, err := big.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc)/tenants - tokenBytes

	small := newC()
	defer small.Close()
	if _, err := small.Get(ctx, keys[0]); err != nil {
		b.Fatal(err)
	}

	// The floor: one plain map lookup with the same keys and access pattern, plus reading the
	// value it points to, each value allocated next to its 1,000-byte token as in the cache.
	// It pays the same cache and TLB misses over 100,000 entries and does nothing else.
	plain := make(map[tenantKey]*token, tenants)
	for _, k := range keys {
		plain[k] = &token{value: strings.Repeat("x", tokenBytes), n: 1}
	}
	b.Run("entries=100000/impl=plain-map", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if plain[keys[i%tenants]].n != 1 {
				b.Fatal("missing")
			}
			i += 7919
		}
	})

	b.Run("entries=1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := small.Get(ctx, keys[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("entries=100000/impl=tokencache", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := big.Get(ctx, keys[i%tenants]); err != nil {
				b.Fatal(err)
			}
			i += 7919
		}
		b.ReportMetric(perEntry, "B-overhead/entry")
	})
	if big.Len() != tenants {
		b.Fatalf("cache holds %d entries, want %d", big.Len(), tenants)
	}
}
