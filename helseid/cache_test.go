package helseid_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/helseid-go/sdk/tokenexchange"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var readReq = helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}

// gate holds token requests at the server until released, and says when one arrives.
type gate struct {
	arrived chan struct{}
	release chan struct{}
}

func holdTokens(srv *helseidtest.Server) *gate {
	g := &gate{arrived: make(chan struct{}, 1000), release: make(chan struct{})}
	srv.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		g.arrived <- struct{}{}
		<-g.release
		return false
	})
	return g
}

func TestColdStampedeOneTokenRequest(t *testing.T) {
	f := newFixture(t, helseidtest.Options{Nonce: helseidtest.NonceNone}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	g := holdTokens(f.srv)
	const callers = 1000
	results := make(chan string, callers)
	var started sync.WaitGroup
	for i := 0; i < callers; i++ {
		started.Add(1)
		go func() {
			started.Done()
			tok, err := f.client.Token(context.Background(), readReq)
			if assert.NoError(t, err) {
				results <- tok.AccessToken
			}
		}()
	}
	started.Wait()
	<-g.arrived
	close(g.release)
	first := <-results
	for i := 1; i < callers; i++ {
		assert.Equal(t, first, <-results)
	}
	assert.Equal(t, int64(1), f.srv.Stats().TokenRequests, "1,000 callers on a cold key: exactly one token request")
}

func TestWaiterWhoseContextEndsReturnsAtOnce(t *testing.T) {
	f := newFixture(t, helseidtest.Options{Nonce: helseidtest.NonceNone}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	g := holdTokens(f.srv)
	ctx, cancel := context.WithCancel(context.Background())
	leaver := make(chan error, 1)
	go func() { _, err := f.client.Token(ctx, readReq); leaver <- err }()
	<-g.arrived
	stayer := make(chan error, 1)
	go func() { _, err := f.client.Token(context.Background(), readReq); stayer <- err }()
	cancel()
	assert.ErrorIs(t, <-leaver, context.Canceled)
	close(g.release)
	assert.NoError(t, <-stayer, "the request went on for the other waiter")
	assert.Equal(t, int64(1), f.srv.Stats().TokensIssued)
}

// With a token endpoint that hangs (as a 200 ms one would, for longer), callers inside the
// refresh window still get the current token without waiting.
func TestRefreshWindowCallersNeverWait(t *testing.T) {
	clock := fakeclock.New(time.Now())
	srv := helseidtest.NewServer(t, helseidtest.Options{Now: clock.Now, Nonce: helseidtest.NonceNone})
	jwk, err := srv.GenerateClient("c", apiScope)
	require.NoError(t, err)
	key, err := helseid.ParseJWK(jwk, "")
	require.NoError(t, err)
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "c", Key: key, HTTPClient: srv.Client(), Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })

	first, err := client.Token(context.Background(), readReq)
	require.NoError(t, err)
	g := holdTokens(srv)
	clock.Advance(first.Expiry.Sub(clock.Now()) - 30*time.Second) // inside the 60 s window
	for i := 0; i < 50; i++ {
		tok, err := client.Token(context.Background(), readReq)
		require.NoError(t, err)
		assert.Equal(t, first.AccessToken, tok.AccessToken)
	}
	<-g.arrived // the background refresh is at the (hanging) token endpoint meanwhile
	close(g.release)
}

// After Close a cached token is served while it is usable and no longer; then, and for a
// token never fetched, and for a caller whose request Close stopped, the error is ErrClosed.
func TestClosedClientServesOnlyUsableTokens(t *testing.T) {
	clock := fakeclock.New(time.Now())
	srv := helseidtest.NewServer(t, helseidtest.Options{Now: clock.Now, Nonce: helseidtest.NonceNone})
	jwk, err := srv.GenerateClient("c", apiScope, "nhn:other-api/read")
	require.NoError(t, err)
	key, err := helseid.ParseJWK(jwk, "")
	require.NoError(t, err)
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "c", Key: key, HTTPClient: srv.Client(), Now: clock.Now})
	require.NoError(t, err)
	ctx := context.Background()

	first, err := client.Token(ctx, readReq)
	require.NoError(t, err)
	g := holdTokens(srv)
	waiter := make(chan error, 1)
	go func() {
		_, err := client.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{"nhn:other-api/read"}})
		waiter <- err
	}()
	<-g.arrived
	require.NoError(t, client.Close())
	close(g.release)
	assert.ErrorIs(t, <-waiter, helseid.ErrClosed, "a caller waiting for a request that Close stopped")

	tok, err := client.Token(ctx, readReq)
	require.NoError(t, err)
	assert.Equal(t, first.AccessToken, tok.AccessToken, "a usable token is still served after Close")

	clock.Advance(first.Expiry.Sub(clock.Now()))
	_, err = client.Token(ctx, readReq)
	assert.ErrorIs(t, err, helseid.ErrClosed, "an expired token is not served after Close")
	assert.ErrorIs(t, err, tokenexchange.ErrClosed, "one value for both packages")
	assert.Equal(t, int64(2), srv.Stats().TokenRequests, "no token request after Close")
}

// refreshWatch is an Observer that counts misses and reports refreshes as they start and end.
type refreshWatch struct {
	misses  atomic.Int64
	started chan struct{}
	fetched chan error
}

func (w *refreshWatch) Observe(_ context.Context, e helseid.Event) {
	switch e.Kind {
	case helseid.CacheMiss:
		w.misses.Add(1)
	case helseid.RefreshStarted:
		w.started <- struct{}{}
	case helseid.TokenFetched:
		if e.Background {
			w.fetched <- e.Err
		}
	}
}

// At the smallest RefreshWindow, with a caller every second and a token endpoint that takes
// 3 s to answer each refresh, no caller waits for a token across several expiries: the only
// miss is the first token.
func TestSmallestRefreshWindowNeverBlocks(t *testing.T) {
	const lifetime = time.Minute
	clock := fakeclock.New(time.Now())
	srv := helseidtest.NewServer(t, helseidtest.Options{Now: clock.Now, Nonce: helseidtest.NonceNone, AccessTokenLifetime: lifetime})
	jwk, err := srv.GenerateClient("c", apiScope)
	require.NoError(t, err)
	key, err := helseid.ParseJWK(jwk, "")
	require.NoError(t, err)
	watch := &refreshWatch{started: make(chan struct{}, 8), fetched: make(chan error, 8)}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "c", Key: key, HTTPClient: srv.Client(),
		Now: clock.Now, RefreshWindow: helseid.MinRefreshWindow, Observer: watch})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })

	first, err := client.Token(context.Background(), readReq)
	require.NoError(t, err)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv.SetTokenHook(func(http.ResponseWriter, *http.Request) bool {
		arrived <- struct{}{}
		<-release
		return false
	})
	t.Cleanup(func() { close(release) }) // a failed test must not leave a request held

	const answerAfter = 3 // seconds of the fake clock
	seen := map[string]bool{first.AccessToken: true}
	refreshes, holding := 0, -1
	for step := 0; step < 4*int(lifetime/time.Second); step++ {
		clock.Advance(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a wait fails the test rather than hanging it
		tok, err := client.Token(ctx, readReq)
		cancel()
		require.NoError(t, err, "step %d", step)
		seen[tok.AccessToken] = true
		select {
		case <-watch.started:
			require.Equal(t, -1, holding, "one refresh at a time")
			<-arrived // the refresh is at the token endpoint, which answers answerAfter seconds later
			holding = answerAfter
			refreshes++
		default:
		}
		if holding > 0 {
			if holding--; holding == 0 {
				release <- struct{}{}
				require.NoError(t, <-watch.fetched)
				holding = -1
			}
		}
	}
	assert.GreaterOrEqual(t, refreshes, 3, "several expiries")
	assert.Len(t, seen, refreshes+1, "each refresh replaced the token in use")
	assert.Equal(t, int64(1), watch.misses.Load(), "no caller waited for a token but the first")
}

func TestFaultsAreSurvivedOrTyped(t *testing.T) {
	cases := []struct {
		name   string
		hook   func(n int64, w http.ResponseWriter, r *http.Request) bool
		wantOK bool
	}{
		{"500 then success", func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				http.Error(w, "oops", http.StatusInternalServerError)
				return true
			}
			return false
		}, true},
		{"connection reset then success", func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					if tcp, ok := conn.(*net.TCPConn); ok {
						_ = tcp.SetLinger(0)
					}
					_ = conn.Close()
				}
				return true
			}
			return false
		}, true},
		{"garbage body", func(_ int64, w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{not json"))
			return true
		}, false},
		{"oversized body", func(_ int64, w http.ResponseWriter, r *http.Request) bool {
			_, _ = w.Write([]byte(`{"access_token":"` + strings.Repeat("A", 2<<20) + `"}`))
			return true
		}, false},
		{"always 503", func(_ int64, w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := helseidtest.NewServer(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
			jwk, err := srv.GenerateClient("c", apiScope)
			require.NoError(t, err)
			key, err := helseid.ParseJWK(jwk, "")
			require.NoError(t, err)
			client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "c", Key: key, HTTPClient: srv.Client(),
				Retry: fapi.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}})
			require.NoError(t, err)
			t.Cleanup(func() { _ = client.Close() })
			var n atomic.Int64
			srv.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool { return tc.hook(n.Add(1), w, r) })
			tok, err := client.Token(context.Background(), readReq)
			if tc.wantOK {
				require.NoError(t, err)
				assert.NotEmpty(t, tok.AccessToken)
				return
			}
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "AAAA")
		})
	}
}

func TestSlowServerBoundedByContext(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	g := holdTokens(f.srv)
	t.Cleanup(func() { close(g.release) })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.client.Token(ctx, readReq)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// Tokens never cross organisations: many organisations, many goroutines, one client, and every
// API call sees its own organisation.
func TestTenantsNeverMix(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{OrgNumber: "994598759", MultiTenant: true}, helseid.MultiTenant)
	api, err := f.client.HTTPClient(readReq)
	require.NoError(t, err)
	const orgs, perOrg = 20, 15
	var wg sync.WaitGroup
	for o := 0; o < orgs; o++ {
		org := helseid.Organization{Parent: fmt.Sprintf("9%08d", o), Child: fmt.Sprintf("8%08d", o)}
		for i := 0; i < perOrg; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := helseid.WithOrganization(context.Background(), org)
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.APIURL(), nil)
				require.NoError(t, err)
				resp, err := api.Do(req)
				if !assert.NoError(t, err) {
					return
				}
				defer resp.Body.Close()
				var got helseidtest.APIResponse
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
				assert.Equal(t, org.Parent, got.OrgNrParent)
				assert.Equal(t, org.Child, got.OrgNrChild)

				tok, err := f.client.Token(ctx, readReq)
				if assert.NoError(t, err) {
					claims := claimsOf(t, tok.AccessToken)
					assert.Equal(t, org.Parent, claims["helseid://claims/client/claims/orgnr_parent"])
				}
			}()
		}
	}
	wg.Wait()
	assert.Equal(t, int64(orgs), f.srv.Stats().TokensIssued, "one token per organisation")
}

// After the API refuses a token (here: HelseID rotated its keys), the client drops it from the
// cache and retries once with a new one.
func TestInvalidTokenRecovered(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{}, helseid.SingleTenant)
	api, err := f.client.HTTPClient(readReq)
	require.NoError(t, err)
	resp, err := api.Get(f.srv.APIURL())
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	f.srv.RotateSigningKey(false) // the cached token no longer verifies at the API
	resp, err = api.Get(f.srv.APIURL())
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int64(2), f.srv.Stats().TokensIssued)
}

func TestRequestOrganizationWinsOverContext(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{MultiTenant: true}, helseid.MultiTenant)
	ctx := helseid.WithOrganization(context.Background(), helseid.Organization{Parent: "911111111"})
	tok, err := f.client.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope}, Organization: helseid.Organization{Parent: "922222222"}})
	require.NoError(t, err)
	assert.Equal(t, "922222222", claimsOf(t, tok.AccessToken)["helseid://claims/client/claims/orgnr_parent"])

	_, err = f.client.Token(helseid.WithOrganization(context.Background(), helseid.Organization{Parent: "1"}), readReq)
	assert.ErrorIs(t, err, helseid.ErrInvalidOrganization)
}

func TestSlogObserverHasNoSecrets(t *testing.T) {
	var logs strings.Builder
	srv := helseidtest.NewServer(t)
	jwk, err := srv.GenerateClient("c", apiScope)
	require.NoError(t, err)
	key, err := helseid.ParseJWK(jwk, "")
	require.NoError(t, err)
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "c", Key: key, HTTPClient: srv.Client(),
		Observer: helseid.SlogObserver(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	tok, err := client.Token(context.Background(), readReq)
	require.NoError(t, err)
	_, err = client.Token(context.Background(), readReq)
	require.NoError(t, err)
	_ = client.Close() // waits for the fetch goroutine, which reports after it hands out the token
	out := logs.String()
	for _, want := range []string{`"event":"cache_miss"`, `"event":"nonce_retry"`, `"event":"token_fetched"`, `"event":"cache_hit"`, `"scopes":"` + apiScope + `"`} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, tok.AccessToken)
	assert.NotContains(t, out, "eyJ")
}

func TestTokenFormattingRedacts(t *testing.T) {
	tok := fapi.Token{AccessToken: "SECRET-TOKEN", Expiry: time.Unix(0, 0)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		assert.NotContains(t, fmt.Sprintf(verb, tok), "SECRET", verb)
		assert.NotContains(t, fmt.Sprintf(verb, &tok), "SECRET", verb)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("t", "token", tok)
	assert.NotContains(t, b.String(), "SECRET")
}
