package resource

import (
	"context"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/helseid-go/sdk/helseid/fapi"
)

type noAuth struct{}

func (noAuth) Authenticate(url.Values) error { return nil }

// A web backend asks its user session for an API's token on every request. Compare
// BenchmarkSessionHit/impl=session (a cached token, the common case) with
// /impl=oauth2-reuse, oauth2.ReuseTokenSource's hit, in the same run.
func BenchmarkSessionHit(b *testing.B) {
	s, err := NewSession(Config{TokenEndpoint: "https://as.example/token", Settings: fapi.Settings{ClientAuth: noAuth{}}}, "rt", time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	s.Put("nhn:kjernejournal", fapi.Token{AccessToken: "at", Expiry: time.Now().Add(time.Hour)})
	src := oauth2.ReuseTokenSource(&oauth2.Token{AccessToken: "at", Expiry: time.Now().Add(time.Hour)}, nil)
	session := func() error { _, err := s.Token(context.Background(), "nhn:kjernejournal"); return err }
	reuse := func() error { _, err := src.Token(); return err }
	for _, impl := range []struct {
		name string
		hit  func() error
	}{{"session", session}, {"oauth2-reuse", reuse}} {
		b.Run("mode=serial/impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := impl.hit(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("mode=parallel/impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := impl.hit(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
