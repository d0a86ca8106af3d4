// Command multitenant shows one process serving several health organisations at once through
// one HelseID client: a supplier's multi-tenant system calls an API for each organisation
// that has delegated to it, with one DPoP-bound token per organisation, never mixed.
//
//	go run ./examples/multitenant
//
// It needs no configuration and no network: it starts helseidtest (an in-process HelseID) and
// its demo API, and registers a multi-tenant client. Each simulated incoming request carries
// its organisation in its context (helseid.WithOrganization); the SDK picks that
// organisation's token from its cache, requesting it once. A call whose context names no
// organisation is refused (helseid.ErrNoOrganization) rather than served with the supplier's
// token; the supplier's own work asks for that token explicitly (helseid.SupplierOrganization).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

const (
	scope    = "nhn:helseidtest-api/read"
	supplier = "994598759" // the supplier's own organisation, registered with the client
)

// organisations the system serves: parent (overenhet) and child (underenhet).
var organisations = []helseid.Organization{
	{Parent: "912345678", Child: "987654321"},
	{Parent: "923456789", Child: "976543210"},
	{Parent: "934567890"},
	{Parent: "945678901", Child: "965432109"},
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, 25); err != nil {
		fmt.Fprintln(os.Stderr, "multitenant:", err)
		os.Exit(1)
	}
}

type result struct {
	org   helseid.Organization
	calls int
	err   error
}

func run(ctx context.Context, out io.Writer, callsPerOrg int) error {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		return fmt.Errorf("start helseidtest: %w", err)
	}
	defer srv.Close()
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID: "supplier-system", Scopes: []string{scope}, OrgNumber: supplier, MultiTenant: true,
	})
	if err != nil {
		return err
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		return err
	}
	client, err := helseid.NewClient(helseid.Config{
		Issuer: srv.Issuer(), ClientID: "supplier-system", Key: key, Tenancy: helseid.MultiTenant,
		MaxCachedTokens: 10 * len(organisations),
	})
	if err != nil {
		return err
	}
	defer client.Close()
	api, err := client.HTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{scope}})
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "Supplier %s serves %d organisations, %d concurrent API calls each, through one client.\n\n",
		supplier, len(organisations), callsPerOrg)
	start := time.Now()
	results := make(chan result, len(organisations))
	var wg sync.WaitGroup
	for _, org := range organisations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- serve(ctx, api, srv.APIURL(), org, callsPerOrg)
		}()
	}
	wg.Wait()
	close(results)

	var all []result
	for r := range results {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].org.Parent < all[j].org.Parent })
	fmt.Fprintf(out, "%-12s %-12s %6s  %s\n", "parent", "child", "calls", "every token was for this organisation")
	var failed error
	for _, r := range all {
		status := "yes"
		if r.err != nil {
			status = "NO: " + r.err.Error()
			failed = errors.Join(failed, r.err)
		}
		fmt.Fprintf(out, "%-12s %-12s %6d  %s\n", r.org.Parent, orDash(r.org.Child), r.calls, status)
	}
	if failed != nil {
		return failed
	}
	elapsed := time.Since(start)

	// An incoming request whose context lost its organisation: refused before anything is
	// sent, never answered with the supplier's own token.
	err = callAPI(ctx, api, srv.APIURL(), helseid.Organization{})
	if !errors.Is(err, helseid.ErrNoOrganization) {
		return fmt.Errorf("a call with no organisation: got %v, want helseid.ErrNoOrganization", err)
	}
	fmt.Fprintln(out, "\nA call with no organisation in its context: refused (helseid.ErrNoOrganization), nothing sent.")

	// The supplier's own work (a nightly job, say) asks for the supplier's token explicitly.
	own := helseid.WithOrganization(ctx, helseid.SupplierOrganization())
	if err := callAPI(own, api, srv.APIURL(), helseid.Organization{Parent: supplier}); err != nil {
		return fmt.Errorf("the supplier's own call: %w", err)
	}
	fmt.Fprintf(out, "A call with helseid.SupplierOrganization() in its context: the supplier's own token (%s).\n", supplier)

	st := srv.Stats()
	fmt.Fprintf(out, "\n%d API calls for the organisations in %s; HelseID issued %d tokens (one per organisation, one for the supplier).\n",
		st.APIRequests-st.APINonceChallenges-1, elapsed.Round(time.Millisecond), st.TokensIssued)
	if want := int64(len(organisations) + 1); st.TokensIssued != want {
		return fmt.Errorf("helseid issued %d tokens, want %d", st.TokensIssued, want)
	}
	return nil
}

// serve makes calls API calls for org concurrently, as a server handling that organisation's
// incoming requests would, and checks that the API saw org's token every time.
func serve(ctx context.Context, api *http.Client, apiURL string, org helseid.Organization, calls int) result {
	ctx = helseid.WithOrganization(ctx, org)
	errs := make(chan error, calls)
	var wg sync.WaitGroup
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- callAPI(ctx, api, apiURL, org)
		}()
	}
	wg.Wait()
	close(errs)
	r := result{org: org}
	for err := range errs {
		if err != nil {
			r.err = err
			continue
		}
		r.calls++
	}
	return r
}

func callAPI(ctx context.Context, api *http.Client, apiURL string, org helseid.Organization) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL, nil)
	if err != nil {
		return err
	}
	resp, err := api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("api answered %d", resp.StatusCode)
	}
	var seen helseidtest.APIResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&seen); err != nil {
		return fmt.Errorf("api response: %w", err)
	}
	if seen.OrgNrParent != org.Parent || seen.OrgNrChild != org.Child {
		return fmt.Errorf("token for %s/%s used for %s/%s", seen.OrgNrParent, seen.OrgNrChild, org.Parent, org.Child)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
