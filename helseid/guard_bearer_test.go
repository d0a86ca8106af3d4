package helseid_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bearerFixture: an API behind a Guard with AllowBearer as allow says, the DPoP client of
// guardFixture, and a client allowed Bearer tokens.
func bearerFixture(t *testing.T, allow bool, mutate func(*helseid.GuardConfig)) (*guardFixture, *helseid.Client) {
	t.Helper()
	g := newGuardFixture(t, func(cfg *helseid.GuardConfig) {
		cfg.AllowBearer = allow
		if mutate != nil {
			mutate(cfg)
		}
	})
	return g, legacyClient(t, g.srv)
}

func TestBearerHTTPClientThroughGuard(t *testing.T) {
	g, legacy := bearerFixture(t, true, nil)
	api, err := legacy.BearerHTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	require.NoError(t, err)
	resp, err := api.Get(g.api.URL + "/patients")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "legacy nhn:helseidtest-api", string(body))
	assert.Empty(t, resp.Request.Header.Get("Authorization"), "the response's request is the caller's, without the token")

	dpopAPI, err := g.client.HTTPClient(g.tokenReq)
	require.NoError(t, err)
	resp, err = dpopAPI.Get(g.api.URL + "/patients")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "DPoP still works where Bearer is allowed")
}

// challenges returns the WWW-Authenticate values without the DPoP challenge's algs parameter.
func challenges(resp *http.Response) []string {
	var out []string
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if i := strings.Index(v, "algs="); i >= 0 {
			v = strings.TrimRight(v[:i], ", ")
		}
		out = append(out, v)
	}
	return out
}

func TestGuardBearer(t *testing.T) {
	for _, allow := range []bool{false, true} {
		g, legacy := bearerFixture(t, allow, nil)
		unbound, err := legacy.Token(context.Background(), bearerReq)
		require.NoError(t, err)
		bound, err := g.client.Token(context.Background(), g.tokenReq)
		require.NoError(t, err)
		withAuth := func(scheme, token string, proof bool) *http.Request {
			r, err := http.NewRequest(http.MethodGet, g.api.URL+"/x", nil)
			require.NoError(t, err)
			r.Header.Set("Authorization", scheme+" "+token)
			if proof {
				p, err := g.client.Proofer().Proof(http.MethodGet, r.URL, "", token)
				require.NoError(t, err)
				r.Header.Set("DPoP", p)
			}
			return r
		}
		type want struct {
			status     int
			challenges []string // WWW-Authenticate values, in order
		}
		dpopChallenge := func(code string) string {
			if code == "" {
				return `DPoP`
			}
			return `DPoP error="` + code + `"`
		}
		cases := []struct {
			name        string
			req         *http.Request
			off, on     want
			offCode     string
			onCode      string
			reachesNext bool
		}{
			{name: "unbound bearer token", req: withAuth("Bearer", unbound.AccessToken, false),
				off: want{401, []string{dpopChallenge("invalid_token")}}, offCode: "invalid_token",
				on: want{200, nil}, reachesNext: true},
			{name: "downgrade: a dpop-bound token sent as bearer", req: withAuth("Bearer", bound.AccessToken, false),
				off: want{401, []string{dpopChallenge("invalid_token")}}, offCode: "invalid_token",
				on: want{401, []string{dpopChallenge(""), `Bearer error="invalid_token"`}}, onCode: "invalid_token"},
			{name: "downgrade with the proof alongside", req: withAuth("Bearer", bound.AccessToken, true),
				off: want{401, []string{dpopChallenge("invalid_token")}}, offCode: "invalid_token",
				on: want{400, []string{dpopChallenge(""), `Bearer error="invalid_request"`}}, onCode: "invalid_request"},
			{name: "unbound token sent as dpop", req: withAuth("DPoP", unbound.AccessToken, true),
				off: want{401, []string{dpopChallenge("invalid_token")}}, offCode: "invalid_token",
				on: want{401, []string{dpopChallenge("invalid_token"), "Bearer"}}, onCode: "invalid_token"},
			{name: "no credentials", req: func() *http.Request { r, _ := http.NewRequest(http.MethodGet, g.api.URL+"/x", nil); return r }(),
				off: want{401, []string{dpopChallenge("")}}, on: want{401, []string{dpopChallenge(""), "Bearer"}}},
		}
		for _, tc := range cases {
			t.Run(tc.name+map[bool]string{false: " (bearer not allowed)", true: " (AllowBearer)"}[allow], func(t *testing.T) {
				g.lastErr.Store(nil)
				before := g.reached.Load()
				w, code := tc.off, tc.offCode
				if allow {
					w, code = tc.on, tc.onCode
				}
				resp, _ := do(t, tc.req)
				assert.Equal(t, w.status, resp.StatusCode)
				assert.Equal(t, w.challenges, challenges(resp))
				if w.status == 200 {
					assert.Equal(t, before+1, g.reached.Load())
					return
				}
				assert.Equal(t, before, g.reached.Load(), "refused before the handler")
				if e := g.lastErr.Load(); assert.NotNil(t, e) {
					assert.Equal(t, code, e.Code)
				}
			})
		}
	}
}

func TestGuardBearerInsufficientScope(t *testing.T) {
	g, legacy := bearerFixture(t, true, func(cfg *helseid.GuardConfig) { cfg.RequiredScopes = []string{"nhn:helseidtest-api/write"} })
	tok, err := legacy.Token(context.Background(), bearerReq)
	require.NoError(t, err)
	r, err := http.NewRequest(http.MethodGet, g.api.URL+"/x", nil)
	require.NoError(t, err)
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, _ := do(t, r)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, []string{`DPoP`, `Bearer error="insufficient_scope"`}, challenges(resp))
	var aerr *helseid.AuthError
	e := g.lastErr.Load()
	require.NotNil(t, e)
	assert.True(t, errors.As(error(e), &aerr))
	assert.Equal(t, "insufficient_scope", aerr.Code)
}
