package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// app is the web backend: a HelseID client, the logins under way and the users' sessions, both
// kept server-side under random cookie values (a real deployment would use its session store).
type app struct {
	client      *helseid.Client
	base        string // the app's own origin, for redirect URIs
	redirectURI string
	scope       string
	resources   []string
	apis        map[string]string // resource → demo API URL (in-process mode only)

	mu       sync.Mutex
	logins   map[string]*helseid.LoginState
	sessions map[string]*helseid.UserSession
}

const (
	loginCookie      = "webapp_login"
	sessionCookie    = "webapp_session"
	maxPendingLogins = 10_000
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
	authURL, st, err := a.client.StartLogin(r.Context(), helseid.LoginRequest{RedirectURI: a.redirectURI, Scope: a.scope, Resources: a.resources})
	if err != nil {
		a.fail(w, "start login", err)
		return
	}
	id := randomID()
	a.mu.Lock()
	for k, pending := range a.logins { // logins not finished within their lifetime are dropped
		if time.Now().After(pending.Expiry) {
			delete(a.logins, k)
		}
	}
	if len(a.logins) >= maxPendingLogins {
		a.mu.Unlock()
		http.Error(w, "too many logins in progress", http.StatusServiceUnavailable)
		return
	}
	a.logins[id] = st
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: id, Path: a.callbackPath(), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(a.base, "https:"), MaxAge: 600})
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		http.Error(w, "no login in progress", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	st := a.logins[c.Value]
	delete(a.logins, c.Value) // one try per login, whatever happens
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: a.callbackPath(), MaxAge: -1})
	res, err := a.client.FinishLogin(r.Context(), r.URL.Query(), st)
	if err != nil {
		a.fail(w, "finish login", err)
		return
	}
	sess, err := a.client.NewUserSession(r.Context(), res, helseid.SessionOptions{})
	if err != nil {
		a.fail(w, "start session", err)
		return
	}
	id := randomID()
	a.mu.Lock()
	a.sessions[id] = sess
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
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
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.mu.Lock()
	sess := a.sessions[c.Value]
	delete(a.sessions, c.Value)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	if sess == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	rt, _ := sess.RefreshToken()
	if err := a.client.RevokeRefreshToken(r.Context(), rt); err != nil {
		slog.Warn("revoke refresh token", "err", err)
	}
	target, err := a.client.LogoutURL(r.Context(), sess.IDToken(), a.base+"/", randomID())
	if err != nil {
		a.fail(w, "logout", err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (a *app) session(r *http.Request) *helseid.UserSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

// fail logs the reason (never a token: the SDK's errors carry none) and shows a plain error.
func (a *app) fail(w http.ResponseWriter, what string, err error) {
	slog.Error(what, "err", err)
	http.Error(w, what+" failed; start again at /", http.StatusBadGateway)
}

func randomID() string { return rand.Text() }

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
func inProcess(ctx context.Context, base string) (*app, func(), error) {
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
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "ehr-webapp", Key: key, HTTPClient: srv.Client(), RequireSecurityLevel4: true})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	a := newApp(client, base, base+"/callback", strings.Join(scopes, " "), resources)
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
func external(s settings) (*app, error) {
	data, err := os.ReadFile(s.jwkFile)
	if err != nil {
		return nil, fmt.Errorf("read HELSEID_JWK_FILE: %w", err)
	}
	key, err := helseid.ParseJWK(data, "")
	if err != nil {
		return nil, fmt.Errorf("HELSEID_JWK_FILE: %w", err)
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: s.issuer, ClientID: s.clientID, Key: key, RequireSecurityLevel4: true})
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s.redirectURI)
	if err != nil {
		return nil, err
	}
	return newApp(client, u.Scheme+"://"+u.Host, s.redirectURI, s.scope, s.resources), nil
}

// callbackPath is where the browser comes back: the redirect URI's path.
func (a *app) callbackPath() string {
	if u, err := url.Parse(a.redirectURI); err == nil && u.Path != "" {
		return u.Path
	}
	return "/callback"
}

func newApp(client *helseid.Client, base, redirectURI, scope string, resources []string) *app {
	return &app{client: client, base: base, redirectURI: redirectURI, scope: scope, resources: resources,
		apis: map[string]string{}, logins: map[string]*helseid.LoginState{}, sessions: map[string]*helseid.UserSession{}}
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
