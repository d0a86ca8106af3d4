package par_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/par"
	"github.com/helseid-go/sdk/pkce"
)

// A login starts with a push: the authorization parameters go to the PAR endpoint with client
// authentication and DPoP (dpop_jkt binds the code to the key), and the browser is sent to a
// URL that carries only client_id and request_uri.
func Example() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	privateJWK, _ := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes: []string{"openid", "offline_access", "nhn:service-a/read"}, RedirectURIs: []string{"https://ehr.example/callback"}})
	key, _ := helseid.ParseJWK(privateJWK, "")
	auth, _ := key.PrivateKeyJWT("ehr", srv.Issuer())
	proofer, _ := dpop.NewProofer(dpop.ProoferConfig{})
	md := srv.Discovery()

	pusher, err := par.New(md.PushedAuthorizationRequestEndpoint, fapi.Settings{ClientAuth: auth, Proofer: proofer, HTTPClient: srv.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	verifier, _ := pkce.NewVerifier() // kept with the state for the code exchange
	pushed, err := pusher.Push(context.Background(), url.Values{
		"response_type": {"code"}, "client_id": {"ehr"}, "redirect_uri": {"https://ehr.example/callback"},
		"scope": {"openid offline_access nhn:service-a/read"}, "resource": {"nhn:service-a"},
		"state": {"random-state"}, "nonce": {"random-nonce"},
		"code_challenge": {verifier.Challenge()}, "code_challenge_method": {pkce.Method},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	authURL, _ := par.AuthorizationURL(md.AuthorizationEndpoint, "ehr", pushed.RequestURI)
	u, _ := url.Parse(authURL)
	fmt.Println(strings.HasPrefix(pushed.RequestURI, "urn:ietf:params:oauth:request_uri:"), pushed.ExpiresIn)
	fmt.Println(len(u.Query()), u.Query().Get("client_id"))
	// Output:
	// true 60
	// 2 ehr
}
