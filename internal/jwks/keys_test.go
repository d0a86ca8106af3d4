package jwks

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/helseid-go/sdk/internal/jose"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test keys, generated once per test binary (RSA generation is slow under -race).
var (
	keysOnce                                sync.Once
	rsaKey1, rsaKey2                        *rsa.PrivateKey
	ecKey256, ecKey256b, ecKey384, ecKey521 *ecdsa.PrivateKey
	edKey                                   ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey1, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		for _, k := range []struct {
			dst   **ecdsa.PrivateKey
			curve elliptic.Curve
		}{{&ecKey256, elliptic.P256()}, {&ecKey256b, elliptic.P256()}, {&ecKey384, elliptic.P384()}, {&ecKey521, elliptic.P521()}} {
			if *k.dst, err = ecdsa.GenerateKey(k.curve, rand.Reader); err != nil {
				panic(err)
			}
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// jwkMap returns the JWK members of key (public or private) with extra members added;
// a nil value in extra deletes the member.
func jwkMap(t testing.TB, key any, extra map[string]any) map[string]any {
	t.Helper()
	k, err := jwk.FromRaw(key)
	require.NoError(t, err)
	data, err := json.Marshal(k)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	for name, v := range extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

func setJSON(t testing.TB, keys ...map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{"keys": keys})
	require.NoError(t, err)
	return data
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func pub(k crypto.Signer) crypto.PublicKey { return k.Public() }

func TestKeySelection(t *testing.T) {
	testKeys(t)
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	weakN := make([]byte, 128)
	_, _ = rand.Read(weakN)
	weakN[0] |= 0x80
	weakN[127] |= 1

	offCurve := jwkMap(t, pub(ecKey256b), map[string]any{"kid": "ec-off-curve"})
	y, _ := base64.RawURLEncoding.DecodeString(offCurve["y"].(string))
	y[len(y)-1] ^= 1
	offCurve["y"] = b64(y)

	set := setJSON(t,
		jwkMap(t, pub(rsaKey1), map[string]any{"kid": "rsa-1", "use": "sig"}),
		jwkMap(t, pub(rsaKey2), map[string]any{"kid": "rsa-2-rs256", "alg": "RS256"}),
		jwkMap(t, pub(ecKey256), map[string]any{"kid": "ec-256", "alg": "ES256", "key_ops": []string{"verify"}}),
		jwkMap(t, pub(ecKey384), map[string]any{"kid": "ec-384"}),
		jwkMap(t, pub(ecKey521), map[string]any{"kid": "ec-521-enc", "use": "enc"}),
		jwkMap(t, pub(ecKey256b), map[string]any{"kid": "ec-256-encrypt-ops", "key_ops": []string{"encrypt", "wrapKey"}}),
		jwkMap(t, edKey.Public(), map[string]any{"kid": "ed", "key_ops": []string{"sign", "verify"}}),
		jwkMap(t, rsaKey2, map[string]any{"kid": "rsa-private"}), // private members published
		jwkMap(t, []byte("0123456789abcdef0123456789abcdef"), map[string]any{"kid": "oct"}),
		map[string]any{"kid": "rsa-weak", "kty": "RSA", "n": b64(weakN), "e": "AQAB"},
		map[string]any{"kid": "x25519", "kty": "OKP", "crv": "X25519", "x": b64(x25519.PublicKey().Bytes())},
		offCurve,
		map[string]any{"kid": "unknown-kty", "kty": "ML-DSA", "pub": "AAAA"},
		jwkMap(t, pub(rsaKey1), map[string]any{"kid": "dup-same"}),
		jwkMap(t, pub(rsaKey1), map[string]any{"kid": "dup-same"}),
		jwkMap(t, pub(ecKey256), map[string]any{"kid": "dup-diff"}),
		jwkMap(t, pub(ecKey256b), map[string]any{"kid": "dup-diff"}),
		jwkMap(t, pub(ecKey384), map[string]any{}), // no kid: selectable only without a kid
	)
	ks, err := parseSet(set)
	require.NoError(t, err)

	for _, tc := range []struct {
		name, kid, alg string
		want           crypto.PublicKey // nil: no key
		err            error            // nil with want nil: a miss
		reason         string           // part of the error message
	}{
		{name: "kid match RS256", kid: "rsa-1", alg: "RS256", want: pub(rsaKey1)},
		{name: "kid match PS256 on a key without alg", kid: "rsa-1", alg: "PS512", want: pub(rsaKey1)},
		{name: "key alg RS256 refuses PS256", kid: "rsa-2-rs256", alg: "PS256", err: ErrKeyUnusable, reason: `alg is "RS256"`},
		{name: "key alg RS256 accepts RS256", kid: "rsa-2-rs256", alg: "RS256", want: pub(rsaKey2)},
		{name: "RSA key refuses ES256", kid: "rsa-1", alg: "ES256", err: ErrKeyUnusable, reason: "RSA"},
		{name: "EC key refuses RS256", kid: "ec-256", alg: "RS256", err: ErrKeyUnusable},
		{name: "ES256 with key_ops verify", kid: "ec-256", alg: "ES256", want: pub(ecKey256)},
		{name: "ES256 key on P-384 refused", kid: "ec-384", alg: "ES256", err: ErrKeyUnusable, reason: "P-384"},
		{name: "ES384 on P-384", kid: "ec-384", alg: "ES384", want: pub(ecKey384)},
		{name: "use enc skipped", kid: "ec-521-enc", alg: "ES512", err: ErrKeyUnusable, reason: `"enc"`},
		{name: "key_ops without verify skipped", kid: "ec-256-encrypt-ops", alg: "ES256", err: ErrKeyUnusable, reason: "key_ops"},
		{name: "EdDSA on Ed25519", kid: "ed", alg: "EdDSA", want: edKey.Public()},
		{name: "published private key refused", kid: "rsa-private", alg: "RS256", err: ErrKeyUnusable, reason: "compromised"},
		{name: "symmetric key refused", kid: "oct", alg: "RS256", err: ErrKeyUnusable, reason: "symmetric"},
		{name: "weak RSA refused", kid: "rsa-weak", alg: "RS256", err: ErrKeyUnusable, reason: "1024 bits"},
		{name: "X25519 is not a signing key", kid: "x25519", alg: "EdDSA", err: ErrKeyUnusable, reason: "X25519"},
		{name: "point off the curve refused", kid: "ec-off-curve", alg: "ES256", err: ErrKeyUnusable, reason: "curve"},
		{name: "unknown kty refused", kid: "unknown-kty", alg: "RS256", err: ErrKeyUnusable, reason: "kty"},
		{name: "duplicate kid, same key", kid: "dup-same", alg: "RS256", want: pub(rsaKey1)},
		{name: "duplicate kid, different keys", kid: "dup-diff", alg: "ES256", err: ErrAmbiguousKey},
		{name: "unknown kid is a miss", kid: "nope", alg: "RS256"},
		{name: "kid is case-sensitive", kid: "RSA-1", alg: "RS256"},
		{name: "empty kid, unique fit", kid: "", alg: "EdDSA", want: edKey.Public()},
		{name: "empty kid, ambiguous", kid: "", alg: "RS256", err: ErrAmbiguousKey},
		{name: "empty kid, the same key twice is not ambiguous", kid: "", alg: "ES384", want: pub(ecKey384)},
		{name: "empty kid, only an enc key fits: a miss", kid: "", alg: "ES512"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := kindFor(tc.alg)
			require.NoError(t, err)
			key, err := ks.find(tc.kid, tc.alg, want)
			switch {
			case tc.want != nil:
				require.NoError(t, err)
				require.NotNil(t, key)
				assert.True(t, samePublicKey(tc.want, key), "the expected key")
				assertPublic(t, key)
			case tc.err != nil:
				assert.Nil(t, key)
				require.ErrorIs(t, err, tc.err)
				assert.Contains(t, err.Error(), tc.reason)
				assert.True(t, strings.HasPrefix(err.Error(), "jwks: "), err.Error())
			default:
				assert.Nil(t, key)
				assert.NoError(t, err, "a miss")
			}
		})
	}
}

func assertPublic(t *testing.T, key crypto.PublicKey) {
	t.Helper()
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		t.Fatalf("key of type %T is not a public key", key)
	}
	data, err := jose.PublicJWK(key)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	for _, name := range jose.PrivateJWKMembers {
		assert.NotContains(t, m, name)
	}
}

func TestKindFor(t *testing.T) {
	for _, alg := range []string{"", "none", "None", "HS256", "HS512", "RSA-OAEP", "ES256K", "Ed25519", "rs256"} {
		_, err := kindFor(alg)
		assert.ErrorIs(t, err, ErrUnsupportedAlgorithm, alg)
	}
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"} {
		_, err := kindFor(alg)
		assert.NoError(t, err, alg)
	}
}

func TestParseSet(t *testing.T) {
	testKeys(t)
	good := jwkMap(t, pub(ecKey256), map[string]any{"kid": "k"})
	goodJSON, err := json.Marshal(good)
	require.NoError(t, err)

	t.Run("valid with extra members", func(t *testing.T) {
		ks, err := parseSet([]byte(`{"keys":[` + string(goodJSON) + `],"x-extra":true}`))
		require.NoError(t, err)
		assert.Len(t, ks.entries, 1)
	})
	t.Run("unusable keys without kid are dropped", func(t *testing.T) {
		ks, err := parseSet([]byte(`{"keys":[` + string(goodJSON) + `,{"kty":"oct","k":"AAAA"},42,"x",null,{"kid":7,"kty":"EC"}]}`))
		require.NoError(t, err)
		assert.Len(t, ks.entries, 1)
	})

	tooMany := make([]map[string]any, MaxKeys+1)
	for i := range tooMany {
		tooMany[i] = good
	}
	for _, tc := range []struct{ name, doc string }{
		{"empty", ``},
		{"not JSON", `<html/>`},
		{"null", `null`},
		{"array", `[` + string(goodJSON) + `]`},
		{"single JWK, not a set", string(goodJSON)},
		{"no keys member", `{"Keys":[` + string(goodJSON) + `]}`},
		{"keys not an array", `{"keys":{}}`},
		{"keys null", `{"keys":null}`},
		{"empty keys", `{"keys":[]}`},
		{"trailing garbage", `{"keys":[` + string(goodJSON) + `]} x`},
		{"only unusable keys", `{"keys":[{"kid":"a","kty":"oct","k":"AAAA"},{"kid":"b","kty":"RSA","n":"AQAB","e":"AQAB"}]}`},
		{"too many keys", string(setJSON(t, tooMany...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := parseSet([]byte(tc.doc))
			assert.Nil(t, ks)
			assert.ErrorIs(t, err, ErrInvalidSet)
		})
	}
}

func TestParseKeyMalformedMembers(t *testing.T) {
	testKeys(t)
	rsaGood := jwkMap(t, pub(rsaKey1), nil)
	ecGood := jwkMap(t, pub(ecKey256), nil)
	with := func(base map[string]any, extra map[string]any) map[string]any {
		m := make(map[string]any, len(base)+len(extra))
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		m["kid"] = "k"
		return m
	}
	n, _ := base64.RawURLEncoding.DecodeString(rsaGood["n"].(string))
	for _, tc := range []struct {
		name   string
		key    map[string]any
		reason string
	}{
		{"padded base64", with(rsaGood, map[string]any{"e": "AQAB="}), "base64url"},
		{"standard base64 alphabet", with(rsaGood, map[string]any{"n": base64.RawStdEncoding.EncodeToString(n)}), "base64url"},
		{"missing n", with(rsaGood, map[string]any{"n": nil}), "no n"},
		{"even exponent", with(rsaGood, map[string]any{"e": "AQAA"}), "exponent"},
		{"exponent 1", with(rsaGood, map[string]any{"e": "AQ"}), "exponent"},
		{"huge exponent", with(rsaGood, map[string]any{"e": b64([]byte{1, 0, 0, 0, 1})}), "exponent"},
		{"even modulus", with(rsaGood, map[string]any{"n": b64(append(n[:len(n)-1:len(n)-1], n[len(n)-1]&^1))}), "even"},
		{"huge modulus", with(rsaGood, map[string]any{"n": b64(append([]byte{0xff}, make([]byte, MaxRSABits/8)...))}), "at most"},
		{"kty not a string", with(rsaGood, map[string]any{"kty": 1}), "kty"},
		{"no kty", with(rsaGood, map[string]any{"kty": nil}), "no kty"},
		{"use not a string", with(rsaGood, map[string]any{"use": true}), "use"},
		{"key_ops not strings", with(rsaGood, map[string]any{"key_ops": "verify"}), "key_ops"},
		{"unknown use", with(rsaGood, map[string]any{"use": "signature"}), "use"},
		{"short EC coordinate", with(ecGood, map[string]any{"x": b64(make([]byte, 31))}), "32 bytes"},
		{"unknown curve", with(ecGood, map[string]any{"crv": "secp256k1"}), "curve"},
		{"point at infinity", with(ecGood, map[string]any{"x": b64(make([]byte, 32)), "y": b64(make([]byte, 32))}), "curve"},
		{"short Ed25519 key", map[string]any{"kid": "k", "kty": "OKP", "crv": "Ed25519", "x": b64(make([]byte, 31))}, "Ed25519"},
		{"Ed448", map[string]any{"kid": "k", "kty": "OKP", "crv": "Ed448", "x": b64(make([]byte, 57))}, "Ed448"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.key)
			require.NoError(t, err)
			e, ok := parseKey(raw)
			require.True(t, ok)
			assert.Zero(t, e.kind)
			assert.Nil(t, e.pub)
			assert.Contains(t, e.reason, tc.reason)
		})
	}

	// A leading zero octet in n is tolerated (RFC 7518 §6.3.1.1 notes that libraries add one).
	raw, err := json.Marshal(with(rsaGood, map[string]any{"n": b64(append([]byte{0}, n...))}))
	require.NoError(t, err)
	e, ok := parseKey(raw)
	require.True(t, ok)
	assert.Empty(t, e.reason)
	assert.Equal(t, 0, new(big.Int).SetBytes(n).Cmp(e.pub.(*rsa.PublicKey).N))
}
