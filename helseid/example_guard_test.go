package helseid_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// An API protected by a Guard: only DPoP-bound HelseID tokens for its own audience, each with a
// fresh proof by the key the token is bound to. The handler reads the validated claims.
func ExampleGuard() {
	issuer, err := helseidtest.Start(helseidtest.Options{}) // in a test: helseidtest.NewServer(t)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer issuer.Close()

	guard, err := helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{
		Issuer:         issuer.Issuer(),      // helseid.ProductionIssuer in production
		Audience:       issuer.APIAudience(), // your API's audience, such as "nhn:kjernejournal"
		RequiredScopes: []string{issuer.APIAudience() + "/read"},
		HTTPClient:     issuer.Client(),
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	api := httptest.NewServer(guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := helseid.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s, acting for organisation %s", claims.ClientID, claims.OrgNrParent)
	}), func(r *http.Request, e *helseid.AuthError) {
		logger.Info("refused", "path", r.URL.Path, "code", e.Code, "err", e.Err) // e.Err never holds the token
	}))
	defer api.Close()

	// A caller without a token is refused with a DPoP challenge.
	resp, err := http.Get(api.URL + "/patients")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate") != "")

	// A HelseID client with a DPoP *http.Client gets in.
	privateJWK, err := issuer.GenerateClientFor(helseidtest.ClientRegistration{ID: "lab-system", OrgNumber: helseidtest.DefaultOrgNumber, Scopes: []string{issuer.APIAudience() + "/read"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: issuer.Issuer(), ClientID: "lab-system", Key: key, HTTPClient: issuer.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	httpClient, err := client.HTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{issuer.APIAudience() + "/read"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err = httpClient.Get(api.URL + "/patients")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 401 true
	// 200 hello lab-system, acting for organisation 994598759
}
