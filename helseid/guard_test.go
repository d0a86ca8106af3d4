package helseid_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// guardFixture: helseidtest issues tokens; an httptest API is protected by a Guard.
type guardFixture struct {
	fixture
	api      *httptest.Server
	guard    *helseid.Guard
	reached  atomic.Int32
	lastErr  atomic.Pointer[helseid.AuthError]
	tokenReq helseid.ClientCredentialsRequest
}

func newGuardFixture(t *testing.T, mutate func(*helseid.GuardConfig)) *guardFixture {
	t.Helper()
	g := &guardFixture{fixture: newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant),
		tokenReq: helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}}
	cfg := helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{
		Issuer: g.srv.Issuer(), Audience: g.srv.APIAudience(), HTTPClient: g.srv.Client(),
	}}
	if mutate != nil {
		mutate(&cfg)
	}
	guard, err := helseid.NewGuard(cfg)
	require.NoError(t, err)
	t.Cleanup(guard.Close)
	g.guard = guard
	g.api = httptest.NewServer(guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.reached.Add(1)
		claims, ok := helseid.ClaimsFromContext(r.Context())
		if assert.True(t, ok) {
			_, _ = io.WriteString(w, claims.ClientID+" "+claims.Audience)
		}
	}), func(_ *http.Request, e *helseid.AuthError) { g.lastErr.Store(e) }))
	t.Cleanup(g.api.Close)
	return g
}

// signed builds a request to the API with the client's token and a proof by proofer.
func (g *guardFixture) signed(t *testing.T, method, target string, proofer *dpop.Proofer, scheme string) *http.Request {
	t.Helper()
	tok, err := g.client.Token(context.Background(), g.tokenReq)
	require.NoError(t, err)
	req, err := http.NewRequest(method, target, nil)
	require.NoError(t, err)
	proof, err := proofer.Proof(method, req.URL, "", tok.AccessToken)
	require.NoError(t, err)
	req.Header.Set("Authorization", scheme+" "+tok.AccessToken)
	req.Header.Set("DPoP", proof)
	return req
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestGuardAcceptsDPoPClient(t *testing.T) {
	g := newGuardFixture(t, nil)
	api, err := g.client.HTTPClient(g.tokenReq)
	require.NoError(t, err)
	resp, err := api.Get(g.api.URL + "/patients")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "client-1 nhn:helseidtest-api", string(body))
}

// The client's token is verified on its first request only; later requests with it pay for
// their new proof, and a replayed proof is still refused.
func TestGuardVerifiesATokenOnce(t *testing.T) {
	g := newGuardFixture(t, nil)
	proofer := g.client.Proofer()
	for range 3 {
		resp, _ := do(t, g.signed(t, http.MethodGet, g.api.URL+"/patients", proofer, "DPoP"))
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	validator := helseid.GuardValidator(g.guard)
	assert.EqualValues(t, 1, helseid.Verifications(validator))
	assert.Equal(t, 1, helseid.RememberedTokens(validator))

	replayed := g.signed(t, http.MethodGet, g.api.URL+"/patients", proofer, "DPoP")
	resp, _ := do(t, replayed)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	again := replayed.Clone(context.Background())
	resp, _ = do(t, again)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the token is remembered, the proof is not")
}

func TestGuardRefusals(t *testing.T) {
	g := newGuardFixture(t, nil)
	own := g.client.Proofer()
	other, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		code   string
	}{
		{"no credentials", func() *http.Request { r, _ := http.NewRequest("GET", g.api.URL+"/x", nil); return r }, 401, ""},
		{"bearer scheme", func() *http.Request { return g.signed(t, "GET", g.api.URL+"/x", own, "Bearer") }, 401, "invalid_token"},
		{"lower-case dpop scheme is fine", func() *http.Request { return g.signed(t, "GET", g.api.URL+"/x", own, "dpop") }, 200, ""},
		{"two authorization headers", func() *http.Request {
			r := g.signed(t, "GET", g.api.URL+"/x", own, "DPoP")
			r.Header.Add("Authorization", "DPoP x")
			return r
		}, 400, "invalid_request"},
		{"token in the url", func() *http.Request {
			return g.signed(t, "GET", g.api.URL+"/x?access_token=abc", own, "DPoP")
		}, 400, "invalid_request"},
		{"garbage token", func() *http.Request {
			r := g.signed(t, "GET", g.api.URL+"/x", own, "DPoP")
			r.Header.Set("Authorization", "DPoP abc.def.ghi")
			return r
		}, 401, "invalid_token"},
		{"no proof", func() *http.Request {
			r := g.signed(t, "GET", g.api.URL+"/x", own, "DPoP")
			r.Header.Del("DPoP")
			return r
		}, 401, "invalid_dpop_proof"},
		{"proof for another method", func() *http.Request {
			r := g.signed(t, "POST", g.api.URL+"/x", own, "DPoP")
			r.Method = "GET"
			return r
		}, 401, "invalid_dpop_proof"},
		{"proof for another path", func() *http.Request {
			r := g.signed(t, "GET", g.api.URL+"/other", own, "DPoP")
			r.URL.Path = "/x"
			return r
		}, 401, "invalid_dpop_proof"},
		{"proof by another key", func() *http.Request { return g.signed(t, "GET", g.api.URL+"/x", other, "DPoP") }, 401, "invalid_token"},
		{"proof for another token (ath)", func() *http.Request {
			r := g.signed(t, "GET", g.api.URL+"/x", own, "DPoP")
			proof, _ := own.Proof("GET", r.URL, "", "some-other-token")
			r.Header.Set("DPoP", proof)
			return r
		}, 401, "invalid_dpop_proof"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := g.reached.Load()
			resp, body := do(t, tc.req())
			assert.Equal(t, tc.status, resp.StatusCode)
			if tc.status == 200 {
				return
			}
			assert.Equal(t, before, g.reached.Load(), "the handler is not reached")
			challenge := resp.Header.Get("WWW-Authenticate")
			if tc.code == "" {
				assert.True(t, strings.HasPrefix(challenge, `DPoP algs="`), challenge)
				assert.NotContains(t, challenge, "error=")
			} else {
				assert.True(t, strings.HasPrefix(challenge, `DPoP error="`+tc.code+`", algs="`), challenge)
			}
			assert.NotContains(t, challenge, "error_description", "no detail beyond the error code")
			assert.NotContains(t, body, "jkt")
			if e := g.lastErr.Load(); e != nil && tc.code != "" {
				assert.Equal(t, tc.code, e.Code)
			}
		})
	}
}

func TestGuardRefusesReplay(t *testing.T) {
	g := newGuardFixture(t, nil)
	req := g.signed(t, "GET", g.api.URL+"/x", g.client.Proofer(), "DPoP")
	resp, _ := do(t, req)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	again, err := http.NewRequest("GET", g.api.URL+"/x", nil)
	require.NoError(t, err)
	again.Header = req.Header.Clone()
	resp, _ = do(t, again)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_dpop_proof"`)
}

func TestGuardNonceWithTransport(t *testing.T) {
	nonces, err := dpop.NewNonceSource([]byte(strings.Repeat("k", 32)), 0, nil)
	require.NoError(t, err)
	g := newGuardFixture(t, func(c *helseid.GuardConfig) { c.DPoP.Nonces = nonces })
	req := g.signed(t, "GET", g.api.URL+"/x", g.client.Proofer(), "DPoP")
	resp, _ := do(t, req)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`)
	assert.NotEmpty(t, resp.Header.Get("DPoP-Nonce"))

	api, err := g.client.HTTPClient(g.tokenReq)
	require.NoError(t, err)
	resp, err = api.Get(g.api.URL + "/x")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the DPoP client answers the nonce challenge")
}

func TestGuardScopeAndOutage(t *testing.T) {
	g := newGuardFixture(t, func(c *helseid.GuardConfig) { c.RequiredScopes = []string{"nhn:helseidtest-api/write"} })
	resp, _ := do(t, g.signed(t, "GET", g.api.URL+"/x", g.client.Proofer(), "DPoP"))
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)

	// A guard whose issuer cannot be reached answers 503, not 401.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	guard, err := helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{Issuer: down.URL, Audience: "nhn:helseidtest-api"}})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	guard.Middleware(http.NotFoundHandler(), nil).ServeHTTP(rec, g.signed(t, "GET", "http://api.example/x", g.client.Proofer(), "DPoP"))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
}

// TestGuardConcurrentReplay sends one request's headers from many goroutines at once: the
// handler is reached exactly once.
func TestGuardConcurrentReplay(t *testing.T) {
	g := newGuardFixture(t, nil)
	first := g.signed(t, "GET", g.api.URL+"/x", g.client.Proofer(), "DPoP")
	const n = 32
	statuses := make(chan int, n)
	start := make(chan struct{})
	for range n {
		go func() {
			req, err := http.NewRequest("GET", g.api.URL+"/x", nil)
			if err != nil {
				statuses <- 0
				return
			}
			req.Header = first.Header.Clone()
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			_ = resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	close(start)
	counts := map[int]int{}
	for range n {
		counts[<-statuses]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 1, http.StatusUnauthorized: n - 1}, counts)
	assert.Equal(t, int32(1), g.reached.Load())
}

type downReplayStore struct{}

func (downReplayStore) CheckAndSet(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("redis: i/o timeout")
}

func TestGuardReplayStoreDownAnswers503(t *testing.T) {
	g := newGuardFixture(t, func(c *helseid.GuardConfig) { c.DPoP.Replay = downReplayStore{} })
	resp, body := do(t, g.signed(t, "GET", g.api.URL+"/x", g.client.Proofer(), "DPoP"))
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("WWW-Authenticate"), "the client is not to blame")
	assert.NotContains(t, body, "redis")
	assert.Zero(t, g.reached.Load())
}

func TestGuardDoesNotLogTheAuthorizationValue(t *testing.T) {
	g := newGuardFixture(t, nil)
	req := g.signed(t, "GET", g.api.URL+"/x", g.client.Proofer(), "DPoP")
	req.Header.Set("Authorization", "s3cr3t-api-key-value x")
	resp, _ := do(t, req)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	e := g.lastErr.Load()
	require.NotNil(t, e)
	assert.NotContains(t, e.Error(), "s3cr3t")
}

// A remembered token's claims are shared by the Guard's requests, so what a handler or a
// caller of Authenticate does to the copy it is given must not reach the next request; and
// the context carries the token for on-behalf-of calls without printing it.
func TestGuardClaimsAreTheCallersOwn(t *testing.T) {
	g := newGuardFixture(t, nil)
	proofer := g.client.Proofer()
	var subjects []string
	api := httptest.NewServer(g.guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, ok := helseid.ClaimsFromContext(r.Context())
		require.True(t, ok)
		subjects = append(subjects, claims.Subject)
		claims.Subject, claims.JKT, claims.Expiry = "changed by a handler", "", time.Time{}
		again, _ := helseid.ClaimsFromContext(r.Context())
		assert.Same(t, claims, again, "one request's claims are one value")
		printed := fmt.Sprintf("%v %+v %#v %s", r.Context(), r.Context(), r.Context(), r.Context())
		assert.NotContains(t, printed, strings.Split(r.Header.Get("Authorization"), " ")[1][:40])
		assert.NotContains(t, printed, "changed by a handler")
	}), nil))
	t.Cleanup(api.Close)
	for range 2 {
		resp, _ := do(t, g.signed(t, http.MethodGet, api.URL+"/patients", proofer, "DPoP"))
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.Len(t, subjects, 2)
	assert.Equal(t, subjects[0], subjects[1])
	assert.NotEqual(t, "changed by a handler", subjects[1])

	r := g.signed(t, http.MethodGet, api.URL+"/patients", proofer, "DPoP")
	r.URL.Path = "/patients" // Authenticate sees the request as the server would
	r.Host = r.URL.Host
	claims, err := g.guard.Authenticate(r)
	require.NoError(t, err)
	claims.Subject = "changed by a caller"
	resp, _ := do(t, g.signed(t, http.MethodGet, api.URL+"/patients", proofer, "DPoP"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, subjects[0], subjects[2])
}

// The token a Guard accepted is in its handler's context for on-behalf-of calls, with its exp.
func TestGuardContextCarriesTheSubjectToken(t *testing.T) {
	g := newGuardFixture(t, nil)
	var got string
	var expiry time.Time
	api := httptest.NewServer(g.guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, expiry = helseid.SubjectTokenFromContext(r.Context())
	}), nil))
	t.Cleanup(api.Close)
	req := g.signed(t, http.MethodGet, api.URL+"/patients", g.client.Proofer(), "DPoP")
	resp, _ := do(t, req)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, strings.TrimPrefix(req.Header.Get("Authorization"), "DPoP "), got)
	assert.False(t, expiry.IsZero())
}
