package helseidtest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// Start a server, then read its discovery document as a client would.
func ExampleStart() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	resp, err := srv.Client().Get(srv.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var meta struct {
		Issuer        string   `json:"issuer"`
		TokenEndpoint string   `json:"token_endpoint"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		panic(err)
	}
	fmt.Println(meta.Issuer == srv.URL())
	fmt.Println(strings.TrimPrefix(meta.TokenEndpoint, meta.Issuer))
	fmt.Println(meta.AuthMethods)
	// Output:
	// true
	// /connect/token
	// [private_key_jwt]
}

// The whole client-credentials flow by hand: a client assertion, a DPoP proof, the nonce
// handshake, then a call to the demo API with the DPoP-bound token.
func ExampleServer_GenerateClient() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	privJWK, err := srv.GenerateClient("demo-client", "nhn:helseidtest-api/read")
	if err != nil {
		panic(err)
	}
	clientKey, err := jwk.ParseKey(privJWK)
	if err != nil {
		panic(err)
	}
	dpopKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	dpopJWK, err := jwk.PublicKeyOf(dpopKey)
	if err != nil {
		panic(err)
	}

	sign := func(alg jwa.SignatureAlgorithm, key any, hdr map[string]any, claims map[string]any) string {
		h := jws.NewHeaders()
		for k, v := range hdr {
			if err := h.Set(k, v); err != nil {
				panic(err)
			}
		}
		payload, err := json.Marshal(claims)
		if err != nil {
			panic(err)
		}
		out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
		if err != nil {
			panic(err)
		}
		return string(out)
	}
	proof := func(method, htu, nonce, accessToken string) string {
		claims := map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": time.Now().Unix()}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		if accessToken != "" {
			claims["ath"] = ath(accessToken)
		}
		return sign(jwa.ES256, dpopKey, map[string]any{"typ": "dpop+jwt", "jwk": dpopJWK}, claims)
	}
	tokenRequest := func(nonce string) *http.Response {
		now := time.Now().Unix()
		assertion := sign(jwa.ES256, clientKey, map[string]any{"typ": "client-authentication+jwt"}, map[string]any{
			"iss": "demo-client", "sub": "demo-client", "aud": srv.Issuer(),
			"iat": now, "nbf": now, "exp": now + 10, "jti": rand.Text(),
		})
		form := url.Values{
			"grant_type":            {"client_credentials"},
			"scope":                 {"nhn:helseidtest-api/read"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		}
		req, _ := http.NewRequest(http.MethodPost, srv.Issuer()+"/connect/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof(http.MethodPost, srv.Issuer()+"/connect/token", nonce, ""))
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		return resp
	}

	resp := tokenRequest("")
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println("first attempt:", resp.StatusCode)
	resp = tokenRequest(resp.Header.Get("DPoP-Nonce"))
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	fmt.Println("retry with nonce:", resp.StatusCode, tok.TokenType)

	req, _ := http.NewRequest(http.MethodGet, srv.APIURL(), nil)
	req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	req.Header.Set("DPoP", proof(http.MethodGet, srv.APIURL(), "", tok.AccessToken))
	resp, err = srv.Client().Do(req)
	if err != nil {
		panic(err)
	}
	var api helseidtest.APIResponse
	_ = json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	fmt.Println("api:", resp.StatusCode, api.ClientID, api.Scope, api.OrgNrParent)
	// Output:
	// first attempt: 400
	// retry with nonce: 200 DPoP
	// api: 200 demo-client [nhn:helseidtest-api/read] 994598759
}
