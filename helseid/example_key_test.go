package helseid_test

import (
	"fmt"
	"strings"

	"github.com/helseid-go/sdk/helseid"
)

// A private JWK as HelseID's self-service hands it out (a throwaway test key here; in
// production read it from a secret store or a file only the service can read). The JWK's own
// alg is used when the second argument is empty. Printing or logging a Key never shows the
// private part.
func ExampleParseJWK() {
	privateJWK := []byte(`{"kty":"EC","crv":"P-256","alg":"ES256","kid":"ehr-2026-12",
		"x":"rP_scvUEMDPSEdZ1xXZGhiAdhaUojG8K8FV43QCZIZg",
		"y":"0inXjM0kowNocZehNb9ni0-DV51wnVxn4EDzqPTPMiQ",
		"d":"1TI6-gHHfHBAM1SVbMpmPrzs8h607nU-NTXIiXaoSxo"}`)
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(key.Algorithm(), key.KeyID())
	fmt.Println(key)

	// The public half, to register or to compare with the registered one.
	public, err := key.PublicJWK()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.Contains(string(public), `"d"`))

	// A JWK that is not a private signing key is refused.
	_, err = helseid.ParseJWK([]byte(`{"kty":"oct","k":"c2VjcmV0"}`), "HS256")
	fmt.Println(err != nil)
	// Output:
	// ES256 ehr-2026-12
	// helseid.Key{alg=ES256 kid=ehr-2026-12 private=REDACTED}
	// false
	// true
}
