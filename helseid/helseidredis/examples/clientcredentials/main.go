// Command clientcredentials is examples/clientcredentials as a member of a fleet: the token is
// shared with the fleet's other processes through Redis, so a process started after the first
// gets its token from Redis without a token request.
//
//	HELSEID_REDIS_URL      redis://host:6379/0
//	HELSEID_DPOP_JWK_FILE  the fleet's shared DPoP private JWK (tokens are bound to it)
//	HELSEID_CACHE_KEY      base64 of the 32-byte AES-256 key sealing tokens in Redis
//
// with today's HELSEID_ISSUER, HELSEID_CLIENT_ID, HELSEID_JWK_FILE, HELSEID_SCOPE and the optional
// HELSEID_API_URL, HELSEID_ORGNR_PARENT (multi-tenant) and HELSEID_ORGNR_CHILD. It lives in the
// nested module helseid/helseidredis because the core module does not depend on go-redis:
//
//	cd helseid/helseidredis && go run ./examples/clientcredentials
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis/examples/internal/fleetconfig"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "clientcredentials:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	s, err := fleetconfig.FromEnv(getenv)
	if err != nil {
		return err
	}
	tenancy := helseid.SingleTenant
	if s.OrgParent != "" {
		tenancy = helseid.MultiTenant
	}
	var count fleetconfig.Counter
	client, closeClient, err := s.NewClient(tenancy, &count)
	if err != nil {
		return err
	}
	defer closeClient()
	req := helseid.ClientCredentialsRequest{Scopes: strings.Fields(s.Scope), Organization: helseid.Organization{Parent: s.OrgParent, Child: s.OrgChild}}
	fmt.Fprintf(out, "Fleet member: %s as client %s, DPoP key jkt %s, tokens shared through Redis.\n", s.Issuer, s.ClientID, client.Proofer().Thumbprint())
	tok, err := client.Token(ctx, req)
	if err != nil {
		return fmt.Errorf("get token: %w", err)
	}
	from := "requested from HelseID and stored in Redis, sealed, for the rest of the fleet"
	if count.Shared() > 0 {
		from = "taken from Redis: another process of the fleet requested it"
	}
	fmt.Fprintf(out, "Token %v: %s.\n", tok, from)
	if s.APIURL != "" {
		api, err := client.HTTPClient(req)
		if err != nil {
			return err
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL, nil)
		if err != nil {
			return err
		}
		resp, err := api.Do(r)
		if err != nil {
			return fmt.Errorf("call api: %w", err)
		}
		resp.Body.Close()
		fmt.Fprintf(out, "API %s answered %d.\n", s.APIURL, resp.StatusCode)
	}
	fmt.Fprintf(out, "Token requests: %d, tokens from Redis: %d.\n", 1-count.Shared(), count.Shared())
	return nil
}
