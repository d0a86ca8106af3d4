package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ParseCompact and Compact.Verify accept what an independent implementation (jwx) signs, for
// every algorithm, and read the same header and payload.
func TestParseCompactJWXTokens(t *testing.T) {
	for _, tc := range everyAlgorithm(loadKeys(t)) {
		t.Run(tc.alg, func(t *testing.T) {
			hdr := jws.NewHeaders()
			require.NoError(t, hdr.Set(jws.KeyIDKey, "k1"))
			require.NoError(t, hdr.Set(jws.TypeKey, "at+jwt"))
			out, err := jws.Sign([]byte(`{"sub":"x"}`), jws.WithKey(jwa.SignatureAlgorithm(tc.alg), tc.key, jws.WithProtectedHeaders(hdr)))
			require.NoError(t, err)
			c, err := ParseCompact(string(out))
			require.NoError(t, err)
			assert.Equal(t, Header{Alg: tc.alg, Kid: "k1", Typ: "at+jwt"}, c.Header)
			assert.Equal(t, `{"sub":"x"}`, string(c.Payload))
			require.NoError(t, c.Verify(tc.key.Public()))

			other := loadKeys(t).p384.Public()
			if tc.alg == "ES384" {
				other = loadKeys(t).p256.Public()
			}
			assert.Error(t, c.Verify(other), "another key")
		})
	}
}

// b64 encodes s as base64url without padding.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// The cases the single verification path must refuse before any key is looked up.
func TestParseCompactRefuses(t *testing.T) {
	k := loadKeys(t)
	signer, err := NewSigner(k.p256, "ES256")
	require.NoError(t, err)
	good, err := signer.SignCompact(b64(`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`), []byte(`{"sub":"x"}`))
	require.NoError(t, err)
	parts := strings.Split(good, ".")
	withHeader := func(h string) string { return b64(h) + "." + parts[1] + "." + parts[2] }
	// A signature whose last character carries non-zero unused bits: the same bytes as the
	// real one under a lenient decoder, a second encoding of one JWS.
	sig := parts[2]
	last := strings.IndexByte(base64URLAlphabet, sig[len(sig)-1])
	malleable := sig[:len(sig)-1] + string(base64URLAlphabet[last|1])
	if malleable == sig {
		malleable = sig[:len(sig)-1] + string(base64URLAlphabet[last|2])
	}

	cases := []struct {
		name, token, msg string
	}{
		{"empty", "", "three"},
		{"two parts", parts[0] + "." + parts[1], "three"},
		{"four parts", good + ".x", "three"},
		{"json serialisation", `{"payload":"e30"}`, "outside base64url"},
		{"padding", good + "=", "outside base64url"},
		{"line break", parts[0] + "\n." + parts[1] + "." + parts[2], "outside base64url"},
		{"carriage return inside", parts[0][:4] + "\r" + parts[0][4:] + "." + parts[1] + "." + parts[2], "outside base64url"},
		{"space", " " + good, "outside base64url"},
		{"standard alphabet", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+", "outside base64url"},
		{"empty header", "." + parts[1] + "." + parts[2], "empty"},
		{"non-canonical trailing bits", parts[0] + "." + parts[1] + "." + malleable, "canonical"},
		{"impossible length", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-2] + "A", "canonical"},
		{"oversize", strings.Repeat("a", MaxCompactSize) + "..", "larger"},
		{"header not json", withHeader(`{`), "not a json object"},
		{"header an array", withHeader(`["alg"]`), "not a json object"},
		{"header null", withHeader(`null`), "not a json object"},
		{"no alg", withHeader(`{"kid":"k1"}`), "no alg"},
		{"empty alg", withHeader(`{"alg":""}`), "no alg"},
		{"alg not a string", withHeader(`{"alg":256}`), "alg is not a string"},
		{"alg null", withHeader(`{"alg":null}`), "alg is not a string"},
		{"kid not a string", withHeader(`{"alg":"ES256","kid":1}`), "kid is not a string"},
		{"typ not a string", withHeader(`{"alg":"ES256","typ":["at+jwt"]}`), "typ is not a string"},
		{"crit", withHeader(`{"alg":"ES256","crit":["exp"],"exp":1}`), "crit"},
		{"crit empty", withHeader(`{"alg":"ES256","crit":[]}`), "crit"},
		{"duplicate alg", withHeader(`{"alg":"ES256","alg":"none"}`), "twice"},
		{"duplicate kid", withHeader(`{"alg":"ES256","kid":"a","kid":"b"}`), "twice"},
		{"escaped duplicate", withHeader(`{"alg":"ES256","\u0061lg":"RS256"}`), "twice"},
		{"alg in another case", withHeader(`{"ALG":"ES256"}`), "is not spelt"},
		{"typ in another case", withHeader(`{"alg":"ES256","Typ":"at+jwt"}`), "is not spelt"},
		{"kid with the Kelvin sign", withHeader(`{"alg":"ES256","\u212aid":"k1"}`), "is not spelt"},
		{"unknown members in two cases", withHeader(`{"alg":"ES256","x-a":1,"X-A":2}`), "twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCompact(tc.token)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}

	// Unknown members, nested objects and escapes are fine.
	c, err := ParseCompact(withHeader(`{"alg":"ES256","kid":"a\"b","x5t#S256":"abc","ext":{"alg":"x","kid":[1,{"typ":"}"}]}}`))
	require.NoError(t, err)
	assert.Equal(t, Header{Alg: "ES256", Kid: `a"b`}, c.Header)
	unsecured, err := ParseCompact(parts[0] + "." + parts[1] + ".")
	require.NoError(t, err, "the caller refuses an empty signature by its alg or by Verify")
	assert.ErrorIs(t, unsecured.Verify(k.p256.Public()), ErrSignature)
	var zero Compact
	assert.ErrorIs(t, zero.Verify(k.p256.Public()), ErrMalformed, "an unparsed Compact never verifies")
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Verify refuses alg/key mismatches on the parsed path too: none and HS* never verify, an RSA
// key never checks an ES256 signature, and an RSA key under 2048 bits is refused.
func TestCompactVerifyRefusesMismatches(t *testing.T) {
	k := loadKeys(t)
	sigFor := func(alg string) string { return b64(`{"alg":"`+alg+`"}`) + "." + b64(`{}`) + ".c2ln" }
	for _, tc := range []struct {
		alg  string
		pub  crypto.PublicKey
		want error
	}{
		{"none", k.p256.Public(), ErrUnsupportedAlgorithm},
		{"HS256", k.rsa.Public(), ErrUnsupportedAlgorithm},
		{"ES256", k.rsa.Public(), ErrKeyMismatch},
		{"RS256", k.p256.Public(), ErrKeyMismatch},
		{"RS256", k.rsa1k.Public(), ErrKeyMismatch},
		{"ES256", k.p384.Public(), ErrKeyMismatch},
		{"EdDSA", k.p256.Public(), ErrKeyMismatch},
		{"ES256", k.p256.Public(), ErrSignature},
	} {
		c, err := ParseCompact(sigFor(tc.alg))
		require.NoError(t, err)
		assert.ErrorIs(t, c.Verify(tc.pub), tc.want, tc.alg)
	}
}

func TestFoldEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		eq   bool
	}{
		{"aud", "aud", true}, {"aud", "AUD", true}, {"aud", "Aud", true}, {"aud", "auds", false},
		{"kid", "\u212aid", true}, {"s", "\u017f", true}, {"é", "É", true}, {"", "", true}, {"a", "", false},
		{"a-b", "A_B", false}, {"client_id", "CLIENT_ID", true},
	} {
		a, b := decodeJSONString(t, tc.a), decodeJSONString(t, tc.b)
		assert.Equal(t, tc.eq, foldEqual(a, b), "%q %q", tc.a, tc.b)
		assert.Equal(t, tc.eq, foldEqual(b, a), "%q %q", tc.b, tc.a)
	}
}

func decodeJSONString(t *testing.T, s string) string {
	var out string
	require.NoError(t, json.Unmarshal([]byte(`"`+s+`"`), &out))
	return out
}

func TestDecodeObject(t *testing.T) {
	for _, tc := range []struct {
		json string
		ok   bool
	}{
		{`{}`, true},
		{` {"a":1 , "b":{"a":2,"a":3}, "c":["a","a"]} `, true}, // only the top level counts
		{`{"a":"}\"{,","b":1}`, true},
		{`{"a":1,"a":1}`, false},
		{`{"a":1,"A":1}`, false},
		{`{"é":1,"É":1}`, false},
		{`{"s":1,"ſ":1}`, false}, // U+017F folds to S in encoding/json
		{`{"aud":"x","\u0061ud":"y"}`, false},
		{`{"AUD":"x"}`, false}, // aud is read exactly
		// Names that fold are compared with every other, whichever comes first.
		{`{"ſ":1,"s":1}`, false},
		{`{"A":1,"a":1}`, false},
		{`{"\u212a":1,"k":1}`, false}, // the Kelvin sign folds to k
		{`{"k":1,"\u212a":1}`, false},
		{`{"B":1,"ſ":1,"s":2}`, false},
		{`{"A":1,"B":1,"c":1}`, true},
		{`{"Aud2":1,"aud":1}`, true},
		{`[]`, false},
		{`"a"`, false},
		{`{"a":1}{}`, false},
	} {
		_, err := DecodeObject([]byte(tc.json), []string{"aud"})
		assert.Equal(t, tc.ok, err == nil, "%s: %v", tc.json, err)
	}
}

// BenchmarkVerifyJWS compares the SDK's single verification path (impl=jose: ParseCompact,
// then Verify) with jwx's parse-then-verify as the SDK used it for access and ID tokens
// (impl=jwx: jws.Parse for the header, then jws.Verify with the key) and with the bare
// signature check over the same signing input (impl=bare: SHA-256 and the verify call).
func BenchmarkVerifyJWS(b *testing.B) {
	k := loadKeys(b)
	payload := []byte(`{"iss":"https://helseid-sts.test.nhn.no","aud":"nhn:kjernejournal","client_id":"a2a3b8c0-9d21-4a4f-9f0e-6f9a5c3a1e11","sub":"a2a3b8c0-9d21-4a4f-9f0e-6f9a5c3a1e11","scope":["nhn:kjernejournal/api"],"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"iat":1800000000,"nbf":1800000000,"exp":1800000600,"jti":"8E1B5C3A0F9D4A7E"}`)
	for _, tc := range []struct {
		alg string
		key crypto.Signer
	}{{"RS256", k.rsa}, {"ES256", k.p256}} {
		hdr := jws.NewHeaders()
		_ = hdr.Set(jws.KeyIDKey, "k1")
		_ = hdr.Set(jws.TypeKey, "at+jwt")
		out, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(tc.alg), tc.key, jws.WithProtectedHeaders(hdr)))
		require.NoError(b, err)
		token := string(out)
		pub := tc.key.Public()
		b.Run("alg="+tc.alg+"/impl=jose", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := ParseCompact(token)
				if err != nil || c.Header.Kid != "k1" {
					b.Fatal(err)
				}
				if err := c.Verify(pub); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("alg="+tc.alg+"/impl=jwx", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				msg, err := jws.Parse(out)
				if err != nil || msg.Signatures()[0].ProtectedHeaders().KeyID() != "k1" {
					b.Fatal(err)
				}
				alg := msg.Signatures()[0].ProtectedHeaders().Algorithm()
				if _, err := jws.Verify(out, jws.WithKey(alg, pub)); err != nil {
					b.Fatal(err)
				}
			}
		})
		dot := strings.LastIndexByte(token, '.')
		input := []byte(token[:dot])
		sig, _ := base64.RawURLEncoding.DecodeString(token[dot+1:])
		b.Run("alg="+tc.alg+"/impl=bare", func(b *testing.B) {
			switch key := pub.(type) {
			case *rsa.PublicKey:
				b.ReportAllocs()
				for b.Loop() {
					digest := sha256.Sum256(input)
					if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
						b.Fatal("does not verify")
					}
				}
			case *ecdsa.PublicKey:
				der, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
				b.ReportAllocs()
				for b.Loop() {
					digest := sha256.Sum256(input)
					if !ecdsa.VerifyASN1(key, digest[:], der) {
						b.Fatal("does not verify")
					}
				}
			}
		})
	}
}
