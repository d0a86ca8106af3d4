package helseidtest

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The thumbprint test vectors of RFC 7638 §3.1 and RFC 9449 §6.1.
func TestThumbprintVectors(t *testing.T) {
	rsaJWK := `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	k, err := parsePublicJWK([]byte(rsaJWK))
	require.NoError(t, err)
	assert.Equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", k.jkt)
	assert.Equal(t, "2011-04-29", k.kid)
	assert.Equal(t, "RS256", k.alg)

	k, err = parsePublicJWK([]byte(rfc9449JWK))
	require.NoError(t, err)
	assert.Equal(t, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", k.jkt)

	k, err = parsePublicJWK([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	require.NoError(t, err)
	assert.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", k.jkt)
}

const rfc9449JWK = `{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}`

func TestParsePublicJWKRejects(t *testing.T) {
	for name, j := range map[string]string{
		"private EC":          `{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","d":"AAAA"}`,
		"symmetric":           `{"kty":"oct","k":"c2VjcmV0"}`,
		"short x":             `{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAW","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}`,
		"point not on curve":  `{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDB"}`,
		"secp256k1":           `{"kty":"EC","crv":"secp256k1","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}`,
		"Ed448":               `{"kty":"OKP","crv":"Ed448","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
		"duplicate member":    `{"kty":"EC","kty":"RSA"}`,
		"padded base64":       `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="}`,
		"use enc":             `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"enc"}`,
		"RSA leading zero":    `{"kty":"RSA","n":"AAEC","e":"AQAB"}`,
		"not an object":       `["kty"]`,
		"kty missing":         `{"crv":"P-256"}`,
		"RSA exponent 1":      `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQ"}`,
		"trailing data":       `{"kty":"OKP"} {}`,
		"kid not a string":    `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":7}`,
		"private RSA members": `{"kty":"RSA","n":"AQAB","e":"AQAB","p":"AQ"}`,
	} {
		_, err := parsePublicJWK([]byte(j))
		assert.Error(t, err, name)
	}
}

// RFC 9449 §4.1 token-request proof and §7.1 resource proof, checked end to end.
func TestRFC9449ProofVectors(t *testing.T) {
	at := "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	tokenProof := "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	rsProof := "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"

	s := &Server{
		opts:      Options{Now: func() time.Time { return time.Unix(1562262620, 0) }, ProofWindow: time.Minute, Leeway: 5 * time.Second},
		proofJTIs: newReplayCache(16),
	}
	req := httptest.NewRequest("POST", "https://server.example.com/token", nil)
	req.Header.Set("DPoP", tokenProof)
	key, perr := s.checkProof(req, proofCheck{method: "POST", htu: "https://server.example.com/token"})
	require.Nil(t, perr)
	assert.Equal(t, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", key.jkt)
	_, perr = s.checkProof(req, proofCheck{method: "POST", htu: "https://server.example.com/token"})
	require.NotNil(t, perr)
	assert.Contains(t, perr.desc, "already been used")

	req = httptest.NewRequest("GET", "https://resource.example.org/protectedresource", nil)
	req.Header.Set("DPoP", rsProof)
	assert.Equal(t, "https://resource.example.org/protectedresource", requestURL(req))
	_, perr = s.checkProof(req, proofCheck{method: "GET", htu: requestURL(req), accessToken: at + "x"})
	require.NotNil(t, perr, "wrong ath")
	key, perr = s.checkProof(req, proofCheck{method: "GET", htu: requestURL(req), accessToken: at})
	require.Nil(t, perr)
	assert.Equal(t, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", key.jkt)

	// The same token-endpoint proof at the RS (ath required) or with a nonce required.
	s.proofJTIs = newReplayCache(16)
	req = httptest.NewRequest("POST", "https://server.example.com/token", nil)
	req.Header.Set("DPoP", tokenProof)
	_, perr = s.checkProof(req, proofCheck{method: "POST", htu: "https://server.example.com/token", nonce: newNonceSource()})
	require.NotNil(t, perr)
	assert.Equal(t, proofNeedsNonce, perr.kind)
	assert.False(t, perr.stale)
}

// RFC 8037 Appendix A.4.
func TestEd25519Vector(t *testing.T) {
	j, err := parseCompactJWS("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
	require.Error(t, err, "the payload is not a JSON object") // this server only parses JWTs
	_ = j
	x, err := b64.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	require.NoError(t, err)
	sig, err := b64.DecodeString("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
	require.NoError(t, err)
	input := []byte("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc")
	assert.NoError(t, verifySignature("EdDSA", ed25519.PublicKey(x), input, sig))
	sig[0] ^= 1
	assert.Error(t, verifySignature("EdDSA", ed25519.PublicKey(x), input, sig))
	assert.Error(t, verifySignature("HS", ed25519.PublicKey(x), input, sig))
}

func TestParseCompactJWSRejects(t *testing.T) {
	hdr := b64.EncodeToString([]byte(`{"alg":"ES256"}`))
	pl := b64.EncodeToString([]byte(`{"a":1}`))
	for name, tok := range map[string]string{
		"two parts":        hdr + "." + pl,
		"four parts":       hdr + "." + pl + "..",
		"padded":           hdr + "=." + pl + ".AA",
		"std alphabet":     hdr + "." + pl + ".+/",
		"no alg":           b64.EncodeToString([]byte(`{"typ":"x"}`)) + "." + pl + ".AA",
		"alg number":       b64.EncodeToString([]byte(`{"alg":1}`)) + "." + pl + ".AA",
		"b64 false":        b64.EncodeToString([]byte(`{"alg":"ES256","b64":false}`)) + "." + pl + ".AA",
		"duplicate header": b64.EncodeToString([]byte(`{"alg":"ES256","alg":"none"}`)) + "." + pl + ".AA",
		"nested duplicate": hdr + "." + b64.EncodeToString([]byte(`{"a":{"b":1,"b":2}}`)) + ".AA",
		"payload array":    hdr + "." + b64.EncodeToString([]byte(`[1]`)) + ".AA",
		"too long":         hdr + "." + b64.EncodeToString(make([]byte, maxJWSLength)) + ".AA",
	} {
		_, err := parseCompactJWS(tok)
		assert.Error(t, err, name)
	}
	_, err := parseCompactJWS(hdr + "." + pl + ".AA")
	assert.NoError(t, err)
}

func TestNumericDate(t *testing.T) {
	m, err := decodeObject([]byte(`{"a":1750000000,"b":"1750000000","c":1750000000000,"d":-1,"e":1750000000.5,"f":null,"g":true}`))
	require.NoError(t, err)
	ms := members(m)
	v, ok, err := ms.date("a")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(1750000000), v.Unix())
	for _, name := range []string{"b", "c", "d", "f", "g"} {
		_, ok, err := ms.date(name)
		assert.True(t, ok)
		assert.Error(t, err, name)
	}
	v, _, err = ms.date("e")
	require.NoError(t, err)
	assert.Equal(t, 500*time.Millisecond, time.Duration(v.Nanosecond()))
	_, ok, err = ms.date("missing")
	assert.False(t, ok)
	assert.NoError(t, err)
}

func TestDecodeObjectDepth(t *testing.T) {
	deep := ""
	for i := 0; i < 40; i++ {
		deep += `{"a":`
	}
	deep += "1"
	for i := 0; i < 40; i++ {
		deep += "}"
	}
	_, err := decodeObject([]byte(deep))
	assert.Error(t, err)
}

func TestReplayCache(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newReplayCache(3)
	require.NoError(t, c.record("a", t0.Add(10*time.Second), t0))
	assert.True(t, c.used("a", t0))
	assert.ErrorIs(t, c.record("a", t0.Add(10*time.Second), t0.Add(time.Second)), errReplayed)
	require.NoError(t, c.record("b", t0.Add(20*time.Second), t0))
	require.NoError(t, c.record("c", t0.Add(30*time.Second), t0))
	assert.ErrorIs(t, c.record("d", t0.Add(30*time.Second), t0), errReplayFull, "full of live entries: fail closed")
	assert.ErrorIs(t, c.record("", t0.Add(time.Second), t0), errReplayEmpty)

	// Expired entries are pruned on the next write, in expiry order.
	require.NoError(t, c.record("d", t0.Add(40*time.Second), t0.Add(25*time.Second)))
	assert.Equal(t, 2, c.len())
	assert.False(t, c.used("a", t0.Add(25*time.Second)))
	assert.True(t, c.used("c", t0.Add(25*time.Second)))
	require.NoError(t, c.record("a", t0.Add(50*time.Second), t0.Add(25*time.Second)), "an expired id may be recorded again")

	// Concurrent records of one id: exactly one wins.
	c = newReplayCache(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.record("x", t0.Add(time.Minute), t0) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, wins)
}

func TestScopeHelpers(t *testing.T) {
	assert.Equal(t, "nhn:helseidtest-api", apiOf("nhn:helseidtest-api/read"))
	assert.Equal(t, "nhn:phr", apiOf("nhn:phr/mhd/read-document"))
	assert.Equal(t, "", apiOf("openid"))
	assert.Equal(t, "", apiOf("/read"))
	assert.Equal(t, "", apiOf("nhn:api/"))
	assert.True(t, isIdentityScope("helseid://scopes/hpr/hpr_number"))
	assert.False(t, validScopeToken(`a"b`))
	assert.False(t, validScopeToken("a b"))
	assert.False(t, validScopeToken("æ"))
	assert.True(t, validScopeToken("nhn:helseidtest-api/read"))
	assert.True(t, isOrgNumber("994598759"))
	assert.False(t, isOrgNumber("99459875"))
	assert.False(t, isOrgNumber("99459875a"))
	assert.False(t, isOrgNumber("٩٩٤٥٩٨٧٥٩"))
}

// requestURL is the URL the request was made to as the server sees it, without query or
// fragment: the value a proof's htu must equal. No normalisation is applied.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}
