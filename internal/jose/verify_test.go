package jose

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
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

// appendECDSADER must write exactly what encoding/asn1 writes for the same two integers, the
// form ecdsa.VerifyASN1 reads: leading zeros dropped, a zero byte before a set high bit, zero
// as one zero byte, and a long-form length for P-521.
func TestAppendECDSADER(t *testing.T) {
	full := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	for name, tc := range map[string]struct{ r, s []byte }{
		"P-256 high bits":   {full(0xff, 32), full(0x80, 32)},
		"P-256 low bits":    {full(0x7f, 32), full(0x01, 32)},
		"leading zeros":     {append(full(0, 5), full(0x90, 27)...), append(full(0, 31), 0x05)},
		"zero":              {full(0, 32), full(0, 32)},
		"P-384":             {full(0xaa, 48), full(0x55, 48)},
		"P-521 long length": {append([]byte{0x01}, full(0xff, 65)...), append([]byte{0x01}, full(0x80, 65)...)},
		"P-521 high bits":   {full(0xff, 66), full(0xff, 66)},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(tc.r), new(big.Int).SetBytes(tc.s)})
			require.NoError(t, err)
			var buf [maxECDSADER]byte
			got := appendECDSADER(buf[:0], tc.r, tc.s)
			assert.Equal(t, want, got)
			assert.LessOrEqual(t, len(got), maxECDSADER)
		})
	}
}

// The ECDSA branch of Verify allocates only what crypto/ecdsa's own API moves to the heap (the
// digest and the DER signature it is given) beyond a bare VerifyASN1 of a DER signature built
// in advance: no big.Int and no ASN.1 builder per call.
func TestVerifyECDSAAllocations(t *testing.T) {
	k := loadKeys(t)
	signer, err := NewSigner(k.p256, "ES256")
	require.NoError(t, err)
	token, err := signer.SignCompact(EncodeHeader([]byte(`{"alg":"ES256"}`)), []byte(`{}`))
	require.NoError(t, err)
	dot := strings.LastIndexByte(token, '.')
	sig, err := DecodeSegment(token[dot+1:])
	require.NoError(t, err)
	input, pub := []byte(token[:dot]), k.p256.Public()
	require.NoError(t, Verify("ES256", pub, input, sig))
	digest := sha256.Sum256(input)
	der := appendECDSADER(nil, sig[:32], sig[32:])
	bare := testing.AllocsPerRun(20, func() { ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], der) })
	ours := testing.AllocsPerRun(20, func() { _ = Verify("ES256", pub, input, sig) })
	assert.LessOrEqual(t, ours, bare+2)
}

// Compact.Verify reads the signing input where it lies in the token: an Ed25519 token of a
// kilobyte verifies without an allocation.
func TestCompactVerifyDoesNotCopy(t *testing.T) {
	k := loadKeys(t)
	signer, err := NewSigner(k.ed, "EdDSA")
	require.NoError(t, err)
	token, err := signer.SignCompact(EncodeHeader([]byte(`{"alg":"EdDSA"}`)), []byte(`{"pad":"`+strings.Repeat("x", 1024)+`"}`))
	require.NoError(t, err)
	c, err := ParseCompact(token)
	require.NoError(t, err)
	pub := k.ed.Public()
	require.NoError(t, c.Verify(pub))
	assert.Zero(t, testing.AllocsPerRun(20, func() { _ = c.Verify(pub) }))
}
