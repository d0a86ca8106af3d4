package helseid_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// The two handlers of a web backend's login: StartLogin pushes the request (PAR) and returns
// the URL to send the browser to; the callback handler hands the query and the kept state to
// FinishLogin, which checks iss and state, redeems the code with the PKCE verifier and
// validates the ID token. helseidtest logs a test user in at once, so a plain HTTP client
// stands in for the browser here.
func ExampleClient_StartLogin() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	const redirectURI = "https://ehr.example.no/callback"
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID:           "ehr",
		OrgNumber:    helseidtest.DefaultOrgNumber,
		Scopes:       []string{"openid", "profile", "offline_access", "helseid://scopes/identity/pid", "nhn:helseidtest-api/read"},
		RedirectURIs: []string{redirectURI},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "ehr", Key: key, HTTPClient: srv.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	ctx := context.Background()

	// The login handler.
	authURL, state, err := client.StartLogin(ctx, helseid.LoginRequest{
		RedirectURI: redirectURI,
		Scope:       "openid profile offline_access helseid://scopes/identity/pid nhn:helseidtest-api/read",
		Resources:   []string{"nhn:helseidtest-api"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Keep state server-side (it holds the PKCE verifier); it marshals to JSON for a session store.
	saved, err := json.Marshal(state)
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := url.Parse(authURL)
	fmt.Println("redirect carries:", len(u.Query()), "parameters,", u.Query().Has("client_id"), u.Query().Has("request_uri"))

	// The browser's round trip through HelseID ends at the callback with code, state and iss.
	browser := srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = resp.Body.Close()
	callback, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		fmt.Println(err)
		return
	}

	// The callback handler: r.URL.Query() and the state loaded from the session store.
	var kept helseid.LoginState
	if err := json.Unmarshal(saved, &kept); err != nil {
		fmt.Println(err)
		return
	}
	login, err := client.FinishLogin(ctx, callback.Query(), &kept)
	if err != nil {
		fmt.Println(err) // after any error the login is over: start a new one
		return
	}
	fmt.Println("user:", login.Claims.Name, "security level", login.Claims.SecurityLevel)
	fmt.Println("access token for:", login.Resource, "with a refresh token:", login.RefreshToken != "")

	// The state works once.
	_, err = client.FinishLogin(ctx, callback.Query(), &kept)
	fmt.Println("second use:", err != nil)
	// Output:
	// redirect carries: 2 parameters, true true
	// user: Grønn Vits security level 4
	// access token for: nhn:helseidtest-api with a refresh token: true
	// second use: true
}

// After FinishLogin, a UserSession gets a token per API from the one refresh token, each with
// exactly one resource, and hands every rotated refresh token to Persist before the access
// token it came with is used. Here the login asks for the demo API and a second one; the
// session's HTTP client calls the demo API with a token it got by a refresh.
func ExampleUserSession() {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	const redirectURI = "https://ehr.example.no/callback"
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID:           "ehr",
		OrgNumber:    helseidtest.DefaultOrgNumber,
		Scopes:       []string{"openid", "offline_access", "nhn:kjernejournal/api", "nhn:helseidtest-api/read"},
		RedirectURIs: []string{redirectURI},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "ehr", Key: key, HTTPClient: srv.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	ctx := context.Background()

	login, err := logIn(ctx, srv, client, helseid.LoginRequest{
		RedirectURI: redirectURI,
		Scope:       "openid offline_access nhn:kjernejournal/api nhn:helseidtest-api/read",
		Resources:   []string{"nhn:kjernejournal", "nhn:helseidtest-api"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	persisted := 0
	sess, err := client.NewUserSession(ctx, login, helseid.SessionOptions{
		// In production: write the new refresh token (and its expiry) to the user's session
		// record; HelseID's refresh tokens are one-time, so only the newest works.
		Persist: func(ctx context.Context, refreshToken string, expiry time.Time) error {
			persisted++
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("user:", sess.Claims().PID)

	// The login's own token is for the first resource; the demo API's comes by a refresh.
	resp, err := sess.HTTPClient("nhn:helseidtest-api").Get(srv.APIURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	var seen helseidtest.APIResponse
	err = json.NewDecoder(resp.Body).Decode(&seen)
	_ = resp.Body.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("api:", resp.StatusCode, seen.Audience, seen.Scope)
	fmt.Println("refresh tokens persisted:", persisted)
	// Output:
	// user: 06828399789
	// api: 200 nhn:helseidtest-api [nhn:helseidtest-api/read]
	// refresh tokens persisted: 1
}

// logIn runs StartLogin, the browser's trip through helseidtest's auto-login and FinishLogin.
func logIn(ctx context.Context, srv *helseidtest.Server, client *helseid.Client, req helseid.LoginRequest) (*helseid.LoginResult, error) {
	authURL, state, err := client.StartLogin(ctx, req)
	if err != nil {
		return nil, err
	}
	browser := srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	callback, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	return client.FinishLogin(ctx, callback.Query(), state)
}
