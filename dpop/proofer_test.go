package dpop

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var proofNow = time.Unix(1562262616, 0)

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}

// verifyProof checks a proof the way a server does, with jwx, and returns header and claims.
func verifyProof(t *testing.T, proof string) (map[string]any, map[string]any) {
	t.Helper()
	msg, err := jws.Parse([]byte(proof))
	require.NoError(t, err)
	require.Len(t, msg.Signatures(), 1)
	h := msg.Signatures()[0].ProtectedHeaders()
	key := h.JWK()
	require.NotNil(t, key, "proof header must embed the public jwk")
	payload, err := jws.Verify([]byte(proof), jws.WithKey(h.Algorithm(), key))
	require.NoError(t, err)
	var header, claims map[string]any
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[0])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &header))
	require.NoError(t, json.Unmarshal(payload, &claims))
	return header, claims
}

func TestProofClaims(t *testing.T) {
	p, err := NewProofer(ProoferConfig{Now: func() time.Time { return proofNow }})
	require.NoError(t, err)
	assert.Equal(t, "ES256", p.Algorithm())

	proof, err := p.Proof("GET", mustURL(t, "HTTPS://Resource.Example.org:443/protectedresource?x=1#frag"), "eyJ7S_zG.eyJH0-Z.HX4w-7v", "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
	require.NoError(t, err)
	header, claims := verifyProof(t, proof)

	assert.Equal(t, "dpop+jwt", header["typ"])
	assert.Equal(t, "ES256", header["alg"])
	jwkMap := header["jwk"].(map[string]any)
	assert.Equal(t, map[string]bool{"kty": true, "crv": true, "x": true, "y": true}, keysOf(jwkMap), "public members only")

	assert.Equal(t, "GET", claims["htm"])
	assert.Equal(t, "https://resource.example.org/protectedresource", claims["htu"])
	assert.Equal(t, float64(1562262616), claims["iat"])
	assert.Equal(t, "eyJ7S_zG.eyJH0-Z.HX4w-7v", claims["nonce"])
	assert.Equal(t, "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo", claims["ath"], "RFC 9449 §7.1 ath vector")
	assert.Len(t, claims["jti"], 22)
}

func keysOf(m map[string]any) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func TestProofGolden(t *testing.T) {
	p, err := NewProofer(ProoferConfig{Now: func() time.Time { return proofNow }, Rand: bytes.NewReader(make([]byte, 16))})
	require.NoError(t, err)
	proof, err := p.Proof("POST", mustURL(t, "https://server.example.com/token"), "", "")
	require.NoError(t, err)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[1])
	require.NoError(t, err)
	assert.Equal(t, `{"jti":"AAAAAAAAAAAAAAAAAAAAAA","htm":"POST","htu":"https://server.example.com/token","iat":1562262616}`, string(payload),
		"no nonce and no ath members when not given (ath only with an access token)")
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[0])
	require.NoError(t, err)
	assert.Equal(t, `{"typ":"dpop+jwt","alg":"ES256","jwk":`+string(p.PublicJWK())+`}`, string(header))
}

func TestThumbprintMatchesJWX(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		alg string
		key crypto.Signer
	}{{"PS256", rsaKey}, {"RS256", rsaKey}, {"ES384", p384}, {"EdDSA", ed}} {
		t.Run(tc.alg, func(t *testing.T) {
			p, err := NewProofer(ProoferConfig{Key: tc.key, Algorithm: tc.alg})
			require.NoError(t, err)
			k, err := jwk.FromRaw(tc.key.Public())
			require.NoError(t, err)
			tp, err := k.Thumbprint(crypto.SHA256)
			require.NoError(t, err)
			assert.Equal(t, base64.RawURLEncoding.EncodeToString(tp), p.Thumbprint())

			proof, err := p.Proof("POST", mustURL(t, "https://as.example/token"), "", "")
			require.NoError(t, err)
			_, err = jws.Verify([]byte(proof), jws.WithKey(jwa.SignatureAlgorithm(tc.alg), tc.key.Public()))
			require.NoError(t, err)
		})
	}
}

func TestNewProoferErrors(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, err := NewProofer(ProoferConfig{Key: p384})
	assert.ErrorContains(t, err, "algorithm is required")
	_, err = NewProofer(ProoferConfig{Key: p384, Algorithm: "ES256"})
	assert.ErrorContains(t, err, "P-256")
	_, err = NewProofer(ProoferConfig{Algorithm: "HS256"})
	assert.ErrorContains(t, err, "symmetric")
}

func TestProofInputErrors(t *testing.T) {
	p, err := NewProofer(ProoferConfig{})
	require.NoError(t, err)
	u := mustURL(t, "https://as.example/token")
	cases := []struct {
		name   string
		method string
		u      *url.URL
		nonce  string
	}{
		{"empty method", "", u, ""},
		{"method with quote", `GE"T`, u, ""},
		{"method with space", "GET X", u, ""},
		{"nil url", "GET", nil, ""},
		{"relative url", "GET", mustURL(t, "/token"), ""},
		{"ftp url", "GET", mustURL(t, "ftp://as.example/x"), ""},
		{"nonce with quote", "GET", u, `a"b`},
		{"nonce with space", "GET", u, "a b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Proof(tc.method, tc.u, tc.nonce, "")
			assert.ErrorIs(t, err, ErrInvalidProofInput)
		})
	}
}

func TestProofJTIUniqueConcurrently(t *testing.T) {
	p, err := NewProofer(ProoferConfig{})
	require.NoError(t, err)
	u := mustURL(t, "https://as.example/token")
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			proof, err := p.Proof("POST", u, "", "")
			if !assert.NoError(t, err) {
				return
			}
			raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[1])
			var c struct{ JTI string }
			assert.NoError(t, json.Unmarshal(raw, &c))
			mu.Lock()
			assert.False(t, seen[c.JTI])
			seen[c.JTI] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Len(t, seen, 100)
}

func TestATH(t *testing.T) {
	assert.Equal(t, "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo", ATH("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"))
}
