package helseid_test

import (
	"context"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// BenchmarkObservedHit is a multi-tenant cache hit through a Source (organisation in the
// context) without an observer and with one that counts: the observer must cost no
// allocation.
func BenchmarkObservedHit(b *testing.B) {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	priv, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "client-1", OrgNumber: mtSupplier, MultiTenant: true, Scopes: []string{apiScope}})
	if err != nil {
		b.Fatal(err)
	}
	key, err := helseid.ParseJWK(priv, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		impl string
		obs  helseid.Observer
	}{{"no-observer", nil}, {"observer", &countingObserver{}}} {
		b.Run("impl="+bc.impl, func(b *testing.B) {
			client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "client-1", Key: key,
				Tenancy: helseid.MultiTenant, HTTPClient: srv.Client(), Observer: bc.obs})
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			src, err := client.Source(readReq)
			if err != nil {
				b.Fatal(err)
			}
			ctx := helseid.WithOrganization(context.Background(), helseid.Organization{Parent: mtParent})
			if _, err := src.Token(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := src.Token(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
