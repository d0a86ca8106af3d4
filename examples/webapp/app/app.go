// Package app is the web backend of examples/webapp, importable so that the fleet version in
// the nested module helseid/helseidredis can run the same app with its logins and sessions in
// Redis: the core module does not depend on go-redis.
//
// Logins and sessions live in the client's LoginStore and SessionStore (StartStoredLogin,
// FinishStoredLogin, StartUserSession, LoadUserSession); the browser holds only the login's
// state and the session's id in cookies. With the in-memory defaults the app serves from one
// process; with stores shared by several processes, any of them serves any request.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// Stores are where the app keeps logins under way and users' sessions; nil fields mean the
// client's in-memory defaults (one process).
type Stores struct {
	Logins   helseid.LoginStore
	Sessions helseid.SessionStore
}

// settings is the configuration of a run against a real HelseID (empty issuer means
// in-process) and where to listen.
type settings struct {
	issuer, clientID, jwkFile, scope, redirectURI string
	resources                                     []string
	listen                                        string
}

func settingsFrom(getenv func(string) string) (settings, error) {
	s := settings{issuer: getenv("HELSEID_ISSUER"), clientID: getenv("HELSEID_CLIENT_ID"), jwkFile: getenv("HELSEID_JWK_FILE"),
		scope: getenv("HELSEID_SCOPE"), redirectURI: getenv("HELSEID_REDIRECT_URI"), resources: strings.Fields(getenv("HELSEID_RESOURCES")),
		listen: getenv("HELSEID_LISTEN")}
	set := 0
	for _, v := range []string{s.issuer, s.clientID, s.jwkFile, s.scope, s.redirectURI} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0 && len(s.resources) > 0:
		return s, errors.New("HELSEID_RESOURCES needs the other HELSEID_* settings")
	case set != 0 && set != 5:
		return s, errors.New("incomplete configuration: set HELSEID_ISSUER, HELSEID_CLIENT_ID, HELSEID_JWK_FILE, HELSEID_SCOPE and HELSEID_REDIRECT_URI, or none of them")
	}
	if s.listen != "" {
		if _, _, err := net.SplitHostPort(s.listen); err != nil {
			return s, errors.New("HELSEID_LISTEN must be host:port, e.g. 127.0.0.1:8081")
		}
	}
	return s, nil
}

// Run serves the app until ctx ends, configured by getenv (the HELSEID_* settings of
// examples/webapp), with its logins and sessions in stores; ready is told the address it
// listens on and the app's public base URL once it listens.
//
// HELSEID_LISTEN (host:port) is where it listens when that differs from the redirect URI's
// host and port, as for several instances behind one public address.
func Run(ctx context.Context, getenv func(string) string, stores Stores, ready func(listenAddr, baseURL string)) error {
	s, err := settingsFrom(getenv)
	if err != nil {
		return err
	}
	var (
		a  *app
		ln net.Listener
	)
	if s.issuer == "" {
		listen := s.listen
		if listen == "" {
			listen = "127.0.0.1:0"
		}
		if ln, err = net.Listen("tcp", listen); err != nil {
			return err
		}
		var closeAll func()
		a, closeAll, err = inProcess("http://"+ln.Addr().String(), stores)
		if err != nil {
			ln.Close()
			return err
		}
		defer closeAll()
	} else {
		u, err := url.Parse(s.redirectURI)
		if err != nil || u.Host == "" {
			return errors.New("HELSEID_REDIRECT_URI must be an absolute URL")
		}
		listen := s.listen
		if listen == "" {
			listen = u.Host
		}
		if ln, err = net.Listen("tcp", listen); err != nil {
			return err
		}
		if a, err = external(s, stores); err != nil {
			ln.Close()
			return err
		}
		defer a.client.Close()
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	ready(ln.Addr().String(), a.base)
	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return ctx.Err()
}

// app is the web backend: a HelseID client whose stores keep the logins under way and the
// users' sessions; the browser's cookies hold only a login's state and a session's id.
type app struct {
	client      *helseid.Client
	logins      helseid.LoginStore // the client's Config.Logins
	base        string             // the app's own origin, for redirect URIs
	redirectURI string
	scope       string
	resources   []string
	apis        map[string]string // resource → demo API URL (in-process mode only)
}

const (
	loginCookie   = "webapp_login"
	sessionCookie = "webapp_session"
)

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET "+a.callbackPath(), a.callback)
	mux.HandleFunc("GET /me", a.me)
	mux.HandleFunc("POST /logout", a.logout)
	return mux
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>EHR demo</title></head><body>
{{if .User}}<h1>Logged in: {{.User.Name}}</h1>
<p>pid: <code>{{.User.PID}}</code>, security level {{.User.SecurityLevel}}{{if .User.HPRNumber}}, HPR {{.User.HPRNumber}}{{end}}</p>
<ul>{{range .APIs}}<li>{{.Resource}}: {{.Result}}</li>{{end}}</ul>
<form method="post" action="/logout"><button>Log out</button></form>
{{else}}<h1>EHR demo</h1><p><a href="/login">Log in with HelseID</a></p>{{end}}
</body></html>`))

type apiResult struct{ Resource, Result string }

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	if a.session(r) != nil {
		http.Redirect(w, r, "/me", http.StatusSeeOther)
		return
	}
	_ = page.Execute(w, map[string]any{})
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	// StartStoredLogin's steps, keeping st.State: the app binds the login to this browser with
	// it, so that a callback brought by another browser (login CSRF) is refused.
	authURL, st, err := a.client.StartLogin(r.Context(), helseid.LoginRequest{RedirectURI: a.redirectURI, Scope: a.scope, Resources: a.resources})
	if err != nil {
		a.fail(w, "start login", err)
		return
	}
	if err := a.logins.SaveLogin(r.Context(), st); err != nil {
		a.fail(w, "save login", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: st.State, Path: a.callbackPath(), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(a.base, "https:"), MaxAge: 600})
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value != r.URL.Query().Get("state") {
		http.Error(w, "no login in progress in this browser", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: a.callbackPath(), MaxAge: -1})
	res, err := a.client.FinishStoredLogin(r.Context(), r.URL.Query()) // one try per login, on any instance
	if err != nil {
		a.fail(w, "finish login", err)
		return
	}
	sess, err := a.client.StartUserSession(r.Context(), res)
	if err != nil {
		a.fail(w, "start session", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess.ID(), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(a.base, "https:")})
	http.Redirect(w, r, "/me", http.StatusSeeOther)
}

func (a *app) me(w http.ResponseWriter, r *http.Request) {
	sess := a.session(r)
	if sess == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	var results []apiResult
	for _, res := range a.resources {
		results = append(results, apiResult{Resource: res, Result: a.callAPI(r.Context(), sess, res)})
	}
	_ = page.Execute(w, map[string]any{"User": sess.Claims(), "APIs": results})
}

// callAPI calls the demo API of res with the session's token for res; against a real HelseID
// (no demo APIs) it shows the audience of that token.
func (a *app) callAPI(ctx context.Context, sess *helseid.UserSession, res string) string {
	apiURL, ok := a.apis[res]
	if !ok {
		tok, err := sess.Token(ctx, res)
		if err != nil {
			return "no token: " + err.Error()
		}
		return "a token for " + audienceOf(tok.AccessToken)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := sess.HTTPClient(res).Do(req)
	if err != nil {
		return "call failed: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.Status + " " + strings.TrimSpace(string(body))
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	sess := a.session(r)
	if sess == nil {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	// Gone from the store first, so every instance refuses it; then its refresh token is revoked.
	if err := sess.EndUserSession(r.Context()); err != nil {
		// Only the revocation may have failed, after the session left the store: then the
		// logout stands. If the session is still stored (or the store cannot say), the user is
		// still logged in everywhere: say so, and keep the cookie for another try.
		if _, lerr := a.client.LoadUserSession(r.Context(), sess.ID()); !errors.Is(lerr, helseid.ErrSessionEnded) {
			slog.Error("end session", "err", err)
			http.Error(w, "logout failed: you are still logged in; try again", http.StatusServiceUnavailable)
			return
		}
		slog.Warn("end session", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	target, err := a.client.LogoutURL(r.Context(), sess.IDToken(), a.base+"/", rand.Text())
	if err != nil {
		a.fail(w, "logout", err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// session is the session of the request's cookie, read from the store on every request so
// that a logout on any instance is effective on all; nil when there is none.
func (a *app) session(r *http.Request) *helseid.UserSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	sess, err := a.client.LoadUserSession(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, helseid.ErrSessionEnded) {
			slog.Warn("load session", "err", err)
		}
		return nil
	}
	return sess
}

// fail logs the reason (never a token: the SDK's errors carry none) and shows a plain error.
func (a *app) fail(w http.ResponseWriter, what string, err error) {
	slog.Error(what, "err", err)
	http.Error(w, what+" failed; start again at /", http.StatusBadGateway)
}

// audienceOf reads aud from a JWT for display only (the API validates the token).
func audienceOf(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "an opaque token"
	}
	raw, err := base64URL(parts[1])
	if err != nil {
		return "an unreadable token"
	}
	var c struct {
		Aud any `json:"aud"`
	}
	_ = json.Unmarshal(raw, &c)
	return fmt.Sprint(c.Aud)
}

// inProcess starts helseidtest and two demo APIs and returns the app for them.
func inProcess(base string, stores Stores) (*app, func(), error) {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		return nil, nil, err
	}
	resources := []string{"nhn:demo-journal", "nhn:demo-prescriptions"}
	scopes := []string{"openid", "profile", "offline_access", "helseid://scopes/identity/pid", "helseid://scopes/identity/security_level", "helseid://scopes/hpr/hpr_number"}
	for _, r := range resources {
		scopes = append(scopes, r+"/read")
	}
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr-webapp", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes: scopes, RedirectURIs: []string{base + "/callback"}, PostLogoutRedirectURIs: []string{base + "/"}})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	stores = stores.defaults()
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "ehr-webapp", Key: key, HTTPClient: srv.Client(), RequireSecurityLevel4: true,
		Logins: stores.Logins, Sessions: stores.Sessions})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	a := newApp(client, stores.Logins, base, base+"/callback", strings.Join(scopes, " "), resources)
	var servers []*httptest.Server
	for _, res := range resources {
		api, err := demoAPI(srv, res)
		if err != nil {
			srv.Close()
			return nil, nil, err
		}
		servers = append(servers, api)
		a.apis[res] = api.URL + "/records"
	}
	return a, func() {
		_ = client.Close()
		for _, s := range servers {
			s.Close()
		}
		srv.Close()
	}, nil
}

// demoAPI is an API that accepts only DPoP-bound tokens for its own audience and says whose.
func demoAPI(srv *helseidtest.Server, audience string) (*httptest.Server, error) {
	guard, err := helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{
		Issuer: srv.Issuer(), Audience: audience, RequiredScopes: []string{audience + "/read"}, HTTPClient: srv.Client()}})
	if err != nil {
		return nil, err
	}
	return httptest.NewServer(guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := helseid.ClaimsFromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"api": audience, "aud": c.Audience, "pid": c.PID})
	}), nil)), nil
}

// external builds the app for a real HelseID from the settings.
func external(s settings, stores Stores) (*app, error) {
	data, err := os.ReadFile(s.jwkFile)
	if err != nil {
		return nil, fmt.Errorf("read HELSEID_JWK_FILE: %w", err)
	}
	key, err := helseid.ParseJWK(data, "")
	if err != nil {
		return nil, fmt.Errorf("HELSEID_JWK_FILE: %w", err)
	}
	stores = stores.defaults()
	client, err := helseid.NewClient(helseid.Config{Issuer: s.issuer, ClientID: s.clientID, Key: key, RequireSecurityLevel4: true,
		Logins: stores.Logins, Sessions: stores.Sessions})
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s.redirectURI)
	if err != nil {
		return nil, err
	}
	return newApp(client, stores.Logins, u.Scheme+"://"+u.Host, s.redirectURI, s.scope, s.resources), nil
}

// callbackPath is where the browser comes back: the redirect URI's path.
func (a *app) callbackPath() string {
	if u, err := url.Parse(a.redirectURI); err == nil && u.Path != "" {
		return u.Path
	}
	return "/callback"
}

func newApp(client *helseid.Client, logins helseid.LoginStore, base, redirectURI, scope string, resources []string) *app {
	return &app{client: client, logins: logins, base: base, redirectURI: redirectURI, scope: scope, resources: resources, apis: map[string]string{}}
}

// defaults fills in the in-memory stores, so that the app holds the login store it shares
// with its client.
func (s Stores) defaults() Stores {
	if s.Logins == nil {
		s.Logins = helseid.NewMemoryLoginStore(nil)
	}
	if s.Sessions == nil {
		s.Sessions = helseid.NewMemorySessionStore(nil)
	}
	return s
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
