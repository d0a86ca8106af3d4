package dpop_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// staticToken is a TokenSource for one token got elsewhere (in production: the SDK's cache).
type staticToken string

func (t staticToken) AccessToken(context.Context) (string, error) { return string(t), nil }

// A Transport calling an API that verifies DPoP for real: helseidtest's demo API, behind
// helseid.Guard, with server nonces switched on. The token is bound to the Transport's key
// (helseidtest's IssueUserToken stands in for a login); the API's first answer asks for a
// nonce, and the Transport retries once with it.
func ExampleTransport_helseidtest() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.RequireAPINonce(true)
	if _, err := srv.GenerateClient("ehr", "nhn:helseidtest-api/read"); err != nil {
		fmt.Println(err)
		return
	}

	proofer, err := dpop.NewProofer(dpop.ProoferConfig{}) // a new ES256 key
	if err != nil {
		fmt.Println(err)
		return
	}
	token, err := srv.IssueUserToken(helseidtest.UserTokenRequest{
		ClientID: "ehr", Scopes: []string{"nhn:helseidtest-api/read"}, JKT: proofer.Thumbprint(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := dpop.NewClient(&dpop.Transport{
		Base:    srv.Client().Transport, // trusts the test server's certificate
		Proofer: proofer,
		Tokens:  staticToken(token),
	})

	resp, err := client.Get(srv.APIURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var seen helseidtest.APIResponse
	if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, seen.Audience, seen.Confirmation.JKT == proofer.Thumbprint())
	fmt.Println("nonce challenges:", srv.Stats().APINonceChallenges)
	// Output:
	// 200 nhn:helseidtest-api true
	// nonce challenges: 1
}
