package helseidredis_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkSessionToken is the cost of a user session's token hit: served from the process's
// memory (a UserSession kept across requests; 0 allocations), and from Redis after a replica
// switch (LoadUserSession: one round trip and one decryption, then the hit).
func BenchmarkSessionToken(b *testing.B) {
	f := newEHRFleet(b, 2)
	ctx := context.Background()
	started, _ := f.login(b)
	s, err := f.replicas[0].LoadUserSession(ctx, started.ID())
	require.NoError(b, err)
	_, err = s.Token(ctx, "nhn:service-a")
	require.NoError(b, err)

	b.Run("local", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Token(ctx, "nhn:service-a"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redis", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := f.replicas[1].LoadUserSession(ctx, started.ID())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Token(ctx, "nhn:service-a"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
