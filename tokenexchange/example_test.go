package tokenexchange_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/tokenexchange"
)

// An API that received a user's token exchanges it for a token to the next API, with its own
// client authentication and DPoP key, and caches the result per user.
func Example() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	_, _ = srv.GenerateClient("front-end", "nhn:service-a/read")
	privateJWK, _ := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "service-a", Scopes: []string{"nhn:service-b/read"},
		OrgNumber: helseidtest.DefaultOrgNumber, ExchangeAudience: "nhn:service-a"})
	userKey, _ := dpop.NewProofer(dpop.ProoferConfig{})
	subject, _ := srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "front-end", Scopes: []string{"nhn:service-a/read"}, JKT: userKey.Thumbprint()})

	// Service A's private_key_jwt client authentication: a fresh signed assertion per request.
	key, _ := jwk.ParseKey(privateJWK)
	var signer ecdsa.PrivateKey
	_ = key.Raw(&signer)
	assertion, err := fapi.NewPrivateKeyJWT(fapi.PrivateKeyJWTConfig{ClientID: "service-a", Issuer: srv.Issuer(),
		Key: &signer, Algorithm: key.Algorithm().String(), KeyID: key.KeyID()})
	if err != nil {
		fmt.Println(err)
		return
	}
	dpopKey, _ := dpop.NewProofer(dpop.ProoferConfig{})

	exchanger, err := tokenexchange.New(srv.TokenEndpoint(), fapi.Settings{
		ClientAuth: assertion,
		Proofer:    dpopKey,
		HTTPClient: srv.Client(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cache, _ := tokenexchange.NewCache(tokenexchange.CacheConfig{Exchange: exchanger.Exchange})
	defer cache.Close()

	req := tokenexchange.Request{SubjectToken: subject, Scopes: []string{"nhn:service-b/read"}}
	first, err := cache.Token(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	again, _ := cache.Token(context.Background(), req)
	fmt.Println(first.AccessToken == again.AccessToken, time.Until(first.Expiry) > 0)
	fmt.Println(strings.HasPrefix(fmt.Sprint(first), "Token{AccessToken:REDACTED"))
	// Output:
	// true true
	// true
}
