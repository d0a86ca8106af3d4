package helseid_test

import (
	"context"
	"fmt"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// A machine-to-machine client gets a DPoP-bound token for one API. Here the HelseID is the
// in-process helseidtest; in production Issuer is helseid.ProductionIssuer and the key is the
// private JWK registered in HelseID's self-service.
func ExampleClient_ClientCredentials() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	privateJWK, err := srv.GenerateClient("my-system", "nhn:helseidtest-api/read")
	if err != nil {
		panic(err)
	}

	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		panic(err)
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "my-system", Key: key})
	if err != nil {
		panic(err)
	}
	tok, err := client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{
		Scopes: []string{"nhn:helseidtest-api/read"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.TokenType, tok.ExpiresIn)
	fmt.Println(tok) // formatting never shows the tokens
	// Output:
	// DPoP 600
	// TokenResponse{TokenType:"DPoP", ExpiresIn:600, Scope:"nhn:helseidtest-api/read", RefreshToken:none, IDToken:none, AccessToken:REDACTED}
}
