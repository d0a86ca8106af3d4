package helseid

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	rsaOnce sync.Once
	rsa2048 *rsa.PrivateKey
	rsa1024 *rsa.PrivateKey
)

func testRSA(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		rsa2048, err = rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		rsa1024, err = rsa.GenerateKey(rand.Reader, 1024)
		require.NoError(t, err)
	})
	return rsa2048, rsa1024
}

// jwkJSON renders raw (private or public) as JWK JSON with extra members set.
func jwkJSON(t testing.TB, raw any, extra map[string]any) []byte {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	require.NoError(t, err)
	for name, v := range extra {
		require.NoError(t, k.Set(name, v))
	}
	out, err := json.Marshal(k)
	require.NoError(t, err)
	return out
}

func secretOf(t testing.TB, data []byte) string {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	d, _ := m["d"].(string)
	return d
}

func TestParseJWK(t *testing.T) {
	big, small := testRSA(t)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)

	cases := []struct {
		name    string
		data    []byte
		alg     string
		wantAlg string
		wantKID string
		err     error
		msg     string
	}{
		{"ec p256 with alg and kid", jwkJSON(t, p256, map[string]any{"alg": "ES256", "kid": "k1"}), "", "ES256", "k1", nil, ""},
		{"ec p384", jwkJSON(t, p384, map[string]any{"alg": "ES384"}), "", "ES384", "", nil, ""},
		{"ec p521", jwkJSON(t, p521, map[string]any{"alg": "ES512", "use": "sig"}), "", "ES512", "", nil, ""},
		{"rsa ps256", jwkJSON(t, big, map[string]any{"alg": "PS256", "kid": "r"}), "", "PS256", "r", nil, ""},
		{"rsa alg given", jwkJSON(t, big, nil), "RS512", "RS512", "", nil, ""},
		{"alg agrees", jwkJSON(t, big, map[string]any{"alg": "PS512"}), "PS512", "PS512", "", nil, ""},
		{"public only", jwkJSON(t, p256.Public(), map[string]any{"alg": "ES256"}), "", "", "", ErrPublicKeyOnly, "public key"},
		{"no alg anywhere", jwkJSON(t, p256, nil), "", "", "", ErrNoAlgorithm, "no alg"},
		{"alg disagrees", jwkJSON(t, big, map[string]any{"alg": "PS256"}), "RS256", "", "", ErrInvalidKey, "says alg"},
		{"alg misfits curve", jwkJSON(t, p384, map[string]any{"alg": "ES256"}), "", "", "", ErrInvalidKey, "P-256"},
		{"rsa 1024", jwkJSON(t, small, map[string]any{"alg": "RS256"}), "", "", "", ErrInvalidKey, "1024 bits"},
		{"hs256", jwkJSON(t, big, nil), "HS256", "", "", ErrInvalidKey, "symmetric"},
		{"none", jwkJSON(t, big, nil), "none", "", "", ErrInvalidKey, "unsigned"},
		{"oct key", []byte(`{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0","alg":"HS256"}`), "", "", "", ErrInvalidKey, "symmetric"},
		{"use enc", jwkJSON(t, p256, map[string]any{"alg": "ES256", "use": "enc"}), "", "", "", ErrInvalidKey, "not sig"},
		{"not json", []byte(`-----BEGIN PRIVATE KEY-----`), "", "", "", ErrInvalidKey, "not a jwk"},
		{"array", []byte(`[]`), "", "", "", ErrInvalidKey, "not a jwk"},
		{"no kty", []byte(`{"d":"x"}`), "ES256", "", "", ErrInvalidKey, "no kty"},
		{"unknown kty", []byte(`{"kty":"XYZ","d":"x"}`), "ES256", "", "", ErrInvalidKey, "unsupported kty"},
		{"mangled ec", []byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"SECRETSECRET","alg":"ES256"}`), "", "", "", ErrInvalidKey, "invalid key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseJWK(tc.data, tc.alg)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Contains(t, err.Error(), tc.msg)
				if d := secretOf(t, tc.data); len(d) > 4 {
					assert.NotContains(t, err.Error(), d, "error text must not contain key material")
				}
				assert.Nil(t, k)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantAlg, k.Algorithm())
			if tc.wantKID != "" {
				assert.Equal(t, tc.wantKID, k.KeyID())
			} else {
				assert.Equal(t, k.Thumbprint(), k.KeyID(), "kid defaults to the RFC 7638 thumbprint")
			}
		})
	}
}

func TestParseJWKRejectsMismatchedPrivateKey(t *testing.T) {
	a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var ja, jb map[string]any
	require.NoError(t, json.Unmarshal(jwkJSON(t, a, map[string]any{"alg": "ES256"}), &ja))
	require.NoError(t, json.Unmarshal(jwkJSON(t, b, nil), &jb))
	ja["d"] = jb["d"] // a's public point with b's private scalar
	mixed, err := json.Marshal(ja)
	require.NoError(t, err)
	_, err = ParseJWK(mixed, "")
	require.ErrorIs(t, err, ErrInvalidKey)
	assert.Contains(t, err.Error(), "does not match")
	assert.NotContains(t, err.Error(), jb["d"].(string))
}

func TestParseJWKRejectsHugeInput(t *testing.T) {
	_, err := ParseJWK([]byte(`{"kty":"EC","pad":"`+strings.Repeat("a", maxJWKSize)+`"}`), "ES256")
	assert.ErrorIs(t, err, ErrInvalidKey)
}

func pemOf(t testing.TB, typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePEM(t *testing.T) {
	big, _ := testRSA(t)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(p256)
	require.NoError(t, err)
	sec1, err := x509.MarshalECPrivateKey(p256)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(p256.Public())
	require.NoError(t, err)

	ok := []struct {
		name string
		data []byte
		alg  string
	}{
		{"pkcs8 ec", pemOf(t, "PRIVATE KEY", pkcs8), "ES256"},
		{"sec1 ec", pemOf(t, "EC PRIVATE KEY", sec1), "ES256"},
		{"pkcs1 rsa", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(big)), "PS256"},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePEM(tc.data, tc.alg, "")
			require.NoError(t, err)
			assert.Equal(t, tc.alg, k.Algorithm())
			assert.Equal(t, k.Thumbprint(), k.KeyID())
		})
	}
	k, err := ParsePEM(pemOf(t, "PRIVATE KEY", pkcs8), "ES256", "my-kid")
	require.NoError(t, err)
	assert.Equal(t, "my-kid", k.KeyID())

	bad := []struct {
		name string
		data []byte
		alg  string
		err  error
	}{
		{"no alg", pemOf(t, "PRIVATE KEY", pkcs8), "", ErrNoAlgorithm},
		{"wrong alg", pemOf(t, "PRIVATE KEY", pkcs8), "RS256", ErrInvalidKey},
		{"public", pemOf(t, "PUBLIC KEY", pub), "ES256", ErrPublicKeyOnly},
		{"garbage", []byte("not pem"), "ES256", ErrInvalidKey},
		{"two blocks", append(pemOf(t, "PRIVATE KEY", pkcs8), pemOf(t, "PRIVATE KEY", pkcs8)...), "ES256", ErrInvalidKey},
		{"corrupt der", pemOf(t, "PRIVATE KEY", pkcs8[:20]), "ES256", ErrInvalidKey},
		{"encrypted", pemOf(t, "ENCRYPTED PRIVATE KEY", pkcs8), "ES256", ErrInvalidKey},
		{"type mismatch", pemOf(t, "RSA PRIVATE KEY", sec1), "ES256", ErrInvalidKey},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePEM(tc.data, tc.alg, "")
			require.ErrorIs(t, err, tc.err)
		})
	}
}

// hsmSigner stands in for an HSM or KMS key: only Public and Sign are reachable.
type hsmSigner struct{ inner crypto.Signer }

func (h hsmSigner) Public() crypto.PublicKey { return h.inner.Public() }
func (h hsmSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return h.inner.Sign(r, d, o)
}

func TestNewKeyFromSigner(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, err := NewKey(hsmSigner{p256}, "ES256", "hsm-1")
	require.NoError(t, err)
	assert.Equal(t, "hsm-1", k.KeyID())
	pub, err := k.PublicJWK()
	require.NoError(t, err)
	assert.Contains(t, string(pub), `"kid":"hsm-1"`)
	_, err = k.PrivateJWK()
	assert.ErrorIs(t, err, ErrInvalidKey, "an HSM key cannot be exported")

	_, err = NewKey(nil, "ES256", "")
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = NewKey(hsmSigner{p256}, "", "")
	assert.ErrorIs(t, err, ErrNoAlgorithm)
	_, err = NewKey(hsmSigner{p256}, "PS256", "")
	assert.ErrorIs(t, err, ErrInvalidKey)
}

func TestGenerateKeyRoundTrip(t *testing.T) {
	for _, alg := range []string{"ES256", "ES384", "ES512", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			k, err := GenerateKey(alg)
			require.NoError(t, err)
			assert.Equal(t, k.Thumbprint(), k.KeyID())
			priv, err := k.PrivateJWK()
			require.NoError(t, err)
			pub, err := k.PublicJWK()
			require.NoError(t, err)
			assert.NotContains(t, string(pub), `"d"`)
			for _, doc := range [][]byte{priv, pub} {
				var m map[string]any
				require.NoError(t, json.Unmarshal(doc, &m))
				assert.Equal(t, alg, m["alg"])
				assert.Equal(t, k.KeyID(), m["kid"])
				assert.Equal(t, "sig", m["use"])
			}
			back, err := ParseJWK(priv, "")
			require.NoError(t, err)
			assert.Equal(t, k.KeyID(), back.KeyID())
			assert.Equal(t, k.Thumbprint(), back.Thumbprint())
		})
	}
	_, err := GenerateKey("HS256")
	assert.ErrorIs(t, err, ErrInvalidKey)
}

func TestKeyRedaction(t *testing.T) {
	k, err := GenerateKey("EdDSA")
	require.NoError(t, err)
	priv, err := k.PrivateJWK()
	require.NoError(t, err)
	d := secretOf(t, priv)
	require.NotEmpty(t, d)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		for _, v := range []any{k, *k} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, d, verb)
			assert.Contains(t, out, "REDACTED", verb)
		}
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("loaded", "key", k)
	assert.NotContains(t, b.String(), d)
	assert.Contains(t, b.String(), k.KeyID())
}

func FuzzParseJWK(f *testing.F) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(jwkJSON(f, p256, map[string]any{"alg": "ES256"}), "")
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB","alg":"RS256"}`), "")
	f.Add([]byte(`{"kty":"oct","k":"AA"}`), "HS256")
	f.Fuzz(func(t *testing.T, data []byte, alg string) {
		k, err := ParseJWK(data, alg)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidKey)
			assert.Nil(t, k)
			return
		}
		assert.NotEmpty(t, k.Algorithm())
		assert.NotEmpty(t, k.KeyID())
		assert.NotNil(t, k.Signer())
	})
}

// A private key whose public point was tampered with (off the curve, or another key's point)
// is refused before it signs anything.
func TestNewKeyRefusesMismatchedECPoints(t *testing.T) {
	fresh := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	other := fresh()
	for name, tc := range map[string]struct {
		tamper func(*ecdsa.PrivateKey)
		want   string
	}{
		"point off the curve": {func(k *ecdsa.PrivateKey) { k.Y = new(big.Int).Add(k.Y, big.NewInt(1)) }, "not on the curve"},
		"another key's point": {func(k *ecdsa.PrivateKey) { k.X, k.Y = other.X, other.Y }, "does not match"},
	} {
		t.Run(name, func(t *testing.T) {
			k := fresh()
			tc.tamper(k)
			_, err := NewKey(k, "ES256", "")
			require.ErrorIs(t, err, ErrInvalidKey)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// A Key makes the public private_key_jwt authenticator that the RFC packages accept.
func TestKeyPrivateKeyJWT(t *testing.T) {
	key, err := GenerateKey("ES256")
	require.NoError(t, err)
	key, err = NewKey(key.Signer(), "ES256", "kid-1")
	require.NoError(t, err)
	auth, err := key.PrivateKeyJWT("client-1", "https://helseid-sts.test.nhn.no")
	require.NoError(t, err)
	form := url.Values{}
	require.NoError(t, auth.Authenticate(form))
	assert.Equal(t, "client-1", form.Get("client_id"))
	parts := strings.Split(form.Get("client_assertion"), ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	assert.Equal(t, "https://helseid-sts.test.nhn.no", claims["aud"])
	raw, err = base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"alg":"ES256","kid":"kid-1","typ":"client-authentication+jwt"}`, string(raw))
}
