package helseidredis_test

import (
	"context"
	"testing"

	"github.com/helseid-go/sdk/helseid/helseidredis/internal/seal"
	"github.com/stretchr/testify/require"
)

// BenchmarkSessionToken is the cost of a user session's token hit, in one run:
// impl=local is a UserSession kept in the process across requests (0 allocations);
// impl=redis is a replica switch, LoadUserSession on another replica then Token;
// impl=bare-roundtrip-open is its floor: one HMGET of the same stored session hash with
// go-redis and one AES-256-GCM open of its sealed record.
func BenchmarkSessionToken(b *testing.B) {
	f := newEHRFleet(b, 2)
	ctx := context.Background()
	started, _ := f.login(b)
	s, err := f.replicas[0].LoadUserSession(ctx, started.ID())
	require.NoError(b, err)
	_, err = s.Token(ctx, "nhn:service-a")
	require.NoError(b, err)
	keys, err := f.rdb.Keys(ctx, "*session:*:data").Result()
	require.NoError(b, err)
	require.Len(b, keys, 1)
	sealer, err := seal.New(f.sealKey, nil)
	require.NoError(b, err)

	b.Run("impl=bare-roundtrip-open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vals, err := f.rdb.HMGet(ctx, keys[0], "gen", "data").Result()
			if err != nil {
				b.Fatal(err)
			}
			sealed, _ := vals[1].(string)
			if _, err := sealer.Open([]byte(sealed), []byte("helseid-session-v1\x00"+started.ID())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=local", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Token(ctx, "nhn:service-a"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=redis", func(b *testing.B) {
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
