package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/helseid-go/sdk/helseid"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func noEnv(string) string { return "" }

// startApp runs the app with stores and no configuration until the test ends, and returns
// its base URL.
func startApp(t *testing.T, stores Stores) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	baseURL := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, noEnv, stores, func(_, u string) { baseURL <- u }) }()
	var base string
	select {
	case base = <-baseURL:
	case err := <-done:
		cancel()
		t.Fatalf("run ended early: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})
	return base
}

// A browser with a cookie jar that follows redirects: login through helseidtest's auto-login,
// the page with the user and both APIs' answers, and logout through HelseID's end session.
func TestWebAppEndToEnd(t *testing.T) {
	base := startApp(t, Stores{})

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	get := func(path string) (*http.Response, string) {
		resp, err := browser.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	resp, body := get("/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, `href="/login"`)

	resp, body = get("/login") // → PAR, authorize (auto-login), callback, /me
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "/me", resp.Request.URL.Path)
	assert.Contains(t, body, "Logged in: Grønn Vits")
	assert.Contains(t, body, "pid: <code>06828399789</code>")
	for _, api := range []string{"nhn:demo-journal", "nhn:demo-prescriptions"} {
		assert.Contains(t, body, "200 OK {&#34;api&#34;:&#34;"+api+"&#34;,&#34;aud&#34;:&#34;"+api+"&#34;", "a token with that API's audience only")
	}
	assert.NotContains(t, body, "eyJ", "no token on the page")

	resp, err = browser.PostForm(base+"/logout", url.Values{})
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, "/", resp.Request.URL.Path, "back from HelseID's end session")
	assert.True(t, strings.HasPrefix(resp.Request.URL.String(), base))
	resp, body = get("/me")
	assert.Contains(t, body, `href="/login"`, "the session is gone")
	_ = resp
}

func TestSettings(t *testing.T) {
	_, err := settingsFrom(func(k string) string {
		return map[string]string{"HELSEID_ISSUER": "https://helseid-sts.test.nhn.no"}[k]
	})
	assert.ErrorContains(t, err, "incomplete configuration")
	_, err = settingsFrom(func(k string) string { return map[string]string{"HELSEID_RESOURCES": "nhn:a"}[k] })
	assert.Error(t, err)
	_, err = settingsFrom(func(k string) string { return map[string]string{"HELSEID_LISTEN": "8081"}[k] })
	assert.ErrorContains(t, err, "HELSEID_LISTEN must be host:port")
	s, err := settingsFrom(noEnv)
	require.NoError(t, err)
	assert.Empty(t, s.issuer)
}

// A login is bound to the browser that started it: its callback brought by another browser
// (login CSRF: an attacker's login finished in the victim's browser) is refused without using
// the login up, and the browser that started it still finishes it.
func TestCallbackOnlyInTheBrowserThatStartedTheLogin(t *testing.T) {
	base := startApp(t, Stores{})

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	starter := &http.Client{Jar: jar, CheckRedirect: noFollow}
	resp, err := starter.Get(base + "/login")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	// HelseID (helseidtest's auto-login) sends the browser back with the code.
	resp, err = (&http.Client{CheckRedirect: noFollow}).Get(resp.Header.Get("Location"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	callback := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(callback, base+"/callback?"), callback)

	other, err := cookiejar.New(nil) // a browser with a login of its own under way
	require.NoError(t, err)
	resp, err = (&http.Client{Jar: other, CheckRedirect: noFollow}).Get(base + "/login")
	require.NoError(t, err)
	_ = resp.Body.Close()
	resp, err = (&http.Client{Jar: other}).Get(callback)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "no login in progress in this browser")

	resp, err = (&http.Client{Jar: jar}).Get(callback)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, "/me", resp.Request.URL.Path)
	assert.Contains(t, string(body), "Logged in: Grønn Vits")
}

// failingDeletes is a session store whose DeleteSession fails while fail is set.
type failingDeletes struct {
	helseid.SessionStore
	fail atomic.Bool
}

func (s *failingDeletes) DeleteSession(ctx context.Context, id string) (*helseid.StoredSession, error) {
	if s.fail.Load() {
		return nil, errors.New("store unreachable")
	}
	return s.SessionStore.DeleteSession(ctx, id)
}

// A logout whose store delete fails leaves the user logged in everywhere: the app says so
// (503) and keeps the session cookie, and a second try logs out.
func TestLogoutFailureKeepsTheSession(t *testing.T) {
	store := &failingDeletes{SessionStore: helseid.NewMemorySessionStore(nil)}
	base := startApp(t, Stores{Sessions: store})
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(base + "/login")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, "/me", resp.Request.URL.Path)

	store.fail.Store(true)
	resp, err = browser.PostForm(base+"/logout", url.Values{})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, string(body), "still logged in")
	resp, err = browser.Get(base + "/me")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Contains(t, string(body), "Logged in:", "the cookie and the session are kept")

	store.fail.Store(false)
	resp, err = browser.PostForm(base+"/logout", url.Values{})
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, "/", resp.Request.URL.Path, "the second try logs out")
	resp, err = browser.Get(base + "/me")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Contains(t, string(body), `href="/login"`)
}
