package discovery

import (
	"testing"
)

// FuzzParse checks that Parse never panics and never accepts a document for an issuer other
// than the one it was given. The seed corpus in testdata/fuzz/FuzzParse holds a HelseID-like
// document, the conformance suite's issuer form and broken documents.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, issuer string) {
		md, err := Parse(data, issuer)
		if err != nil {
			if md != nil {
				t.Fatalf("Parse returned a document and an error: %v", err)
			}
			return
		}
		if md.Issuer != issuer {
			t.Fatalf("accepted issuer %q for configured issuer %q", md.Issuer, issuer)
		}
		if md.TokenEndpoint == "" || md.JWKSURI == "" {
			t.Fatalf("accepted a document without token_endpoint or jwks_uri")
		}
		if string(md.Raw) != string(data) {
			t.Fatalf("Raw differs from the input")
		}
	})
}
