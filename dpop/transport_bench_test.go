package dpop_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/helseid-go/sdk/dpop"
)

// BenchmarkTransportRoundTrip measures what the Transport adds to a resource request: compare
// impl=transport (Transport.RoundTrip with a cached token and a known nonce) with impl=bare
// (Proofer.Proof plus the same headers set by hand and the same base round trip) in the same
// run. Both go to a local httptest server over one keep-alive connection pool.
func BenchmarkTransportRoundTrip(b *testing.B) {
	const token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	const nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("DPoP-Nonce", nonce)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 8}
	defer base.CloseIdleConnections()
	p, err := dpop.NewProofer(dpop.ProoferConfig{})
	if err != nil {
		b.Fatal(err)
	}
	url := srv.URL + "/fhir/Patient/1?_format=json"
	finish := func(b *testing.B, resp *http.Response, err error) {
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}

	b.Run("impl=transport", func(b *testing.B) {
		tr := &dpop.Transport{Base: base, Proofer: p, Tokens: rtPlainTokens{token}}
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			resp, err := tr.RoundTrip(req)
			finish(b, resp, err)
		}
	})
	b.Run("impl=bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			proof, err := p.Proof(req.Method, req.URL, nonce, token)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "DPoP "+token)
			req.Header.Set("DPoP", proof)
			resp, err := base.RoundTrip(req)
			finish(b, resp, err)
		}
	})
}
