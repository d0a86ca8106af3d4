package helseidtest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/fakeclock"
)

func newClock() *fakeclock.Clock { return fakeclock.New(time.Unix(1_750_000_000, 0)) }

const (
	readScope  = "nhn:helseidtest-api/read"
	writeScope = "nhn:helseidtest-api/write"
	otherScope = "nhn:other-api/read"
)

// testSigningKey is shared by the tests' servers so each does not generate an RSA key.
var testSigningKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b64(b)
}

// del marks a header parameter or claim to remove.
type del struct{}

// signJWS builds a compact JWS from header and claims, signed with alg and key. alg "none"
// gives an empty signature. The header's "alg" is whatever the map says, so tests can lie.
func signJWS(t testing.TB, header, claims map[string]any, alg string, key any) string {
	t.Helper()
	clean := func(m map[string]any) map[string]any {
		out := make(map[string]any, len(m))
		for k, v := range m {
			if _, ok := v.(del); !ok {
				out[k] = v
			}
		}
		return out
	}
	hb, err := json.Marshal(clean(header))
	require.NoError(t, err)
	pb, err := json.Marshal(clean(claims))
	require.NoError(t, err)
	input := b64(hb) + "." + b64(pb)
	if alg == "none" {
		return input + "."
	}
	signer, err := jws.NewSigner(jwa.SignatureAlgorithm(alg))
	require.NoError(t, err)
	sig, err := signer.Sign([]byte(input), key)
	require.NoError(t, err)
	return input + "." + b64(sig)
}

// jwkMap returns the public JWK of raw as a JSON object map, and its RFC 7638 thumbprint.
func jwkMap(t testing.TB, raw any) (map[string]any, string) {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	require.NoError(t, err)
	tp, err := k.Thumbprint(crypto.SHA256)
	require.NoError(t, err)
	data, err := json.Marshal(k)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	return m, b64(tp)
}

// proofKey is a DPoP key.
type proofKey struct {
	priv crypto.Signer
	alg  string
	jwk  map[string]any // public
	jkt  string
}

func newProofKey(t testing.TB, alg string) *proofKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "PS256", "RS256":
		priv = testSigningKey() // any RSA-2048 key will do
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no proof key for %s", alg)
	}
	require.NoError(t, err)
	m, jkt := jwkMap(t, priv.Public())
	return &proofKey{priv: priv, alg: alg, jwk: m, jkt: jkt}
}

// tclient is a registered client as the code under test would hold it.
type tclient struct {
	id     string
	priv   crypto.Signer
	alg    string
	kid    string
	scopes []string
	proof  *proofKey
}

func clientFromJWK(t testing.TB, id string, privJWK []byte, scopes []string) *tclient {
	t.Helper()
	k, err := jwk.ParseKey(privJWK)
	require.NoError(t, err)
	var raw ecdsa.PrivateKey
	require.NoError(t, k.Raw(&raw))
	require.NotEmpty(t, k.KeyID())
	require.Equal(t, jwa.ES256, k.Algorithm())
	return &tclient{id: id, priv: &raw, alg: k.Algorithm().String(), kid: k.KeyID(), scopes: scopes, proof: newProofKey(t, "ES256")}
}

// harness drives one server like a client would, remembering the newest AS nonce.
type harness struct {
	t     *testing.T
	srv   *helseidtest.Server
	clock *fakeclock.Clock
	hc    *http.Client
	nonce *nonceBox
}

type nonceBox struct {
	mu    sync.Mutex
	value string
}

// with returns the harness for a subtest: same server and nonce, t replaced.
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

func newHarness(t *testing.T, opts helseidtest.Options) *harness {
	t.Helper()
	clock := newClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.SigningKey == nil {
		opts.SigningKey = testSigningKey()
	}
	srv := helseidtest.NewServer(t, opts)
	return &harness{t: t, srv: srv, clock: clock, hc: srv.Client(), nonce: &nonceBox{}}
}

func (h *harness) client(id string, scopes ...string) *tclient {
	h.t.Helper()
	priv, err := h.srv.GenerateClient(id, scopes...)
	require.NoError(h.t, err)
	return clientFromJWK(h.t, id, priv, scopes)
}

func (h *harness) clientFor(reg helseidtest.ClientRegistration) *tclient {
	h.t.Helper()
	priv, err := h.srv.GenerateClientFor(reg)
	require.NoError(h.t, err)
	return clientFromJWK(h.t, reg.ID, priv, reg.Scopes)
}

func (h *harness) currentNonce() string {
	h.nonce.mu.Lock()
	defer h.nonce.mu.Unlock()
	return h.nonce.value
}

func (h *harness) setNonce(n string) {
	h.nonce.mu.Lock()
	defer h.nonce.mu.Unlock()
	h.nonce.value = n
}

// tokenReq is a token request in pieces; a test breaks one piece, then send builds it.
type tokenReq struct {
	AHeader, AClaims map[string]any
	AAlg             string // signing algorithm (default: the header's alg)
	AKey             any    // signing key (default: the client's)
	Assertion        string // if set, sent verbatim
	NoAssertion      bool

	Form      url.Values
	ExtraBody string // appended to the encoded form

	PHeader, PClaims map[string]any
	PAlg             string
	PKey             any
	Proofs           []string // if set, sent verbatim
	NoProof          bool
	ExtraProof       bool // send a second, valid proof

	Method, URL, ContentType string
	Header                   http.Header
}

func (h *harness) tokenReq(c *tclient) *tokenReq {
	now := h.clock.Now().Unix()
	r := &tokenReq{
		AHeader: map[string]any{"alg": c.alg, "kid": c.kid, "typ": "client-authentication+jwt"},
		AClaims: map[string]any{
			"iss": c.id, "sub": c.id, "aud": h.srv.Issuer(),
			"iat": now, "nbf": now, "exp": now + 30, "jti": randID(),
		},
		AKey: c.priv,
		Form: url.Values{
			"grant_type":            {"client_credentials"},
			"scope":                 {strings.Join(c.scopes, " ")},
			"client_assertion_type": {helseidtest.ClientAssertionType},
			"client_id":             {c.id},
		},
		PHeader: map[string]any{"typ": "dpop+jwt", "alg": c.proof.alg, "jwk": c.proof.jwk},
		PClaims: map[string]any{"jti": randID(), "htm": "POST", "htu": h.srv.TokenEndpoint(), "iat": now},
		PKey:    c.proof.priv,
		Method:  http.MethodPost,
		URL:     h.srv.TokenEndpoint(),
		Header:  http.Header{},
	}
	if n := h.currentNonce(); n != "" {
		r.PClaims["nonce"] = n
	}
	r.ContentType = "application/x-www-form-urlencoded"
	return r
}

func (r *tokenReq) assertion(t testing.TB) string {
	if r.Assertion != "" {
		return r.Assertion
	}
	alg := r.AAlg
	if alg == "" {
		alg, _ = r.AHeader["alg"].(string)
	}
	r.Assertion = signJWS(t, r.AHeader, r.AClaims, alg, r.AKey)
	return r.Assertion
}

func (r *tokenReq) proof(t testing.TB) string {
	alg := r.PAlg
	if alg == "" {
		alg, _ = r.PHeader["alg"].(string)
	}
	return signJWS(t, r.PHeader, r.PClaims, alg, r.PKey)
}

type result struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (r *result) code() string {
	s, _ := r.JSON["error"].(string)
	return s
}

func (h *harness) do(req *http.Request) *result {
	h.t.Helper()
	resp, err := h.hc.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	res := &result{Status: resp.StatusCode, Header: resp.Header, Body: body}
	_ = json.Unmarshal(body, &res.JSON)
	return res
}

// send builds and sends r, and remembers any DPoP-Nonce from the token endpoint.
func (h *harness) send(r *tokenReq) *result {
	h.t.Helper()
	form := url.Values{}
	for k, v := range r.Form {
		form[k] = v
	}
	if !r.NoAssertion {
		form.Set("client_assertion", r.assertion(h.t))
	}
	body := form.Encode() + r.ExtraBody
	req, err := http.NewRequest(r.Method, r.URL, strings.NewReader(body))
	require.NoError(h.t, err)
	for k, v := range r.Header {
		req.Header[k] = v
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	proofs := r.Proofs
	if proofs == nil && !r.NoProof {
		proofs = []string{r.proof(h.t)}
		if r.ExtraProof {
			r.PClaims["jti"] = randID()
			proofs = append(proofs, r.proof(h.t))
		}
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	res := h.do(req)
	if n := res.Header.Get("DPoP-Nonce"); n != "" {
		h.setNonce(n)
	}
	return res
}

// token gets an access token for c like a correct client: one retry on use_dpop_nonce with a
// fresh assertion and proof.
func (h *harness) token(c *tclient) string {
	h.t.Helper()
	res := h.send(h.tokenReq(c))
	if res.Status == http.StatusBadRequest && res.code() == "use_dpop_nonce" {
		res = h.send(h.tokenReq(c))
	}
	require.Equal(h.t, http.StatusOK, res.Status, string(res.Body))
	at, _ := res.JSON["access_token"].(string)
	require.NotEmpty(h.t, at)
	return at
}

// apiReq is a demo-API request in pieces.
type apiReq struct {
	Method, URL string
	Auth        string // the Authorization header; "" for none
	PHeader     map[string]any
	PClaims     map[string]any
	PAlg        string
	PKey        any
	Proofs      []string
	NoProof     bool
	ExtraProof  bool
	Header      http.Header
}

func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64(sum[:])
}

func (h *harness) apiReq(c *tclient, token string) *apiReq {
	return &apiReq{
		Method:  http.MethodGet,
		URL:     h.srv.APIURL(),
		Auth:    "DPoP " + token,
		PHeader: map[string]any{"typ": "dpop+jwt", "alg": c.proof.alg, "jwk": c.proof.jwk},
		PClaims: map[string]any{
			"jti": randID(), "htm": http.MethodGet, "htu": h.srv.APIURL(),
			"iat": h.clock.Now().Unix(), "ath": ath(token),
		},
		PKey:   c.proof.priv,
		Header: http.Header{},
	}
}

func (h *harness) sendAPI(r *apiReq) *result {
	h.t.Helper()
	req, err := http.NewRequest(r.Method, r.URL, nil)
	require.NoError(h.t, err)
	for k, v := range r.Header {
		req.Header[k] = v
	}
	if r.Auth != "" {
		req.Header.Set("Authorization", r.Auth)
	}
	proofs := r.Proofs
	if proofs == nil && !r.NoProof {
		alg := r.PAlg
		if alg == "" {
			alg, _ = r.PHeader["alg"].(string)
		}
		proofs = []string{signJWS(h.t, r.PHeader, r.PClaims, alg, r.PKey)}
		if r.ExtraProof {
			r.PClaims["jti"] = randID()
			proofs = append(proofs, signJWS(h.t, r.PHeader, r.PClaims, alg, r.PKey))
		}
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return h.do(req)
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	return m
}

// headerOf decodes a JWS's protected header without verifying it.
func headerOf(t testing.TB, token string) map[string]any {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	return m
}

// verifyWithJWKS verifies an access token with the server's published keys, as an API would.
func verifyWithJWKS(t testing.TB, srv *helseidtest.Server, token string) {
	t.Helper()
	_, err := jws.Verify([]byte(token), jws.WithKeySet(srv.PublicKeys(), jws.WithRequireKid(true)))
	require.NoError(t, err)
}
