package selfservice_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// Registering the client's next key. Store the private key before registering it: package
// keystore does both in a crash-safe order.
func ExampleClient_RegisterKey() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	privateJWK, err := srv.GenerateClient("my-client", selfservice.Scope)
	if err != nil {
		panic(err)
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		panic(err)
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "my-client", Key: key})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: srv.SelfServiceURL(), Client: client})
	if err != nil {
		panic(err)
	}

	next, err := helseid.GenerateKey("ES256")
	if err != nil {
		panic(err)
	}
	expiration, err := ss.RegisterKey(context.Background(), next)
	var problem *selfservice.Problem
	switch {
	case errors.As(err, &problem):
		fmt.Println("refused:", problem.Status, problem.Title, problem.Detail)
	case err != nil:
		fmt.Println("unknown whether registered:", err)
	default:
		fmt.Println("registered; expires in the future:", expiration.After(time.Now()))
	}
	// Output: registered; expires in the future: true
}
