package jose

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Verify must accept what an independent implementation (jwx) signs and refuse any change.
func TestVerifyJWXSignatures(t *testing.T) {
	for _, tc := range everyAlgorithm(loadKeys(t)) {
		t.Run(tc.alg, func(t *testing.T) {
			out, err := jws.Sign([]byte(`{"htm":"GET"}`), jws.WithKey(jwa.SignatureAlgorithm(tc.alg), tc.key))
			require.NoError(t, err)
			parts := strings.Split(string(out), ".")
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			require.NoError(t, err)
			input := []byte(parts[0] + "." + parts[1])
			require.NoError(t, Verify(tc.alg, tc.key.Public(), input, sig))

			assert.ErrorIs(t, Verify(tc.alg, tc.key.Public(), append(input, 'x'), sig), ErrSignature, "changed input")
			bad := append([]byte(nil), sig...)
			bad[len(bad)/2] ^= 0x5a
			assert.ErrorIs(t, Verify(tc.alg, tc.key.Public(), input, bad), ErrSignature, "changed signature")
			assert.ErrorIs(t, Verify(tc.alg, tc.key.Public(), input, sig[:len(sig)-1]), ErrSignature, "short signature")
		})
	}
}

func TestVerifyRefusesMismatches(t *testing.T) {
	k := loadKeys(t)
	assert.ErrorIs(t, Verify("ES256", k.p384.Public(), []byte("a.b"), make([]byte, 64)), ErrKeyMismatch)
	assert.ErrorIs(t, Verify("RS256", k.p256.Public(), []byte("a.b"), make([]byte, 256)), ErrKeyMismatch)
	assert.ErrorIs(t, Verify("RS256", k.rsa1k.Public(), []byte("a.b"), make([]byte, 128)), ErrKeyMismatch)
	assert.ErrorIs(t, Verify("none", k.p256.Public(), []byte("a.b"), nil), ErrUnsupportedAlgorithm)
	assert.ErrorIs(t, Verify("HS256", k.p256.Public(), []byte("a.b"), make([]byte, 32)), ErrUnsupportedAlgorithm)
}

func TestParsePublicKey(t *testing.T) {
	k := loadKeys(t)
	for _, pub := range []crypto.PublicKey{k.rsa.Public(), k.p256.Public(), k.p384.Public(), k.p521.Public(), k.ed.Public()} {
		raw, err := PublicJWK(pub)
		require.NoError(t, err)
		var m PublicJWKMembers
		require.NoError(t, json.Unmarshal(raw, &m))
		got, err := ParsePublicKey(m)
		require.NoError(t, err)
		assert.True(t, got.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub))
		// And jwx reads the same JWK to the same key.
		jk, err := jwk.ParseKey(raw)
		require.NoError(t, err)
		var viaJWX any
		require.NoError(t, jk.Raw(&viaJWX))
		assert.True(t, got.(interface{ Equal(crypto.PublicKey) bool }).Equal(viaJWX))
	}
	raw, _ := PublicJWK(k.p256.Public())
	var ec PublicJWKMembers
	require.NoError(t, json.Unmarshal(raw, &ec))
	raw, _ = PublicJWK(k.rsa1k.Public())
	var small PublicJWKMembers
	require.NoError(t, json.Unmarshal(raw, &small))
	for name, tc := range map[string]struct {
		m    PublicJWKMembers
		want string
	}{
		"no kty":        {PublicJWKMembers{}, "no kty"},
		"oct":           {PublicJWKMembers{Kty: "oct"}, "symmetric"},
		"unknown kty":   {PublicJWKMembers{Kty: "XYZ"}, "not supported"},
		"off the curve": {PublicJWKMembers{Kty: "EC", Crv: "P-256", X: ec.X, Y: ec.X}, "not on the curve"},
		"short x":       {PublicJWKMembers{Kty: "EC", Crv: "P-256", X: ec.X[:40], Y: ec.Y}, "32 bytes"},
		"padded x":      {PublicJWKMembers{Kty: "EC", Crv: "P-256", X: ec.X + "=", Y: ec.Y}, "base64url"},
		"secp256k1":     {PublicJWKMembers{Kty: "EC", Crv: "secp256k1", X: ec.X, Y: ec.Y}, "not supported"},
		"rsa 1024":      {small, "at least 2048"},
		"rsa even e":    {PublicJWKMembers{Kty: "RSA", N: small.N, E: "AQAA"}, "exponent"},
		"ed448":         {PublicJWKMembers{Kty: "OKP", Crv: "Ed448", X: ec.X}, "not supported"},
		"ed25519 short": {PublicJWKMembers{Kty: "OKP", Crv: "Ed25519", X: ec.X[:20]}, "bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePublicKey(tc.m)
			assert.ErrorIs(t, err, ErrInvalidJWK)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
