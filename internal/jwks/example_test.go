package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/helseid-go/sdk/internal/jose"
	"github.com/helseid-go/sdk/internal/jwks"
)

func ExampleSet_Key() {
	// The issuer's signing key and its published key set.
	signer, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	public, _ := jwk.FromRaw(&signer.PublicKey)
	_ = public.Set(jwk.KeyIDKey, "2025-02")
	_ = public.Set(jwk.KeyUsageKey, "sig")
	set, _ := json.Marshal(map[string]any{"keys": []jwk.Key{public}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(set)
	}))
	defer srv.Close()

	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, "2025-02")
	token, _ := jws.Sign([]byte(`{"sub":"x"}`), jws.WithKey(jwa.ES256, signer, jws.WithProtectedHeaders(hdr)))

	// The verifier: the kid and alg come from the token's protected header; the caller
	// checks alg against its allow-list before it asks for a key.
	parsed, err := jose.ParseCompact(string(token))
	if err != nil {
		fmt.Println(err)
		return
	}
	keys, err := jwks.New(jwks.Config{URL: srv.URL}) // the jwks_uri from discovery
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := keys.Key(context.Background(), parsed.Header.Kid, parsed.Header.Alg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(parsed.Payload), parsed.Verify(key))
	// Output: {"sub":"x"} <nil>
}
