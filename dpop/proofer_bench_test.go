package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// The DESIGN target: an ES256 proof costs at most 1.15x a bare ecdsa.SignASN1 over a message of
// the same size with the same key. Compare BenchmarkProofES256/proofer with /bare-signasn1 in
// the same run; /jwx-jwt-sign shows what the naive approach costs.
func BenchmarkProofES256(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewProofer(ProoferConfig{Key: key})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse("https://helseid-sts.test.nhn.no/connect/token")
	const nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
	sample, err := p.Proof("POST", u, nonce, "")
	if err != nil {
		b.Fatal(err)
	}
	signingInput := []byte(sample[:strings.LastIndexByte(sample, '.')])

	b.Run("impl=proofer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Proof("POST", u, nonce, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=bare-signasn1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			digest := sha256.Sum256(signingInput)
			if _, err := ecdsa.SignASN1(rand.Reader, key, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=jwx-jwt-sign", func(b *testing.B) {
		pub, _ := jwk.FromRaw(key.Public())
		b.ReportAllocs()
		for b.Loop() {
			tok := jwt.New()
			_ = tok.Set("jti", "-BwC3ESc6acc2lTcAAAAAA")
			_ = tok.Set("htm", "POST")
			_ = tok.Set("htu", u.String())
			_ = tok.Set("iat", 1562262616)
			_ = tok.Set("nonce", nonce)
			hdr := jws.NewHeaders()
			_ = hdr.Set("typ", "dpop+jwt")
			_ = hdr.Set("jwk", pub)
			if _, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(hdr))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
