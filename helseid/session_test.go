package helseid_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/helseid-go/sdk/resource"
)

const loginScopeWithAPI = loginScope + " " + apiScope

// loggedIn logs the test user in, asking for three APIs, and starts a session that records
// every persisted refresh token.
func (f *loginFixture) loggedIn(t *testing.T) (*helseid.UserSession, *[]string) {
	t.Helper()
	var mu sync.Mutex
	persisted := &[]string{}
	s := f.loggedInWith(t, func(_ context.Context, rt string, exp time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		*persisted = append(*persisted, rt)
		assert.False(t, exp.IsZero())
		return nil
	})
	return s, persisted
}

// loggedInWith logs the test user in, asking for three APIs, and starts a session that
// persists with persist.
func (f *loginFixture) loggedInWith(t *testing.T, persist resource.PersistFunc) *helseid.UserSession {
	t.Helper()
	authURL, st, err := f.client.StartLogin(context.Background(), helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScopeWithAPI,
		Resources: []string{"nhn:service-a", "nhn:service-b", "nhn:helseidtest-api"}})
	require.NoError(t, err)
	res, err := f.client.FinishLogin(context.Background(), f.browse(t, authURL), st)
	require.NoError(t, err)
	s, err := f.client.NewUserSession(context.Background(), res, helseid.SessionOptions{Persist: persist})
	require.NoError(t, err)
	return s
}

// newClockedLoginFixture shares one fake clock between helseidtest and the client.
func newClockedLoginFixture(t *testing.T, opts helseidtest.Options) (*loginFixture, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(time.Now())
	opts.Now = clock.Now
	return newLoginFixtureWith(t, opts, func(cfg *helseid.Config) { cfg.Now = clock.Now }), clock
}

func TestUserSessionTokenPerResource(t *testing.T) {
	f := newLoginFixture(t, nil)
	s, persisted := f.loggedIn(t)
	before := f.srv.Stats().TokenRequests

	a, err := s.Token(context.Background(), "nhn:service-a")
	require.NoError(t, err)
	assert.Equal(t, before, f.srv.Stats().TokenRequests, "the login's token serves the first resource")
	assert.Equal(t, "nhn:service-a", claimsOf(t, a.AccessToken)["aud"])

	first, _ := s.RefreshToken()
	b, err := s.Token(context.Background(), "nhn:service-b")
	require.NoError(t, err)
	bc := claimsOf(t, b.AccessToken)
	assert.Equal(t, "nhn:service-b", bc["aud"], "exactly one audience per token")
	assert.Equal(t, helseidtest.DefaultTestUser().PID, bc["helseid://claims/identity/pid"])
	assert.Equal(t, map[string]any{"jkt": f.client.Proofer().Thumbprint()}, bc["cnf"])
	newest, _ := s.RefreshToken()
	assert.NotEqual(t, first, newest, "the refresh token rotated")
	assert.Equal(t, []string{newest}, *persisted, "the new refresh token was persisted")

	// The session's DPoP client calls the demo API (behind helseid.Guard) with its own token.
	resp, err := s.HTTPClient("nhn:helseidtest-api").Get(f.srv.APIURL())
	require.NoError(t, err)
	defer resp.Body.Close()
	var seen helseidtest.APIResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&seen))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "nhn:helseidtest-api", seen.Audience)
	assert.Equal(t, bc["sub"], seen.Subject, "the user is the subject")
}

// Many goroutines needing new tokens at once: one refresh per resource, run one after the
// other, so the newest refresh token always survives (a reused one would revoke the grant).
func TestUserSessionConcurrentRefresh(t *testing.T) {
	f := newLoginFixture(t, nil)
	s, persisted := f.loggedIn(t)
	before := f.srv.Stats().TokensIssued
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res := []string{"nhn:service-b", "nhn:helseidtest-api"}[i%2]
			tok, err := s.Token(context.Background(), res)
			if assert.NoError(t, err) {
				assert.Equal(t, res, claimsOf(t, tok.AccessToken)["aud"])
			}
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, before+2, f.srv.Stats().TokensIssued, "one refresh per resource")
	assert.Len(t, *persisted, 2)
	newest, _ := s.RefreshToken()
	assert.Equal(t, (*persisted)[1], newest)
	// The newest refresh token still works.
	_, err := s.SwitchOrganization(context.Background(), helseid.Organization{Child: "920773230"}, "nhn:service-b")
	require.NoError(t, err)
}

func TestUserSessionFailedRefreshKeepsTheRefreshToken(t *testing.T) {
	f := newLoginFixture(t, nil)
	s, _ := f.loggedIn(t)
	old, _ := s.RefreshToken()
	var fail atomic.Bool
	fail.Store(true)
	f.srv.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		if fail.Load() {
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	_, err := s.Token(context.Background(), "nhn:service-b")
	require.Error(t, err)
	kept, _ := s.RefreshToken()
	assert.Equal(t, old, kept)
	fail.Store(false)
	// The session answers the failure from memory for a moment; a session resumed from the
	// kept refresh token shows it still works.
	resumed, err := f.client.ResumeUserSession(context.Background(), kept, time.Time{}, helseid.SessionOptions{})
	require.NoError(t, err)
	_, err = resumed.Token(context.Background(), "nhn:service-b")
	require.NoError(t, err, "the kept refresh token still works")
}

func TestUserSessionSwitchOrganization(t *testing.T) {
	f := newLoginFixture(t, nil)
	s, _ := f.loggedIn(t)
	tok, err := s.SwitchOrganization(context.Background(), helseid.Organization{Child: "920773230"}, "nhn:service-b")
	require.NoError(t, err)
	assert.Equal(t, "920773230", claimsOf(t, tok.AccessToken)[helseid.ClaimOrgNrChild])
	// The login's cached token (without the child) was dropped: the next one is new.
	a, err := s.Token(context.Background(), "nhn:service-a")
	require.NoError(t, err)
	assert.Equal(t, "920773230", claimsOf(t, a.AccessToken)[helseid.ClaimOrgNrChild])

	_, err = s.SwitchOrganization(context.Background(), helseid.Organization{Child: "123"}, "nhn:service-b")
	assert.ErrorIs(t, err, helseid.ErrInvalidRequestParams)
}

func TestUserSessionRefreshTokenExpiry(t *testing.T) {
	now := time.Now()
	f := newLoginFixture(t, nil)
	s, _ := f.loggedIn(t)
	rt, exp := s.RefreshToken()
	require.False(t, exp.IsZero())
	resumed, err := f.client.ResumeUserSession(context.Background(), rt, now.Add(-time.Second), helseid.SessionOptions{})
	require.NoError(t, err)
	before := f.requests.n.Load()
	_, err = resumed.Token(context.Background(), "nhn:service-b")
	assert.ErrorIs(t, err, resource.ErrRefreshTokenExpired)
	assert.Equal(t, before, f.requests.n.Load(), "no request with an expired refresh token")
}

func TestLogoutAndRevocation(t *testing.T) {
	f := newLoginFixture(t, nil)
	s, _ := f.loggedIn(t)
	logout, err := f.client.LogoutURL(context.Background(), s.IDToken(), "https://ehr.example/", "bye-state")
	require.NoError(t, err)
	u, err := url.Parse(logout)
	require.NoError(t, err)
	assert.Equal(t, f.srv.Issuer()+helseidtest.EndSessionPath, u.Scheme+"://"+u.Host+u.Path)
	browser := f.srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(logout)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "https://ehr.example/?state=bye-state", resp.Header.Get("Location"))
	_, err = s.Token(context.Background(), "nhn:service-b")
	assert.ErrorIs(t, err, helseid.ErrInvalidGrant, "the session ended at the server")

	s2, _ := f.loggedIn(t)
	rt, _ := s2.RefreshToken()
	require.NoError(t, f.client.RevokeRefreshToken(context.Background(), rt))
	_, err = s2.Token(context.Background(), "nhn:service-b")
	assert.ErrorIs(t, err, helseid.ErrInvalidGrant, "a revoked refresh token is refused")
}

// An organisation named at login travels in a signed request object at PAR; the login's tokens
// and the session's refreshes speak for it.
func TestLoginWithOrganizationInRequestObject(t *testing.T) {
	f := newLoginFixture(t, nil)
	authURL, st, err := f.client.StartLogin(context.Background(), helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope,
		Resources: []string{"nhn:service-a", "nhn:service-b"}, Organization: helseid.Organization{Child: "920773230"}})
	require.NoError(t, err)
	res, err := f.client.FinishLogin(context.Background(), f.browse(t, authURL), st)
	require.NoError(t, err)
	assert.Equal(t, "920773230", claimsOf(t, res.AccessToken.AccessToken)[helseid.ClaimOrgNrChild])
	s, err := f.client.NewUserSession(context.Background(), res, helseid.SessionOptions{})
	require.NoError(t, err)
	b, err := s.Token(context.Background(), "nhn:service-b")
	require.NoError(t, err)
	assert.Equal(t, "920773230", claimsOf(t, b.AccessToken)[helseid.ClaimOrgNrChild])

	_, _, err = f.client.StartLogin(context.Background(), helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope,
		Organization: helseid.Organization{Child: "12345"}})
	assert.ErrorIs(t, err, helseid.ErrInvalidRequestParams, "organisation numbers have 9 digits")
}

// An API refusing the session's token (401 invalid_token) makes the session's HTTP client get
// a new one with a refresh and retry once.
func TestUserSessionHTTPClientReplacesRefusedToken(t *testing.T) {
	f := newLoginFixture(t, nil)
	s, _ := f.loggedIn(t)
	var calls atomic.Int32
	var tokens []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens = append(tokens, r.Header.Get("Authorization"))
		if calls.Add(1) == 1 {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer api.Close()
	resp, err := s.HTTPClient("nhn:service-a").Get(api.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, tokens, 2)
	assert.NotEqual(t, tokens[0], tokens[1], "a new token after invalid_token")
}

// An API the login did not name is refused (invalid_target); the session's other APIs keep
// getting tokens at once, and the error names the refused API.
func TestUserSessionRefusedResourceBlocksNoOther(t *testing.T) {
	f := newLoginFixture(t, nil)
	s, _ := f.loggedIn(t)
	before := f.srv.Stats().TokenRequests
	_, refused := s.Token(context.Background(), "nhn:not-in-the-login")
	var oe *fapi.Error
	require.ErrorAs(t, refused, &oe)
	assert.Equal(t, "invalid_target", oe.Code)
	assert.Contains(t, refused.Error(), "nhn:not-in-the-login")

	b, err := s.Token(context.Background(), "nhn:service-b")
	require.NoError(t, err, "another API refreshes at once")
	assert.Equal(t, "nhn:service-b", claimsOf(t, b.AccessToken)["aud"])
	resp, err := s.HTTPClient("nhn:helseidtest-api").Get(f.srv.APIURL())
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	_, again := s.Token(context.Background(), "nhn:not-in-the-login")
	assert.Equal(t, refused, again, "the refusal is remembered for its own resource")
	assert.Equal(t, before+3, f.srv.Stats().TokenRequests, "one request per resource")
}

// While the refresh-token store is down, requests through the session's HTTP client make one
// refresh in all (not one per request): the session retries Persist with backoff and serves
// the held token once Persist succeeds.
func TestUserSessionPersistFailureRefreshesOnce(t *testing.T) {
	f, clock := newClockedLoginFixture(t, helseidtest.Options{})
	var mu sync.Mutex
	down, calls, saved := true, 0, ""
	s := f.loggedInWith(t, func(_ context.Context, rt string, _ time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if down {
			return assert.AnError
		}
		saved = rt
		return nil
	})
	before := f.srv.Stats()
	api := s.HTTPClient("nhn:helseidtest-api")
	const tries = 4
	for i := range tries {
		for range 3 { // within the backoff: no Persist, no request
			_, err := api.Get(f.srv.APIURL())
			require.ErrorIs(t, err, resource.ErrPersistFailed, "try %d", i)
		}
		mu.Lock()
		assert.Equal(t, i+1, calls, "try %d: one Persist per backoff", i)
		mu.Unlock()
		clock.Advance(30 * time.Second) // the longest backoff
	}
	after := f.srv.Stats()
	assert.Equal(t, before.TokenRequests+1, after.TokenRequests, "one refresh while Persist failed %d times", tries)
	assert.Equal(t, before.APIRequests, after.APIRequests, "no request without a token")

	mu.Lock()
	down = false
	mu.Unlock()
	resp, err := api.Get(f.srv.APIURL())
	require.NoError(t, err)
	var seen helseidtest.APIResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&seen))
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "nhn:helseidtest-api", seen.Audience)
	assert.Equal(t, before.TokenRequests+1, f.srv.Stats().TokenRequests, "the held token, no new refresh")
	newest, _ := s.RefreshToken()
	mu.Lock()
	assert.Equal(t, newest, saved, "the newest refresh token was persisted")
	mu.Unlock()
	_, err = s.Token(context.Background(), "nhn:service-b")
	require.NoError(t, err, "the persisted refresh token works")
}

// HelseID without expires_in: the session's tokens (the login's and each refresh's) live
// until their JWT exp, not forever.
func TestUserSessionTokenWithoutExpiresIn(t *testing.T) {
	f, clock := newClockedLoginFixture(t, helseidtest.Options{AccessTokenLifetime: 5 * time.Minute})
	f.srv.SetLoginFaults(helseidtest.LoginFaults{NoExpiresIn: true})
	s, _ := f.loggedIn(t)
	for _, res := range []string{"nhn:service-a", "nhn:service-b"} { // the login's, then a refresh's
		first, err := s.Token(context.Background(), res)
		require.NoError(t, err)
		before := f.srv.Stats().TokenRequests
		clock.Advance(4 * time.Minute)
		again, err := s.Token(context.Background(), res)
		require.NoError(t, err)
		assert.Equal(t, first.AccessToken, again.AccessToken, "%s: cached within its exp", res)
		clock.Advance(time.Minute)
		fresh, err := s.Token(context.Background(), res)
		require.NoError(t, err)
		assert.NotEqual(t, first.AccessToken, fresh.AccessToken, "%s: refreshed at its exp", res)
		assert.Equal(t, before+1, f.srv.Stats().TokenRequests, res)
	}
}
