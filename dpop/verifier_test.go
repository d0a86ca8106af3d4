package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/helseid-go/sdk/internal/jose"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	rfcToken = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	// RFC 9449 §7.1: a proof for GET https://resource.example.org/protectedresource with ath.
	rfcResourceProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
	// RFC 9449 §4.1: a token-request proof (no ath).
	rfcTokenProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	rfcJKT        = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
)

func TestVerifyRFC9449Vectors(t *testing.T) {
	clock := fakeclock.New(time.Unix(1562262618, 0))
	v, err := NewVerifier(VerifierConfig{Now: clock.Now})
	require.NoError(t, err)

	p, err := v.VerifyProof(context.Background(), rfcResourceProof, ProofRequest{Method: "GET", URL: mustURL(t, "https://resource.example.org/protectedresource"), AccessToken: rfcToken})
	require.NoError(t, err)
	assert.Equal(t, rfcJKT, p.JKT)
	assert.Equal(t, "ES256", p.Algorithm)
	assert.Equal(t, "e1j3V_bKic8-LAEB", p.JTI)
	assert.Equal(t, time.Unix(1562262618, 0), p.IssuedAt)

	p, err = v.VerifyProof(context.Background(), rfcTokenProof, ProofRequest{Method: "POST", URL: mustURL(t, "https://server.example.com/token"), AccessToken: ""})
	require.NoError(t, err)
	assert.Equal(t, rfcJKT, p.JKT)

	_, err = v.VerifyProof(context.Background(), rfcResourceProof, ProofRequest{Method: "GET", URL: mustURL(t, "https://resource.example.org/protectedresource"), AccessToken: rfcToken})
	assert.ErrorIs(t, err, ErrReplayed, "the same proof twice")
	assert.ErrorIs(t, err, ErrInvalidProof)
}

// proofParts builds proofs with arbitrary headers and claims, signed by a real key.
type proofParts struct {
	t      *testing.T
	key    crypto.Signer
	alg    string
	jwk    map[string]any
	header map[string]any
	claims map[string]any
}

func newProofParts(t *testing.T, key crypto.Signer, alg string) *proofParts {
	t.Helper()
	raw, err := jose.PublicJWK(key.Public())
	require.NoError(t, err)
	var jwk map[string]any
	require.NoError(t, json.Unmarshal(raw, &jwk))
	return &proofParts{t: t, key: key, alg: alg, jwk: jwk,
		header: map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": jwk},
		claims: map[string]any{"jti": "jti-1", "htm": "GET", "htu": "https://api.example.no/journal/patients", "iat": verifierNow.Unix(), "ath": ATH("token-1")},
	}
}

func (pp *proofParts) sign() string {
	pp.t.Helper()
	hdr, err := json.Marshal(pp.header)
	require.NoError(pp.t, err)
	payload, err := json.Marshal(pp.claims)
	require.NoError(pp.t, err)
	signer, err := jose.NewSigner(pp.key, pp.alg)
	require.NoError(pp.t, err)
	proof, err := signer.SignCompact(jose.EncodeHeader(hdr), payload)
	require.NoError(pp.t, err)
	return proof
}

var verifierNow = time.Unix(1_780_000_000, 0)

// withProofHeader returns proof with its protected header rewritten by edit (the signature
// no longer matters: the header is refused first).
func withProofHeader(proof string, edit func(string) string) string {
	dot := strings.IndexByte(proof, '.')
	raw, _ := base64.RawURLEncoding.DecodeString(proof[:dot])
	return base64.RawURLEncoding.EncodeToString([]byte(edit(string(raw)))) + proof[dot:]
}

func TestVerifyRefusals(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	target := "https://api.example.no/journal/patients"

	cases := []struct {
		name   string
		mutate func(pp *proofParts)
		proof  func(good string) string // optional: change the compact proof itself
		method string
		url    string
		token  string
		want   string
	}{
		{name: "wrong htm", mutate: func(pp *proofParts) { pp.claims["htm"] = "POST" }, want: "htm"},
		{name: "lower-case htm", mutate: func(pp *proofParts) { pp.claims["htm"] = "get" }, want: "htm"},
		// encoding/json would read these case-insensitively; a proof names its claims exactly.
		{name: "htm spelt HTM", mutate: func(pp *proofParts) { delete(pp.claims, "htm"); pp.claims["HTM"] = "GET" }, want: "types"},
		{name: "htm also spelt Htm", mutate: func(pp *proofParts) { pp.claims["Htm"] = "POST" }, want: "types"},
		{name: "htu with another host", mutate: func(pp *proofParts) { pp.claims["htu"] = "https://evil.example.no/journal/patients" }, want: "htu"},
		{name: "htu with another path", mutate: func(pp *proofParts) { pp.claims["htu"] = "https://api.example.no/journal/other" }, want: "htu"},
		{name: "htu with another scheme", mutate: func(pp *proofParts) { pp.claims["htu"] = "http://api.example.no/journal/patients" }, want: "htu"},
		{name: "htu with another port", mutate: func(pp *proofParts) { pp.claims["htu"] = "https://api.example.no:8443/journal/patients" }, want: "htu"},
		{name: "htu with a trailing slash", mutate: func(pp *proofParts) { pp.claims["htu"] = "https://api.example.no/journal/patients/" }, want: "htu"},
		{name: "htu with a query", mutate: func(pp *proofParts) { pp.claims["htu"] = "https://api.example.no/journal/patients?a=1" }, want: "htu"},
		{name: "htu with a fragment", mutate: func(pp *proofParts) { pp.claims["htu"] = "https://api.example.no/journal/patients#f" }, want: "htu"},
		{name: "htu relative", mutate: func(pp *proofParts) { pp.claims["htu"] = "/journal/patients" }, want: "htu"},
		{name: "htu missing", mutate: func(pp *proofParts) { delete(pp.claims, "htu") }, want: "htu"},
		{name: "iat too old", mutate: func(pp *proofParts) {
			pp.claims["iat"] = verifierNow.Add(-DefaultMaxAge - DefaultLeeway - time.Second).Unix()
		}, want: "iat is older"},
		{name: "iat in the future", mutate: func(pp *proofParts) { pp.claims["iat"] = verifierNow.Add(DefaultLeeway + time.Second).Unix() }, want: "future"},
		{name: "iat missing", mutate: func(pp *proofParts) { delete(pp.claims, "iat") }, want: "iat"},
		{name: "iat beyond int64", mutate: func(pp *proofParts) { pp.claims["iat"] = 1e19 }, want: "numeric date"},
		{name: "iat negative", mutate: func(pp *proofParts) { pp.claims["iat"] = -1 }, want: "numeric date"},
		{name: "iat as a string", mutate: func(pp *proofParts) { pp.claims["iat"] = "1780000000" }, want: "types"},
		{name: "jti missing", mutate: func(pp *proofParts) { delete(pp.claims, "jti") }, want: "jti"},
		{name: "jti too long", mutate: func(pp *proofParts) { pp.claims["jti"] = strings.Repeat("j", 257) }, want: "jti"},
		{name: "wrong ath", mutate: func(pp *proofParts) { pp.claims["ath"] = ATH("another-token") }, want: "ath"},
		{name: "ath missing", mutate: func(pp *proofParts) { delete(pp.claims, "ath") }, want: "ath"},
		{name: "ath without a token", token: "-", want: "ath"},
		{name: "typ missing", mutate: func(pp *proofParts) { delete(pp.header, "typ") }, want: "typ"},
		{name: "typ jwt", mutate: func(pp *proofParts) { pp.header["typ"] = "JWT" }, want: "typ"},
		{name: "alg not allowed", mutate: func(pp *proofParts) { pp.header["alg"] = "ES384" }, want: "alg"},
		{name: "crit", mutate: func(pp *proofParts) { pp.header["crit"] = []string{"exp"} }, want: "crit"},
		{name: "jwk missing", mutate: func(pp *proofParts) { delete(pp.header, "jwk") }, want: "jwk"},
		{name: "jwk not an object", mutate: func(pp *proofParts) { pp.header["jwk"] = "key" }, want: "header"},
		{name: "private key inside jwk", mutate: func(pp *proofParts) {
			pp.jwk["d"] = base64.RawURLEncoding.EncodeToString(ecKey.D.FillBytes(make([]byte, 32)))
		}, want: "private"},
		{name: "symmetric k inside jwk", mutate: func(pp *proofParts) { pp.jwk["k"] = "c2VjcmV0" }, want: "private"},
		{name: "jwk of another key", mutate: func(pp *proofParts) {
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			raw, _ := jose.PublicJWK(other.Public())
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			pp.header["jwk"] = m
		}, want: "signature"},
		{name: "jwk off the curve", mutate: func(pp *proofParts) { pp.jwk["y"] = pp.jwk["x"] }, want: "curve"},
		{name: "tampered payload", proof: func(good string) string {
			parts := strings.Split(good, ".")
			var c map[string]any
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			_ = json.Unmarshal(raw, &c)
			c["jti"] = "jti-2"
			raw, _ = json.Marshal(c)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
		}, want: "signature"},
		{name: "signature with padding", proof: func(good string) string { return good + "=" }, want: "base64url"},
		{name: "alg none with an empty signature", proof: func(good string) string {
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none","jwk":{}}`))
			return hdr + "." + strings.Split(good, ".")[1] + "."
		}, want: "compact"},
		{name: "alg none with a signature", proof: func(good string) string {
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none"}`))
			parts := strings.Split(good, ".")
			return hdr + "." + parts[1] + "." + parts[2]
		}, want: "alg"},
		{name: "alg HS256", proof: func(good string) string {
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"HS256","jwk":{"kty":"oct","k":"c2VjcmV0"}}`))
			parts := strings.Split(good, ".")
			return hdr + "." + parts[1] + "." + parts[2]
		}, want: "alg"},
		{name: "four segments", proof: func(good string) string { return good + ".x" }, want: "compact"},
		{name: "not a jws", proof: func(string) string { return "garbage" }, want: "compact"},
		{name: "oversized", proof: func(good string) string { return good + strings.Repeat("A", maxProofSize) }, want: "larger"},
		{name: "alg twice in the header", proof: func(good string) string {
			return withProofHeader(good, func(h string) string { return strings.Replace(h, `"alg":"ES256"`, `"alg":"ES256","alg":"PS256"`, 1) })
		}, want: "twice"},
		{name: "alg in another case", proof: func(good string) string {
			return withProofHeader(good, func(h string) string { return strings.Replace(h, `"alg":"ES256"`, `"ALG":"ES256"`, 1) })
		}, want: "is not spelt"},
		{name: "jwk member twice", proof: func(good string) string {
			return withProofHeader(good, func(h string) string { return strings.Replace(h, `"kty":"EC"`, `"kty":"EC","kty":"EC"`, 1) })
		}, want: "twice"},
		{name: "line break in the payload", proof: func(good string) string {
			parts := strings.Split(good, ".")
			return parts[0] + "." + parts[1][:8] + "\r\n" + parts[1][8:] + "." + parts[2]
		}, want: "base64url"},
		{name: "header not json", proof: func(good string) string {
			return base64.RawURLEncoding.EncodeToString([]byte("{")) + good[strings.IndexByte(good, '.'):]
		}, want: "header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(VerifierConfig{Algorithms: []string{"ES256", "PS256"}, Now: func() time.Time { return verifierNow }})
			require.NoError(t, err)
			pp := newProofParts(t, ecKey, "ES256")
			if tc.mutate != nil {
				tc.mutate(pp)
			}
			proof := pp.sign()
			if tc.proof != nil {
				proof = tc.proof(proof)
			}
			method, u, token := "GET", target, "token-1"
			if tc.method != "" {
				method = tc.method
			}
			if tc.url != "" {
				u = tc.url
			}
			if tc.token == "-" {
				token = ""
			}
			p, err := v.VerifyProof(context.Background(), proof, ProofRequest{Method: method, URL: mustURL(t, u), AccessToken: token})
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, ErrInvalidProof)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), proof)
			assert.NotContains(t, err.Error(), "token-1")
		})
	}

	t.Run("rsa key under 2048 bits", func(t *testing.T) {
		v, err := NewVerifier(VerifierConfig{Now: func() time.Time { return verifierNow }})
		require.NoError(t, err)
		pp := newProofParts(t, ecKey, "ES256")
		raw, err := jose.PublicJWK(rsaSmall.Public())
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		pp.header["jwk"], pp.header["alg"] = m, "RS256"
		good := pp.sign() // signed by the EC key under an ES256 signer; the header claims RS256
		_, err = v.VerifyProof(context.Background(), good, ProofRequest{Method: "GET", URL: mustURL(t, target), AccessToken: "token-1"})
		assert.ErrorIs(t, err, ErrInvalidProof)
		assert.Contains(t, err.Error(), "2048")
	})
}

func TestVerifyAcceptsEveryAlgorithm(t *testing.T) {
	for _, alg := range DefaultVerifierAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			key := keyFor(t, alg)
			proofer, err := NewProofer(ProoferConfig{Key: key, Algorithm: alg, Now: func() time.Time { return verifierNow }})
			require.NoError(t, err)
			v, err := NewVerifier(VerifierConfig{Now: func() time.Time { return verifierNow.Add(30 * time.Second) }})
			require.NoError(t, err)
			u := mustURL(t, "https://API.example.no:443/a%2Fb?query=1")
			proof, err := proofer.Proof("DELETE", u, "", "tok")
			require.NoError(t, err)
			p, err := v.VerifyProof(context.Background(), proof, ProofRequest{Method: "DELETE", URL: mustURL(t, "https://api.example.no/a%2Fb"), AccessToken: "tok"})
			require.NoError(t, err)
			assert.Equal(t, proofer.Thumbprint(), p.JKT)
			assert.Equal(t, alg, p.Algorithm)
		})
	}
}

func TestVerifierNonce(t *testing.T) {
	clock := fakeclock.New(verifierNow)
	nonces, err := NewNonceSource([]byte(strings.Repeat("s", 32)), time.Minute, clock.Now)
	require.NoError(t, err)
	v, err := NewVerifier(VerifierConfig{Nonces: nonces, Now: clock.Now, MaxAge: 5 * time.Minute})
	require.NoError(t, err)
	proofer, err := NewProofer(ProoferConfig{Now: clock.Now})
	require.NoError(t, err)
	u := mustURL(t, "https://api.example.no/x")
	verify := func(nonce string) error {
		proof, err := proofer.Proof("GET", u, nonce, "tok")
		require.NoError(t, err)
		_, err = v.VerifyProof(context.Background(), proof, ProofRequest{Method: "GET", URL: u, AccessToken: "tok"})
		return err
	}
	err = verify("")
	assert.ErrorIs(t, err, ErrUseNonce)
	assert.NotErrorIs(t, err, ErrInvalidProof)
	assert.ErrorIs(t, verify("not-our-nonce"), ErrUseNonce)

	current := nonces.Nonce()
	assert.True(t, ValidNonce(current))
	require.NoError(t, verify(current))
	clock.Advance(time.Minute)
	assert.NotEqual(t, current, nonces.Nonce(), "a new window, a new nonce")
	require.NoError(t, verify(current), "the previous window's nonce is still accepted")
	clock.Advance(time.Minute)
	assert.ErrorIs(t, verify(current), ErrUseNonce, "two windows later it is not")
	require.NoError(t, verify(nonces.Nonce()))

	other, err := NewNonceSource([]byte(strings.Repeat("t", 32)), time.Minute, clock.Now)
	require.NoError(t, err)
	assert.ErrorIs(t, verify(other.Nonce()), ErrUseNonce, "a nonce under another secret")
	same, err := NewNonceSource([]byte(strings.Repeat("s", 32)), time.Minute, clock.Now)
	require.NoError(t, err)
	require.NoError(t, verify(same.Nonce()), "another machine with the same secret")
}

func TestNewNonceSourceRefuses(t *testing.T) {
	_, err := NewNonceSource([]byte("short"), 0, nil)
	assert.ErrorIs(t, err, errInvalidNonceConfig)
	_, err = NewNonceSource(make([]byte, 32), time.Millisecond, nil)
	assert.ErrorIs(t, err, errInvalidNonceConfig)
}

func TestVerifyRequest(t *testing.T) {
	proofer, err := NewProofer(ProoferConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	now := func() time.Time { return verifierNow }

	t.Run("the request's own url", func(t *testing.T) {
		v, err := NewVerifier(VerifierConfig{Now: now})
		require.NoError(t, err)
		r := httptest.NewRequest("POST", "http://api.internal:8080/fhir/Patient?_id=1", nil)
		proof, err := proofer.Proof("POST", mustURL(t, "http://api.internal:8080/fhir/Patient"), "", "tok")
		require.NoError(t, err)
		r.Header.Set("DPoP", proof)
		_, err = v.Verify(context.Background(), r, "tok", "")
		require.NoError(t, err)
	})
	t.Run("behind a proxy", func(t *testing.T) {
		v, err := NewVerifier(VerifierConfig{Now: now, ExternalURL: "https://api.example.no/journal/"})
		require.NoError(t, err)
		r := httptest.NewRequest("GET", "http://10.0.0.7:8080/fhir/Patient", nil)
		proof, err := proofer.Proof("GET", mustURL(t, "https://api.example.no/journal/fhir/Patient"), "", "tok")
		require.NoError(t, err)
		r.Header.Set("DPoP", proof)
		_, err = v.Verify(context.Background(), r, "tok", "")
		require.NoError(t, err)

		internal, err := proofer.Proof("GET", mustURL(t, "http://10.0.0.7:8080/fhir/Patient"), "", "tok")
		require.NoError(t, err)
		r.Header.Set("DPoP", internal)
		_, err = v.Verify(context.Background(), r, "tok", "")
		assert.ErrorIs(t, err, ErrInvalidProof, "the internal url is not what clients call")
	})
	t.Run("missing and repeated headers", func(t *testing.T) {
		v, err := NewVerifier(VerifierConfig{Now: now})
		require.NoError(t, err)
		r := httptest.NewRequest("GET", "http://api.example.no/x", nil)
		_, err = v.Verify(context.Background(), r, "tok", "")
		assert.ErrorIs(t, err, ErrInvalidProof)
		assert.Contains(t, err.Error(), "missing")
		r.Header.Add("DPoP", "a.b.c")
		r.Header.Add("DPoP", "a.b.c")
		_, err = v.Verify(context.Background(), r, "tok", "")
		assert.ErrorIs(t, err, ErrInvalidProof)
		assert.Contains(t, err.Error(), "2 DPoP headers")
	})
}

func TestNewVerifierRefuses(t *testing.T) {
	for name, cfg := range map[string]VerifierConfig{
		"alg none":          {Algorithms: []string{"none"}},
		"alg HS256":         {Algorithms: []string{"HS256"}},
		"no algorithms":     {Algorithms: []string{}},
		"max age too long":  {MaxAge: time.Hour},
		"negative max age":  {MaxAge: -time.Second},
		"leeway too long":   {Leeway: time.Hour},
		"relative external": {ExternalURL: "/api"},
		"external query":    {ExternalURL: "https://api.example.no/?a=b"},
		"external ftp":      {ExternalURL: "ftp://api.example.no/"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewVerifier(cfg)
			assert.ErrorIs(t, err, errInvalidVerifierConfig)
		})
	}
}

// TestVerifyConcurrentReplay sends the same proof from many goroutines: exactly one wins.
func TestVerifyConcurrentReplay(t *testing.T) {
	v, err := NewVerifier(VerifierConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	proofer, err := NewProofer(ProoferConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	u := mustURL(t, "https://api.example.no/x")
	proof, err := proofer.Proof("GET", u, "", "tok")
	require.NoError(t, err)

	const n = 64
	var wins, replays atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := v.VerifyProof(context.Background(), proof, ProofRequest{Method: "GET", URL: u, AccessToken: "tok"})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrReplayed):
				replays.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
	assert.Equal(t, int32(n-1), replays.Load())
}

type failingStore struct{}

func (failingStore) CheckAndSet(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("redis: connection refused")
}

func TestVerifyReplayStoreFailureRefuses(t *testing.T) {
	v, err := NewVerifier(VerifierConfig{Replay: failingStore{}, Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	proofer, err := NewProofer(ProoferConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	u := mustURL(t, "https://api.example.no/x")
	proof, err := proofer.Proof("GET", u, "", "tok")
	require.NoError(t, err)
	_, err = v.VerifyProof(context.Background(), proof, ProofRequest{Method: "GET", URL: u, AccessToken: "tok"})
	assert.ErrorIs(t, err, ErrReplayCheck)
	assert.NotErrorIs(t, err, ErrInvalidProof)
}

// TestVerifyReplayAcrossSkewedClocks is two API machines sharing one replay store (its clock
// the true time, as Redis's TTLs are), the second machine's clock 4 s behind (inside the
// default Leeway): a proof the first accepted near the end of its window is still recorded
// when the second, by its own clock, would still accept it.
func TestVerifyReplayAcrossSkewedClocks(t *testing.T) {
	truth := fakeclock.New(verifierNow)
	store := NewMemoryReplayStore(MemoryReplayStoreConfig{Now: truth.Now})
	const skew = 4 * time.Second
	behind := func() time.Time { return truth.Now().Add(-skew) }
	a, err := NewVerifier(VerifierConfig{Replay: store, Now: truth.Now})
	require.NoError(t, err)
	b, err := NewVerifier(VerifierConfig{Replay: store, Now: behind})
	require.NoError(t, err)
	proofer, err := NewProofer(ProoferConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	u := mustURL(t, "https://api.example.no/x")
	proof, err := proofer.Proof("GET", u, "", "tok")
	require.NoError(t, err)
	req := ProofRequest{Method: "GET", URL: u, AccessToken: "tok"}

	truth.Advance(DefaultMaxAge + DefaultLeeway) // the last moment machine a accepts it
	_, err = a.VerifyProof(context.Background(), proof, req)
	require.NoError(t, err)
	// Past the end of a's window and of a record kept only that long, inside b's window.
	truth.Advance(skew - time.Millisecond)
	_, err = b.VerifyProof(context.Background(), proof, req)
	assert.ErrorIs(t, err, ErrReplayed)
}

func TestMemoryReplayStore(t *testing.T) {
	clock := fakeclock.New(verifierNow)
	s := NewMemoryReplayStore(MemoryReplayStoreConfig{Capacity: replayShards, Now: clock.Now}) // one per shard
	ctx := context.Background()
	fresh, err := s.CheckAndSet(ctx, "a", clock.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.True(t, fresh)
	fresh, err = s.CheckAndSet(ctx, "a", clock.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, fresh, "a replay")

	// Fill a's shard: the next id in it is refused, not accepted unchecked.
	var full error
	for i := 0; i < 10_000 && full == nil; i++ {
		_, full = s.CheckAndSet(ctx, "id-"+string(rune('0'+i%10))+strings.Repeat("x", i/10), clock.Now().Add(time.Minute))
	}
	assert.ErrorIs(t, full, ErrReplayStoreFull)

	clock.Advance(time.Minute)
	fresh, err = s.CheckAndSet(ctx, "a", clock.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.True(t, fresh, "expired entries leave")
	assert.LessOrEqual(t, s.Len(), replayShards)
}

// TestVerifyHandlerFlow is the whole exchange an API has with a client: a challenge, the nonce,
// the retried proof, through Transport.
func TestVerifyHandlerFlow(t *testing.T) {
	nonces, err := NewNonceSource(make([]byte, 32), 0, nil)
	require.NoError(t, err)
	v, err := NewVerifier(VerifierConfig{Nonces: nonces})
	require.NoError(t, err)
	var challenged atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		w.Header().Set("DPoP-Nonce", nonces.Nonce())
		if _, err := v.Verify(r.Context(), r, token, ""); err != nil {
			if errors.Is(err, ErrUseNonce) {
				challenged.Add(1)
				w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	proofer, err := NewProofer(ProoferConfig{})
	require.NoError(t, err)
	client := NewClient(&Transport{Proofer: proofer, Tokens: staticToken("tok")})
	resp, err := client.Get(srv.URL + "/x")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int32(1), challenged.Load())
}

type staticToken string

func (s staticToken) AccessToken(context.Context) (string, error) { return string(s), nil }

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
)

// keyFor returns a key for alg; the RSA key is made once, since it is slow to make.
func keyFor(t *testing.T, alg string) crypto.Signer {
	t.Helper()
	var curve elliptic.Curve
	switch alg {
	case "ES256":
		curve = elliptic.P256()
	case "ES384":
		curve = elliptic.P384()
	case "ES512":
		curve = elliptic.P521()
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		return k
	default:
		keysOnce.Do(func() { rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
		require.NotNil(t, rsaKey)
		return rsaKey
	}
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	require.NoError(t, err)
	return k
}

func TestVerifyKeyBinding(t *testing.T) {
	store := NewMemoryReplayStore(MemoryReplayStoreConfig{Now: func() time.Time { return verifierNow }})
	v, err := NewVerifier(VerifierConfig{Replay: store, Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	bound, err := NewProofer(ProoferConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	foreign, err := NewProofer(ProoferConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	u := mustURL(t, "https://api.example.no/x")
	req := ProofRequest{Method: "GET", URL: u, AccessToken: "tok", JKT: bound.Thumbprint()}

	for range 5 {
		proof, err := foreign.Proof("GET", u, "", "tok")
		require.NoError(t, err)
		_, err = v.VerifyProof(context.Background(), proof, req)
		assert.ErrorIs(t, err, ErrKeyNotBound)
		assert.NotErrorIs(t, err, ErrInvalidProof)
	}
	assert.Zero(t, store.Len(), "proofs by a foreign key take no space in the replay store")

	proof, err := bound.Proof("GET", u, "", "tok")
	require.NoError(t, err)
	p, err := v.VerifyProof(context.Background(), proof, req)
	require.NoError(t, err)
	assert.Equal(t, bound.Thumbprint(), p.JKT)
	assert.Equal(t, 1, store.Len())
}

// A proof key is the client's own: an RSA key beyond 4096 bits or with another exponent than
// 65537 would only make the server work harder, and is refused before any signature check.
func TestVerifyRefusesCostlyRSAKeys(t *testing.T) {
	v, err := NewVerifier(VerifierConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	big8k := make([]byte, 1024)
	_, _ = rand.Read(big8k)
	big8k[0] |= 0x80
	big8k[len(big8k)-1] |= 1
	n2k := make([]byte, 256)
	_, _ = rand.Read(n2k)
	n2k[0] |= 0x80
	n2k[len(n2k)-1] |= 1
	b64 := base64.RawURLEncoding.EncodeToString
	for name, jwk := range map[string]map[string]string{
		"8192-bit modulus": {"kty": "RSA", "n": b64(big8k), "e": "AQAB"},
		"exponent 3":       {"kty": "RSA", "n": b64(n2k), "e": "Aw"},
		"exponent 2^31-1":  {"kty": "RSA", "n": b64(n2k), "e": "f____w"},
	} {
		t.Run(name, func(t *testing.T) {
			hdr, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk})
			payload, _ := json.Marshal(map[string]any{"jti": "j", "htm": "GET", "htu": "https://api.example.no/x", "iat": verifierNow.Unix()})
			proof := b64(hdr) + "." + b64(payload) + "." + b64(make([]byte, 256))
			_, err := v.VerifyProof(context.Background(), proof, ProofRequest{Method: "GET", URL: mustURL(t, "https://api.example.no/x")})
			assert.ErrorIs(t, err, ErrInvalidProof)
			if !strings.Contains(err.Error(), "larger than") {
				assert.Contains(t, err.Error(), "65537")
			}
		})
	}
}

// Without ExternalURL the htu is checked against the request's Host header, which the client
// chooses; with it, a proof made for another deployment is refused whatever Host says.
func TestVerifyExternalURLIgnoresHostHeader(t *testing.T) {
	proofer, err := NewProofer(ProoferConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	proof, err := proofer.Proof("GET", mustURL(t, "https://api-a.example.no/x"), "", "tok")
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "https://api-b.example.no/x", nil)
	r.Host = "api-a.example.no" // a replay to deployment B, claiming to be A
	r.Header.Set("DPoP", proof)

	v, err := NewVerifier(VerifierConfig{ExternalURL: "https://api-b.example.no", Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), r, "tok", "")
	assert.ErrorIs(t, err, ErrInvalidProof)
	assert.Contains(t, err.Error(), "htu")
}

// The same proof with its ECDSA signature changed to the other valid form (r, n-s) is still
// the same proof: its jti is already used.
func TestVerifyReplayWithMalleatedSignature(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	proofer, err := NewProofer(ProoferConfig{Key: key, Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	v, err := NewVerifier(VerifierConfig{Now: func() time.Time { return verifierNow }})
	require.NoError(t, err)
	u := mustURL(t, "https://api.example.no/x")
	proof, err := proofer.Proof("GET", u, "", "tok")
	require.NoError(t, err)
	req := ProofRequest{Method: "GET", URL: u, AccessToken: "tok"}
	_, err = v.VerifyProof(context.Background(), proof, req)
	require.NoError(t, err)

	dot := strings.LastIndexByte(proof, '.')
	sig, err := base64.RawURLEncoding.DecodeString(proof[dot+1:])
	require.NoError(t, err)
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	malleated := proof[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
	require.NotEqual(t, proof, malleated)
	_, err = v.VerifyProof(context.Background(), malleated, req)
	assert.ErrorIs(t, err, ErrReplayed)
}
