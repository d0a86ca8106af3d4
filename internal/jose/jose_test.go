package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func b64Int(t *testing.T, s string) *big.Int {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return new(big.Int).SetBytes(raw)
}

func TestThumbprintRFC7638(t *testing.T) {
	n := "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	pub := &rsa.PublicKey{N: b64Int(t, n), E: 65537}
	canonical, err := PublicJWK(pub)
	require.NoError(t, err)
	assert.Equal(t, `{"e":"AQAB","kty":"RSA","n":"`+n+`"}`, string(canonical))
	tp, err := Thumbprint(pub)
	require.NoError(t, err)
	assert.Equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", tp)
}

func TestThumbprintRFC9449(t *testing.T) {
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(),
		X: b64Int(t, "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"),
		Y: b64Int(t, "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA")}
	canonical, err := PublicJWK(pub)
	require.NoError(t, err)
	assert.Equal(t, `{"crv":"P-256","kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}`, string(canonical))
	tp, err := Thumbprint(pub)
	require.NoError(t, err)
	assert.Equal(t, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", tp)
}

func rfc8037Key(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	require.NoError(t, err)
	return ed25519.NewKeyFromSeed(seed)
}

func TestEd25519RFC8037(t *testing.T) {
	key := rfc8037Key(t)
	tp, err := Thumbprint(key.Public())
	require.NoError(t, err)
	assert.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", tp)

	s, err := NewSigner(key, "EdDSA")
	require.NoError(t, err)
	out, err := s.SignCompact(EncodeHeader([]byte(`{"alg":"EdDSA"}`)), []byte("Example of Ed25519 signing"))
	require.NoError(t, err)
	assert.Equal(t, "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg", out)
}

type testKeys struct {
	once  sync.Once
	rsa   *rsa.PrivateKey
	rsa1k *rsa.PrivateKey
	p256  *ecdsa.PrivateKey
	p384  *ecdsa.PrivateKey
	p521  *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
}

var keys testKeys

func loadKeys(t testing.TB) *testKeys {
	t.Helper()
	keys.once.Do(func() {
		var err error
		keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		keys.rsa1k, err = rsa.GenerateKey(rand.Reader, 1024)
		require.NoError(t, err)
		keys.p256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		keys.p384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		keys.p521, _ = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		_, keys.ed, _ = ed25519.GenerateKey(rand.Reader)
	})
	return &keys
}

type algKey struct {
	alg string
	key crypto.Signer
}

// everyAlgorithm pairs each algorithm with a test key that fits it.
func everyAlgorithm(k *testKeys) []algKey {
	return []algKey{
		{"RS256", k.rsa}, {"RS384", k.rsa}, {"RS512", k.rsa},
		{"PS256", k.rsa}, {"PS384", k.rsa}, {"PS512", k.rsa},
		{"ES256", k.p256}, {"ES384", k.p384}, {"ES512", k.p521},
		{"EdDSA", k.ed},
	}
}

// Every algorithm's output must verify with an independent implementation (jwx).
func TestSignCompactVerifiesWithJWX(t *testing.T) {
	for _, tc := range everyAlgorithm(loadKeys(t)) {
		t.Run(tc.alg, func(t *testing.T) {
			s, err := NewSigner(tc.key, tc.alg)
			require.NoError(t, err)
			assert.Equal(t, tc.alg, s.Algorithm())
			header := EncodeHeader([]byte(`{"alg":"` + tc.alg + `","typ":"JWT"}`))
			// Many signatures so that ECDSA values with leading zero bytes (about 1 in 128)
			// go through the padding path too.
			for i := 0; i < 64; i++ {
				out, err := s.SignCompact(header, []byte(`{"i":`+strings.Repeat("1", i+1)+`}`))
				require.NoError(t, err)
				payload, err := jws.Verify([]byte(out), jws.WithKey(jwa.SignatureAlgorithm(tc.alg), tc.key.Public()))
				require.NoError(t, err, "signature %d", i)
				assert.Equal(t, `{"i":`+strings.Repeat("1", i+1)+`}`, string(payload))
			}
		})
	}
}

func TestPublicJWKMatchesJWX(t *testing.T) {
	k := loadKeys(t)
	for _, pub := range []crypto.PublicKey{k.rsa.Public(), k.p256.Public(), k.p384.Public(), k.p521.Public(), k.ed.Public()} {
		ours, err := Thumbprint(pub)
		require.NoError(t, err)
		key, err := jwk.FromRaw(pub)
		require.NoError(t, err)
		theirs, err := key.Thumbprint(crypto.SHA256)
		require.NoError(t, err)
		assert.Equal(t, base64.RawURLEncoding.EncodeToString(theirs), ours)
		canonical, err := PublicJWK(pub)
		require.NoError(t, err)
		parsed, err := jwk.ParseKey(canonical)
		require.NoError(t, err, "canonical JWK must parse as a JWK")
		assert.NotContains(t, string(canonical), `"d"`)
		_ = parsed
	}
}

func TestCheckKey(t *testing.T) {
	k := loadKeys(t)
	cases := []struct {
		name string
		pub  crypto.PublicKey
		alg  string
		want error
		msg  string
	}{
		{"rsa ps256", k.rsa.Public(), "PS256", nil, ""},
		{"rsa es256", k.rsa.Public(), "ES256", ErrKeyMismatch, "RSA key"},
		{"rsa 1024", k.rsa1k.Public(), "RS256", ErrKeyMismatch, "1024 bits"},
		{"p256 es256", k.p256.Public(), "ES256", nil, ""},
		{"p256 es384", k.p256.Public(), "ES384", ErrKeyMismatch, "P-384"},
		{"p521 es512", k.p521.Public(), "ES512", nil, ""},
		{"p384 ps256", k.p384.Public(), "PS256", ErrKeyMismatch, "EC key"},
		{"ed eddsa", k.ed.Public(), "EdDSA", nil, ""},
		{"ed es256", k.ed.Public(), "ES256", ErrKeyMismatch, "Ed25519"},
		{"hs256", k.rsa.Public(), "HS256", ErrUnsupportedAlgorithm, "symmetric"},
		{"none", k.rsa.Public(), "none", ErrUnsupportedAlgorithm, "unsigned"},
		{"NONE", k.rsa.Public(), "NONE", ErrUnsupportedAlgorithm, "unsigned"},
		{"empty", k.rsa.Public(), "", ErrUnsupportedAlgorithm, "no algorithm"},
		{"lower case", k.rsa.Public(), "rs256", ErrUnsupportedAlgorithm, ""},
		{"nil key", nil, "RS256", ErrKeyMismatch, "no key"},
		{"private key given", k.p256, "ES256", ErrKeyMismatch, "unsupported key type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckKey(tc.pub, tc.alg)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestNewSignerRefusesMismatch(t *testing.T) {
	k := loadKeys(t)
	_, err := NewSigner(k.p256, "RS256")
	assert.ErrorIs(t, err, ErrKeyMismatch)
	_, err = NewSigner(nil, "ES256")
	assert.ErrorIs(t, err, ErrKeyMismatch)
	_, err = NewSigner(k.rsa, "HS512")
	assert.ErrorIs(t, err, ErrUnsupportedAlgorithm)
}

type failingSigner struct{ crypto.Signer }

func (f failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("hsm offline")
}

type badDERSigner struct {
	crypto.Signer
	der []byte
}

func (b badDERSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return b.der, nil }

func TestSignErrors(t *testing.T) {
	k := loadKeys(t)
	s, err := NewSigner(failingSigner{k.p256}, "ES256")
	require.NoError(t, err)
	_, err = s.SignCompact("e30", []byte("{}"))
	require.ErrorIs(t, err, ErrSign)
	assert.Contains(t, err.Error(), "hsm offline")

	long := append([]byte{0x02, 33, 0x01}, make([]byte, 32)...)
	for name, der := range map[string][]byte{
		"empty":            {},
		"not a sequence":   {0x04, 0x00},
		"truncated":        {0x30, 0x10, 0x02, 0x01},
		"negative r":       {0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01},
		"empty r":          {0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01},
		"trailing data":    {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},
		"extra element":    {0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"r longer than 32": append([]byte{0x30, byte(len(long) + 3)}, append(long, 0x02, 0x01, 0x01)...),
		"bad long length":  {0x30, 0x82, 0x00, 0x06},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := NewSigner(badDERSigner{k.p256, der}, "ES256")
			require.NoError(t, err)
			_, err = s.SignCompact("e30", []byte("{}"))
			assert.ErrorIs(t, err, ErrSign)
		})
	}
}

func TestAlgorithms(t *testing.T) {
	assert.Equal(t, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}, Algorithms())
	for _, a := range Algorithms() {
		assert.NoError(t, CheckAlgorithm(a))
	}
}
