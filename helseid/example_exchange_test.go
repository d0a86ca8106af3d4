package helseid_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// An API (here "sfm", registered in HelseID for token exchange) calls the next API on behalf
// of the user whose token it received. Behind a Guard the incoming token is already in the
// request's context; here helseidtest issues a user's token and WithSubjectToken puts it
// there. The downstream API sees a token for the same user, issued to sfm as the actor and
// bound to sfm's own DPoP key.
func ExampleClient_OnBehalfOfHTTPClient() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	// The front end the user logged in with, and sfm, allowed to exchange tokens for its own
	// audience into tokens for the demo API.
	if _, err := srv.GenerateClient("front-end", "nhn:sfm/api"); err != nil {
		fmt.Println(err)
		return
	}
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID:               "sfm",
		OrgNumber:        helseidtest.DefaultOrgNumber,
		Scopes:           []string{"nhn:helseidtest-api/read"},
		ExchangeAudience: "nhn:sfm",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "sfm", Key: key, HTTPClient: srv.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	// Made once, at start-up: every request through it exchanges the token in its context
	// (once per user token and target, then cached) and sends the new one with a fresh proof.
	downstream, err := client.OnBehalfOfHTTPClient(helseid.TokenExchangeRequest{Scopes: []string{"nhn:helseidtest-api/read"}})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The token the front end sent to sfm, bound to the front end's DPoP key.
	frontEndKey, err := dpop.NewProofer(dpop.ProoferConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	userToken, err := srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "front-end", Scopes: []string{"nhn:sfm/api"}, JKT: frontEndKey.Thumbprint()})
	if err != nil {
		fmt.Println(err)
		return
	}

	// In sfm's handler behind a Guard, r.Context() already carries userToken.
	ctx := helseid.WithSubjectToken(context.Background(), userToken, time.Time{}) // zero: read exp from the token
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.APIURL(), nil)
	resp, err := downstream.Do(req)
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
	fmt.Println(resp.StatusCode, "client", seen.ClientID, "audience", seen.Audience)
	fmt.Println("bound to sfm's key:", seen.Confirmation.JKT == client.Proofer().Thumbprint())
	// Output:
	// 200 client sfm audience nhn:helseidtest-api
	// bound to sfm's key: true
}
