package keystore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// A service settles an interrupted rotation on start, signs with the stored key, and
// renews it through the self-service API. Here HelseID is helseidtest; against HelseID's
// test environment the issuer is helseid.TestIssuer and the base URL
// selfservice.TestBaseURL.
func ExampleRotator() {
	ctx := context.Background()
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	privateJWK, err := srv.GenerateClient("my-client", selfservice.Scope)
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "keystore-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	// The operator's key file, as keygen wrote it; the store takes it as it is.
	path := filepath.Join(dir, "helseid-key.json")
	if err := os.WriteFile(path, privateJWK, 0o600); err != nil {
		panic(err)
	}

	cfg := helseid.Config{Issuer: srv.Issuer(), ClientID: "my-client"}
	rot := &keystore.Rotator{
		Store:         keystore.NewFileStore(path),
		Authenticator: &keystore.TokenEndpoint{Config: cfg},
	}
	keys, err := rot.Resolve(ctx) // on every start
	if err != nil {
		panic(err)
	}
	cfg.Key = keys.Current
	client, err := helseid.NewClient(cfg)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	rot.Registrar, err = selfservice.NewClient(selfservice.Config{BaseURL: srv.SelfServiceURL(), Client: client})
	if err != nil {
		panic(err)
	}

	rotated, err := rot.Rotate(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("new key:", rotated.Current.KeyID() != keys.Current.KeyID())
	fmt.Println("expiration known:", !rotated.Expires.IsZero())
	fmt.Println("pending:", rotated.Pending != nil)
	// Output:
	// new key: true
	// expiration known: true
	// pending: false
}
