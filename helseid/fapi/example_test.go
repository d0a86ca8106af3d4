package fapi_test

import (
	"context"
	"fmt"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// A client-credentials token bound to a DPoP key, from the building blocks alone: any FAPI 2.0
// server works the same way (here the in-process HelseID).
func Example() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	privateJWK, _ := srv.GenerateClient("machine", "nhn:helseidtest-api/read")

	// private_key_jwt from a helseid.Key; fapi.NewPrivateKeyJWT takes any crypto.Signer.
	key, _ := helseid.ParseJWK(privateJWK, "")
	auth, err := key.PrivateKeyJWT("machine", srv.Issuer())
	if err != nil {
		fmt.Println(err)
		return
	}
	proofer, _ := dpop.NewProofer(dpop.ProoferConfig{})

	// The settings are written once; par, resource and tokenexchange take the same.
	settings := fapi.Settings{ClientAuth: auth, Proofer: proofer, HTTPClient: srv.Client()}
	tokenEndpoint, err := fapi.NewClient(srv.TokenEndpoint(), settings)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The nonce handshake (use_dpop_nonce, then a retry with a fresh proof and assertion)
	// happens inside.
	resp, err := tokenEndpoint.ClientCredentials(context.Background(), fapi.ClientCredentialsRequest{
		Scopes: []string{"nhn:helseidtest-api/read"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.TokenType, resp.ExpiresIn > 0)
	fmt.Println(resp) // formatting never shows a token
	// Output:
	// DPoP true
	// TokenResponse{TokenType:"DPoP", ExpiresIn:600, Scope:"nhn:helseidtest-api/read", RefreshToken:none, IDToken:none, AccessToken:REDACTED}
}
