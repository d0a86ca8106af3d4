package tokenexchange

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/tokencache"
)

// A cache hit hashes the subject token (about 1 KiB for a HelseID access token) and looks the
// hash up. Compare BenchmarkCacheHit/impl=tokenexchange with /impl=bare-sha256, a SHA-256 of
// the subject token alone, and /impl=tokencache, the lookup with a precomputed key.
func BenchmarkCacheHit(b *testing.B) {
	exchange := func(context.Context, Request) (*fapi.TokenResponse, error) {
		return &fapi.TokenResponse{AccessToken: "exchanged", IssuedTokenType: TokenTypeAccessToken, Expiry: time.Now().Add(time.Hour)}, nil
	}
	subject := "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEiLCJ0eXAiOiJhdCtqd3QifQ." + strings.Repeat("x", 900) + ".sig"
	req := Request{SubjectToken: subject, Scopes: []string{"nhn:reseptformidleren/api"}, SubjectExpiry: time.Now().Add(time.Hour)}

	b.Run("impl=tokenexchange", func(b *testing.B) {
		c, err := NewCache(CacheConfig{Exchange: exchange})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Token(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Token(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=bare-sha256", func(b *testing.B) {
		b.ReportAllocs()
		buf := []byte(subject)
		for b.Loop() {
			sink = sha256.Sum256(buf)
		}
	})
	b.Run("impl=tokencache", func(b *testing.B) {
		c, err := tokencache.New(tokencache.Config[cacheKey, fapi.Token]{
			Hash: func(k cacheKey) uint64 { return binary.LittleEndian.Uint64(k[:8]) },
			Fetch: func(context.Context, cacheKey) (*fapi.Token, time.Time, error) {
				return &fapi.Token{AccessToken: "exchanged"}, time.Now().Add(time.Hour), nil
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		key := keyOf(req)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Get(context.Background(), key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var sink [32]byte
