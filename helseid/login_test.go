package helseid_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/fakeclock"
)

const (
	loginRedirect = "https://ehr.example/callback"
	loginScope    = "openid profile offline_access helseid://scopes/identity/pid nhn:service-a/read nhn:service-b/read"
)

// countingTransport counts the requests the client sends to the server's endpoints, to prove
// that a failed login sends nothing more. Discovery and JWKS fetches are not counted: the
// conformance suite allows them at any time.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(r.URL.Path, "/.well-known/") {
		c.n.Add(1)
	}
	return c.base.RoundTrip(r)
}

type loginFixture struct {
	srv      *helseidtest.Server
	client   *helseid.Client
	requests *countingTransport
}

func newLoginFixture(t *testing.T, mutate func(*helseid.Config)) *loginFixture {
	t.Helper()
	return newLoginFixtureWith(t, helseidtest.Options{}, mutate)
}

func newLoginFixtureWith(t *testing.T, opts helseidtest.Options, mutate func(*helseid.Config)) *loginFixture {
	t.Helper()
	srv := helseidtest.NewServer(t, opts)
	priv, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes:       []string{"openid", "profile", "offline_access", "helseid://scopes/identity/pid", "nhn:service-a/read", "nhn:service-b/read", apiScope},
		RedirectURIs: []string{loginRedirect}, PostLogoutRedirectURIs: []string{"https://ehr.example/"}, ChildOrgNumbers: []string{"920773230"}})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	counter := &countingTransport{base: srv.Client().Transport}
	cfg := helseid.Config{Issuer: srv.Issuer(), ClientID: "ehr", Key: key, HTTPClient: &http.Client{Transport: counter}}
	if mutate != nil {
		mutate(&cfg)
	}
	client, err := helseid.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return &loginFixture{srv: srv, client: client, requests: counter}
}

// browse follows the authorization URL as a browser would and returns the callback's query.
func (f *loginFixture) browse(t *testing.T, authURL string) url.Values {
	t.Helper()
	browser := f.srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, loginRedirect, loc.Scheme+"://"+loc.Host+loc.Path)
	return loc.Query()
}

func (f *loginFixture) start(t *testing.T) (url.Values, *helseid.LoginState) {
	t.Helper()
	authURL, st, err := f.client.StartLogin(context.Background(), helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope,
		Resources: []string{"nhn:service-a", "nhn:service-b"}})
	require.NoError(t, err)
	u, err := url.Parse(authURL)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"client_id", "request_uri"}, keys(u.Query()), "the front channel carries client_id and request_uri only")
	return f.browse(t, authURL), st
}

func keys(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

func TestLogin(t *testing.T) {
	f := newLoginFixture(t, nil)
	callback, st := f.start(t)
	assert.Equal(t, f.srv.Issuer(), callback.Get("iss"))
	res, err := f.client.FinishLogin(context.Background(), callback, st)
	require.NoError(t, err)

	user := helseidtest.DefaultTestUser()
	assert.Equal(t, user.PID, res.Claims.PID)
	assert.Equal(t, "4", res.Claims.SecurityLevel)
	assert.Equal(t, user.HPRNumber, res.Claims.HPRNumber)
	assert.Equal(t, user.Name, res.Claims.Name)
	assert.Equal(t, st.Nonce, res.Claims.Nonce)
	assert.Equal(t, "nhn:service-a", res.Resource)
	at := claimsOf(t, res.AccessToken.AccessToken)
	assert.Equal(t, "nhn:service-a", at["aud"], "the code exchange asks for the first resource only")
	assert.Equal(t, map[string]any{"jkt": f.client.Proofer().Thumbprint()}, at["cnf"])
	assert.NotEmpty(t, res.RefreshToken)
	assert.False(t, res.RefreshExpiry.IsZero(), "rt_expires_in")
	for _, s := range []string{res.String(), st.String()} {
		assert.NotContains(t, s, res.RefreshToken)
		assert.NotContains(t, s, string(st.Verifier))
	}

	// The state works once.
	_, err = f.client.FinishLogin(context.Background(), callback, st)
	assert.ErrorIs(t, err, helseid.ErrLoginState)
}

func TestLoginStrictProfileAcceptsPS256(t *testing.T) {
	f := newLoginFixtureWith(t, helseidtest.Options{IDTokenAlgorithm: "PS256"}, func(c *helseid.Config) { c.IDTokenProfile = helseid.FAPI2Profile })
	callback, st := f.start(t)
	res, err := f.client.FinishLogin(context.Background(), callback, st)
	require.NoError(t, err)
	assert.Equal(t, helseidtest.DefaultTestUser().PID, res.Claims.PID)
}

func TestLoginStrictProfileRefusesRS256(t *testing.T) {
	f := newLoginFixture(t, func(c *helseid.Config) { c.IDTokenProfile = helseid.FAPI2Profile })
	callback, st := f.start(t)
	_, err := f.client.FinishLogin(context.Background(), callback, st)
	assert.ErrorIs(t, err, helseid.ErrInvalidIDToken, "HelseID signs with RS256, which FAPI 2.0 does not allow")
}

// Every way the OpenID conformance suite's FAPI 2.0 client tests make a login go wrong (and a
// few more: at_hash, bad signature, Bearer token type): the client refuses,
// and sends nothing more after the refusal (no retry, no new flow).
func TestLoginRefusesMisbehavingServer(t *testing.T) {
	rows := []struct {
		name   string
		faults helseidtest.LoginFaults
		want   error
		// sentAfterCallback is how many requests FinishLogin may send: 0 when it must refuse
		// the callback itself, up to 2 (the code exchange and its nonce retry) otherwise.
		sentAfterCallback int32
	}{
		{"callback iss + 1", helseidtest.LoginFaults{CallbackWrongIss: true}, helseid.ErrIssuerMismatch, 0},
		{"callback without iss", helseidtest.LoginFaults{CallbackNoIss: true}, helseid.ErrIssuerMismatch, 0},
		{"callback state + 1", helseidtest.LoginFaults{CallbackWrongState: true}, helseid.ErrStateMismatch, 0},
		{"callback without state", helseidtest.LoginFaults{CallbackNoState: true}, helseid.ErrStateMismatch, 0},
		{"id token iss + 1", helseidtest.LoginFaults{IDTokenWrongIss: true}, helseid.ErrInvalidIDToken, 2},
		{"id token without iss", helseidtest.LoginFaults{IDTokenNoIss: true}, helseid.ErrInvalidIDToken, 2},
		{"id token aud + 1", helseidtest.LoginFaults{IDTokenWrongAud: true}, helseid.ErrInvalidIDToken, 2},
		{"id token with an untrusted second aud", helseidtest.LoginFaults{IDTokenExtraAud: true}, helseid.ErrInvalidIDToken, 2},
		{"id token without aud", helseidtest.LoginFaults{IDTokenNoAud: true}, helseid.ErrInvalidIDToken, 2},
		{"id token expired 6 minutes ago", helseidtest.LoginFaults{IDTokenExpired: true}, helseid.ErrInvalidIDToken, 2},
		{"id token without exp", helseidtest.LoginFaults{IDTokenNoExp: true}, helseid.ErrInvalidIDToken, 2},
		{"id token without iat", helseidtest.LoginFaults{IDTokenNoIat: true}, helseid.ErrInvalidIDToken, 2},
		{"id token without sub", helseidtest.LoginFaults{IDTokenNoSub: true}, helseid.ErrInvalidIDToken, 2},
		{"id token nonce + 1", helseidtest.LoginFaults{IDTokenWrongNonce: true}, helseid.ErrInvalidIDToken, 2},
		{"id token without nonce", helseidtest.LoginFaults{IDTokenNoNonce: true}, helseid.ErrInvalidIDToken, 2},
		{"id token with a wrong at_hash", helseidtest.LoginFaults{IDTokenWrongAtHash: true}, helseid.ErrInvalidIDToken, 2},
		{"id token alg none", helseidtest.LoginFaults{IDTokenAlgNone: true}, helseid.ErrInvalidIDToken, 2},
		{"id token by an unpublished RS256 key", helseidtest.LoginFaults{IDTokenAltKey: true}, helseid.ErrInvalidIDToken, 2},
		{"id token with a bad signature", helseidtest.LoginFaults{IDTokenBadSignature: true}, helseid.ErrInvalidIDToken, 2},
		{"bearer token type", helseidtest.LoginFaults{TokenTypeBearer: true}, helseid.ErrInvalidResponse, 2},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			f := newLoginFixture(t, nil)
			callback, st := f.start(t)
			f.srv.SetLoginFaults(row.faults)
			if row.faults.CallbackWrongIss || row.faults.CallbackNoIss || row.faults.CallbackWrongState || row.faults.CallbackNoState {
				f.srv.SetLoginFaults(helseidtest.LoginFaults{}) // this login's callback was correct: redo it faulty
				callback, st = f.startWith(t, row.faults)
			}
			before := f.requests.n.Load()
			_, err := f.client.FinishLogin(context.Background(), callback, st)
			require.Error(t, err)
			assert.ErrorIs(t, err, row.want)
			// Exactly the code exchange (a use_dpop_nonce challenge and the retry), or
			// nothing when the callback itself is refused: no retry, no new flow.
			assert.Equal(t, row.sentAfterCallback, f.requests.n.Load()-before, "no request after the refusal")
			// And the login cannot be finished another way with the same state.
			_, err = f.client.FinishLogin(context.Background(), callback, st)
			assert.ErrorIs(t, err, helseid.ErrLoginState)
		})
	}
}

// The conformance suite's discovery-issuer-mismatch test: a discovery document naming another
// issuer stops the client before
// any request of the flow.
func TestLoginRefusesDiscoveryIssuerMismatch(t *testing.T) {
	f := newLoginFixture(t, nil)
	f.srv.SetLoginFaults(helseidtest.LoginFaults{DiscoveryIssuerMismatch: true})
	_, _, err := f.client.StartLogin(context.Background(), helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "issuer")
	assert.Zero(t, f.requests.n.Load(), "no PAR, no authorize, no token request")
}

// startWith starts a login while the server applies faults to the callback.
func (f *loginFixture) startWith(t *testing.T, faults helseidtest.LoginFaults) (url.Values, *helseid.LoginState) {
	t.Helper()
	f.srv.SetLoginFaults(faults)
	defer f.srv.SetLoginFaults(helseidtest.LoginFaults{})
	return f.start(t)
}

// The positive rows: an aud array of one, a token_type in another case, no expires_in.
func TestLoginAcceptsValidVariants(t *testing.T) {
	for name, faults := range map[string]helseidtest.LoginFaults{
		"aud as an array":    {IDTokenAudArray: true},
		"token_type dPoP":    {TokenTypeMixedCase: true},
		"without expires_in": {NoExpiresIn: true},
	} {
		t.Run(name, func(t *testing.T) {
			f := newLoginFixture(t, nil)
			callback, st := f.start(t)
			f.srv.SetLoginFaults(faults)
			_, err := f.client.FinishLogin(context.Background(), callback, st)
			require.NoError(t, err)
		})
	}
}

func TestLoginErrorResponseAndSecurityLevel(t *testing.T) {
	f := newLoginFixture(t, func(c *helseid.Config) { c.RequireSecurityLevel4 = true })
	_, st := f.start(t)
	cb := url.Values{"error": {"access_denied"}, "error_description": {"the user cancelled"}, "state": {st.State}, "iss": {f.srv.Issuer()}}
	_, err := f.client.FinishLogin(context.Background(), cb, st)
	var ae *helseid.AuthorizationError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "access_denied", ae.Code)

	callback, st := f.start(t)
	f.srv.SetLoginFaults(helseidtest.LoginFaults{IDTokenWrongSecLevel: true})
	_, err = f.client.FinishLogin(context.Background(), callback, st)
	assert.ErrorIs(t, err, helseid.ErrInsufficientSecurityLevel)
	assert.False(t, errors.Is(err, helseid.ErrInvalidIDToken))
}

func TestParseCallback(t *testing.T) {
	for name, q := range map[string]url.Values{
		"repeated code":  {"code": {"a", "b"}, "state": {"s"}},
		"repeated state": {"code": {"a"}, "state": {"s", "s"}},
		"code and error": {"code": {"a"}, "error": {"access_denied"}},
		"empty code":     {"code": {""}},
		"control chars":  {"error": {"bad\x00code"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := helseid.ParseCallback(q)
			assert.ErrorIs(t, err, helseid.ErrInvalidCallback)
		})
	}
	cb, err := helseid.ParseCallback(url.Values{"code": {"c"}, "state": {"s"}, "iss": {"https://honest.as.example"}, "session_state": {"x"}})
	require.NoError(t, err)
	assert.Equal(t, helseid.Callback{Code: "c", State: "s", Issuer: "https://honest.as.example"}, *cb)
}

// lostPARResponse lets the first pushed authorization request reach the server and then loses
// its answer (a 503 from a gateway), as happens when a proxy times out after the server acted;
// it records every push's form and advances clock between the attempts.
type lostPARResponse struct {
	base  http.RoundTripper
	clock *fakeclock.Clock
	mu    sync.Mutex
	forms []url.Values
}

func (l *lostPARResponse) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != helseidtest.PARPath {
		return l.base.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	_ = r.Body.Close()
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	l.mu.Lock()
	l.forms = append(l.forms, form)
	first := len(l.forms) == 1
	l.mu.Unlock()
	resp, err := l.base.RoundTrip(r)
	if err != nil || !first {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	l.clock.Advance(20 * time.Second)
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// A push retried after a transient failure carries a new request object: the server consumed
// the first one's jti, and the retry's exp counts from the retry.
func TestLoginPARRetryCarriesNewRequestObject(t *testing.T) {
	clock := fakeclock.New(time.Now())
	var lost *lostPARResponse
	f := newLoginFixtureWith(t, helseidtest.Options{Now: clock.Now}, func(c *helseid.Config) {
		c.Now = clock.Now
		lost = &lostPARResponse{base: c.HTTPClient.Transport, clock: clock}
		c.HTTPClient = &http.Client{Transport: lost}
	})
	authURL, st, err := f.client.StartLogin(context.Background(), helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope,
		Resources: []string{"nhn:service-a"}, Organization: helseid.Organization{Child: "920773230"}})
	require.NoError(t, err, "the retried push is accepted")

	require.Len(t, lost.forms, 2, "the push was retried once")
	first, retry := claimsOf(t, lost.forms[0].Get("request")), claimsOf(t, lost.forms[1].Get("request"))
	assert.NotEqual(t, first["jti"], retry["jti"], "a new jti for the retry")
	assert.Equal(t, first["exp"].(float64)+20, retry["exp"], "the retry's exp counts from the retry")
	assert.Equal(t, first["authorization_details"], retry["authorization_details"], "the same organisation")

	res, err := f.client.FinishLogin(context.Background(), f.browse(t, authURL), st)
	require.NoError(t, err)
	assert.Equal(t, "920773230", claimsOf(t, res.AccessToken.AccessToken)[helseid.ClaimOrgNrChild])
}
