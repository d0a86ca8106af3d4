package helseidredis_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
)

// benchTimeout keeps a benchmark on a loaded machine from failing on one slow round trip.
const benchTimeout = 10 * time.Second

// BenchmarkVerifyProofReplay verifies resource-server proofs (ES256, with ath) with the Redis
// replay store (impl=redis) and with the in-memory one (impl=memory) in the same run; the
// difference should be about one loopback round trip, measured alone as impl=setnx-round-trip
// (the same SET NX PX, without the proof), and the store's own cost as impl=store-alone. It
// needs redis-server on PATH.
func BenchmarkVerifyProofReplay(b *testing.B) {
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()

	now := time.Now()
	clock := func() time.Time { return now }
	p, err := dpop.NewProofer(dpop.ProoferConfig{Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse("https://api.example.no/kjernejournal/v1/patients")
	if err != nil {
		b.Fatal(err)
	}
	const token = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyIsInR5cCI6ImF0K2p3dCJ9.e30.signature-of-a-typical-access-token"
	// Each proof is accepted once, so the verifier cycles through a pool of distinct proofs
	// and starts from an empty store when the pool comes round again.
	const pool = 4096
	proofs := make([]string, pool)
	for i := range proofs {
		if proofs[i], err = p.Proof("GET", u, "", token); err != nil {
			b.Fatal(err)
		}
	}
	req := dpop.ProofRequest{Method: "GET", URL: u, AccessToken: token}
	run := func(b *testing.B, newStore func() dpop.ReplayStore) {
		newVerifier := func() *dpop.Verifier {
			v, err := dpop.NewVerifier(dpop.VerifierConfig{Replay: newStore(), Now: clock})
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
		b.ReportAllocs()
		v, i := newVerifier(), 0
		for b.Loop() {
			if i == pool {
				b.StopTimer()
				v, i = newVerifier(), 0
				b.StartTimer()
			}
			if _, err := v.VerifyProof(ctx, proofs[i], req); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}

	b.Run("impl=memory", func(b *testing.B) {
		run(b, func() dpop.ReplayStore { return dpop.NewMemoryReplayStore(dpop.MemoryReplayStoreConfig{Now: clock}) })
	})
	b.Run("impl=redis", func(b *testing.B) {
		run(b, func() dpop.ReplayStore {
			if err := client.FlushDB(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			s, err := helseidredis.NewReplayStore(client, helseidredis.ReplayStoreOptions{Namespace: "nhn:bench", Timeout: benchTimeout, Now: clock})
			if err != nil {
				b.Fatal(err)
			}
			return s
		})
	})
	b.Run("impl=store-alone", func(b *testing.B) {
		if err := client.FlushDB(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		s, err := helseidredis.NewReplayStore(client, helseidredis.ReplayStoreOptions{Namespace: "nhn:bench", Timeout: benchTimeout})
		if err != nil {
			b.Fatal(err)
		}
		expires := time.Now().Add(time.Minute)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if fresh, err := s.CheckAndSet(ctx, "alone:"+strconv.Itoa(i), expires); err != nil || !fresh {
				b.Fatal("not fresh", err)
			}
			i++
		}
	})
	b.Run("impl=setnx-round-trip", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := client.SetNX(ctx, "bench:"+strconv.Itoa(i), "1", time.Minute).Err(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
