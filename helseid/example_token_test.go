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

// The quick start's call: an *http.Client for one API. Each request gets the cached token and
// a fresh proof; the API's DPoP nonce and a refused token are handled inside.
func ExampleClient_HTTPClient() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.RequireAPINonce(true) // the demo API asks for a DPoP nonce, as some APIs do
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

	api, err := client.HTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{"nhn:helseidtest-api/read"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		resp, err := api.Get(srv.APIURL())
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	stats := srv.Stats()
	fmt.Println("tokens issued:", stats.TokensIssued, "API nonce challenges:", stats.APINonceChallenges)
	// Output:
	// 200
	// 200
	// 200
	// tokens issued: 1 API nonce challenges: 1
}

// Code written for golang.org/x/oauth2 can take the cached tokens as an oauth2.TokenSource.
// They are DPoP-bound: send them with a proof (HTTPClient does both), never through
// oauth2.NewClient or oauth2.Transport, which would send the token alone.
func ExampleClient_TokenSource() {
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

	ts := client.TokenSource(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{"nhn:helseidtest-api/read"}})
	first, err := ts.Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	second, err := ts.Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(first.Type(), first.Valid(), first.AccessToken == second.AccessToken)
	fmt.Println("tokens issued:", srv.Stats().TokensIssued)
	// Output:
	// DPoP true true
	// tokens issued: 1
}
