package jose

import (
	"encoding/base64"
	"errors"
	"testing"
)

// FuzzParseCompact checks that ParseCompact never panics, refuses only with ErrMalformed,
// and accepts only canonical compact JWS: re-encoding what it decoded gives the input back.
// The seed corpus is in testdata/fuzz/FuzzParseCompact.
func FuzzParseCompact(f *testing.F) {
	f.Add(`eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.c2ln`)
	f.Add(`eyJhbGciOiJub25lIn0.e30.`)
	f.Add(`eyJhbGciOiJFUzI1NiIsImFsZyI6IkVTMjU2In0.e30.c2ln`)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := ParseCompact(token)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if c.Header.Alg == "" {
			t.Fatal("accepted a header without alg")
		}
		enc := base64.RawURLEncoding
		if got := c.signingInput + "." + enc.EncodeToString(c.signature); got != token {
			t.Fatalf("not canonical: %q re-encodes as %q", token, got)
		}
		if got := c.signingInput[len(c.signingInput)-enc.EncodedLen(len(c.Payload)):]; got != enc.EncodeToString(c.Payload) {
			t.Fatalf("payload %q re-encodes differently", got)
		}
	})
}

// FuzzDecodeObject checks that DecodeObject never panics and that what it accepts has no
// member name twice under encoding/json's folding.
func FuzzDecodeObject(f *testing.F) {
	f.Add([]byte(`{"aud":"x","sub":{"a":[1,"}"]}}`))
	f.Add([]byte(`{"aud":"x","\u0061ud":"y"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeObject(data, []string{"aud"})
		if err != nil {
			return
		}
		var names []string
		for name := range m {
			for _, seen := range names {
				if foldEqual(seen, name) {
					t.Fatalf("accepted %q and %q", seen, name)
				}
			}
			names = append(names, name)
			if foldEqual(name, "aud") && name != "aud" {
				t.Fatalf("accepted %q for aud", name)
			}
		}
	})
}
