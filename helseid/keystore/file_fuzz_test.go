package keystore

import (
	"strings"
	"testing"

	"github.com/helseid-go/sdk/helseid"
)

// FuzzParseFile reads untrusted key files: never a panic, a current key whenever there is no
// error, and no error that quotes the file's content.
func FuzzParseFile(f *testing.F) {
	key, err := helseid.GenerateKey("ES256")
	if err != nil {
		f.Fatal(err)
	}
	jwk, err := key.PrivateJWK()
	if err != nil {
		f.Fatal(err)
	}
	ec := string(jwk)
	if _, err := parseFile("key.json", jwk); err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		ec,
		`{"current":` + ec + `,"expires":"2027-01-01T00:00:00Z","pending":` + ec + `}`,
		`{"current":` + ec + `,"pending":null}`,
		`{"current":{"kty":"EC"}}`, `{"expires":"x"}`, `{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseFile("key.json", data)
		if err != nil {
			if len(data) > 16 && strings.Contains(err.Error(), string(data)) {
				t.Fatalf("error quotes the file: %v", err)
			}
			return
		}
		if keys.Current == nil {
			t.Fatal("no current key and no error")
		}
	})
}
