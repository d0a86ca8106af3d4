package jose

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
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

// FuzzDecodeObject checks that DecodeObject never panics, that it reads an object exactly as
// json.Unmarshal into a map does, and that what it accepts has no member name twice under
// encoding/json's folding.
func FuzzDecodeObject(f *testing.F) {
	f.Add([]byte(`{"aud":"x","sub":{"a":[1,"}"]}}`))
	f.Add([]byte(`{"aud":"x","\u0061ud":"y"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeObject(data, []string{"aud"})
		var want map[string]json.RawMessage
		if json.Unmarshal(data, &want) != nil || want == nil {
			if err == nil {
				t.Fatalf("accepted what encoding/json refuses: %q", data)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrDuplicateMember) {
				t.Fatalf("refused an object encoding/json reads: %v", err)
			}
			return
		}
		if len(m) != len(want) {
			t.Fatalf("%d members, encoding/json reads %d", len(m), len(want))
		}
		for name, v := range want {
			if !bytes.Equal(m[name], v) {
				t.Fatalf("member %q is %q, encoding/json reads %q", name, m[name], v)
			}
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
