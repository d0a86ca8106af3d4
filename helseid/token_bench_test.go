package helseid_test

import (
	"context"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"golang.org/x/oauth2"
)

// staticSource is the TokenSource behind oauth2.ReuseTokenSource in the baseline: never called
// on a hit.
type staticSource struct{ tok *oauth2.Token }

func (s staticSource) Token() (*oauth2.Token, error) { return s.tok, nil }

// BenchmarkClientToken measures the calls users make on a warm cache, through the public API,
// against impl=oauth2-reuse (oauth2.ReuseTokenSource over a static token) in the same run:
// impl=client-token is client.Token(ctx, req) as the quick start builds req;
// impl=client-token-org is a multi-tenant client with the organisation in the context;
// impl=tokensource is client.TokenSource(ctx, req).Token(); impl=source is Source.Token(ctx).
func BenchmarkClientToken(b *testing.B) {
	srv := helseidtest.NewServer(b, helseidtest.Options{})
	newClient := func(id string, tenancy helseid.Tenancy) *helseid.Client {
		reg := helseidtest.ClientRegistration{ID: id, Scopes: []string{apiScope, "nhn:helseidtest-api/write"}, OrgNumber: helseidtest.DefaultOrgNumber, MultiTenant: tenancy == helseid.MultiTenant}
		privateJWK, err := srv.GenerateClientFor(reg)
		if err != nil {
			b.Fatal(err)
		}
		key, err := helseid.ParseJWK(privateJWK, "")
		if err != nil {
			b.Fatal(err)
		}
		c, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: id, Key: key, Tenancy: tenancy, HTTPClient: srv.Client()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return c
	}
	single := newClient("bench-single", helseid.SingleTenant)
	multi := newClient("bench-multi", helseid.MultiTenant)
	ctx := context.Background()
	orgCtx := helseid.WithOrganization(ctx, helseid.Organization{Parent: "912345678", Child: "987654321"})
	req := helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}
	ts := single.TokenSource(ctx, req)
	src, err := single.Source(req)
	if err != nil {
		b.Fatal(err)
	}
	reuse := oauth2.ReuseTokenSource(nil, staticSource{&oauth2.Token{AccessToken: "t", Expiry: time.Now().Add(time.Hour)}})
	// Warm every cache before measuring.
	if _, err := single.Token(ctx, req); err != nil {
		b.Fatal(err)
	}
	if _, err := multi.Token(orgCtx, req); err != nil {
		b.Fatal(err)
	}

	run := func(name string, call func() error) {
		b.Run("impl="+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("oauth2-reuse", func() error { _, err := reuse.Token(); return err })
	run("client-token", func() error {
		_, err := single.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
		return err
	})
	run("client-token-org", func() error {
		_, err := multi.Token(orgCtx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
		return err
	})
	run("tokensource", func() error { _, err := ts.Token(); return err })
	run("source", func() error { _, err := src.Token(ctx); return err })
}
