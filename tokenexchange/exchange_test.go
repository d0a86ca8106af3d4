package tokenexchange_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/helseid-go/sdk/tokenexchange"
)

const (
	audienceA = "nhn:service-a"
	scopeA    = audienceA + "/read"
	scopeB    = "nhn:service-b/read"
)

// world is a HelseID with a front end (which gets users' tokens for service A) and service A
// (which may exchange them for tokens to service B).
type world struct {
	srv      *helseidtest.Server
	clock    *fakeclock.Clock
	userKey  *dpop.Proofer // the front end's DPoP key, which the user's token is bound to
	actorKey *dpop.Proofer // service A's DPoP key
	auth     fapi.ClientAuthenticator
}

func newWorld(t *testing.T) *world {
	t.Helper()
	clock := fakeclock.New(time.Now())
	w := &world{srv: helseidtest.NewServer(t, helseidtest.Options{Now: clock.Now}), clock: clock}
	_, err := w.srv.GenerateClient("front-end", scopeA)
	require.NoError(t, err)
	priv, err := w.srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID: "service-a", Scopes: []string{scopeB}, OrgNumber: helseidtest.DefaultOrgNumber, ExchangeAudience: audienceA,
	})
	require.NoError(t, err)
	w.auth = assertionsFor(t, w.srv, "service-a", priv, clock.Now)
	w.userKey, err = dpop.NewProofer(dpop.ProoferConfig{Now: clock.Now})
	require.NoError(t, err)
	w.actorKey, err = dpop.NewProofer(dpop.ProoferConfig{Now: clock.Now})
	require.NoError(t, err)
	return w
}

// assertionsFor signs private_key_jwt assertions with a client's private JWK.
func assertionsFor(t *testing.T, srv *helseidtest.Server, clientID string, privateJWK []byte, now func() time.Time) fapi.ClientAuthenticator {
	t.Helper()
	key, err := jwk.ParseKey(privateJWK)
	require.NoError(t, err)
	var signer crypto.Signer
	require.NoError(t, key.Raw(&signer))
	auth, err := fapi.NewPrivateKeyJWT(fapi.PrivateKeyJWTConfig{ClientID: clientID, Issuer: srv.Issuer(), Key: signer,
		Algorithm: key.Algorithm().String(), KeyID: key.KeyID(), Now: now})
	require.NoError(t, err)
	return auth
}

func (w *world) userToken(t *testing.T, pid string) string {
	t.Helper()
	user := helseidtest.DefaultTestUser()
	if pid != "" {
		user.PID = pid
	}
	tok, err := w.srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "front-end", Scopes: []string{scopeA}, JKT: w.userKey.Thumbprint(), User: user})
	require.NoError(t, err)
	return tok
}

func (w *world) exchanger(t *testing.T) *tokenexchange.Exchanger {
	t.Helper()
	ex, err := tokenexchange.New(w.srv.TokenEndpoint(), fapi.Settings{ClientAuth: w.auth,
		Proofer: w.actorKey, HTTPClient: w.srv.Client(), Now: w.clock.Now})
	require.NoError(t, err)
	return ex
}

// countingCache is a Cache in front of the world's exchanger that counts exchanges.
func (w *world) countingCache(t *testing.T) (*tokenexchange.Cache, *atomic.Int32) {
	t.Helper()
	ex := w.exchanger(t)
	exchanges := &atomic.Int32{}
	cache, err := tokenexchange.NewCache(tokenexchange.CacheConfig{Now: w.clock.Now,
		Exchange: func(ctx context.Context, req tokenexchange.Request) (*fapi.TokenResponse, error) {
			exchanges.Add(1)
			return ex.Exchange(ctx, req)
		}})
	require.NoError(t, err)
	t.Cleanup(cache.Close)
	return cache, exchanges
}

func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func TestExchange(t *testing.T) {
	w := newWorld(t)
	subject := w.userToken(t, "")
	resp, err := w.exchanger(t).Exchange(context.Background(), tokenexchange.Request{SubjectToken: subject, Scopes: []string{scopeB}})
	require.NoError(t, err)
	assert.Equal(t, tokenexchange.TokenTypeAccessToken, resp.IssuedTokenType)
	assert.Equal(t, "DPoP", resp.TokenType)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", resp, resp, resp), resp.AccessToken, "the response redacts itself")

	got, sub := claimsOf(t, resp.AccessToken), claimsOf(t, subject)
	assert.Equal(t, "nhn:service-b", got["aud"])
	assert.Equal(t, sub["sub"], got["sub"], "the user stays the subject")
	assert.Equal(t, helseidtest.DefaultTestUser().PID, got["helseid://claims/identity/pid"])
	assert.Equal(t, "service-a", got["client_id"])
	assert.Equal(t, map[string]any{"iss": w.srv.Issuer(), "sub": "service-a", "client_id": "service-a"}, got["act"])
	assert.Equal(t, map[string]any{"jkt": w.actorKey.Thumbprint()}, got["cnf"], "bound to the actor's key, not the caller's")
	assert.NotEqual(t, w.userKey.Thumbprint(), w.actorKey.Thumbprint())
}

func TestExchangeRefusals(t *testing.T) {
	w := newWorld(t)
	ex := w.exchanger(t)
	ctx := context.Background()

	t.Run("expired subject token", func(t *testing.T) {
		subject := w.userToken(t, "")
		w.clock.Advance(helseidtest.DefaultAccessTokenLifetime)
		defer w.clock.Set(w.clock.Now().Add(-helseidtest.DefaultAccessTokenLifetime))
		_, err := ex.Exchange(ctx, tokenexchange.Request{SubjectToken: subject, Scopes: []string{scopeB}})
		assert.ErrorIs(t, err, tokenexchange.ErrInvalidGrant)
		assert.NotContains(t, err.Error(), subject)
	})
	t.Run("foreign subject token", func(t *testing.T) {
		// A token for service B itself, not for the actor's API.
		_, err := w.srv.GenerateClient("other", scopeB)
		require.NoError(t, err)
		foreign, err := w.srv.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "other", Scopes: []string{scopeB}, JKT: w.userKey.Thumbprint()})
		require.NoError(t, err)
		_, err = ex.Exchange(ctx, tokenexchange.Request{SubjectToken: foreign, Scopes: []string{scopeB}})
		assert.ErrorIs(t, err, tokenexchange.ErrInvalidGrant)
		var oe *fapi.Error
		require.ErrorAs(t, err, &oe)
		assert.Contains(t, oe.Description, "audience")
	})
	t.Run("forged subject token", func(t *testing.T) {
		subject := w.userToken(t, "")
		parts := strings.Split(subject, ".")
		forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"nhn:service-a","sub":"x"}`)) + "." + parts[2]
		_, err := ex.Exchange(ctx, tokenexchange.Request{SubjectToken: forged, Scopes: []string{scopeB}})
		assert.ErrorIs(t, err, tokenexchange.ErrInvalidGrant)
	})
	t.Run("a client without the grant", func(t *testing.T) {
		priv, err := w.srv.GenerateClient("plain", scopeB)
		require.NoError(t, err)
		plain, err := tokenexchange.New(w.srv.TokenEndpoint(), fapi.Settings{ClientAuth: assertionsFor(t, w.srv, "plain", priv, w.clock.Now),
			Proofer: w.actorKey, HTTPClient: w.srv.Client(), Now: w.clock.Now})
		require.NoError(t, err)
		_, err = plain.Exchange(ctx, tokenexchange.Request{SubjectToken: w.userToken(t, ""), Scopes: []string{scopeB}})
		assert.ErrorIs(t, err, &fapi.Error{Code: "unauthorized_client"})
	})
	// What HelseID (and helseidtest) refuse of a well-formed request.
	for name, tc := range map[string]struct {
		mutate func(*tokenexchange.Request)
		code   string
	}{
		"an actor token":          {func(r *tokenexchange.Request) { r.ActorToken, r.ActorTokenType = "a", tokenexchange.TokenTypeJWT }, "invalid_request"},
		"a jwt subject type":      {func(r *tokenexchange.Request) { r.SubjectTokenType = tokenexchange.TokenTypeJWT }, "invalid_request"},
		"an id token requested":   {func(r *tokenexchange.Request) { r.RequestedTokenType = tokenexchange.TokenTypeIDToken }, "invalid_request"},
		"an audience":             {func(r *tokenexchange.Request) { r.Audiences = []string{"nhn:service-b"} }, "invalid_target"},
		"a scope not registered":  {func(r *tokenexchange.Request) { r.Scopes = []string{"nhn:service-c/read"} }, "invalid_scope"},
		"resource of another api": {func(r *tokenexchange.Request) { r.Resources = []string{"nhn:service-c"} }, "invalid_target"},
	} {
		t.Run(name, func(t *testing.T) {
			req := tokenexchange.Request{SubjectToken: w.userToken(t, ""), Scopes: []string{scopeB}}
			tc.mutate(&req)
			_, err := ex.Exchange(ctx, req)
			assert.ErrorIs(t, err, &fapi.Error{Code: tc.code})
		})
	}
	for name, req := range map[string]tokenexchange.Request{
		"no subject":                {Scopes: []string{scopeB}},
		"white space in the token":  {SubjectToken: "a b", Scopes: []string{scopeB}},
		"relative token type":       {SubjectToken: "t", SubjectTokenType: "access_token"},
		"actor token without type":  {SubjectToken: "t", ActorToken: "a"},
		"scope with a space":        {SubjectToken: "t", Scopes: []string{"a b"}},
		"empty resource":            {SubjectToken: "t", Resources: []string{""}},
		"requested type not an uri": {SubjectToken: "t", RequestedTokenType: "jwt"},
	} {
		t.Run(name, func(t *testing.T) {
			before := w.srv.Stats().TokenRequests
			_, err := ex.Exchange(ctx, req)
			assert.ErrorIs(t, err, tokenexchange.ErrInvalidRequest)
			assert.Equal(t, before, w.srv.Stats().TokenRequests, "nothing was sent")
		})
	}
}

// A server that leaves out issued_token_type, or issues another type than requested, breaks
// RFC 8693 §2.2.1.
func TestExchangeChecksIssuedTokenType(t *testing.T) {
	issued := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		assert.Equal(t, tokenexchange.GrantType, r.PostForm.Get("grant_type"))
		assert.Equal(t, tokenexchange.TokenTypeAccessToken, r.PostForm.Get("subject_token_type"))
		assert.Equal(t, "the-subject", r.PostForm.Get("subject_token"))
		assert.Equal(t, []string{"nhn:b", "https://b.example"}, r.PostForm["resource"])
		assert.Equal(t, []string{"b"}, r.PostForm["audience"])
		assert.Equal(t, "x", r.PostForm.Get("client_assertion"))
		w.Header().Set("Content-Type", "application/json")
		body := `{"access_token":"new","token_type":"Bearer","expires_in":60`
		if issued != "" {
			body += `,"issued_token_type":"` + issued + `"`
		}
		_, _ = w.Write([]byte(body + "}"))
	}))
	defer srv.Close()
	ex, err := tokenexchange.New(srv.URL+"/token", fapi.Settings{HTTPClient: srv.Client(),
		ClientAuth: fapi.ClientAuthenticatorFunc(func(f url.Values) error { f.Set("client_assertion", "x"); return nil })})
	require.NoError(t, err)
	req := tokenexchange.Request{SubjectToken: "the-subject", Resources: []string{"nhn:b", "https://b.example"}, Audiences: []string{"b"}}

	_, err = ex.Exchange(context.Background(), req)
	assert.ErrorIs(t, err, fapi.ErrInvalidResponse, "no issued_token_type")
	issued = tokenexchange.TokenTypeJWT
	req.RequestedTokenType = tokenexchange.TokenTypeAccessToken
	_, err = ex.Exchange(context.Background(), req)
	assert.ErrorIs(t, err, fapi.ErrInvalidResponse, "another type than requested")
	req.RequestedTokenType = tokenexchange.TokenTypeJWT
	resp, err := ex.Exchange(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, "new", resp.AccessToken)
}

// Many users' tokens exchanged at once through one cache: each caller gets its own user's
// token, and each subject is exchanged once however many callers ask for it.
func TestCacheNeverMixesSubjects(t *testing.T) {
	w := newWorld(t)
	cache, exchanges := w.countingCache(t)

	const users, callersPerUser = 8, 16
	subjects := make([]string, users)
	for i := range subjects {
		subjects[i] = w.userToken(t, fmt.Sprintf("0101010%04d", i))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range users {
		for range callersPerUser {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				tok, err := cache.Token(context.Background(), tokenexchange.Request{SubjectToken: subjects[i], Scopes: []string{scopeB}})
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, fmt.Sprintf("0101010%04d", i), claimsOf(t, tok.AccessToken)["helseid://claims/identity/pid"], "a token for this user only")
			}()
		}
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int32(users), exchanges.Load(), "one exchange per subject")
	assert.Equal(t, users, cache.Len())

	// Another target is another entry.
	_, err := cache.Token(context.Background(), tokenexchange.Request{SubjectToken: subjects[0], Scopes: []string{scopeB}, Resources: []string{"nhn:service-b"}})
	require.NoError(t, err)
	assert.Equal(t, int32(users+1), exchanges.Load())
}

// An entry lives until the earlier of the new token's and the subject token's expiry; an
// expired subject is refused without asking the server.
func TestCacheExpiresWithTheSubject(t *testing.T) {
	w := newWorld(t)
	cache, exchanges := w.countingCache(t)

	subject := w.userToken(t, "")
	w.clock.Advance(helseidtest.DefaultAccessTokenLifetime - 2*time.Minute) // the subject has 2 minutes left
	subjectExp := time.Unix(int64(claimsOf(t, subject)["exp"].(float64)), 0)
	req := tokenexchange.Request{SubjectToken: subject, Scopes: []string{scopeB}}
	tok, err := cache.Token(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, subjectExp, tok.Expiry, "capped at the subject token's exp, read from the JWT")
	assert.NotContains(t, fmt.Sprint(tok), tok.AccessToken)

	earlier := w.clock.Now().Add(30 * time.Second)
	req2 := req
	req2.SubjectExpiry = earlier
	req2.Resources = []string{"nhn:service-b"}
	tok2, err := cache.Token(context.Background(), req2)
	require.NoError(t, err)
	assert.Equal(t, earlier, tok2.Expiry, "the caller's SubjectExpiry")

	w.clock.Advance(2 * time.Minute)
	before := exchanges.Load()
	_, err = cache.Token(context.Background(), req)
	assert.ErrorIs(t, err, tokenexchange.ErrSubjectExpired)
	assert.ErrorIs(t, err, tokenexchange.ErrInvalidGrant, "the same type as the server's answer")
	assert.Equal(t, before, exchanges.Load(), "an expired subject is not sent")
}

func TestCacheInvalidate(t *testing.T) {
	n := 0
	cache, err := tokenexchange.NewCache(tokenexchange.CacheConfig{Exchange: func(context.Context, tokenexchange.Request) (*fapi.TokenResponse, error) {
		n++
		return &fapi.TokenResponse{AccessToken: fmt.Sprint("token-", n), IssuedTokenType: tokenexchange.TokenTypeAccessToken, Expiry: time.Now().Add(time.Hour)}, nil
	}})
	require.NoError(t, err)
	defer cache.Close()
	req := tokenexchange.Request{SubjectToken: "opaque-subject"}
	tok, err := cache.Token(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, "token-1", tok.AccessToken)
	cache.Invalidate(req, "some-other-token")
	tok, _ = cache.Token(context.Background(), req)
	assert.Equal(t, "token-1", tok.AccessToken, "only the named token is dropped")
	cache.Invalidate(req, "token-1")
	tok, _ = cache.Token(context.Background(), req)
	assert.Equal(t, "token-2", tok.AccessToken)
}

// A closed Cache hands out a cached token while it is usable, then ErrClosed, without
// exchanging.
func TestClosedCache(t *testing.T) {
	w := newWorld(t)
	cache, exchanges := w.countingCache(t)
	req := tokenexchange.Request{SubjectToken: w.userToken(t, ""), Scopes: []string{scopeB}}
	tok, err := cache.Token(context.Background(), req)
	require.NoError(t, err)
	cache.Close()
	again, err := cache.Token(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, again.AccessToken)

	other := req
	other.Resources = []string{"nhn:service-b"}
	_, err = cache.Token(context.Background(), other)
	assert.ErrorIs(t, err, tokenexchange.ErrClosed, "nothing cached for it")
	w.clock.Advance(tok.Expiry.Sub(w.clock.Now()))
	_, err = cache.Token(context.Background(), req)
	assert.ErrorIs(t, err, tokenexchange.ErrClosed, "expired")
	assert.Equal(t, int32(1), exchanges.Load())
}

// A token capped at the subject's expiry is not exchanged again ahead of expiry: no new
// exchange could last longer (HelseID FK3: no new token while the issued one is valid).
func TestCacheDoesNotRefreshCappedTokens(t *testing.T) {
	w := newWorld(t)
	cache, exchanges := w.countingCache(t)
	req := tokenexchange.Request{SubjectToken: w.userToken(t, ""), Scopes: []string{scopeB}}
	for elapsed := time.Duration(0); elapsed < helseidtest.DefaultAccessTokenLifetime-10*time.Second; elapsed += 15 * time.Second {
		_, err := cache.Token(context.Background(), req)
		require.NoError(t, err, "at %s", elapsed)
		w.clock.Advance(15 * time.Second)
	}
	cache.Close() // waits for any refresh
	assert.Equal(t, int32(1), exchanges.Load())
}

// In the last seconds of a subject token, once the token exchanged for it (capped at the
// subject's expiry) is no longer handed out, the caller gets ErrSubjectExpired without a
// request, not an internal error of the cache.
func TestCacheNearSubjectExpiry(t *testing.T) {
	w := newWorld(t)
	cache, exchanges := w.countingCache(t)
	req := tokenexchange.Request{SubjectToken: w.userToken(t, ""), Scopes: []string{scopeB}}
	tok, err := cache.Token(context.Background(), req)
	require.NoError(t, err)
	w.clock.Advance(tok.Expiry.Sub(w.clock.Now()) - 2*time.Second) // inside the 5 s expiry margin
	for range 3 {
		_, err = cache.Token(context.Background(), req)
		require.Error(t, err)
		assert.ErrorIs(t, err, tokenexchange.ErrSubjectExpired)
		assert.ErrorIs(t, err, tokenexchange.ErrInvalidGrant)
		assert.NotContains(t, err.Error(), "token cache")
	}
	assert.Equal(t, int32(1), exchanges.Load(), "no exchange that could not last longer")
}

// The fetch that refreshes an entry sends what was asked for under its key, whatever the
// caller does with its slices afterwards.
func TestCacheKeepsItsOwnCopyOfTheRequest(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_800_000_000, 0))
	var sent []string
	cache, err := tokenexchange.NewCache(tokenexchange.CacheConfig{Now: clock.Now, Exchange: func(_ context.Context, req tokenexchange.Request) (*fapi.TokenResponse, error) {
		sent = append(sent, strings.Join(req.Scopes, " "))
		return &fapi.TokenResponse{AccessToken: "t", IssuedTokenType: tokenexchange.TokenTypeAccessToken, Expiry: clock.Now().Add(10 * time.Minute)}, nil
	}})
	require.NoError(t, err)
	scopes := []string{"nhn:b/read"}
	req := tokenexchange.Request{SubjectToken: "opaque", Scopes: scopes}
	_, err = cache.Token(context.Background(), req)
	require.NoError(t, err)
	scopes[0] = "nhn:c/write" // the caller reuses its slice
	clock.Advance(9*time.Minute + 30*time.Second)
	_, err = cache.Token(context.Background(), tokenexchange.Request{SubjectToken: "opaque", Scopes: []string{"nhn:b/read"}})
	require.NoError(t, err)
	cache.Close()
	assert.Equal(t, []string{"nhn:b/read", "nhn:b/read"}, sent, "the refresh sent the original scope")
}

// RFC 8693 §2.2.1: a token that is not an access token comes with token_type N_A.
func TestExchangeAcceptsNAForOtherTokenTypes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"an-id-token","token_type":"N_A","issued_token_type":"` + tokenexchange.TokenTypeIDToken + `"}`))
	}))
	defer srv.Close()
	proofer, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	ex, err := tokenexchange.New(srv.URL, fapi.Settings{HTTPClient: srv.Client(), Proofer: proofer,
		ClientAuth: fapi.ClientAuthenticatorFunc(func(url.Values) error { return nil })})
	require.NoError(t, err)
	resp, err := ex.Exchange(context.Background(), tokenexchange.Request{SubjectToken: "s", RequestedTokenType: tokenexchange.TokenTypeIDToken})
	require.NoError(t, err)
	assert.Equal(t, "N_A", resp.TokenType)

	cache, err := tokenexchange.NewCache(tokenexchange.CacheConfig{Exchange: ex.Exchange})
	require.NoError(t, err)
	defer cache.Close()
	_, err = cache.Token(context.Background(), tokenexchange.Request{SubjectToken: "s", RequestedTokenType: tokenexchange.TokenTypeIDToken})
	assert.ErrorIs(t, err, tokenexchange.ErrInvalidRequest, "the cache hands out access tokens only")
}
