package clientauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fixedNow = time.Unix(1750000000, 0)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func testConfig(t testing.TB) Config {
	return Config{
		ClientID:  "a1b2c3-client",
		Audience:  "https://helseid-sts.test.nhn.no",
		Key:       newKey(t),
		Algorithm: "ES256",
		KeyID:     "kid-1",
		Now:       func() time.Time { return fixedNow },
	}
}

func decodePart(t *testing.T, part string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(part)
	require.NoError(t, err)
	return string(raw)
}

func TestAssertionGolden(t *testing.T) {
	cfg := testConfig(t)
	cfg.Rand = bytes.NewReader(bytes.Repeat([]byte{0xAB}, 16))
	b, err := New(cfg)
	require.NoError(t, err)

	jwt, err := b.Assertion(nil)
	require.NoError(t, err)
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3)
	assert.JSONEq(t, `{"alg":"ES256","kid":"kid-1","typ":"client-authentication+jwt"}`, decodePart(t, parts[0]))
	assert.Equal(t, `{"iss":"a1b2c3-client","sub":"a1b2c3-client","aud":"https://helseid-sts.test.nhn.no","iat":1750000000,"nbf":1750000000,"exp":1750000010,"jti":"q6urq6urq6urq6urq6urqw"}`, decodePart(t, parts[1]))

	payload, err := jws.Verify([]byte(jwt), jws.WithKey(jwa.ES256, cfg.Key.Public()))
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(payload, &claims))
	assert.IsType(t, "", claims["aud"], "aud must be one JSON string, never an array")
}

func TestAssertionDetailsGolden(t *testing.T) {
	cfg := testConfig(t)
	cfg.Rand = bytes.NewReader(make([]byte, 16))
	cfg.Lifetime = 60 * time.Second
	b, err := New(cfg)
	require.NoError(t, err)
	details := json.RawMessage(`{"type":"helseid_authorization","practitioner_role":{"organization":{"identifier":{"system":"urn:oid:1.0.6523","type":"ENH","value":"NO:ORGNR:994598759:920773230"}}}}`)
	jwt, err := b.Assertion(details)
	require.NoError(t, err)
	parts := strings.Split(jwt, ".")
	assert.JSONEq(t, `{"iss":"a1b2c3-client","sub":"a1b2c3-client","aud":"https://helseid-sts.test.nhn.no","iat":1750000000,"nbf":1750000000,"exp":1750000060,"jti":"AAAAAAAAAAAAAAAAAAAAAA","assertion_details":`+string(details)+`}`, decodePart(t, parts[1]))
}

func TestAudienceIsNotNormalised(t *testing.T) {
	for _, aud := range []string{"https://example.org/test/a/alias/", "https://helseid-sts.test.nhn.no", `https://odd"issuer`} {
		cfg := testConfig(t)
		cfg.Audience = aud
		b, err := New(cfg)
		require.NoError(t, err)
		jwt, err := b.Assertion(nil)
		require.NoError(t, err)
		var claims struct {
			Aud string `json:"aud"`
		}
		require.NoError(t, json.Unmarshal([]byte(decodePart(t, strings.Split(jwt, ".")[1])), &claims))
		assert.Equal(t, aud, claims.Aud)
	}
}

func TestNewValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		msg    string
	}{
		{"no client id", func(c *Config) { c.ClientID = "" }, "client id"},
		{"no audience", func(c *Config) { c.Audience = "" }, "audience"},
		{"no kid", func(c *Config) { c.KeyID = "" }, "key id"},
		{"lifetime over 60s", func(c *Config) { c.Lifetime = 61 * time.Second }, "exceeds"},
		{"negative lifetime", func(c *Config) { c.Lifetime = -time.Second }, "negative"},
		{"sub-second lifetime", func(c *Config) { c.Lifetime = time.Millisecond }, "whole number of seconds"},
		{"fractional lifetime", func(c *Config) { c.Lifetime = 1500 * time.Millisecond }, "whole number of seconds"},
		{"hs256", func(c *Config) { c.Algorithm = "HS256" }, "symmetric"},
		{"wrong alg for key", func(c *Config) { c.Algorithm = "PS256" }, "EC key"},
		{"no key", func(c *Config) { c.Key = nil }, "no key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.mutate(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestInvalidDetailsRefused(t *testing.T) {
	b, err := New(testConfig(t))
	require.NoError(t, err)
	for _, d := range []string{`"string"`, `12`, `{"open":`, ``, `null`} {
		_, err := b.Assertion(json.RawMessage(d))
		assert.ErrorIs(t, err, errInvalidConfig, "details %q", d)
	}
}

func TestAuthenticateSetsFormAndFreshJTI(t *testing.T) {
	b, err := New(testConfig(t))
	require.NoError(t, err)
	const n = 200
	seen := make(map[string]bool, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"grant_type": {"client_credentials"}}
			assert.NoError(t, b.Authenticate(form, nil))
			assert.Equal(t, "a1b2c3-client", form.Get("client_id"))
			assert.Equal(t, AssertionType, form.Get("client_assertion_type"))
			var claims struct {
				JTI string `json:"jti"`
			}
			raw, err := base64.RawURLEncoding.DecodeString(strings.Split(form.Get("client_assertion"), ".")[1])
			assert.NoError(t, err)
			assert.NoError(t, json.Unmarshal(raw, &claims))
			assert.Len(t, claims.JTI, 22, "128-bit jti, base64url")
			mu.Lock()
			assert.False(t, seen[claims.JTI], "jti reused")
			seen[claims.JTI] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Len(t, seen, n)
}

func TestRandomFailure(t *testing.T) {
	cfg := testConfig(t)
	cfg.Rand = bytes.NewReader(nil)
	b, err := New(cfg)
	require.NoError(t, err)
	_, err = b.Assertion(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "jti")
}
