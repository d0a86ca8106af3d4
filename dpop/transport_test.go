package dpop_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
)

// rtTokens is a fake TokenSource and TokenInvalidator: it hands out tokens[i], and
// InvalidateToken of the current token moves on to the next one.
type rtTokens struct {
	mu          sync.Mutex
	tokens      []string
	i           int
	calls       int
	invalidated []string
	err         error
}

func newRTTokens(tokens ...string) *rtTokens { return &rtTokens{tokens: tokens} }

func (s *rtTokens) AccessToken(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if s.err != nil {
		return "", s.err
	}
	return s.tokens[s.i], nil
}

func (s *rtTokens) InvalidateToken(_ context.Context, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, token)
	if token == s.tokens[s.i] && s.i < len(s.tokens)-1 {
		s.i++
	}
}

func (s *rtTokens) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *rtTokens) Invalidated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.invalidated...)
}

// rtPlainTokens is a TokenSource that does not implement TokenInvalidator.
type rtPlainTokens struct{ token string }

func (s rtPlainTokens) AccessToken(context.Context) (string, error) { return s.token, nil }

// rtHit is one request as the test resource server saw it, after verifying its proof.
type rtHit struct {
	Method, Path, RawQuery string
	HasAuth, HasDPoP       bool
	Token                  string         // from "Authorization: DPoP <token>"
	Claims                 map[string]any // the verified proof's claims; nil without a proof
	Body                   []byte
}

func (h rtHit) Nonce() string { s, _ := h.Claims["nonce"].(string); return s }
func (h rtHit) JTI() string   { s, _ := h.Claims["jti"].(string); return s }
func (h rtHit) HTU() string   { s, _ := h.Claims["htu"].(string); return s }

// rtAPI is a DPoP-protected resource server that verifies every proof the way RFC 9449 §4.3
// and §7 ask (typ, signature with the header jwk, the jwk's thumbprint, htm, htu, iat, ath,
// unique jti) and lets each test decide the answer. Verification failures fail the test.
type rtAPI struct {
	t       *testing.T
	srv     *httptest.Server
	jkt     string
	respond func(w http.ResponseWriter, h rtHit, n int) // n counts requests from 1

	mu   sync.Mutex
	hits []rtHit
	jtis map[string]bool
}

func newRTAPI(t *testing.T, jkt string, respond func(w http.ResponseWriter, h rtHit, n int)) *rtAPI {
	a := &rtAPI{t: t, jkt: jkt, respond: respond, jtis: map[string]bool{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *rtAPI) URL(path string) string { return a.srv.URL + path }

func (a *rtAPI) Hits() []rtHit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]rtHit(nil), a.hits...)
}

func (a *rtAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		a.t.Errorf("read request body: %v", err)
	}
	h := rtHit{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: body}
	auth, hasAuth := r.Header["Authorization"]
	proofs, hasDPoP := r.Header["Dpop"]
	h.HasAuth, h.HasDPoP = hasAuth, hasDPoP
	if hasAuth || hasDPoP {
		if assert.Len(a.t, auth, 1, "one Authorization header") && assert.Len(a.t, proofs, 1, "one DPoP header") {
			token, ok := strings.CutPrefix(auth[0], "DPoP ")
			assert.True(a.t, ok, "Authorization scheme must be DPoP")
			h.Token = token
			h.Claims = a.verify(r, proofs[0], token)
		}
	}
	a.mu.Lock()
	if jti := h.JTI(); jti != "" {
		assert.False(a.t, a.jtis[jti], "jti reused")
		a.jtis[jti] = true
	}
	a.hits = append(a.hits, h)
	n := len(a.hits)
	a.mu.Unlock()
	if a.respond == nil {
		_, _ = io.WriteString(w, "ok")
		return
	}
	a.respond(w, h, n)
}

// verify checks proof with jwx and returns its claims, reporting every failure on a.t.
func (a *rtAPI) verify(r *http.Request, proof, token string) map[string]any {
	t := a.t
	msg, err := jws.Parse([]byte(proof))
	if !assert.NoError(t, err) || !assert.Len(t, msg.Signatures(), 1) {
		return nil
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	assert.Equal(t, "dpop+jwt", hdr.Type())
	key := hdr.JWK()
	if !assert.NotNil(t, key, "proof header must carry the jwk") {
		return nil
	}
	pub, err := key.PublicKey()
	assert.NoError(t, err)
	// The header jwk must be public: its JSON equals that of its public key.
	kj, _ := json.Marshal(key)
	pj, _ := json.Marshal(pub)
	assert.JSONEq(t, string(pj), string(kj), "the proof jwk must hold no private members")
	tp, err := key.Thumbprint(crypto.SHA256)
	if assert.NoError(t, err) {
		assert.Equal(t, a.jkt, base64.RawURLEncoding.EncodeToString(tp), "proof key must be the key the token is bound to")
	}
	payload, err := jws.Verify([]byte(proof), jws.WithKey(hdr.Algorithm(), key))
	if !assert.NoError(t, err, "proof signature") {
		return nil
	}
	var claims map[string]any
	if !assert.NoError(t, json.Unmarshal(payload, &claims)) {
		return nil
	}
	assert.Equal(t, r.Method, claims["htm"])
	assert.Equal(t, "http://"+r.Host+r.URL.EscapedPath(), claims["htu"], "htu is the URL without query")
	sum := sha256.Sum256([]byte(token))
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(sum[:]), claims["ath"])
	assert.NotEmpty(t, claims["jti"])
	if iat, ok := claims["iat"].(float64); assert.True(t, ok, "iat") {
		assert.InDelta(t, float64(time.Now().Unix()), iat, 300)
	}
	return claims
}

// rtNonceChallenge answers 401 asking for nonce, as RFC 9449 §9 shows.
func rtNonceChallenge(w http.ResponseWriter, nonce string) {
	w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
	w.Header().Set("DPoP-Nonce", nonce)
	w.WriteHeader(http.StatusUnauthorized)
}

// rtInvalidToken answers 401 rejecting the access token (RFC 9449 §7.1 challenge).
func rtInvalidToken(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"`)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, "expired")
}

func newRTProofer(t testing.TB) *dpop.Proofer {
	p, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	return p
}

// rtBody closes over a reader and records whether it was closed.
type rtBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *rtBody) Close() error { b.closed.Store(true); return nil }

// rtRecorder is a Base that records the requests it is given and answers 200.
type rtRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (b *rtRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	b.mu.Unlock()
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

func TestTransportHappyPath(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), nil)
	tokens := newRTTokens("tok-1")
	tr := &dpop.Transport{Proofer: p, Tokens: tokens} // no Nonces: a private store

	req, err := http.NewRequest(http.MethodGet, api.URL("/patients/1?include=all#frag"), nil)
	require.NoError(t, err)
	req.Header.Set("X-Trace", "abc")
	before := req.Header.Clone()

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", string(body))
	hits := api.Hits()
	require.Len(t, hits, 1)
	assert.Equal(t, "tok-1", hits[0].Token)
	assert.Equal(t, "include=all", hits[0].RawQuery)
	assert.Equal(t, api.URL("/patients/1"), hits[0].HTU())
	assert.NotContains(t, hits[0].Claims, "nonce", "no nonce is known yet")
	assert.Equal(t, 1, tokens.Calls())

	assert.Equal(t, before, req.Header, "the caller's request keeps its headers")
	assert.Same(t, req, resp.Request, "the response points at the caller's request, not the clone with the token")
	assert.Empty(t, resp.Request.Header.Get("Authorization"))
}

// A request built as a struct literal has no Header and may have no Method (meaning GET).
func TestTransportBareRequestLiteral(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), nil)
	tr := &dpop.Transport{Proofer: p, Tokens: newRTTokens("tok-1")}
	u, err := url.Parse(api.URL("/x"))
	require.NoError(t, err)
	req := &http.Request{URL: u}

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	hits := api.Hits()
	require.Len(t, hits, 1)
	assert.Equal(t, "GET", hits[0].Claims["htm"])
	assert.Nil(t, req.Header)
}

func TestTransportNonceChallengeRetriesOnceWithBody(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, n int) {
		if h.Nonce() != "R1" {
			rtNonceChallenge(w, "R1")
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	tokens := newRTTokens("tok-1")
	tr := &dpop.Transport{Proofer: p, Tokens: tokens}

	payload := []byte(`{"resourceType":"Patient","id":"1"}`)
	req, err := http.NewRequest(http.MethodPost, api.URL("/fhir/Patient"), bytes.NewReader(payload))
	require.NoError(t, err)
	require.NotNil(t, req.GetBody, "precondition: http.NewRequest makes a bytes.Reader body replayable")

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	hits := api.Hits()
	require.Len(t, hits, 2, "exactly one retry")
	assert.Empty(t, hits[0].Nonce())
	assert.Equal(t, "R1", hits[1].Nonce())
	assert.NotEqual(t, hits[0].JTI(), hits[1].JTI(), "a fresh proof for the retry")
	assert.Equal(t, payload, hits[0].Body)
	assert.Equal(t, payload, hits[1].Body, "the body is sent again, identical")
	assert.Equal(t, "POST", hits[1].Claims["htm"])
	assert.Equal(t, 1, tokens.Calls(), "a nonce retry keeps the token")
}

func TestTransportSecondNonceChallengeIsReturned(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, n int) {
		rtNonceChallenge(w, "R"+strconv.Itoa(n)) // a new nonce every time: never satisfied
	})
	nonces := dpop.NewNonceStore()
	tr := &dpop.Transport{Proofer: p, Tokens: newRTTokens("tok-1"), Nonces: nonces}

	req, err := http.NewRequest(http.MethodGet, api.URL("/x"), nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()

	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "R2", resp.Header.Get("DPoP-Nonce"))
	assert.Len(t, api.Hits(), 2, "one retry, no loop")
	assert.Equal(t, "R2", nonces.NonceFor(req.URL), "the newest nonce is kept for the next request")
}

func TestTransportSameNonceIsNotRetried(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, n int) {
		rtNonceChallenge(w, "R1") // rejects R1 yet asks for R1
	})
	nonces := dpop.NewNonceStore()
	u, err := url.Parse(api.URL("/"))
	require.NoError(t, err)
	require.True(t, nonces.Set(dpop.Origin(u), "R1"))
	tr := &dpop.Transport{Proofer: p, Tokens: newRTTokens("tok-1"), Nonces: nonces}

	req, err := http.NewRequest(http.MethodGet, api.URL("/x"), nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	hits := api.Hits()
	require.Len(t, hits, 1, "retrying with the nonce just rejected would change nothing")
	assert.Equal(t, "R1", hits[0].Nonce())
}

func TestTransportReusesNonceFromSuccess(t *testing.T) {
	p := newRTProofer(t)
	var issued atomic.Value // the nonce the server expects next
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, n int) {
		next := "N" + strconv.Itoa(n)
		if want, _ := issued.Load().(string); want != "" && h.Nonce() != want {
			issued.Store(next)
			rtNonceChallenge(w, next)
			return
		}
		issued.Store(next)
		w.Header().Set("DPoP-Nonce", next) // RFC 9449 §8.2: the next nonce on a 200
		_, _ = io.WriteString(w, "ok")
	})
	tr := &dpop.Transport{Proofer: p, Tokens: newRTTokens("tok-1")}
	client := dpop.NewClient(tr)

	for i := 0; i < 3; i++ {
		resp, err := client.Get(api.URL("/r"))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	hits := api.Hits()
	require.Len(t, hits, 3, "one round trip per request: each reuses the nonce of the previous 200")
	assert.Empty(t, hits[0].Nonce())
	assert.Equal(t, "N1", hits[1].Nonce())
	assert.Equal(t, "N2", hits[2].Nonce())
}

func TestTransportBodyNotReplayable(t *testing.T) {
	tests := []struct {
		name        string
		respond     func(w http.ResponseWriter)
		reason      string
		invalidated []string
	}{
		{"use_dpop_nonce", func(w http.ResponseWriter) { rtNonceChallenge(w, "R1") }, "use_dpop_nonce", nil},
		{"invalid_token", rtInvalidToken, "invalid_token", []string{"tok-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newRTProofer(t)
			api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, _ rtHit, _ int) { tc.respond(w) })
			tokens := newRTTokens("tok-1", "tok-2")
			tr := &dpop.Transport{Proofer: p, Tokens: tokens}

			req, err := http.NewRequest(http.MethodPost, api.URL("/upload"), io.NopCloser(strings.NewReader("once only")))
			require.NoError(t, err)
			require.Nil(t, req.GetBody, "precondition: the body cannot be replayed")

			resp, err := tr.RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}
			require.Error(t, err)
			assert.Nil(t, resp)
			assert.ErrorIs(t, err, dpop.ErrBodyNotReplayable)
			assert.Contains(t, err.Error(), tc.reason)
			assert.Contains(t, err.Error(), "GetBody")
			assert.NotContains(t, err.Error(), "tok-1")
			hits := api.Hits()
			require.Len(t, hits, 1, "nothing is sent again")
			assert.Equal(t, "once only", string(hits[0].Body))
			assert.Equal(t, tc.invalidated, tokens.Invalidated(), "a rejected token is still dropped for the next request")
		})
	}
}

func TestTransportInvalidTokenGetsNewToken(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, n int) {
		if h.Token == "old" {
			rtInvalidToken(w)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	tokens := newRTTokens("old", "new")
	tr := &dpop.Transport{Proofer: p, Tokens: tokens}

	req, err := http.NewRequest(http.MethodPut, api.URL("/x"), strings.NewReader("body"))
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"old"}, tokens.Invalidated())
	assert.Equal(t, 2, tokens.Calls())
	hits := api.Hits()
	require.Len(t, hits, 2)
	assert.Equal(t, "old", hits[0].Token)
	assert.Equal(t, "new", hits[1].Token, "the proof's ath is checked against the new token by the server")
	assert.NotEqual(t, hits[0].JTI(), hits[1].JTI())
	assert.Equal(t, "body", string(hits[1].Body))
}

func TestTransportInvalidTokenTwiceIsReturned(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, _ rtHit, _ int) { rtInvalidToken(w) })
	tokens := newRTTokens("old", "new", "newer")
	tr := &dpop.Transport{Proofer: p, Tokens: tokens}

	req, err := http.NewRequest(http.MethodGet, api.URL("/x"), nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()

	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "expired", string(body), "the server's answer is returned intact")
	assert.Len(t, api.Hits(), 2)
	assert.Equal(t, []string{"old"}, tokens.Invalidated(), "one invalidation per request")
}

func TestTransportInvalidTokenSameTokenAgainIsReturned(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, _ rtHit, _ int) { rtInvalidToken(w) })
	tokens := newRTTokens("only") // InvalidateToken cannot move on: the source returns it again
	tr := &dpop.Transport{Proofer: p, Tokens: tokens}

	req, err := http.NewRequest(http.MethodGet, api.URL("/x"), nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Len(t, api.Hits(), 1, "the same token would be rejected again")
	assert.Equal(t, []string{"only"}, tokens.Invalidated())
}

func TestTransportInvalidTokenWithoutInvalidator(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, _ rtHit, _ int) { rtInvalidToken(w) })
	tr := &dpop.Transport{Proofer: p, Tokens: rtPlainTokens{"tok"}}

	req, err := http.NewRequest(http.MethodGet, api.URL("/x"), nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Len(t, api.Hits(), 1)
}

func TestTransportNonceAndTokenRetriesAtMostThreeAttempts(t *testing.T) {
	tests := []struct {
		name       string
		finalOK    bool
		wantStatus int
	}{
		{"nonce then invalid_token then success", true, http.StatusOK},
		{"nonce, invalid_token, nonce again: returned", false, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newRTProofer(t)
			api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, n int) {
				switch {
				case n == 1:
					rtNonceChallenge(w, "R1")
				case n == 2:
					assert.Equal(t, "R1", h.Nonce())
					rtInvalidToken(w)
				case tc.finalOK:
					assert.Equal(t, "R1", h.Nonce())
					_, _ = io.WriteString(w, "ok")
				default:
					rtNonceChallenge(w, "R"+strconv.Itoa(n))
				}
			})
			tokens := newRTTokens("old", "new")
			tr := &dpop.Transport{Proofer: p, Tokens: tokens}

			req, err := http.NewRequest(http.MethodGet, api.URL("/x"), nil)
			require.NoError(t, err)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()

			assert.Equal(t, tc.wantStatus, resp.StatusCode)
			hits := api.Hits()
			require.Len(t, hits, 3)
			assert.Equal(t, []string{"old", "old", "new"}, []string{hits[0].Token, hits[1].Token, hits[2].Token})
		})
	}
}

func TestTransportCrossOriginRedirectDropsCredentials(t *testing.T) {
	p := newRTProofer(t)
	other := newRTAPI(t, p.Thumbprint(), nil)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, _ int) {
		w.Header().Set("Location", other.URL("/landing?sig=1"))
		w.WriteHeader(http.StatusFound)
	})
	tokens := newRTTokens("tok-1")
	client := dpop.NewClient(&dpop.Transport{Proofer: p, Tokens: tokens})

	resp, err := client.Get(api.URL("/download"))
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	apiHits, otherHits := api.Hits(), other.Hits()
	require.Len(t, apiHits, 1)
	require.Len(t, otherHits, 1)
	assert.True(t, apiHits[0].HasAuth && apiHits[0].HasDPoP, "the API gets the token and proof")
	assert.False(t, otherHits[0].HasAuth, "no Authorization header to another origin")
	assert.False(t, otherHits[0].HasDPoP, "no DPoP header to another origin")
	assert.Equal(t, 1, tokens.Calls(), "no token is asked for the other origin")
}

func TestTransportSameOriginRedirectKeepsCredentials(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, _ int) {
		if h.Path == "/old" {
			w.Header().Set("Location", "/new?q=1")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	client := dpop.NewClient(&dpop.Transport{Proofer: p, Tokens: newRTTokens("tok-1")})

	resp, err := client.Get(api.URL("/old"))
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	hits := api.Hits()
	require.Len(t, hits, 2)
	assert.Equal(t, "tok-1", hits[1].Token)
	assert.Equal(t, api.URL("/new"), hits[1].HTU(), "a fresh proof for the new path")
	assert.NotEqual(t, hits[0].JTI(), hits[1].JTI())
}

// Redirect hops as http.Client builds them, checked against a recording Base: only a hop to
// the original request's exact origin carries credentials.
func TestTransportRedirectOrigins(t *testing.T) {
	mk := func(t *testing.T, raw string, via *http.Request) *http.Request {
		r, err := http.NewRequest(http.MethodGet, raw, nil)
		require.NoError(t, err)
		if via != nil {
			r.Response = &http.Response{StatusCode: http.StatusFound, Request: via}
		}
		return r
	}
	tests := []struct {
		name      string
		hop       func(t *testing.T) *http.Request
		wantCreds bool
	}{
		{"same origin", func(t *testing.T) *http.Request {
			return mk(t, "https://api.example.org/b", mk(t, "https://api.example.org/a", nil))
		}, true},
		{"same origin, default port spelled out", func(t *testing.T) *http.Request {
			return mk(t, "https://API.example.org:443/b", mk(t, "https://api.example.org/a", nil))
		}, true},
		{"https to http on the same host", func(t *testing.T) *http.Request {
			return mk(t, "http://api.example.org/a", mk(t, "https://api.example.org/a", nil))
		}, false},
		{"other port", func(t *testing.T) *http.Request {
			return mk(t, "https://api.example.org:8443/a", mk(t, "https://api.example.org/a", nil))
		}, false},
		{"other host", func(t *testing.T) *http.Request {
			return mk(t, "https://evil.example.net/a", mk(t, "https://api.example.org/a", nil))
		}, false},
		{"back to the original origin after another", func(t *testing.T) *http.Request {
			first := mk(t, "https://api.example.org/a", nil)
			return mk(t, "https://api.example.org/c", mk(t, "https://cdn.example.net/b", first))
		}, true},
		{"second hop compared with the original, not the previous hop", func(t *testing.T) *http.Request {
			first := mk(t, "https://api.example.org/a", nil)
			return mk(t, "https://cdn.example.net/c", mk(t, "https://cdn.example.net/b", first))
		}, false},
		{"original request unknown", func(t *testing.T) *http.Request {
			r := mk(t, "https://api.example.org/b", nil)
			r.Response = &http.Response{StatusCode: http.StatusFound}
			return r
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := &rtRecorder{}
			tokens := newRTTokens("tok-1")
			tr := &dpop.Transport{Base: base, Proofer: newRTProofer(t), Tokens: tokens}
			hop := tc.hop(t)

			resp, err := tr.RoundTrip(hop)
			require.NoError(t, err)
			resp.Body.Close()

			require.Len(t, base.reqs, 1)
			sent := base.reqs[0]
			if tc.wantCreds {
				assert.Equal(t, "DPoP tok-1", sent.Header.Get("Authorization"))
				assert.NotEmpty(t, sent.Header.Get("DPoP"))
				assert.Equal(t, 1, tokens.Calls())
			} else {
				assert.Same(t, hop, sent, "passed to Base unchanged")
				assert.Empty(t, sent.Header.Values("Authorization"))
				assert.Empty(t, sent.Header.Values("DPoP"))
				assert.Equal(t, 0, tokens.Calls(), "no token is asked for")
			}
		})
	}
}

func TestTransportTokenSourceError(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), nil)
	boom := errors.New("token endpoint unavailable")
	tokens := newRTTokens("tok-1")
	tokens.err = boom
	tr := &dpop.Transport{Proofer: p, Tokens: tokens}

	body := &rtBody{Reader: strings.NewReader("data")}
	req, err := http.NewRequest(http.MethodPost, api.URL("/x"), body)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}

	assert.Nil(t, resp)
	assert.ErrorIs(t, err, boom)
	assert.Empty(t, api.Hits(), "nothing is sent without a token")
	assert.True(t, body.closed.Load(), "the RoundTripper contract: the body is closed on errors too")
}

func TestTransportProoferError(t *testing.T) {
	base := &rtRecorder{}
	tr := &dpop.Transport{Base: base, Proofer: newRTProofer(t), Tokens: newRTTokens("tok-1")}
	req, err := http.NewRequest(http.MethodGet, "https://files.example.org/x", nil)
	require.NoError(t, err)
	req.Method = "GE T" // not an HTTP method token: no proof can be made

	_, err = tr.RoundTrip(req)
	assert.ErrorIs(t, err, dpop.ErrInvalidProofInput)
	assert.Empty(t, base.reqs)
}

func TestTransportContextCanceled(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), nil)
	tr := &dpop.Transport{Proofer: p, Tokens: newRTTokens("tok-1")}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.URL("/x"), nil)
	require.NoError(t, err)

	_, err = tr.RoundTrip(req)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, api.Hits())
}

func TestTransportRefusesCallerCredentials(t *testing.T) {
	tests := []struct {
		name string
		set  func(h http.Header)
	}{
		{"Authorization", func(h http.Header) { h.Set("Authorization", "Bearer secret-from-elsewhere") }},
		{"DPoP", func(h http.Header) { h.Set("DPoP", "some.proof.value") }},
		{"non-canonical key", func(h http.Header) { h["DPOP"] = []string{"some.proof.value"} }},
		{"empty Authorization", func(h http.Header) { h["Authorization"] = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := &rtRecorder{}
			tokens := newRTTokens("tok-1")
			tr := &dpop.Transport{Base: base, Proofer: newRTProofer(t), Tokens: tokens}
			req, err := http.NewRequest(http.MethodGet, "https://api.example.org/x", nil)
			require.NoError(t, err)
			tc.set(req.Header)

			resp, err := tr.RoundTrip(req)
			assert.Nil(t, resp)
			assert.ErrorIs(t, err, dpop.ErrRequestHasCredentials)
			assert.NotContains(t, err.Error(), "secret-from-elsewhere")
			assert.NotContains(t, err.Error(), "some.proof.value")
			assert.Empty(t, base.reqs)
			assert.Equal(t, 0, tokens.Calls())
		})
	}
}

func TestTransportConfigRequired(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "https://api.example.org/x", nil)
	require.NoError(t, err)
	for _, tr := range []*dpop.Transport{
		{Tokens: newRTTokens("t")},
		{Proofer: newRTProofer(t)},
	} {
		_, err := tr.RoundTrip(req)
		assert.ErrorIs(t, err, dpop.ErrTransportConfig)
	}
}

func TestTransportConcurrent(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, _ int) {
		if h.Nonce() != "R1" {
			rtNonceChallenge(w, "R1")
			return
		}
		_, _ = w.Write(h.Body)
	})
	tokens := newRTTokens("tok-1")
	client := dpop.NewClient(&dpop.Transport{Proofer: p, Tokens: tokens})

	const n = 50
	var wg sync.WaitGroup
	statuses := make([]int, n)
	bodies := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(api.URL("/echo"), "text/plain", strings.NewReader(fmt.Sprint("msg-", i)))
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			statuses[i], bodies[i], errs[i] = resp.StatusCode, string(b), err
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, http.StatusOK, statuses[i])
		assert.Equal(t, fmt.Sprint("msg-", i), bodies[i])
	}
	hits := len(api.Hits())
	assert.GreaterOrEqual(t, hits, n+1, "at least one request met the nonce challenge")
	assert.LessOrEqual(t, hits, 2*n, "never more than one nonce retry each")
	assert.Equal(t, n, tokens.Calls())
}

func TestTransportNoncesPerOrigin(t *testing.T) {
	p := newRTProofer(t)
	serverWithNonce := func(nonce string) *rtAPI {
		return newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, _ int) {
			if h.Nonce() != nonce {
				rtNonceChallenge(w, nonce)
				return
			}
			_, _ = io.WriteString(w, "ok")
		})
	}
	a, b := serverWithNonce("A1"), serverWithNonce("B1")
	nonces := dpop.NewNonceStore()
	client := dpop.NewClient(&dpop.Transport{Proofer: p, Tokens: newRTTokens("tok-1"), Nonces: nonces})
	get := func(api *rtAPI) {
		t.Helper()
		resp, err := client.Get(api.URL("/x"))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	get(a)
	get(b)
	get(a)
	get(b)

	aHits, bHits := a.Hits(), b.Hits()
	require.Len(t, aHits, 3)
	require.Len(t, bHits, 3)
	assert.Equal(t, []string{"", "A1", "A1"}, []string{aHits[0].Nonce(), aHits[1].Nonce(), aHits[2].Nonce()})
	assert.Equal(t, []string{"", "B1", "B1"}, []string{bHits[0].Nonce(), bHits[1].Nonce(), bHits[2].Nonce()},
		"B never sees A's nonce")
	ua, err := url.Parse(a.URL("/"))
	require.NoError(t, err)
	ub, err := url.Parse(b.URL("/"))
	require.NoError(t, err)
	assert.Equal(t, "A1", nonces.NonceFor(ua))
	assert.Equal(t, "B1", nonces.NonceFor(ub))
}

// rtNonceRace is a Base whose 401 bodies, when drained (after the Transport has recorded the
// challenge's nonce and before it signs the retry), record another nonce for the same origin,
// as a concurrent response from that origin would.
type rtNonceRace struct {
	nonces *dpop.NonceStore
	other  string
}

func (b rtNonceRace) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	resp.Body = &rtRaceBody{ReadCloser: resp.Body, race: func() {
		b.nonces.Observe(req.URL, http.Header{"Dpop-Nonce": {b.other}})
	}}
	return resp, nil
}

type rtRaceBody struct {
	io.ReadCloser
	once sync.Once
	race func()
}

func (b *rtRaceBody) Read(p []byte) (int, error) { b.once.Do(b.race); return b.ReadCloser.Read(p) }
func (b *rtRaceBody) Close() error               { b.once.Do(b.race); return b.ReadCloser.Close() }

// The nonce retry answers the challenge it got, not whatever the shared store holds when the
// retry is signed.
func TestTransportNonceRetrySignsTheChallengesNonce(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), func(w http.ResponseWriter, h rtHit, n int) {
		if h.Nonce() != "C1" {
			rtNonceChallenge(w, "C1")
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	nonces := dpop.NewNonceStore()
	tr := &dpop.Transport{Base: rtNonceRace{nonces: nonces, other: "OTHER"}, Proofer: p, Tokens: newRTTokens("tok-1"), Nonces: nonces}

	req, err := http.NewRequest(http.MethodGet, api.URL("/x"), nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	hits := api.Hits()
	require.Len(t, hits, 2)
	assert.Empty(t, hits[0].Nonce())
	assert.Equal(t, "C1", hits[1].Nonce(), "the retry carries the challenge's nonce")
	u, err := url.Parse(api.URL("/"))
	require.NoError(t, err)
	assert.Equal(t, "OTHER", nonces.NonceFor(u), "the race happened: the store held another nonce when the retry was signed")
}

// A token crosses the network over https only; plain http is for loopback addresses.
func TestTransportRefusesPlainHTTPOffLoopback(t *testing.T) {
	tests := []struct {
		url  string
		sent bool
	}{
		{"https://api.example.org/x", true},
		{"HTTPS://api.example.org/x", true},
		{"http://127.0.0.1:8080/x", true},
		{"http://127.9.8.7/x", true},
		{"http://[::1]:8080/x", true},
		{"http://localhost:8080/x", true},
		{"http://LocalHost/x", true},
		{"http://api.example.org/x", false},
		{"HTTP://api.example.org/x", false},
		{"http://10.0.0.1/x", false},
		{"http://128.0.0.1/x", false},
		{"http://[::2]/x", false},
		{"http://[::ffff:10.0.0.1]/x", false},
		{"http://localhost.example.org/x", false},
		{"http://127.0.0.1.nip.io/x", false},
		{"ftp://127.0.0.1/x", false},
		{"ws://localhost/x", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			base := &rtRecorder{}
			tokens := newRTTokens("tok-1")
			tr := &dpop.Transport{Base: base, Proofer: newRTProofer(t), Tokens: tokens}
			u, err := url.Parse(tc.url)
			require.NoError(t, err)
			body := &rtBody{Reader: strings.NewReader("payload")}
			req := &http.Request{Method: http.MethodPost, URL: u, Header: http.Header{}, Body: body}

			resp, err := tr.RoundTrip(req)
			if tc.sent {
				require.NoError(t, err)
				resp.Body.Close()
				require.Len(t, base.reqs, 1)
				assert.Equal(t, "DPoP tok-1", base.reqs[0].Header.Get("Authorization"))
				return
			}
			require.ErrorIs(t, err, dpop.ErrInsecureURL)
			assert.NotContains(t, err.Error(), "tok-1")
			assert.Empty(t, base.reqs, "nothing is sent")
			assert.Zero(t, tokens.Calls(), "no token is asked for")
			assert.True(t, body.closed.Load(), "the RoundTripper contract: the body is closed on errors too")
		})
	}
}

// The refusal holds through a real client and server: a plain-http server that does not look
// like a loopback address (a name resolved by a custom dialer to the local test server) never
// sees the request.
func TestTransportInsecureURLReachesNoServer(t *testing.T) {
	p := newRTProofer(t)
	api := newRTAPI(t, p.Thumbprint(), nil)
	addr := api.srv.Listener.Addr().String()
	base := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(base.CloseIdleConnections)
	client := dpop.NewClient(&dpop.Transport{Base: base, Proofer: p, Tokens: newRTTokens("tok-1")})

	_, err := client.Get("http://api.example.org/x")
	require.ErrorIs(t, err, dpop.ErrInsecureURL)
	assert.Empty(t, api.Hits())

	resp, err := base.RoundTrip(mustRequest(t, "http://api.example.org/x"))
	require.NoError(t, err, "precondition: the name does reach the server without the Transport")
	resp.Body.Close()
	assert.Len(t, api.Hits(), 1)
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	return req
}

func TestNewClientHasTimeout(t *testing.T) {
	client := dpop.NewClient(&dpop.Transport{Proofer: newRTProofer(t), Tokens: newRTTokens("tok-1")})
	assert.Equal(t, dpop.DefaultClientTimeout, client.Timeout)
	assert.Equal(t, 30*time.Second, dpop.DefaultClientTimeout)
}
