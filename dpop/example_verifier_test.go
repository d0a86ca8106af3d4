package dpop_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/helseid-go/sdk/dpop"
)

// A resource server checking the proof of each request. The token itself (its signature and
// cnf.jkt) is checked by the caller first; helseid.Guard does both for HelseID tokens.
func ExampleVerifier() {
	verifier, err := dpop.NewVerifier(dpop.VerifierConfig{
		ExternalURL: "", // in production: the API's URL as clients call it, e.g. "https://api.example.no"
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "DPoP ")
		boundTo := r.Header.Get("X-Example-JKT") // stands in for the validated token's cnf.jkt
		proof, err := verifier.Verify(r.Context(), r, token, boundTo)
		switch {
		case errors.Is(err, dpop.ErrReplayCheck):
			w.WriteHeader(http.StatusServiceUnavailable)
		case err != nil:
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof", algs="`+strings.Join(verifier.Algorithms(), " ")+`"`)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			fmt.Fprintf(w, "proof %s by the bound key", proof.Algorithm)
		}
	}))
	defer api.Close()

	proofer, _ := dpop.NewProofer(dpop.ProoferConfig{})
	req, _ := http.NewRequest(http.MethodGet, api.URL+"/journal", nil)
	proof, _ := proofer.Proof(req.Method, req.URL, "", "the-access-token")
	req.Header.Set("Authorization", "DPoP the-access-token")
	req.Header.Set("DPoP", proof)
	req.Header.Set("X-Example-JKT", proofer.Thumbprint())
	for range 2 { // the second time the same proof is a replay
		r := req.Clone(req.Context())
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// 200
	// 401
}
