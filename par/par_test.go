package par_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/par"
)

var assertions atomic.Int32

func freshAssertion(form url.Values) error {
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", "assertion-"+string(rune('a'+assertions.Add(1))))
	return nil
}

// parServer demands a DPoP nonce first, then answers 201 with a request_uri.
func parServer(t *testing.T, status int, body string) (*httptest.Server, *[]url.Values, *[]string) {
	t.Helper()
	var forms []url.Values
	var proofs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		assert.Empty(t, r.URL.RawQuery, "parameters go in the body")
		forms = append(forms, r.PostForm)
		proofs = append(proofs, r.Header.Get("DPoP"))
		w.Header().Set("Content-Type", "application/json")
		if len(forms) == 1 && r.Header.Get("DPoP") != "" {
			w.Header().Set("DPoP-Nonce", "nonce-1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"use_dpop_nonce"}`))
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &forms, &proofs
}

func params() url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {"c1"}, "redirect_uri": {"https://ehr.example/cb"},
		"scope": {"openid nhn:a/x"}, "state": {"s"}, "nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"}, "resource": {"nhn:a", "nhn:b"}}
}

func TestPushWithDPoP(t *testing.T) {
	srv, forms, proofs := parServer(t, http.StatusCreated, `{"request_uri":"urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c","expires_in":60}`)
	proofer, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	now := time.Unix(1_800_000_000, 0)
	p, err := par.New(srv.URL+"/par", fapi.Settings{ClientAuth: fapi.ClientAuthenticatorFunc(freshAssertion), Proofer: proofer, HTTPClient: srv.Client(), Now: func() time.Time { return now }})
	require.NoError(t, err)
	resp, err := p.Push(context.Background(), params())
	require.NoError(t, err)
	assert.Equal(t, "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c", resp.RequestURI)
	assert.EqualValues(t, 60, resp.ExpiresIn)
	assert.Equal(t, now.Add(time.Minute), resp.Expiry)

	require.Len(t, *forms, 2, "one retry with the nonce")
	first, retry := (*forms)[0], (*forms)[1]
	assert.NotEqual(t, first.Get("client_assertion"), retry.Get("client_assertion"), "a fresh assertion for the retry")
	assert.NotEqual(t, (*proofs)[0], (*proofs)[1], "a fresh proof for the retry")
	assert.Equal(t, proofer.Thumbprint(), retry.Get("dpop_jkt"))
	assert.Equal(t, []string{"nhn:a", "nhn:b"}, retry["resource"], "every resource is pushed")
	assert.Equal(t, "openid nhn:a/x", retry.Get("scope"), "scope byte for byte")
}

func TestPushRefusals(t *testing.T) {
	srv, forms, _ := parServer(t, http.StatusCreated, `{"request_uri":"urn:x","expires_in":60}`)
	p, err := par.New(srv.URL+"/par", fapi.Settings{ClientAuth: fapi.ClientAuthenticatorFunc(freshAssertion), HTTPClient: srv.Client()})
	require.NoError(t, err)
	for _, name := range []string{"request_uri", "client_assertion", "dpop_jkt"} {
		ps := params()
		ps.Set(name, "x")
		_, err := p.Push(context.Background(), ps)
		assert.ErrorIs(t, err, par.ErrInvalidRequest, name)
	}
	ps := params()
	ps.Del("client_id")
	_, err = p.Push(context.Background(), ps)
	assert.ErrorIs(t, err, par.ErrInvalidRequest)
	assert.Empty(t, *forms, "nothing was sent")
}

func TestPushBadResponses(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
	}{
		"200 instead of 201":  {http.StatusOK, `{"request_uri":"urn:x","expires_in":60}`},
		"no request_uri":      {http.StatusCreated, `{"expires_in":60}`},
		"no expires_in":       {http.StatusCreated, `{"request_uri":"urn:x"}`},
		"negative expires_in": {http.StatusCreated, `{"request_uri":"urn:x","expires_in":-1}`},
		"not json":            {http.StatusCreated, `<html>`},
	} {
		t.Run(name, func(t *testing.T) {
			srv, _, _ := parServer(t, tc.status, tc.body)
			p, err := par.New(srv.URL+"/par", fapi.Settings{ClientAuth: fapi.ClientAuthenticatorFunc(freshAssertion), HTTPClient: srv.Client()})
			require.NoError(t, err)
			_, err = p.Push(context.Background(), params())
			require.Error(t, err)
			if tc.status == http.StatusCreated {
				assert.ErrorIs(t, err, fapi.ErrInvalidResponse)
			}
		})
	}
	t.Run("an oauth error", func(t *testing.T) {
		srv, _, _ := parServer(t, http.StatusBadRequest, `{"error":"invalid_request","error_description":"redirect_uri is not registered"}`)
		p, err := par.New(srv.URL+"/par", fapi.Settings{ClientAuth: fapi.ClientAuthenticatorFunc(freshAssertion), HTTPClient: srv.Client()})
		require.NoError(t, err)
		_, err = p.Push(context.Background(), params())
		var pe *fapi.Error
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "invalid_request", pe.Code)
		assert.NotContains(t, err.Error(), "assertion-")
	})
}

func TestAuthorizationURL(t *testing.T) {
	got, err := par.AuthorizationURL("https://helseid-sts.test.nhn.no/connect/authorize", "s6BhdRkqt3", "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c")
	require.NoError(t, err)
	assert.Equal(t, "https://helseid-sts.test.nhn.no/connect/authorize?client_id=s6BhdRkqt3&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A6esc_11ACC5bwc014ltc14eY22c", got)
	u, _ := url.Parse(got)
	assert.Len(t, u.Query(), 2, "client_id and request_uri only")

	_, err = par.AuthorizationURL("http://evil.example/authorize", "c", "u")
	assert.Error(t, err, "plain http only to loopback")
	_, err = par.AuthorizationURL("https://as.example/authorize", "", "u")
	assert.ErrorIs(t, err, par.ErrInvalidRequest)
}

// A push retried after a transient failure carries a new request object, so the server never
// sees a request object's jti twice.
func TestPushWithRequestObjectBuildsOnePerAttempt(t *testing.T) {
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		forms = append(forms, r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		if len(forms) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"request_uri":"urn:ietf:params:oauth:request_uri:x","expires_in":60}`))
	}))
	t.Cleanup(srv.Close)
	p, err := par.New(srv.URL+"/par", fapi.Settings{ClientAuth: fapi.ClientAuthenticatorFunc(freshAssertion), HTTPClient: srv.Client()})
	require.NoError(t, err)
	built := 0
	resp, err := p.PushWithRequestObject(context.Background(), params(), func() (string, error) {
		built++
		return "request-object-" + string(rune('0'+built)), nil
	})
	require.NoError(t, err)
	assert.Equal(t, "urn:ietf:params:oauth:request_uri:x", resp.RequestURI)

	require.Len(t, forms, 2, "one retry after the 503")
	assert.Equal(t, 2, built)
	assert.Equal(t, []string{"request-object-1"}, forms[0]["request"])
	assert.Equal(t, []string{"request-object-2"}, forms[1]["request"], "the retry carries a new request object")
	assert.Equal(t, "openid nhn:a/x", forms[1].Get("scope"), "the other parameters as given")
}

func TestPushWithRequestObjectRefusals(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	p, err := par.New(srv.URL+"/par", fapi.Settings{ClientAuth: fapi.ClientAuthenticatorFunc(freshAssertion), HTTPClient: srv.Client()})
	require.NoError(t, err)
	ro := func() (string, error) { return "ro", nil }
	withRequest := params()
	withRequest.Set("request", "static")
	signErr := errors.New("hsm unavailable")

	tests := []struct {
		name   string
		params url.Values
		ro     par.RequestObjectFunc
		want   error
	}{
		{"nil function", params(), nil, par.ErrInvalidRequest},
		{"request in params", withRequest, ro, par.ErrInvalidRequest},
		{"request_uri in params", url.Values{"client_id": {"c1"}, "request_uri": {"x"}}, ro, par.ErrInvalidRequest},
		{"signing fails", params(), func() (string, error) { return "", signErr }, signErr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.PushWithRequestObject(context.Background(), tc.params, tc.ro)
			assert.ErrorIs(t, err, tc.want)
		})
	}
	assert.Zero(t, hits.Load(), "nothing is sent")
}

// The DPoP nonce retry is an attempt like any other: it gets a new request object too.
func TestPushWithRequestObjectNonceRetry(t *testing.T) {
	srv, forms, _ := parServer(t, http.StatusCreated, `{"request_uri":"urn:ietf:params:oauth:request_uri:x","expires_in":60}`)
	proofer, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	p, err := par.New(srv.URL+"/par", fapi.Settings{ClientAuth: fapi.ClientAuthenticatorFunc(freshAssertion), Proofer: proofer, HTTPClient: srv.Client()})
	require.NoError(t, err)
	built := 0
	_, err = p.PushWithRequestObject(context.Background(), params(), func() (string, error) {
		built++
		return "request-object-" + string(rune('0'+built)), nil
	})
	require.NoError(t, err)
	require.Len(t, *forms, 2, "one retry with the nonce")
	assert.Equal(t, "request-object-1", (*forms)[0].Get("request"))
	assert.Equal(t, "request-object-2", (*forms)[1].Get("request"))
}
