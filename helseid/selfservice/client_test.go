package selfservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

const clientID = "rotating-client"

// fixture is a helseidtest server with a client that may use the self-service API.
type fixture struct {
	srv    *helseidtest.Server
	key    *helseid.Key
	client *helseid.Client
}

func newFixture(t *testing.T, opts helseidtest.Options) fixture {
	t.Helper()
	srv := helseidtest.NewServer(t, opts)
	priv, err := srv.GenerateClient(clientID, selfservice.Scope, "nhn:helseidtest-api/read")
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	return fixture{srv: srv, key: key, client: newHelseIDClient(t, srv, key)}
}

func newHelseIDClient(t *testing.T, srv *helseidtest.Server, key *helseid.Key) *helseid.Client {
	t.Helper()
	c, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, Key: key, HTTPClient: srv.Client()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// authenticates reports the token endpoint's verdict on key.
func authenticates(t *testing.T, srv *helseidtest.Server, key *helseid.Key) error {
	t.Helper()
	_, err := newHelseIDClient(t, srv, key).ClientCredentials(context.Background(),
		helseid.ClientCredentialsRequest{Scopes: []string{"nhn:helseidtest-api/read"}})
	return err
}

func TestRegisterKeyReplacesTheClientsKey(t *testing.T) {
	f := newFixture(t, helseidtest.Options{ClientKeyLifetime: 48 * time.Hour})
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: f.srv.SelfServiceURL(), Client: f.client})
	require.NoError(t, err)
	next, err := helseid.GenerateKey("ES384")
	require.NoError(t, err)

	before := time.Now().Truncate(time.Second)
	expiration, err := ss.RegisterKey(context.Background(), next)
	require.NoError(t, err)
	assert.WithinRange(t, expiration, before.Add(48*time.Hour), time.Now().Add(48*time.Hour))

	kids, expires, ok := f.srv.ClientKeyIDs(clientID)
	require.True(t, ok)
	assert.Equal(t, []string{next.KeyID()}, kids)
	assert.True(t, expires.Equal(expiration), "the server's expiration is the one answered")
	assert.NoError(t, authenticates(t, f.srv, next), "the new key authenticates")
	assert.ErrorIs(t, authenticates(t, f.srv, f.key), helseid.ErrInvalidClient, "the replaced key is refused")
	assert.EqualValues(t, 1, f.srv.Stats().KeysRegistered)
}

func TestRegisterKeyRefusedIsAProblem(t *testing.T) {
	f := newFixture(t, helseidtest.Options{})
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: f.srv.SelfServiceURL(), Client: f.client})
	require.NoError(t, err)
	// HelseID takes RS/PS/ES keys only; an EdDSA key is refused.
	next, err := helseid.GenerateKey("EdDSA")
	require.NoError(t, err)

	_, err = ss.RegisterKey(context.Background(), next)
	var p *selfservice.Problem
	require.ErrorAs(t, err, &p)
	assert.Equal(t, http.StatusBadRequest, p.Status)
	assert.Equal(t, "Invalid public key", p.Title)
	assert.Contains(t, p.Detail, "alg")
	assert.NoError(t, authenticates(t, f.srv, f.key), "the old key still authenticates")
}

// TestRegisterKeyAnswers reads answers of a stand-in API: the DPoP-bound token comes from
// helseidtest, the answer from the table.
func TestRegisterKeyAnswers(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        time.Time
		problem     *selfservice.Problem
		errIs       error
	}{
		{name: "rfc 3339 utc", status: 200, contentType: "application/json", body: `{"expiration":"2027-03-01T12:00:00Z"}`,
			want: time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)},
		{name: "dotnet offset and fraction", status: 200, contentType: "application/json", body: `{"expiration":"2027-03-01T13:00:00.1234567+01:00"}`,
			want: time.Date(2027, 3, 1, 12, 0, 0, 123456700, time.UTC)},
		{name: "no zone is utc", status: 200, contentType: "application/json", body: `{"expiration":"2027-03-01T12:00:00"}`,
			want: time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)},
		{name: "201 created", status: 201, contentType: "application/json", body: `{"expiration":"2027-03-01T12:00:00Z"}`,
			want: time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)},
		{name: "no expiration", status: 200, contentType: "application/json", body: `{}`, errIs: selfservice.ErrInvalidResponse},
		{name: "bad expiration", status: 200, contentType: "application/json", body: `{"expiration":"next year"}`, errIs: selfservice.ErrInvalidResponse},
		{name: "dotnet default DateTime", status: 200, contentType: "application/json", body: `{"expiration":"0001-01-01T00:00:00"}`, errIs: selfservice.ErrInvalidResponse},
		{name: "zero time in utc", status: 200, contentType: "application/json", body: `{"expiration":"0001-01-01T00:00:00Z"}`, errIs: selfservice.ErrInvalidResponse},
		{name: "in the past", status: 200, contentType: "application/json", body: `{"expiration":"2026-11-30T12:00:00Z"}`, errIs: selfservice.ErrInvalidResponse},
		{name: "now is not the future", status: 200, contentType: "application/json", body: `{"expiration":"2026-12-01T13:00:00+01:00"}`, errIs: selfservice.ErrInvalidResponse},
		{name: "a second ahead", status: 200, contentType: "application/json", body: `{"expiration":"2026-12-01T12:00:01Z"}`,
			want: time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)},
		{name: "not json", status: 200, contentType: "text/html", body: `<html>`, errIs: selfservice.ErrInvalidResponse},
		{name: "problem json", status: 400, contentType: "application/problem+json",
			body:    `{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,"detail":"alg is missing","instance":"/v1/client-secret"}`,
			problem: &selfservice.Problem{Status: 400, Type: "https://tools.ietf.org/html/rfc9110#section-15.5.1", Title: "One or more validation errors occurred.", Detail: "alg is missing", Instance: "/v1/client-secret"}},
		{name: "problem status wins over body status", status: 403, contentType: "application/problem+json", body: `{"title":"Forbidden","status":200}`,
			problem: &selfservice.Problem{Status: 403, Type: "about:blank", Title: "Forbidden"}},
		{name: "plain text error", status: 502, contentType: "text/plain", body: `bad gateway`,
			problem: &selfservice.Problem{Status: 502, Type: "about:blank", Title: "Bad Gateway"}},
		{name: "control characters cleaned", status: 400, contentType: "application/problem+json", body: `{"title":"bad\nkey","detail":"x\u001by"}`,
			problem: &selfservice.Problem{Status: 400, Type: "about:blank", Title: "bad key", Detail: "x y"}},
	}
	f := newFixture(t, helseidtest.Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, http.MethodPost, r.Method)
				assert.Equal(t, selfservice.ClientSecretPath, r.URL.Path)
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
				assert.Regexp(t, `^DPoP `, r.Header.Get("Authorization"))
				assert.NotEmpty(t, r.Header.Get("DPoP"))
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(api.Close)
			ss, err := selfservice.NewClient(selfservice.Config{BaseURL: api.URL + "/", Client: f.client,
				Now: func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }})
			require.NoError(t, err)

			got, err := ss.RegisterKey(context.Background(), f.key)
			switch {
			case tc.problem != nil:
				var p *selfservice.Problem
				require.ErrorAs(t, err, &p)
				assert.Equal(t, tc.problem, p)
			case tc.errIs != nil:
				assert.ErrorIs(t, err, tc.errIs)
			default:
				require.NoError(t, err)
				assert.True(t, tc.want.Equal(got), "got %s", got)
			}
		})
	}
}

func TestRegisterKeySendsThePublicJWK(t *testing.T) {
	f := newFixture(t, helseidtest.Options{})
	var sent map[string]any
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&sent))
		_, _ = w.Write([]byte(`{"expiration":"2027-03-01T12:00:00Z"}`))
	}))
	t.Cleanup(api.Close)
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: api.URL, Client: f.client})
	require.NoError(t, err)
	_, err = ss.RegisterKey(context.Background(), f.key)
	require.NoError(t, err)
	assert.Equal(t, f.key.KeyID(), sent["kid"])
	assert.Equal(t, "ES256", sent["alg"])
	assert.Equal(t, "sig", sent["use"])
	assert.NotContains(t, sent, "d", "no private part")
}

func TestNewClientRefusesBadConfig(t *testing.T) {
	f := newFixture(t, helseidtest.Options{})
	cases := []struct {
		name string
		cfg  selfservice.Config
	}{
		{"no client", selfservice.Config{BaseURL: selfservice.TestBaseURL}},
		{"no base url", selfservice.Config{Client: f.client}},
		{"plain http off loopback", selfservice.Config{BaseURL: "http://api.selvbetjening.test.nhn.no", Client: f.client}},
		{"relative", selfservice.Config{BaseURL: "/v1", Client: f.client}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := selfservice.NewClient(tc.cfg)
			assert.Error(t, err)
		})
	}
}

func TestRegisterKeyNetworkErrorIsNotAProblem(t *testing.T) {
	f := newFixture(t, helseidtest.Options{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if assert.NoError(t, err) {
			_ = conn.Close()
		}
	}))
	t.Cleanup(api.Close)
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: api.URL, Client: f.client})
	require.NoError(t, err)
	_, err = ss.RegisterKey(context.Background(), f.key)
	require.Error(t, err)
	var p *selfservice.Problem
	assert.False(t, errors.As(err, &p), "a lost answer leaves registration unknown, not refused")
}

// A multi-tenant client registers its key with the supplier's own token: no organisation is
// named, and none is needed in the context.
func TestRegisterKeyAsMultiTenantClient(t *testing.T) {
	srv := helseidtest.NewServer(t)
	priv, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID: clientID, Scopes: []string{selfservice.Scope}, OrgNumber: helseidtest.DefaultOrgNumber, MultiTenant: true})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, Key: key, HTTPClient: srv.Client(), Tenancy: helseid.MultiTenant})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: srv.SelfServiceURL(), Client: client})
	require.NoError(t, err)
	next, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	_, err = ss.RegisterKey(context.Background(), next)
	require.NoError(t, err)
	kids, _, _ := srv.ClientKeyIDs(clientID)
	assert.Equal(t, []string{next.KeyID()}, kids)
}
