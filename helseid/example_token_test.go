package helseid_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// Token serves the cached token: however many callers ask at once, HelseID sees one token
// request (two round trips here: the first answer asks for a DPoP nonce), and later calls are
// answered from memory until the token is refreshed in the background shortly before it
// expires.
func ExampleClient_Token() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	privateJWK, err := srv.GenerateClient("lab-system", "nhn:helseidtest-api/read")
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "lab-system", Key: key, HTTPClient: srv.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	req := helseid.ClientCredentialsRequest{Scopes: []string{"nhn:helseidtest-api/read"}}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Token(context.Background(), req); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Println(err)
	}
	stats := srv.Stats()
	fmt.Println("tokens issued:", stats.TokensIssued, "nonce challenges:", stats.NonceChallenges)
	// Output:
	// tokens issued: 1 nonce challenges: 1
}
