package discovery_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/helseid-go/sdk/internal/discovery"
)

func ExampleCache_Metadata() {
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":"%[1]s/connect/token","jwks_uri":"%[1]s/jwks"}`, issuer)
	}))
	defer srv.Close()
	issuer = srv.URL // e.g. "https://helseid-sts.test.nhn.no" in real use

	cache, err := discovery.NewCache(discovery.Config{Issuer: issuer})
	if err != nil {
		fmt.Println(err)
		return
	}
	md, err := cache.Metadata(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(md.TokenEndpoint == issuer+"/connect/token")
	// Output: true
}
