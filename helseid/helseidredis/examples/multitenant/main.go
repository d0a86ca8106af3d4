// Command multitenant is examples/multitenant as a member of a fleet: one client serving
// several organisations, one token per organisation for the whole fleet, shared through
// Redis. It runs against the HelseID of the HELSEID_* settings of examples/clientcredentials
// (a multi-tenant client; HELSEID_ORGNR_* are not used) plus the fleet's three:
//
//	HELSEID_REDIS_URL      redis://host:6379/0
//	HELSEID_DPOP_JWK_FILE  the fleet's shared DPoP private JWK
//	HELSEID_CACHE_KEY      base64 of the 32-byte AES-256 key sealing tokens in Redis
//
//	cd helseid/helseidredis && go run ./examples/multitenant
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis/examples/internal/fleetconfig"
)

// organisations the system serves, as in examples/multitenant.
var organisations = []helseid.Organization{
	{Parent: "912345678", Child: "987654321"},
	{Parent: "923456789", Child: "976543210"},
	{Parent: "934567890"},
	{Parent: "945678901", Child: "965432109"},
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "multitenant:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	s, err := fleetconfig.FromEnv(getenv)
	if err != nil {
		return err
	}
	var count fleetconfig.Counter
	client, closeClient, err := s.NewClient(helseid.MultiTenant, &count)
	if err != nil {
		return err
	}
	defer closeClient()
	for _, org := range organisations {
		before := count.Shared()
		// The organisation of each incoming request travels in its context.
		tok, err := client.Token(helseid.WithOrganization(ctx, org), helseid.ClientCredentialsRequest{Scopes: strings.Fields(s.Scope)})
		if err != nil {
			return fmt.Errorf("organisation %s: %w", org.Parent, err)
		}
		from := "requested"
		if count.Shared() > before {
			from = "from Redis"
		}
		fmt.Fprintf(out, "organisation %s/%s: %v (%s)\n", org.Parent, org.Child, tok, from)
	}
	fmt.Fprintf(out, "Token requests: %d, tokens from Redis: %d.\n", int64(len(organisations))-count.Shared(), count.Shared())
	return nil
}
