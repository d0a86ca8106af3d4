// Command tokenexchange shows an API calling another API on a user's behalf (RFC 8693), as
// HelseID's SFM does when it calls Reseptformidleren with the clinician's identity.
// Everything runs in-process, with no configuration and no network:
//
//	go run ./examples/tokenexchange
//
// The steps:
//
//  1. A clinician logs in to the EHR front end through helseidtest (an in-process HelseID
//     that logs its test user in at once): PAR, PKCE, the code exchange and the ID token
//     checks of Client.StartLogin and Client.FinishLogin. The front end gets a DPoP-bound
//     access token for service A.
//  2. The front end calls service A with it. A's helseid.Guard checks the token and the proof.
//  3. A calls service B through Client.OnBehalfOfHTTPClient: the user's token is exchanged
//     once (A authenticates with its own assertion; the new token is bound to A's DPoP key)
//     and sent with a fresh proof.
//  4. B's Guard checks that token; B answers with the user and the act chain it sees.
//
// The program prints each hop's claims, with tokens redacted, and exits 0; any failure prints
// a clear message and exits 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

const (
	audienceA = "nhn:example-service-a" // the API the user's token is for (SFM in HelseID's example)
	audienceB = "nhn:example-service-b" // the API A calls on the user's behalf (Reseptformidleren)
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tokenexchange:", err)
		os.Exit(1)
	}
}

// hop is what a service saw: who the user is and who acts for them.
type hop struct {
	Service       string         `json:"service"`
	Audience      string         `json:"aud"`
	ClientID      string         `json:"client_id"`
	Subject       string         `json:"sub"`
	PID           string         `json:"pid"`
	SecurityLevel string         `json:"security_level"`
	HPRNumber     string         `json:"hpr_number,omitempty"`
	BoundToKey    string         `json:"cnf_jkt"`
	Actor         *helseid.Actor `json:"act,omitempty"`
	Next          *hop           `json:"next,omitempty"`
}

func hopOf(service string, c *helseid.AccessTokenClaims) *hop {
	return &hop{Service: service, Audience: c.Audience, ClientID: c.ClientID, Subject: c.Subject, PID: c.PID,
		SecurityLevel: c.SecurityLevel, HPRNumber: c.HPRNumber, BoundToKey: c.JKT, Actor: c.Actor}
}

func run(ctx context.Context, out io.Writer) error {
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()

	// The registrations HelseID's self-service would hold.
	frontEndJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID: "ehr-front-end", OrgNumber: helseidtest.DefaultOrgNumber, RedirectURIs: []string{callbackURL},
		Scopes: []string{"openid", "profile", "helseid://scopes/identity/pid", "helseid://scopes/identity/security_level", audienceA + "/read"},
	})
	if err != nil {
		return err
	}
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID: "service-a", Scopes: []string{audienceB + "/read"}, OrgNumber: helseidtest.DefaultOrgNumber,
		ExchangeAudience: audienceA, // A may exchange users' tokens for A
	})
	if err != nil {
		return err
	}

	// Service B: only DPoP-bound tokens for B.
	guardB, err := newGuard(srv, audienceB)
	if err != nil {
		return err
	}
	b := httptest.NewServer(guardB.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := helseid.ClaimsFromContext(r.Context())
		writeJSON(w, hopOf("B", claims))
	}), nil))
	defer b.Close()

	// Service A: a HelseID client of its own, which calls B on the user's behalf.
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		return err
	}
	clientA, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "service-a", Key: key, HTTPClient: srv.Client()})
	if err != nil {
		return err
	}
	defer clientA.Close()
	toB, err := clientA.OnBehalfOfHTTPClient(helseid.TokenExchangeRequest{Scopes: []string{audienceB + "/read"}})
	if err != nil {
		return err
	}
	guardA, err := newGuard(srv, audienceA)
	if err != nil {
		return err
	}
	a := httptest.NewServer(guardA.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := helseid.ClaimsFromContext(r.Context())
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, b.URL+"/prescriptions", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := toB.Do(req) // the context carries the user's token: Guard put it there
		if err != nil {
			http.Error(w, "calling B: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var next hop
		if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&next) != nil {
			http.Error(w, "B answered "+resp.Status, http.StatusBadGateway)
			return
		}
		h := hopOf("A", claims)
		h.Next = &next
		writeJSON(w, h)
	}), nil))
	defer a.Close()

	// The front end: the clinician logs in; the token for A is bound to the front end's key.
	frontEnd, login, err := logIn(ctx, srv, frontEndJWK)
	if err != nil {
		return err
	}
	defer frontEnd.Close()
	user := helseidtest.DefaultTestUser()
	fmt.Fprintf(out, "1. %s (pid %s, security level %s) logged in; the front end has a DPoP-bound token for %s (REDACTED)\n",
		login.Claims.Name, login.Claims.PID, login.Claims.SecurityLevel, login.Resource)
	frontEndKey := frontEnd.Proofer()
	fmt.Fprintf(out, "   the front end's DPoP key:  %s\n", frontEndKey.Thumbprint())
	fmt.Fprintf(out, "   service A's DPoP key:      %s\n", clientA.Proofer().Thumbprint())

	toA := dpop.NewClient(&dpop.Transport{Proofer: frontEndKey, Tokens: staticToken(login.AccessToken.AccessToken)})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/medication-list", nil)
	if err != nil {
		return err
	}
	resp, err := toA.Do(req)
	if err != nil {
		return fmt.Errorf("calling A: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("service A answered %s: %s", resp.Status, body)
	}
	var chain hop
	if err := json.Unmarshal(body, &chain); err != nil {
		return fmt.Errorf("service A's answer: %w", err)
	}
	if err := check(chain, user, frontEndKey.Thumbprint(), clientA.Proofer().Thumbprint()); err != nil {
		return err
	}
	pretty, _ := json.MarshalIndent(chain, "   ", "  ")
	fmt.Fprintf(out, "2. A accepted the user's token; A exchanged it and called B, which saw:\n   %s\n", pretty)
	st := srv.Stats()
	fmt.Fprintf(out, "3. HelseID issued %d tokens (the login's and the exchange's) after %d DPoP nonce challenge. Done.\n", st.TokensIssued, st.NonceChallenges)
	return nil
}

// check is what the example demonstrates: B sees the same user, A as the actor, and a token
// bound to A's key, not the front end's.
func check(chain hop, user helseidtest.TestUser, frontEndJKT, jktA string) error {
	switch b := chain.Next; {
	case b == nil:
		return errors.New("no answer from B")
	case chain.PID != user.PID || b.PID != user.PID:
		return errors.New("the user changed on the way")
	case chain.BoundToKey != frontEndJKT:
		return errors.New("service A's token is not bound to the front end's key")
	case b.Actor == nil || b.Actor.ClientID != "service-a":
		return errors.New("service B does not see service A as the actor")
	case b.BoundToKey != jktA:
		return errors.New("service B's token is not bound to service A's key")
	}
	return nil
}

// callbackURL is the front end's registered redirect URI. The example reads the redirect to it
// instead of serving it; a web backend handles it with Client.FinishLogin (see examples/webapp).
const callbackURL = "http://127.0.0.1:8443/callback"

// logIn is the front end's login: StartLogin, the browser's visit to HelseID (auto-login
// here), and FinishLogin with the callback's query.
func logIn(ctx context.Context, srv *helseidtest.Server, privateJWK []byte) (*helseid.Client, *helseid.LoginResult, error) {
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		return nil, nil, err
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "ehr-front-end", Key: key, HTTPClient: srv.Client(), RequireSecurityLevel4: true})
	if err != nil {
		return nil, nil, err
	}
	authURL, state, err := client.StartLogin(ctx, helseid.LoginRequest{RedirectURI: callbackURL, Resources: []string{audienceA},
		Scope: "openid profile helseid://scopes/identity/pid helseid://scopes/identity/security_level " + audienceA + "/read"})
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("start login: %w", err)
	}
	browser := srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("authorize: %w", err)
	}
	_ = resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		client.Close()
		return nil, nil, fmt.Errorf("authorize answered %s", resp.Status)
	}
	login, err := client.FinishLogin(ctx, back.Query(), state)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("finish login: %w", err)
	}
	return client, login, nil
}

func newGuard(srv *helseidtest.Server, audience string) (*helseid.Guard, error) {
	return helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{
		Issuer: srv.Issuer(), Audience: audience, RequiredScopes: []string{audience + "/read"}, HTTPClient: srv.Client(),
	}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type staticToken string

func (s staticToken) AccessToken(context.Context) (string, error) { return string(s), nil }
