package pkce_test

import (
	"bytes"
	"fmt"
	"net/url"

	"github.com/helseid-go/sdk/pkce"
)

func Example() {
	// In production: v, err := pkce.NewVerifier(). The RFC 7636 Appendix B octets make the
	// output reproducible here.
	v, err := pkce.NewVerifierFrom(bytes.NewReader([]byte{
		116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
		22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
	}))
	if err != nil {
		panic(err)
	}

	// Authorization (or pushed authorization) request: the challenge only.
	par := url.Values{}
	par.Set("code_challenge", v.Challenge())
	par.Set("code_challenge_method", pkce.Method)
	fmt.Println(par.Encode())

	// The verifier prints redacted...
	fmt.Println(v)

	// ...and string(v) goes into the token request when the code is redeemed.
	token := url.Values{}
	token.Set("code_verifier", string(v))
	fmt.Println(token.Encode())

	// Output:
	// code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256
	// pkce.Verifier(REDACTED)
	// code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
}
