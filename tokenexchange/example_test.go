package tokenexchange_test

import (
	"context"
	"crypto"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/clientauth"
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

	// Service A's private_key_jwt client authentication: any ClientAuthenticator works.
	key, _ := jwk.ParseKey(privateJWK)
	var signer crypto.Signer
	_ = key.Raw(&signer)
	assertions, _ := clientauth.New(clientauth.Config{ClientID: "service-a", Audience: srv.Issuer(), Key: signer,
		Algorithm: key.Algorithm().String(), KeyID: key.KeyID()})
	dpopKey, _ := dpop.NewProofer(dpop.ProoferConfig{})

	exchanger, err := tokenexchange.New(tokenexchange.Config{
		TokenEndpoint: srv.TokenEndpoint(),
		ClientAuth:    authFunc(func(form url.Values) error { return assertions.Authenticate(form, nil) }),
		Proofer:       dpopKey,
		HTTPClient:    srv.Client(),
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
