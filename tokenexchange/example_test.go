package tokenexchange_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/helseid-go/sdk/dpop"
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

	// Service A's private_key_jwt client authentication: any ClientAuthenticator works. This
	// one signs a fresh assertion per request with jwx (package helseid has its own).
	key, _ := jwk.ParseKey(privateJWK)
	assertion := authFunc(func(form url.Values) error {
		now := time.Now().Unix()
		claims, _ := json.Marshal(map[string]any{"iss": "service-a", "sub": "service-a", "aud": srv.Issuer(),
			"iat": now, "nbf": now, "exp": now + 10, "jti": rand.Text()})
		hdr := jws.NewHeaders()
		_ = hdr.Set(jws.TypeKey, "client-authentication+jwt")
		_ = hdr.Set(jws.KeyIDKey, key.KeyID())
		signed, err := jws.Sign(claims, jws.WithKey(key.Algorithm(), key, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			return err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", string(signed))
		return nil
	})
	dpopKey, _ := dpop.NewProofer(dpop.ProoferConfig{})

	exchanger, err := tokenexchange.New(tokenexchange.Config{
		TokenEndpoint: srv.TokenEndpoint(),
		ClientAuth:    assertion,
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
