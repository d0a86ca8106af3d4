package helseidtest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/helseidtest"
)

func TestDiscoveryAndJWKS(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	h.client("c", readScope, writeScope)
	iss := h.srv.Issuer()
	assert.Equal(t, iss, h.srv.URL())
	assert.True(t, strings.HasPrefix(iss, "http://127.0.0.1:"), iss)
	assert.False(t, strings.HasSuffix(iss, "/"))

	res := h.do(mustRequest(t, http.MethodGet, iss+"/.well-known/openid-configuration"))
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
	d := res.JSON
	assert.Equal(t, iss, d["issuer"])
	assert.Equal(t, iss+"/.well-known/openid-configuration/jwks", d["jwks_uri"])
	assert.Equal(t, iss+"/connect/token", d["token_endpoint"])
	assert.Equal(t, iss+"/connect/authorize", d["authorization_endpoint"])
	assert.Equal(t, iss+"/connect/par", d["pushed_authorization_request_endpoint"])
	assert.Equal(t, iss+"/connect/endsession", d["end_session_endpoint"])
	assert.Equal(t, iss+"/connect/revocation", d["revocation_endpoint"])
	assert.Equal(t, true, d["require_pushed_authorization_requests"])
	assert.Equal(t, true, d["authorization_response_iss_parameter_supported"])
	assert.Equal(t, []any{"private_key_jwt"}, d["token_endpoint_auth_methods_supported"])
	algs := []any{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
	assert.Equal(t, algs, d["token_endpoint_auth_signing_alg_values_supported"])
	assert.Equal(t, algs, d["dpop_signing_alg_values_supported"])
	assert.Equal(t, []any{"RS256"}, d["id_token_signing_alg_values_supported"])
	assert.Equal(t, []any{"S256"}, d["code_challenge_methods_supported"])
	assert.Equal(t, []any{"code"}, d["response_types_supported"])
	assert.Equal(t, []any{"authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"}, d["grant_types_supported"])
	assert.Equal(t, []any{readScope, writeScope}, d["scopes_supported"])

	res = h.do(mustRequest(t, http.MethodGet, d["jwks_uri"].(string)))
	require.Equal(t, http.StatusOK, res.Status)
	set, err := jwk.Parse(res.Body)
	require.NoError(t, err)
	require.Equal(t, 1, set.Len())
	k, _ := set.Key(0)
	assert.Equal(t, jwa.RSA, k.KeyType())
	assert.Equal(t, jwa.RS256, k.Algorithm())
	assert.Equal(t, jwk.ForSignature.String(), k.KeyUsage())
	assert.NotEmpty(t, k.KeyID())
	isPriv, err := jwk.IsPrivateKey(k)
	require.NoError(t, err)
	assert.False(t, isPriv)
	assert.NotContains(t, string(res.Body), `"d"`)

	res = h.do(mustRequest(t, http.MethodPost, iss+"/.well-known/openid-configuration"))
	assert.Equal(t, http.StatusMethodNotAllowed, res.Status)
}

func TestUnknownEndpoints(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	res := h.do(mustRequest(t, http.MethodGet, h.srv.Issuer()+"/connect/nothing"))
	assert.Equal(t, http.StatusNotFound, res.Status)
}

func TestRegisterClientValidation(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)

	pub := func(raw any, extra map[string]any) []byte {
		m, _ := jwkMap(t, raw)
		for k, v := range extra {
			if _, ok := v.(del); ok {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		data, err := json.Marshal(m)
		require.NoError(t, err)
		return data
	}
	good := func() helseidtest.ClientRegistration {
		return helseidtest.ClientRegistration{
			ID: "c", Scopes: []string{readScope}, OrgNumber: helseidtest.DefaultOrgNumber,
			PublicJWK: pub(&ec.PublicKey, map[string]any{"alg": "ES256", "kid": "k1"}),
		}
	}
	cases := []struct {
		name   string
		mutate func(*helseidtest.ClientRegistration)
		want   string
	}{
		{"no ID", func(c *helseidtest.ClientRegistration) { c.ID = "" }, "ID"},
		{"8-digit org", func(c *helseidtest.ClientRegistration) { c.OrgNumber = "12345678" }, "9 digits"},
		{"no scopes", func(c *helseidtest.ClientRegistration) { c.Scopes = nil }, "scopes"},
		{"identity scope", func(c *helseidtest.ClientRegistration) { c.Scopes = []string{"openid"} }, "API scope"},
		{"scope without API", func(c *helseidtest.ClientRegistration) { c.Scopes = []string{"read"} }, "API scope"},
		{"bad child", func(c *helseidtest.ClientRegistration) { c.ChildOrgNumbers = []string{"1"} }, "9 digits"},
		{"children on multi-tenant", func(c *helseidtest.ClientRegistration) {
			c.MultiTenant, c.ChildOrgNumbers = true, []string{childOrg}
		}, "single-tenant"},
		{"no alg", func(c *helseidtest.ClientRegistration) { c.PublicJWK = pub(&ec.PublicKey, map[string]any{"kid": "k1"}) }, "alg"},
		{"no kid", func(c *helseidtest.ClientRegistration) {
			c.PublicJWK = pub(&ec.PublicKey, map[string]any{"alg": "ES256"})
		}, "kid"},
		{"alg does not fit the curve", func(c *helseidtest.ClientRegistration) {
			c.PublicJWK = pub(&p384.PublicKey, map[string]any{"alg": "ES256", "kid": "k1"})
		}, "does not fit"},
		{"HS256", func(c *helseidtest.ClientRegistration) {
			c.PublicJWK = pub(&ec.PublicKey, map[string]any{"alg": "HS256", "kid": "k1"})
		}, "alg"},
		{"private key", func(c *helseidtest.ClientRegistration) {
			c.PublicJWK = pub(ec, map[string]any{"alg": "ES256", "kid": "k1"})
		}, "private"},
		{"RSA-1024", func(c *helseidtest.ClientRegistration) {
			c.PublicJWK = pub(&small.PublicKey, map[string]any{"alg": "PS256", "kid": "k1"})
		}, "bits"},
		{"use enc", func(c *helseidtest.ClientRegistration) {
			c.PublicJWK = pub(&ec.PublicKey, map[string]any{"alg": "ES256", "kid": "k1", "use": "enc"})
		}, "use"},
		{"not JSON", func(c *helseidtest.ClientRegistration) { c.PublicJWK = []byte("-----BEGIN PUBLIC KEY-----") }, "PublicJWK"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(&c)
			err := h.srv.RegisterClient(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	require.NoError(t, h.srv.RegisterClient(good()))
	assert.ErrorContains(t, h.srv.RegisterClient(good()), "already registered")
}

// A client may register a JWK Set (during a key rotation): either key authenticates.
func TestRegisterClientWithKeySet(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	rsaKey := testSigningKey()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	m1, _ := jwkMap(t, &rsaKey.PublicKey)
	m1["alg"], m1["kid"] = "PS256", "old"
	m2, _ := jwkMap(t, &ec.PublicKey)
	m2["alg"], m2["kid"] = "ES256", "new"
	set, err := json.Marshal(map[string]any{"keys": []any{m1, m2}})
	require.NoError(t, err)
	require.NoError(t, h.srv.RegisterClient(helseidtest.ClientRegistration{
		ID: "rot", PublicJWK: set, Scopes: []string{readScope}, OrgNumber: helseidtest.DefaultOrgNumber,
	}))
	c := &tclient{id: "rot", scopes: []string{readScope}, proof: newProofKey(t, "ES256")}
	for _, k := range []struct {
		alg, kid string
		key      any
	}{{"PS256", "old", rsaKey}, {"ES256", "new", ec}} {
		c.alg, c.kid, c.priv = k.alg, k.kid, nil
		r := h.tokenReq(c)
		r.AKey = k.key
		res := h.send(r)
		assert.Equal(t, http.StatusOK, res.Status, string(res.Body))
	}
}

func TestStartOptions(t *testing.T) {
	for _, o := range []helseidtest.Options{
		{Nonce: helseidtest.NonceMode(9)},
		{AccessTokenLifetime: -time.Second},
		{AccessTokenLifetime: time.Millisecond},
		{ProofWindow: -time.Second},
		{NonceRotateEvery: -1},
		{ClientKeyLifetime: -time.Hour},
		{APIAudience: "has space"},
		{SigningKey: mustRSA(t, 1024)},
	} {
		s, err := helseidtest.Start(o)
		assert.Error(t, err, "%+v", o)
		assert.Nil(t, s)
	}

	ft := &fakeTB{}
	assert.Nil(t, helseidtest.NewServer(ft, helseidtest.Options{}, helseidtest.Options{}))
	assert.Contains(t, ft.fatal, "at most one")
	ft = &fakeTB{}
	assert.Nil(t, helseidtest.NewServer(ft, helseidtest.Options{ProofWindow: -1}))
	assert.NotEmpty(t, ft.fatal)
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	s, err := helseidtest.Start(helseidtest.Options{SigningKey: testSigningKey()})
	require.NoError(t, err)
	hc := s.Client()
	res, err := hc.Get(s.Issuer() + helseidtest.DiscoveryPath)
	require.NoError(t, err)
	res.Body.Close()

	// A hook that waits for its request's context does not hold up Close.
	entered := make(chan struct{})
	s.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		close(entered)
		<-r.Context().Done()
		return true
	})
	errc := make(chan error, 1)
	go func() {
		resp, err := hc.Post(s.Issuer()+helseidtest.TokenPath, "application/x-www-form-urlencoded", nil)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	s.Close()
	s.Close()
	assert.Error(t, <-errc, "the blocked request's connection is closed")
	_, err = http.Get(s.Issuer() + helseidtest.DiscoveryPath)
	assert.Error(t, err)
}

func TestTokenHook(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	c := h.client("c", readScope)

	h.srv.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "<html>oops</html>")
		return true
	})
	res := h.send(h.tokenReq(c))
	assert.Equal(t, http.StatusInternalServerError, res.Status)
	assert.Equal(t, "<html>oops</html>", string(res.Body))

	// Oversized body.
	h.srv.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`+strings.Repeat("a", 2<<20)+`"}`)
		return true
	})
	res = h.send(h.tokenReq(c))
	assert.Greater(t, len(res.Body), 2<<20)

	// A hook that declines: the endpoint runs as usual, and can see the request.
	var sawDPoP bool
	h.srv.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		sawDPoP = r.Header.Get("DPoP") != ""
		return false
	})
	res = h.send(h.tokenReq(c))
	assert.Equal(t, http.StatusOK, res.Status, string(res.Body))
	assert.True(t, sawDPoP)

	// A connection reset.
	h.srv.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return true
	})
	r := h.tokenReq(c)
	form := r.Form
	form.Set("client_assertion", r.assertion(t))
	req := mustRequest(t, http.MethodPost, h.srv.TokenEndpoint())
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", r.proof(t))
	_, err := h.hc.Do(req)
	assert.Error(t, err)

	// A slow reply the client gives up on.
	entered := make(chan struct{})
	h.srv.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		close(entered)
		<-r.Context().Done()
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	req = mustRequest(t, http.MethodPost, h.srv.TokenEndpoint()).WithContext(ctx)
	go func() {
		<-entered
		cancel()
	}()
	_, err = h.hc.Do(req)
	assert.ErrorIs(t, err, context.Canceled)

	h.srv.SetTokenHook(nil)
	res = h.send(h.tokenReq(c))
	assert.Equal(t, http.StatusOK, res.Status)

	st := h.srv.Stats()
	assert.EqualValues(t, 6, st.TokenRequests)
	assert.EqualValues(t, 2, st.TokensIssued)
	assert.Zero(t, st.TokenErrors)
}

func mustRequest(t testing.TB, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	return req
}

func mustRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	require.NoError(t, err)
	return k
}

type fakeTB struct {
	fatal    string
	cleanups []func()
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestGenerateClient(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	privJWK, err := h.srv.GenerateClient("gen", readScope)
	require.NoError(t, err)
	k, err := jwk.ParseKey(privJWK)
	require.NoError(t, err)
	isPriv, err := jwk.IsPrivateKey(k)
	require.NoError(t, err)
	assert.True(t, isPriv)
	assert.Equal(t, jwa.ES256, k.Algorithm())
	assert.Equal(t, jwa.EC, k.KeyType())
	crv, ok := k.Get("crv")
	require.True(t, ok)
	assert.Equal(t, jwa.P256, crv)
	tp, err := k.Thumbprint(crypto.SHA256)
	require.NoError(t, err)
	assert.Equal(t, b64(tp), k.KeyID(), "kid is the RFC 7638 thumbprint")

	_, err = h.srv.GenerateClient("gen", readScope)
	assert.ErrorContains(t, err, "already registered")
	_, err = h.srv.GenerateClient("noscope")
	assert.Error(t, err)
}
