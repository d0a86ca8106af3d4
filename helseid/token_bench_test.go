package helseid_test

import (
	"context"
	"slices"
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

// clientTokenCall is one of the calls users make, on a warm cache.
type clientTokenCall struct {
	name string
	call func() error
}

// clientTokenCalls sets up the calls BenchmarkClientToken measures, the baseline first, with
// every cache warm.
func clientTokenCalls(b *testing.B) []clientTokenCall {
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
	return []clientTokenCall{
		{"oauth2-reuse", func() error { _, err := reuse.Token(); return err }},
		{"client-token", func() error {
			_, err := single.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
			return err
		}},
		{"client-token-org", func() error {
			_, err := multi.Token(orgCtx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
			return err
		}},
		{"tokensource", func() error { _, err := ts.Token(); return err }},
		{"source", func() error { _, err := src.Token(ctx); return err }},
	}
}

// BenchmarkClientToken measures the calls users make on a warm cache, through the public API,
// against impl=oauth2-reuse (oauth2.ReuseTokenSource over a static token) in the same run:
// impl=client-token is client.Token(ctx, req) as the quick start builds req;
// impl=client-token-org is a multi-tenant client with the organisation in the context;
// impl=tokensource is client.TokenSource(ctx, req).Token(); impl=source is Source.Token(ctx).
func BenchmarkClientToken(b *testing.B) {
	for _, c := range clientTokenCalls(b) {
		b.Run("impl="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClientTokenBatches times the same calls in turn, in batches of 2,000 calls, each
// loop iteration one batch of every call, and reports each call's fastest batch and its 10th
// percentile as ratios to the baseline's (x-reuse-min, x-reuse-p10): on a loaded machine, where
// the means of BenchmarkClientToken swing with other jobs, the fastest batches are the ones
// least disturbed, and all of them saw the same minutes of load.
func BenchmarkClientTokenBatches(b *testing.B) {
	calls := clientTokenCalls(b)
	const batch = 2000
	times := make([][]time.Duration, len(calls))
	for b.Loop() {
		for i, c := range calls {
			start := time.Now()
			for range batch {
				if err := c.call(); err != nil {
					b.Fatal(err)
				}
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	for i := range times {
		slices.Sort(times[i])
	}
	at := func(i int, q float64) float64 { return float64(times[i][int(q*float64(len(times[i])-1))]) }
	for i, c := range calls[1:] {
		b.ReportMetric(at(i+1, 0)/at(0, 0), c.name+"-x-reuse-min")
		b.ReportMetric(at(i+1, 0.1)/at(0, 0.1), c.name+"-x-reuse-p10")
	}
	b.ReportMetric(at(0, 0)/batch, "reuse-ns-min")
}
