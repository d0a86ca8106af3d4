package dpop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The target: verifying a resource-server proof, replay check included, costs at most
// 1.3x a bare ecdsa.VerifyASN1 of the same signing input with the same key. Compare
// BenchmarkVerifyES256/impl=verifier with /impl=bare-verifyasn1 in the same run.
func BenchmarkVerifyES256(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	p, err := NewProofer(ProoferConfig{Key: key, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	u := mustURL(b, "https://api.example.no/kjernejournal/v1/patients")
	const token = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyIsInR5cCI6ImF0K2p3dCJ9.e30.signature-of-a-typical-access-token"
	// Each proof is accepted once, so the verifier cycles through a pool of distinct proofs and
	// starts a new store when the pool comes round again (once per 4096 verifications).
	const pool = 4096
	proofs := make([]string, pool)
	for i := range proofs {
		if proofs[i], err = p.Proof("GET", u, "", token); err != nil {
			b.Fatal(err)
		}
	}
	newVerifier := func() *Verifier {
		v, err := NewVerifier(VerifierConfig{Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}

	b.Run("impl=verifier", func(b *testing.B) {
		b.ReportAllocs()
		v, i := newVerifier(), 0
		for b.Loop() {
			if i == pool {
				v, i = newVerifier(), 0
			}
			if _, err := v.VerifyProof(context.Background(), proofs[i], ProofRequest{Method: "GET", URL: u, AccessToken: token}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("impl=bare-verifyasn1", func(b *testing.B) {
		sample := proofs[0]
		dot := strings.LastIndexByte(sample, '.')
		input := []byte(sample[:dot])
		raw, _ := base64.RawURLEncoding.DecodeString(sample[dot+1:])
		der, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
		b.ReportAllocs()
		for b.Loop() {
			digest := sha256.Sum256(input)
			if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], der) {
				b.Fatal("does not verify")
			}
		}
	})
}

// BenchmarkReplayStore records distinct ids from every core at once: the sharded store against
// one map behind one mutex.
func BenchmarkReplayStore(b *testing.B) {
	expires := time.Now().Add(time.Minute)
	b.Run("impl=sharded", func(b *testing.B) {
		s := NewMemoryReplayStore(MemoryReplayStoreConfig{Capacity: 1 << 30})
		var seq atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if fresh, err := s.CheckAndSet(context.Background(), replayID("jkt", strconv.FormatInt(seq.Add(1), 36)), expires); err != nil || !fresh {
					b.Fatal("not fresh")
				}
			}
		})
	})
	b.Run("impl=one-mutex", func(b *testing.B) {
		var mu sync.Mutex
		seen := map[string]time.Time{}
		var seq atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := replayID("jkt", strconv.FormatInt(seq.Add(1), 36))
				mu.Lock()
				if _, ok := seen[id]; ok {
					mu.Unlock()
					b.Fatal("not fresh")
				}
				seen[id] = expires
				mu.Unlock()
			}
		})
	})
}
