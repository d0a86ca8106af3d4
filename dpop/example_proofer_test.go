package dpop_test

import (
	"fmt"
	"net/http"

	"github.com/helseid-go/sdk/dpop"
)

// A Proofer signs one proof per HTTP attempt. Tokens the authorization server binds to it carry
// its thumbprint in cnf.jkt.
func ExampleProofer() {
	proofer, err := dpop.NewProofer(dpop.ProoferConfig{}) // ephemeral P-256 key, ES256
	if err != nil {
		panic(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://api.example.org/patients?id=1", nil)
	accessToken := "token-from-the-authorization-server"
	proof, err := proofer.Proof(req.Method, req.URL, "", accessToken)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "DPoP "+accessToken)
	req.Header.Set("DPoP", proof)

	fmt.Println(proofer.Algorithm(), len(proofer.Thumbprint()))
	// Output: ES256 43
}
