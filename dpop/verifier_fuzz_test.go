package dpop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyProof feeds arbitrary proofs to a verifier: it must never panic, never quote the
// proof in its error, and accept only proofs that name the request and verify, so a mutation
// of a valid proof that is still accepted must keep its key, jti and iat.
func FuzzVerifyProof(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1562262618, 0)
	proofer, err := NewProofer(ProoferConfig{Key: key, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	u := mustURL(f, "https://resource.example.org/protectedresource")
	good, err := proofer.Proof("GET", u, "", rfcToken)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(rfcResourceProof)
	f.Add(rfcTokenProof)
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, proof string) {
		v, err := NewVerifier(VerifierConfig{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.VerifyProof(context.Background(), proof, ProofRequest{Method: "GET", URL: u, AccessToken: rfcToken})
		if err != nil {
			if p != nil {
				t.Fatal("a proof with an error")
			}
			if len(proof) > 16 && strings.Contains(err.Error(), proof) {
				t.Fatal("the error quotes the proof")
			}
			return
		}
		if p.JKT == "" || p.JTI == "" || p.PublicKey == nil {
			t.Fatalf("accepted proof without key or jti: %+v", p)
		}
		if _, err := v.VerifyProof(context.Background(), proof, ProofRequest{Method: "GET", URL: u, AccessToken: rfcToken}); err == nil {
			t.Fatal("the same proof was accepted twice")
		}
	})
}
