package helseid_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// rotationFixture is a client that logs users in, exchanges their tokens and registers its own
// keys through self-service, against one helseidtest.
type rotationFixture struct {
	*loginFixture
	key      *helseid.Key // the client's current key
	ss       *selfservice.Client
	userKey  *dpop.Proofer // binds the subject tokens of exchanges
	statuses *statusTransport
}

// statusTransport counts the answers of each endpoint by status.
type statusTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int // "path status"
}

func (s *statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		s.n[fmt.Sprint(r.URL.Path, " ", resp.StatusCode)]++
		s.mu.Unlock()
	}
	return resp, err
}

func (s *statusTransport) count(path string, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[fmt.Sprint(path, " ", status)]
}

func newRotationFixture(t *testing.T) *rotationFixture {
	t.Helper()
	srv := helseidtest.NewServer(t)
	_, err := srv.GenerateClient("front-end", "nhn:service-a/read")
	require.NoError(t, err)
	priv, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes: []string{"openid", "profile", "offline_access", "helseid://scopes/identity/pid", "nhn:service-a/read", "nhn:service-b/read",
			selfservice.Scope},
		RedirectURIs: []string{loginRedirect}, ChildOrgNumbers: []string{"920773230"}, ExchangeAudience: "nhn:service-a"})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	statuses := &statusTransport{base: srv.Client().Transport, n: map[string]int{}}
	counter := &countingTransport{base: statuses}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "ehr", Key: key, HTTPClient: &http.Client{Transport: counter}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: srv.SelfServiceURL(), Client: client})
	require.NoError(t, err)
	userKey, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	return &rotationFixture{loginFixture: &loginFixture{srv: srv, client: client, requests: counter}, key: key, ss: ss, userKey: userKey, statuses: statuses}
}

// registerPending does a rotation's first steps: the client learns of a new pending key, and
// HelseID registers it, refusing the current key from then on. It returns the new key.
func (f *rotationFixture) registerPending(t *testing.T) *helseid.Key {
	t.Helper()
	next, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	require.NoError(t, f.client.SetKeys(f.key, next))
	_, err = f.ss.RegisterKey(context.Background(), next)
	require.NoError(t, err)
	kids, _, _ := f.srv.ClientKeyIDs("ehr")
	require.Equal(t, []string{next.KeyID()}, kids, "precondition: HelseID holds the new key alone")
	return next
}

// promote ends the rotation as keystore.Rotator does.
func (f *rotationFixture) promote(t *testing.T, next *helseid.Key) {
	t.Helper()
	require.NoError(t, f.client.SetKeys(next, nil))
	f.key = next
}

// refusedThenAccepted checks that the server refused one request of op as invalid_client and
// accepted the same request sent again: the grant it carried was not used up by the refusal.
func (f *rotationFixture) refusedThenAccepted(t *testing.T, op func() error) {
	t.Helper()
	before := f.srv.Stats()
	require.NoError(t, op())
	after := f.srv.Stats()
	assert.Equal(t, before.TokenErrors+1, after.TokenErrors, "the old key was refused once")
	assert.Equal(t, before.TokensIssued+1, after.TokensIssued, "and the request sent again with the pending key")
	assert.Equal(t, f.key.KeyID(), f.client.KeyID(), "a request does not promote the pending key")
}

// follow is browse for goroutines other than the test's: it returns what went wrong.
func (f *rotationFixture) follow(authURL string) (url.Values, error) {
	browser := *f.srv.Client() // a copy: the server's client is shared
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("authorize answered %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	return loc.Query(), nil
}

func (f *rotationFixture) subjectToken(t *testing.T) string {
	t.Helper()
	tok, err := f.srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "front-end", Scopes: []string{"nhn:service-a/read"}, JKT: f.userKey.Thumbprint()})
	require.NoError(t, err)
	return tok
}

var exchangeRequest = helseid.TokenExchangeRequest{Scopes: []string{"nhn:service-b/read"}}

// HelseID may refuse the old key from the moment the new one is registered, before the
// rotation promotes it: the code exchange goes again with the pending key, and the code the
// refused attempt carried is still good.
func TestKeyRotationCodeExchangeTriesPendingKey(t *testing.T) {
	f := newRotationFixture(t)
	callback, st := f.start(t) // pushed with the old key
	f.registerPending(t)
	var res *helseid.LoginResult
	f.refusedThenAccepted(t, func() (err error) {
		res, err = f.client.FinishLogin(context.Background(), callback, st)
		return err
	})
	assert.NotEmpty(t, res.RefreshToken)
}

// The push goes again with the pending key, and so does its request object: a new one, signed
// by that key, whose organisation the login's tokens carry.
func TestKeyRotationPARTriesPendingKey(t *testing.T) {
	f := newRotationFixture(t)
	next := f.registerPending(t)
	ctx := context.Background()
	authURL, st, err := f.client.StartLogin(ctx, helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope,
		Resources: []string{"nhn:service-a"}, Organization: helseid.Organization{Child: "920773230"}})
	require.NoError(t, err)
	assert.Equal(t, 1, f.statuses.count(helseidtest.PARPath, http.StatusUnauthorized), "the old key was refused once")
	assert.Equal(t, 1, f.statuses.count(helseidtest.PARPath, http.StatusCreated))
	res, err := f.client.FinishLogin(ctx, f.browse(t, authURL), st)
	require.NoError(t, err)
	assert.Equal(t, "920773230", claimsOf(t, res.AccessToken.AccessToken)[helseid.ClaimOrgNrChild])

	_, _, err = f.client.StartLogin(ctx, helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope})
	require.NoError(t, err, "a push without a request object")
	assert.Equal(t, 2, f.statuses.count(helseidtest.PARPath, http.StatusUnauthorized))
	f.promote(t, next)
	_, _, err = f.client.StartLogin(ctx, helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope})
	require.NoError(t, err, "after the promotion")
}

// A session's refresh goes again with the pending key, and the refresh token the refused
// attempt carried is still good (rotated once, by the accepted one).
func TestKeyRotationSessionRefreshTriesPendingKey(t *testing.T) {
	f := newRotationFixture(t)
	callback, st := f.start(t)
	res, err := f.client.FinishLogin(context.Background(), callback, st)
	require.NoError(t, err)
	s, err := f.client.NewUserSession(context.Background(), res, helseid.SessionOptions{})
	require.NoError(t, err)
	rt, _ := s.RefreshToken()
	next := f.registerPending(t)
	f.refusedThenAccepted(t, func() error {
		_, err := s.Token(context.Background(), "nhn:service-b")
		return err
	})
	newRT, _ := s.RefreshToken()
	assert.NotEqual(t, rt, newRT, "the refresh token rotated")

	f.promote(t, next)
	require.NoError(t, f.client.RevokeRefreshToken(context.Background(), newRT))
	_, err = s.SwitchOrganization(context.Background(), helseid.Organization{Child: "920773230"}, "nhn:service-a")
	require.ErrorIs(t, err, helseid.ErrInvalidGrant, "the revocation, signed by the new key, was accepted")
}

// A token exchange goes again with the pending key.
func TestKeyRotationTokenExchangeTriesPendingKey(t *testing.T) {
	f := newRotationFixture(t)
	f.registerPending(t)
	f.refusedThenAccepted(t, func() error {
		_, err := f.client.ExchangeToken(context.Background(), f.subjectToken(t), exchangeRequest)
		return err
	})
	f.refusedThenAccepted(t, func() error {
		_, err := f.client.OnBehalfOf(context.Background(), f.subjectToken(t), time.Time{}, exchangeRequest)
		return err
	})
}

// Revocation authenticates the client too, and goes again with the pending key.
func TestKeyRotationRevocationTriesPendingKey(t *testing.T) {
	f := newRotationFixture(t)
	callback, st := f.start(t)
	res, err := f.client.FinishLogin(context.Background(), callback, st)
	require.NoError(t, err)
	s, err := f.client.NewUserSession(context.Background(), res, helseid.SessionOptions{})
	require.NoError(t, err)
	f.registerPending(t)
	require.NoError(t, f.client.RevokeRefreshToken(context.Background(), res.RefreshToken))
	_, err = s.Token(context.Background(), "nhn:service-b")
	require.ErrorIs(t, err, helseid.ErrInvalidGrant, "the revocation was accepted")
}
