package fapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/internal/httpx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAuth issues a numbered, distinguishable assertion per attempt.
type fakeAuth struct{ n atomic.Int64 }

func (a *fakeAuth) Authenticate(form url.Values) error {
	form.Set("client_id", "client-1")
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", "SECRET-ASSERTION-"+strconv.FormatInt(a.n.Add(1), 10))
	return nil
}

// fakeProofer encodes its inputs in the proof so the server can check them.
type fakeProofer struct{ n atomic.Int64 }

func (p *fakeProofer) Proof(method string, u *url.URL, nonce, ath string) (string, error) {
	return fmt.Sprintf("proof-%d|%s|%s|nonce=%s|ath=%s", p.n.Add(1), method, u.String(), nonce, ath), nil
}

type mapNonces struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *mapNonces) NonceFor(u *url.URL) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[u.Host]
}

func (s *mapNonces) Observe(u *url.URL, h http.Header) {
	if v := h.Get("DPoP-Nonce"); v != "" {
		s.mu.Lock()
		s.m[u.Host] = v
		s.mu.Unlock()
	}
}

type recorded struct {
	form  url.Values
	proof string
}

type scriptServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	replies  []func(w http.ResponseWriter)
}

func newScript(t *testing.T, replies ...func(w http.ResponseWriter)) *scriptServer {
	s := &scriptServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		require.NoError(t, r.ParseForm())
		s.mu.Lock()
		i := len(s.requests)
		s.requests = append(s.requests, recorded{form: r.PostForm, proof: r.Header.Get("DPoP")})
		s.mu.Unlock()
		if i >= len(s.replies) {
			i = len(s.replies) - 1
		}
		s.replies[i](w)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptServer) recorded() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.requests...)
}

func reply(status int, body string, headers ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

const okDPoP = `{"access_token":"AT-SECRET","token_type":"DPoP","expires_in":600,"scope":"nhn:api/read"}`

var nonceChallenge = reply(400, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`, "DPoP-Nonce", "n-1")

func newClient(t *testing.T, endpoint string, dpop bool) (*Client, *mapNonces) {
	t.Helper()
	nonces := &mapNonces{m: map[string]string{}}
	cfg := config{HTTPClient: &http.Client{Timeout: 5 * time.Second}, Endpoint: endpoint, Auth: &fakeAuth{},
		Now:   func() time.Time { return time.Unix(1000, 0) },
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}
	if dpop {
		cfg.Proofer, cfg.Nonces = &fakeProofer{}, nonces
	}
	c, err := newFromConfig(cfg)
	require.NoError(t, err)
	return c, nonces
}

func TestTokenSuccess(t *testing.T) {
	srv := newScript(t, reply(200, okDPoP))
	c, _ := newClient(t, srv.URL+"/connect/token", true)
	resp, err := c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}, "scope": {"nhn:api/read"}})
	require.NoError(t, err)
	assert.Equal(t, "AT-SECRET", resp.AccessToken)
	assert.Equal(t, int64(600), resp.ExpiresIn)
	assert.Equal(t, time.Unix(1600, 0), resp.Expiry)
	reqs := srv.recorded()
	require.Len(t, reqs, 1)
	assert.Equal(t, "client_credentials", reqs[0].form.Get("grant_type"))
	assert.Equal(t, "SECRET-ASSERTION-1", reqs[0].form.Get("client_assertion"))
	assert.Equal(t, "proof-1|POST|"+srv.URL+"/connect/token|nonce=|ath=", reqs[0].proof)
}

func TestNonceRetryOnceWithFreshCredentials(t *testing.T) {
	srv := newScript(t, nonceChallenge, reply(200, okDPoP))
	c, _ := newClient(t, srv.URL+"/connect/token", true)
	_, err := c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}})
	require.NoError(t, err)
	reqs := srv.recorded()
	require.Len(t, reqs, 2)
	assert.NotEqual(t, reqs[0].form.Get("client_assertion"), reqs[1].form.Get("client_assertion"), "retry needs a fresh assertion")
	assert.Contains(t, reqs[1].proof, "proof-2|")
	assert.Contains(t, reqs[1].proof, "|nonce=n-1|")
}

func TestNonceRetryOnlyOnce(t *testing.T) {
	srv := newScript(t, nonceChallenge)
	c, _ := newClient(t, srv.URL, true)
	_, err := c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}})
	require.ErrorIs(t, err, ErrUseDPoPNonce)
	assert.Len(t, srv.recorded(), 2)
}

func TestNoRetryWithoutNonceHeader(t *testing.T) {
	srv := newScript(t, reply(400, `{"error":"use_dpop_nonce"}`))
	c, _ := newClient(t, srv.URL, true)
	_, err := c.Token(context.Background(), url.Values{})
	require.ErrorIs(t, err, ErrUseDPoPNonce)
	assert.Len(t, srv.recorded(), 1)
}

func TestNoRetryWithoutDPoP(t *testing.T) {
	srv := newScript(t, nonceChallenge)
	c, _ := newClient(t, srv.URL, false)
	_, err := c.Token(context.Background(), url.Values{})
	require.ErrorIs(t, err, ErrUseDPoPNonce)
	assert.Len(t, srv.recorded(), 1)
}

func TestNonceFromSuccessReused(t *testing.T) {
	srv := newScript(t, reply(200, okDPoP, "DPoP-Nonce", "n-ok"))
	c, nonces := newClient(t, srv.URL, true)
	for i := 0; i < 2; i++ {
		_, err := c.Token(context.Background(), url.Values{})
		require.NoError(t, err)
	}
	reqs := srv.recorded()
	require.Len(t, reqs, 2, "one round trip per token once a nonce is known")
	assert.Contains(t, reqs[1].proof, "nonce=n-ok")
	assert.Equal(t, "n-ok", nonces.NonceFor(&url.URL{Host: strings.TrimPrefix(srv.URL, "http://")}))
}

func TestErrorResponses(t *testing.T) {
	cases := []struct {
		name     string
		reply    func(http.ResponseWriter)
		is       error
		code     string
		status   int
		temporay bool
	}{
		{"invalid_client", reply(401, `{"error":"invalid_client","error_description":"client authentication failed"}`), ErrInvalidClient, "invalid_client", 401, false},
		{"invalid_grant", reply(400, `{"error":"invalid_grant"}`), ErrInvalidGrant, "invalid_grant", 400, false},
		{"invalid_scope", reply(400, `{"error":"invalid_scope","error_description":"HID-1004"}`), ErrInvalidScope, "invalid_scope", 400, false},
		{"html 500", reply(500, `<html>oops</html>`), nil, "", 500, true},
		{"429", reply(429, ``), nil, "", 429, true},
		{"200 elsewhere is 302", reply(302, ``), nil, "", 302, false},
		{"unavailable", reply(503, `{"error":"temporarily_unavailable"}`), nil, "temporarily_unavailable", 503, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScript(t, tc.reply)
			c, _ := newClient(t, srv.URL, true)
			_, err := c.Token(context.Background(), url.Values{})
			var oe *Error
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, tc.code, oe.Code)
			assert.Equal(t, tc.status, oe.StatusCode)
			assert.Equal(t, tc.temporay, oe.Temporary())
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.NotErrorIs(t, err, ErrUseDPoPNonce)
			assert.NotContains(t, err.Error(), "SECRET")
		})
	}
}

func TestErrorDescriptionCleaned(t *testing.T) {
	srv := newScript(t, reply(400, `{"error":"invalid_request","error_description":"bad\r\nInjected: header\u0000`+strings.Repeat("x", 1000)+`"}`))
	c, _ := newClient(t, srv.URL, true)
	_, err := c.Token(context.Background(), url.Values{})
	var oe *Error
	require.ErrorAs(t, err, &oe)
	assert.NotContains(t, oe.Description, "\n")
	assert.NotContains(t, oe.Description, "\x00")
	assert.LessOrEqual(t, len(oe.Description), maxDescription)
}

func TestInvalidResponses(t *testing.T) {
	cases := map[string]string{
		"not json":          `<html>`,
		"missing token":     `{"token_type":"DPoP"}`,
		"empty token":       `{"access_token":"","token_type":"DPoP"}`,
		"missing type":      `{"access_token":"x"}`,
		"bearer downgrade":  `{"access_token":"x","token_type":"Bearer"}`,
		"trailing data":     okDPoP + `{}`,
		"negative expiry":   `{"access_token":"x","token_type":"DPoP","expires_in":-5}`,
		"fractional expiry": `{"access_token":"x","token_type":"DPoP","expires_in":1.5}`,
		"absurd expiry":     `{"access_token":"x","token_type":"DPoP","expires_in":99999999999}`,
		"token is a number": `{"access_token":5,"token_type":"DPoP"}`,
		"array":             `[]`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newScript(t, reply(200, body))
			c, _ := newClient(t, srv.URL, true)
			_, err := c.Token(context.Background(), url.Values{})
			require.ErrorIs(t, err, ErrInvalidResponse)
			assert.NotContains(t, err.Error(), "SECRET")
		})
	}
}

func TestLenientValidResponses(t *testing.T) {
	cases := map[string]string{
		"lower-case dpop":   `{"access_token":"x","token_type":"dpop"}`,
		"string expires_in": `{"access_token":"x","token_type":"DPoP","expires_in":"600"}`,
		"no expires_in":     `{"access_token":"x","token_type":"DPoP"}`,
		"unknown members":   `{"access_token":"x","token_type":"DPoP","rejected_scope":"a b"}`,
		"helseid refresh":   `{"access_token":"x","token_type":"DPoP","refresh_token":"r","rt_expires_in":3600,"id_token":"i"}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newScript(t, reply(200, body))
			c, _ := newClient(t, srv.URL, true)
			_, err := c.Token(context.Background(), url.Values{})
			require.NoError(t, err)
		})
	}
}

func TestBearerWithoutProofer(t *testing.T) {
	srv := newScript(t, reply(200, `{"access_token":"x","token_type":"bearer"}`))
	c, _ := newClient(t, srv.URL, false)
	_, err := c.Token(context.Background(), url.Values{})
	require.NoError(t, err)
	assert.Empty(t, srv.recorded()[0].proof)
}

func TestOversizedBody(t *testing.T) {
	srv := newScript(t, reply(200, `{"access_token":"`+strings.Repeat("a", httpx.DefaultMaxBody)+`","token_type":"DPoP"}`))
	c, _ := newClient(t, srv.URL, true)
	_, err := c.Token(context.Background(), url.Values{})
	require.ErrorIs(t, err, httpx.ErrBodyTooLarge)
}

func TestTransportErrorHasNoSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close() // reset every connection without answering
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	c, _ := newClient(t, "http://"+ln.Addr().String()+"/connect/token", true)
	_, err = c.Token(context.Background(), url.Values{"code": {"SECRET-CODE"}})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET")
}

func TestContextCancelled(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	c, _ := newClient(t, srv.URL, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Token(ctx, url.Values{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestNewValidation(t *testing.T) {
	ok := config{HTTPClient: http.DefaultClient, Endpoint: "https://as.example/token", Auth: &fakeAuth{}}
	_, err := newFromConfig(ok)
	require.NoError(t, err)
	for name, mutate := range map[string]func(*config){
		"http non-loopback": func(c *config) { c.Endpoint = "http://as.example/token" },
		"relative":          func(c *config) { c.Endpoint = "/token" },
		"no client":         func(c *config) { c.HTTPClient = nil },
		"no auth":           func(c *config) { c.Auth = nil },
		"proofer no nonces": func(c *config) { c.Proofer = &fakeProofer{} },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			mutate(&cfg)
			_, err := newFromConfig(cfg)
			assert.Error(t, err)
		})
	}
}

func TestResponseRedaction(t *testing.T) {
	r := &TokenResponse{AccessToken: "AT-SECRET", RefreshToken: "RT-SECRET", IDToken: "ID-SECRET", TokenType: "DPoP", Scope: "s"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assert.NotContains(t, fmt.Sprintf(verb, r), "SECRET", verb)
		assert.NotContains(t, fmt.Sprintf(verb, *r), "SECRET", verb)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("token", "resp", r, "value", *r)
	assert.NotContains(t, b.String(), "SECRET")
	assert.Contains(t, b.String(), `"token_type":"DPoP"`)
}

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &Error{StatusCode: 400, Code: "invalid_grant", Description: "x"})
	assert.ErrorIs(t, err, ErrInvalidGrant)
	assert.NotErrorIs(t, err, ErrInvalidClient)
	assert.False(t, errors.Is(&Error{StatusCode: 400}, &Error{}), "empty code matches nothing")
}

// A token endpoint that redirects must not get the credentials forwarded: the assertion and
// proof would reach whatever the Location names.
func TestRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Header().Set("DPoP-Nonce", "evil-nonce")
		_, _ = w.Write([]byte(`{"access_token":"attacker-token","token_type":"DPoP"}`))
	}))
	t.Cleanup(evil.Close)
	srv := newScript(t, func(w http.ResponseWriter) {
		w.Header().Set("Location", evil.URL+"/token")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	c, nonces := newClient(t, srv.URL, true)
	_, err := c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}})
	var oe *Error
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, http.StatusTemporaryRedirect, oe.StatusCode)
	assert.Zero(t, elsewhere.Load(), "nothing was sent to the redirect target")
	assert.Empty(t, nonces.m)
}

// The retry carries the nonce of the challenge it answers, even when the shared store has
// meanwhile been given another (another server on the same origin, a concurrent response).
func TestNonceRetryUsesChallengeNonce(t *testing.T) {
	var c *Client
	var nonces *mapNonces
	srv := newScript(t, func(w http.ResponseWriter) {
		nonceChallenge(w)
	}, reply(200, okDPoP))
	c, nonces = newClient(t, srv.URL, true)
	// A resource server on the same origin overwrites the store right after the challenge.
	c.nonces = overwritingNonces{mapNonces: nonces, value: "rs-nonce"}
	_, err := c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}})
	require.NoError(t, err)
	reqs := srv.recorded()
	require.Len(t, reqs, 2)
	assert.Contains(t, reqs[1].proof, "|nonce=n-1|")
}

type overwritingNonces struct {
	*mapNonces
	value string
}

func (o overwritingNonces) Observe(u *url.URL, h http.Header) {
	o.mapNonces.Observe(u, h)
	o.mu.Lock()
	o.m[u.Host] = o.value
	o.mu.Unlock()
}

// NewClient: a nil *dpop.Proofer means no DPoP at all (not a proof by a nil Proofer), a nil
// store is replaced by a new one, and a nil HTTP client by the default.
func TestNewClient(t *testing.T) {
	srv := newScript(t, reply(200, `{"access_token":"AT","token_type":"Bearer"}`))
	c, err := NewClient(srv.URL, Settings{ClientAuth: &fakeAuth{}})
	require.NoError(t, err)
	assert.False(t, c.DPoP())
	_, err = c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}})
	require.NoError(t, err, "a Bearer token is right when no proof was sent")
	assert.Empty(t, srv.recorded()[0].proof)

	proofer, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	dpopSrv := newScript(t, nonceChallenge, reply(200, okDPoP))
	c, err = NewClient(dpopSrv.URL, Settings{ClientAuth: &fakeAuth{}, Proofer: proofer})
	require.NoError(t, err)
	assert.True(t, c.DPoP())
	_, err = c.Token(context.Background(), url.Values{"grant_type": {"client_credentials"}})
	require.NoError(t, err)
	reqs := dpopSrv.recorded()
	require.Len(t, reqs, 2)
	parts := strings.Split(reqs[1].proof, ".")
	require.Len(t, parts, 3, "a real proof is a compact JWS")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	assert.Contains(t, string(payload), `"nonce":"n-1"`, "the new store took the challenge's nonce")

	_, err = NewClient("https://as.example/token", Settings{})
	assert.ErrorContains(t, err, "client authentication is nil")
}
