package helseid_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// An API that has not moved to DPoP yet takes unbound Bearer tokens. Both sides opt in by
// name: the caller with BearerHTTPClient (its client registered for Bearer tokens), the API
// with GuardConfig.AllowBearer, which still refuses a DPoP-bound token sent as Bearer.
func ExampleClient_BearerHTTPClient() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID: "legacy-system", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes: []string{"nhn:helseidtest-api/read"}, AllowBearer: true,
	})
	if err != nil {
		panic(err)
	}

	// The API, migrating: DPoP and Bearer both accepted.
	guard, err := helseid.NewGuard(helseid.GuardConfig{
		AccessTokenConfig: helseid.AccessTokenConfig{Issuer: srv.Issuer(), Audience: srv.APIAudience()},
		AllowBearer:       true,
	})
	if err != nil {
		panic(err)
	}
	defer guard.Close()
	api := httptest.NewServer(guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		claims, _ := helseid.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "%s token of %s", scheme, claims.ClientID)
	}), nil))
	defer api.Close()

	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		panic(err)
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "legacy-system", Key: key})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	legacy, err := client.BearerHTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{"nhn:helseidtest-api/read"}})
	if err != nil {
		panic(err)
	}
	resp, err := legacy.Get(api.URL + "/records")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 Bearer token of legacy-system
}
