package helseidredis_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkTokenHit is the hit path users hold (helseid.Source.Token, the one HTTPClient uses)
// on a cached token, with
// impl=local (no shared cache) and impl=shared (Config.SharedTokens on a real Redis): a hit is
// served from the process's memory either way, so both must be equal and allocate nothing.
func BenchmarkTokenHit(b *testing.B) {
	srv := helseidtest.NewServer(b)
	jwk, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "bench", Scopes: []string{testScope}, OrgNumber: helseidtest.DefaultOrgNumber, MultiTenant: true})
	if err != nil {
		b.Fatal(err)
	}
	key, err := helseid.ParseJWK(jwk, "")
	if err != nil {
		b.Fatal(err)
	}
	dpopKey, err := helseid.GenerateKey("ES256")
	if err != nil {
		b.Fatal(err)
	}
	rs := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = rdb.Close() })
	sealKey := make([]byte, 32)
	_, _ = rand.Read(sealKey)
	shared, err := helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: rdb, Key: sealKey})
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name   string
		shared helseid.SharedTokenCache
	}{{"local", nil}, {"shared", shared}} {
		c, err := helseid.NewClient(helseid.Config{
			Issuer: srv.Issuer(), ClientID: "bench", Key: key, DPoPKey: dpopKey, Tenancy: helseid.MultiTenant,
			HTTPClient: srv.Client(), SharedTokens: impl.shared,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		src, err := c.Source(request(1))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := src.Token(ctx); err != nil {
			b.Fatal(err)
		}
		b.Run("mode=serial/impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.Token(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("mode=parallel/impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := src.Token(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkFleetRequests is a cold start of a fleet of 4 clients (in this process) over 100
// organisations, 10 goroutines each: impl=per-process gives every client its own cache,
// impl=shared shares one on Redis. It reports token requests per organisation (per lifetime):
// N for per-process caches, 1.0 shared.
func BenchmarkFleetRequests(b *testing.B) {
	const replicas, orgs, goroutines = 4, 100, 10
	srv := helseidtest.NewServer(b, helseidtest.Options{Nonce: helseidtest.NonceNone})
	jwk, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "bench", Scopes: []string{testScope}, OrgNumber: helseidtest.DefaultOrgNumber, MultiTenant: true})
	if err != nil {
		b.Fatal(err)
	}
	key, err := helseid.ParseJWK(jwk, "")
	if err != nil {
		b.Fatal(err)
	}
	dpopKey, err := helseid.GenerateKey("ES256")
	if err != nil {
		b.Fatal(err)
	}
	rs := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true, PoolSize: 64})
	b.Cleanup(func() { _ = rdb.Close() })
	sealKey := make([]byte, 32)
	_, _ = rand.Read(sealKey)
	prefix := 0 // a new Redis namespace for every cold start
	for _, impl := range []string{"per-process", "shared"} {
		b.Run("impl="+impl, func(b *testing.B) {
			var requests int64
			run := 0
			for b.Loop() {
				run++
				prefix++
				var shared helseid.SharedTokenCache
				if impl == "shared" {
					tc, err := helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: rdb, Key: sealKey, Prefix: fmt.Sprintf("bench%d:", prefix)})
					if err != nil {
						b.Fatal(err)
					}
					shared = tc
				}
				before := srv.Stats().TokensIssued
				var wg sync.WaitGroup
				for range replicas {
					c, err := helseid.NewClient(helseid.Config{
						Issuer: srv.Issuer(), ClientID: "bench", Key: key, DPoPKey: dpopKey, Tenancy: helseid.MultiTenant,
						HTTPClient: srv.Client(), SharedTokens: shared,
					})
					if err != nil {
						b.Fatal(err)
					}
					for g := range goroutines {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := range orgs {
								if _, err := c.Token(context.Background(), request((i+g*10)%orgs)); err != nil {
									b.Error(err)
								}
							}
						}()
					}
					defer c.Close()
				}
				wg.Wait()
				requests += srv.Stats().TokensIssued - before
			}
			b.ReportMetric(float64(requests)/float64(run*orgs), "requests/org/lifetime")
		})
	}
}
