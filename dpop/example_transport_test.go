package dpop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/helseid-go/sdk/dpop"
)

// transportExampleTokens stands in for the SDK's token cache: it returns one DPoP-bound token.
type transportExampleTokens struct{ token string }

func (s transportExampleTokens) AccessToken(context.Context) (string, error) { return s.token, nil }

// A Transport turns plain client.Get calls into DPoP-protected resource requests. The first
// request to a server that wants nonces costs one extra round trip (401 use_dpop_nonce, then
// a retry with the nonce); the nonce is remembered, so later requests need one round trip.
func ExampleTransport() {
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "DPoP ") || r.Header.Get("DPoP") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// A real resource server verifies the proof here: signature, htm, htu, ath, jti and
		// this nonce (a real server sends a fresh one now and then).
		if transportExampleNonce(r.Header.Get("DPoP")) != "R1" {
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.Header().Set("DPoP-Nonce", "R1")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"resourceType":"Patient"}`)
	}))
	defer api.Close()

	proofer, err := dpop.NewProofer(dpop.ProoferConfig{}) // the key the tokens are bound to
	if err != nil {
		panic(err)
	}
	client := dpop.NewClient(&dpop.Transport{
		Proofer: proofer,
		Tokens:  transportExampleTokens{"an-access-token-bound-to-proofer"},
	})

	for i := 0; i < 2; i++ {
		requests.Store(0)
		resp, err := client.Get(api.URL + "/fhir/Patient/1")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status, string(body), "round trips:", requests.Load())
	}
	// Output:
	// 200 OK {"resourceType":"Patient"} round trips: 2
	// 200 OK {"resourceType":"Patient"} round trips: 1
}

// transportExampleNonce returns the nonce claim of a proof, without verifying it.
func transportExampleNonce(proof string) string {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Nonce string `json:"nonce"`
	}
	_ = json.Unmarshal(payload, &claims)
	return claims.Nonce
}
