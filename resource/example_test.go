package resource_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/par"
	"github.com/helseid-go/sdk/pkce"
	"github.com/helseid-go/sdk/resource"
)

// A user logs in once (PAR, the authorization code for the first API) and the session gets a
// token per API from the one rotating refresh token, each bound to the same DPoP key.
func Example() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	const redirectURI = "https://ehr.example/callback"
	privateJWK, _ := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes: []string{"openid", "offline_access", "nhn:service-a/read", "nhn:service-b/read"}, RedirectURIs: []string{redirectURI}})
	key, _ := helseid.ParseJWK(privateJWK, "")
	auth, _ := key.PrivateKeyJWT("ehr", srv.Issuer())
	proofer, _ := dpop.NewProofer(dpop.ProoferConfig{})
	md := srv.Discovery()
	ctx := context.Background()

	// One set of settings for PAR, the code exchange and every refresh.
	settings := fapi.Settings{ClientAuth: auth, Proofer: proofer, Nonces: dpop.NewNonceStore(), HTTPClient: srv.Client()}

	// The login: push every resource, let the browser through, exchange the code for the first.
	pusher, _ := par.New(md.PushedAuthorizationRequestEndpoint, settings)
	verifier, _ := pkce.NewVerifier()
	pushed, err := pusher.Push(ctx, url.Values{"response_type": {"code"}, "client_id": {"ehr"}, "redirect_uri": {redirectURI},
		"scope": {"openid offline_access nhn:service-a/read nhn:service-b/read"}, "resource": {"nhn:service-a", "nhn:service-b"},
		"state": {"st"}, "nonce": {"nc"}, "code_challenge": {verifier.Challenge()}, "code_challenge_method": {pkce.Method}})
	if err != nil {
		fmt.Println(err)
		return
	}
	authURL, _ := par.AuthorizationURL(md.AuthorizationEndpoint, "ehr", pushed.RequestURI)
	callback, err := browse(srv.Client(), authURL) // helseidtest logs its test user in at once
	if err != nil {
		fmt.Println(err)
		return
	}
	tokenEndpoint, _ := fapi.NewClient(md.TokenEndpoint, settings)
	login, err := tokenEndpoint.ExchangeCode(ctx, fapi.CodeExchange{Code: callback.Get("code"), CodeVerifier: string(verifier),
		RedirectURI: redirectURI, Resource: "nhn:service-a"})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The session: the login's token for the first API, a refresh for the second.
	session, err := resource.NewSession(resource.Config{TokenEndpoint: md.TokenEndpoint, Settings: settings,
		Persist: func(ctx context.Context, refreshToken string, expiry time.Time) error { return nil }},
		login.RefreshToken, login.RefreshExpiry)
	if err != nil {
		fmt.Println(err)
		return
	}
	session.Put("nhn:service-a", fapi.Token{AccessToken: login.AccessToken, Expiry: login.Expiry})
	a, _ := session.Token(ctx, "nhn:service-a")
	b, err := session.Token(ctx, "nhn:service-b")
	if err != nil {
		fmt.Println(err)
		return
	}
	rotated, _ := session.RefreshToken()
	fmt.Println(a.AccessToken == login.AccessToken, b.AccessToken != a.AccessToken, rotated != login.RefreshToken)
	// Output:
	// true true true
}

// browse follows the authorization URL to the redirect back to the client and returns its
// query (code, state, iss).
func browse(client *http.Client, authURL string) (url.Values, error) {
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	return loc.Query(), nil
}
