package helseid_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// A multi-tenant system names, once per incoming request, the organisation it acts for; every
// token request made with that context carries its organisation numbers, and tokens of
// different organisations never mix in the cache. A call whose context names none fails before
// anything is sent, so it can never get the supplier's own token by accident.
func ExampleWithOrganization() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID:          "journal-supplier",
		OrgNumber:   "994598759", // the supplier
		MultiTenant: true,
		Scopes:      []string{"nhn:helseidtest-api/read"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := helseid.NewClient(helseid.Config{
		Issuer: srv.Issuer(), ClientID: "journal-supplier", Key: key, HTTPClient: srv.Client(),
		Tenancy: helseid.MultiTenant,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	api, err := client.HTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{"nhn:helseidtest-api/read"}})
	if err != nil {
		fmt.Println(err)
		return
	}

	call := func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.APIURL(), nil)
		resp, err := api.Do(req)
		if err != nil {
			fmt.Println("refused:", errors.Is(err, helseid.ErrNoOrganization))
			return
		}
		defer resp.Body.Close()
		var seen helseidtest.APIResponse
		if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(resp.StatusCode, "parent", seen.OrgNrParent, "child", seen.OrgNrChild, "supplier", seen.OrgNrSupplier)
	}

	// In an HTTP handler: ctx := helseid.WithOrganization(r.Context(), org).
	call(helseid.WithOrganization(context.Background(), helseid.Organization{Parent: "912345678", Child: "987654321"}))
	call(helseid.WithOrganization(context.Background(), helseid.Organization{Parent: "923456789"}))
	call(context.Background())
	// Output:
	// 200 parent 912345678 child 987654321 supplier 994598759
	// 200 parent 923456789 child  supplier 994598759
	// refused: true
}
