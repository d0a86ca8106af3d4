package examples_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundRobin is the fleet's one public address: each request goes to the next instance, and
// the proxy remembers which instance served which path.
type roundRobin struct {
	mu       sync.Mutex
	backends []*url.URL
	next     int
	served   []served
}

type served struct {
	path     string
	instance int
}

func (p *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	i := p.next
	p.next = (p.next + 1) % len(p.backends)
	p.served = append(p.served, served{r.URL.Path, i})
	target := p.backends[i]
	p.mu.Unlock()
	(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}).ServeHTTP(w, r)
}

// log returns the requests served so far and forgets them.
func (p *roundRobin) log() []served {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.served
	p.served = nil
	return s
}

var listening = regexp.MustCompile(`webapp: listening on (\S+);`)

// startInstance runs the fleet webapp as a process with env, and returns the address it
// listens on and its output so far (read it after the test's requests).
func startInstance(t *testing.T, bin string, env []string) (addr string, output func() string) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, w, w
	require.NoError(t, cmd.Start())
	w.Close()
	var (
		mu  sync.Mutex
		out strings.Builder
	)
	ready := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		<-drained
		r.Close()
	})
	output = func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	select {
	case addr = <-ready:
	case <-drained:
		t.Fatalf("the instance ended before it listened:\n%s", output())
	case <-time.After(30 * time.Second):
		t.Fatalf("the instance did not listen within 30 s:\n%s", output())
	}
	return addr, output
}

// TestWebAppFleet builds the fleet webapp once and runs it as processes.
func TestWebAppFleet(t *testing.T) {
	bin := build(t, "./webapp")
	t.Run("login, pages and logout across two instances", func(t *testing.T) { testWebAppFleet(t, bin) })
	t.Run("development key said loudly", func(t *testing.T) { testWebAppDevelopmentKey(t, bin) })
	t.Run("bad settings refused", func(t *testing.T) { testWebAppBadSettings(t, bin) })
}

// testWebAppFleet runs two processes of the fleet webapp behind a round-robin proxy, sharing
// nothing but one Redis, against one helseidtest: a browser with a cookie jar logs in (PAR,
// auto-login, the callback on the other instance), loads its page with both APIs' tokens on
// alternate instances, and logs out, after which both instances refuse its session.
func testWebAppFleet(t *testing.T, bin string) {
	srv := helseidtest.NewServer(t)
	rs := redistest.Start(t)
	proxy := &roundRobin{}
	public := httptest.NewServer(proxy)
	t.Cleanup(public.Close)

	resources := []string{"nhn:demo-journal", "nhn:demo-prescriptions"}
	scopes := []string{"openid", "profile", "offline_access", "helseid://scopes/identity/pid", "helseid://scopes/identity/security_level"}
	for _, r := range resources {
		scopes = append(scopes, r+"/read")
	}
	clientJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr-fleet", OrgNumber: helseidtest.DefaultOrgNumber, Scopes: scopes,
		RedirectURIs: []string{public.URL + "/callback"}, PostLogoutRedirectURIs: []string{public.URL + "/"}})
	require.NoError(t, err)
	jwkFile := filepath.Join(t.TempDir(), "client.jwk")
	require.NoError(t, os.WriteFile(jwkFile, clientJWK, 0o600))
	// The instances seal under different keys, each holding the other's in
	// HELSEID_SESSION_OLD_KEYS, as halfway through a rotation's second rollout: every login and
	// session still opens on both.
	var sessionKeys [2]string
	for i := range sessionKeys {
		k := make([]byte, 32)
		_, err = rand.Read(k)
		require.NoError(t, err)
		sessionKeys[i] = base64.StdEncoding.EncodeToString(k)
	}
	env := append(os.Environ(),
		"HELSEID_ISSUER="+srv.Issuer(), "HELSEID_CLIENT_ID=ehr-fleet", "HELSEID_JWK_FILE="+jwkFile, "HELSEID_SCOPE="+strings.Join(scopes, " "),
		"HELSEID_REDIRECT_URI="+public.URL+"/callback", "HELSEID_RESOURCES="+strings.Join(resources, " "),
		"HELSEID_REDIS_URL="+rs.URL(), "HELSEID_LISTEN=127.0.0.1:0")

	var outputs []func() string
	for i := range 2 {
		addr, out := startInstance(t, bin, append(env[:len(env):len(env)],
			"HELSEID_SESSION_KEY="+sessionKeys[i], "HELSEID_SESSION_OLD_KEYS="+sessionKeys[1-i]))
		u, err := url.Parse("http://" + addr)
		require.NoError(t, err)
		proxy.backends = append(proxy.backends, u)
		outputs = append(outputs, out)
	}
	require.NotContains(t, outputs[0](), "DEVELOPMENT key", "the session key was given")

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := browser.Get(public.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	resp, body := get("/login") // → PAR, authorize (auto-login), callback, /me
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "/me", resp.Request.URL.Path)
	assert.Contains(t, body, "Logged in: Grønn Vits")
	for _, res := range resources {
		assert.Contains(t, body, res+": a token for "+res)
	}
	assert.NotContains(t, body, "eyJ", "no token on the page")
	hops := proxy.log()
	require.Len(t, hops, 3, "login, callback, me")
	assert.Equal(t, []string{"/login", "/callback", "/me"}, []string{hops[0].path, hops[1].path, hops[2].path})
	assert.NotEqual(t, hops[0].instance, hops[1].instance, "the callback lands on the other instance than the login")
	assert.NotEqual(t, hops[1].instance, hops[2].instance, "the session started on one instance is served by the other")

	for i := range 6 { // the page, with both APIs' tokens, on alternate instances
		resp, body = get("/me")
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Equal(t, "/me", resp.Request.URL.Path, "request %d: the session is known", i)
		for _, res := range resources {
			assert.Contains(t, body, res+": a token for "+res)
		}
	}
	hops = proxy.log()
	require.Len(t, hops, 6)
	for i := 1; i < len(hops); i++ {
		assert.NotEqual(t, hops[i-1].instance, hops[i].instance)
	}
	st := srv.Stats()
	assert.Zero(t, st.TokenErrors, "no refresh token presented twice")
	assert.EqualValues(t, 2, st.TokensIssued, "the code exchange and one refresh for the second API, for the whole fleet")

	sessionCookie := cookieNamed(jar, public.URL, "webapp_session")
	require.NotNil(t, sessionCookie)
	resp, err = browser.PostForm(public.URL+"/logout", url.Values{})
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, "/", resp.Request.URL.Path, "back from HelseID's end session")
	assert.True(t, strings.HasPrefix(resp.Request.URL.String(), public.URL))
	assert.Nil(t, cookieNamed(jar, public.URL, "webapp_session"), "the browser's cookie is cleared")

	// The old cookie, presented to each instance directly: both refuse the session.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, backend := range proxy.backends {
		req, err := http.NewRequest(http.MethodGet, backend.String()+"/me", nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: sessionCookie.Name, Value: sessionCookie.Value})
		resp, err := noFollow.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "instance %d", i)
		assert.Equal(t, "/", resp.Header.Get("Location"), "instance %d sends the ended session to log in again", i)
	}
	for i, out := range outputs {
		assert.NotContains(t, out(), "eyJ", "instance %d logs no token", i)
	}
}

func testWebAppDevelopmentKey(t *testing.T, bin string) {
	rs := redistest.Start(t)
	env := append(os.Environ(), "HELSEID_REDIS_URL="+rs.URL(), "HELSEID_LISTEN=127.0.0.1:0")
	_, out := startInstance(t, bin, env)
	assert.Contains(t, out(), "WARNING: HELSEID_SESSION_KEY is not set")
	assert.Contains(t, out(), "DEVELOPMENT key")
}

func testWebAppBadSettings(t *testing.T, bin string) {
	for _, tc := range []struct{ env, want string }{
		{"", "HELSEID_REDIS_URL not set"},
		{"HELSEID_REDIS_URL=redis://127.0.0.1:1/0 HELSEID_SESSION_KEY=c2hvcnQ=", "HELSEID_SESSION_KEY must be base64 of 32 bytes"},
		{"HELSEID_REDIS_URL=redis://127.0.0.1:1/0 HELSEID_SESSION_OLD_KEYS=c2hvcnQ=", "HELSEID_SESSION_OLD_KEYS: key 1 must be base64 of 32 bytes"},
		{"HELSEID_REDIS_URL=redis://127.0.0.1:1/0 HELSEID_LISTEN=8080", "HELSEID_LISTEN must be host:port"},
	} {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), strings.Fields(tc.env)...)
		out, err := cmd.CombinedOutput()
		assert.Error(t, err, tc.env)
		assert.Contains(t, string(out), tc.want, tc.env)
	}
}

func cookieNamed(jar http.CookieJar, base, name string) *http.Cookie {
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}
