package helseid_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/helseid-go/sdk/resource"
)

// replicas is one helseidtest and n Clients of one registration sharing a login store and a
// session store, as the processes of a fleet without sticky sessions; each has its own DPoP
// key.
type replicas struct {
	srv       *helseidtest.Server
	clock     *fakeclock.Clock
	clients   []*helseid.Client
	afterSend []*atomic.Pointer[func(*http.Response)] // per client: called with each response
	key       *helseid.Key
	sessions  helseid.SessionStore
}

// sendHook calls a hook with each response before the client reads it.
type sendHook struct {
	base http.RoundTripper
	hook *atomic.Pointer[func(*http.Response)]
}

func (h sendHook) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(req)
	if f := h.hook.Load(); err == nil && f != nil {
		(*f)(resp)
	}
	return resp, err
}

func newReplicas(t *testing.T, n int, logins helseid.LoginStore, sessions helseid.SessionStore) *replicas {
	t.Helper()
	clock := fakeclock.New(time.Now())
	srv := helseidtest.NewServer(t, helseidtest.Options{Now: clock.Now})
	priv, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes:       []string{"openid", "profile", "offline_access", "helseid://scopes/identity/pid", "nhn:service-a/read", "nhn:service-b/read", apiScope},
		RedirectURIs: []string{loginRedirect}, PostLogoutRedirectURIs: []string{"https://ehr.example/"}, ChildOrgNumbers: []string{"920773230"}})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	if logins == nil {
		logins = helseid.NewMemoryLoginStore(clock.Now)
	}
	if sessions == nil {
		sessions = helseid.NewMemorySessionStore(clock.Now)
	}
	r := &replicas{srv: srv, clock: clock, key: key, sessions: sessions}
	for range n {
		hook := &atomic.Pointer[func(*http.Response)]{}
		r.afterSend = append(r.afterSend, hook)
		c, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "ehr", Key: key,
			HTTPClient: &http.Client{Transport: sendHook{base: srv.Client().Transport, hook: hook}},
			Now:        clock.Now, Logins: logins, Sessions: sessions})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		r.clients = append(r.clients, c)
	}
	return r
}

func (r *replicas) browse(t *testing.T, authURL string) map[string][]string {
	t.Helper()
	f := &loginFixture{srv: r.srv}
	return f.browse(t, authURL)
}

// login starts the login on the first replica, finishes it on the second and stores the
// session there.
func (r *replicas) login(t *testing.T) *helseid.UserSession {
	t.Helper()
	ctx := context.Background()
	authURL, err := r.clients[0].StartStoredLogin(ctx, helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScopeWithAPI,
		Resources: []string{"nhn:service-a", "nhn:service-b", "nhn:helseidtest-api"}})
	require.NoError(t, err)
	res, err := r.clients[1%len(r.clients)].FinishStoredLogin(ctx, r.browse(t, authURL))
	require.NoError(t, err)
	s, err := r.clients[1%len(r.clients)].StartUserSession(ctx, res)
	require.NoError(t, err)
	require.NotEmpty(t, s.ID())
	return s
}

func TestStoredLoginFinishesOnceOnAnyReplica(t *testing.T) {
	r := newReplicas(t, 2, nil, nil)
	ctx := context.Background()
	authURL, err := r.clients[0].StartStoredLogin(ctx, helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope, Resources: []string{"nhn:service-a"}})
	require.NoError(t, err)
	callback := r.browse(t, authURL)
	res, err := r.clients[1].FinishStoredLogin(ctx, callback)
	require.NoError(t, err, "a login started on one replica finishes on another")
	assert.NotEmpty(t, res.RefreshToken)

	before := r.srv.Stats().TokenRequests
	for _, c := range r.clients {
		_, err = c.FinishStoredLogin(ctx, callback)
		assert.ErrorIs(t, err, helseid.ErrLoginState, "a replayed callback is refused on every replica")
	}
	assert.Equal(t, before, r.srv.Stats().TokenRequests, "a replayed callback sends nothing")
}

func TestStoredLoginExpires(t *testing.T) {
	r := newReplicas(t, 1, nil, nil)
	ctx := context.Background()
	authURL, err := r.clients[0].StartStoredLogin(ctx, helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope})
	require.NoError(t, err)
	callback := r.browse(t, authURL)
	r.clock.Advance(11 * time.Minute)
	_, err = r.clients[0].FinishStoredLogin(ctx, callback)
	assert.ErrorIs(t, err, helseid.ErrLoginState)
}

// A session stored by one replica serves any request on another: tokens it has come from the
// store without a refresh, and a token it lacks is refreshed once for the whole fleet.
func TestStoredSessionServedByAnyReplica(t *testing.T) {
	r := newReplicas(t, 3, nil, nil)
	ctx := context.Background()
	started := r.login(t)
	issued := r.srv.Stats().TokensIssued

	s0, err := r.clients[0].LoadUserSession(ctx, started.ID())
	require.NoError(t, err)
	assert.Equal(t, started.Claims().Subject, s0.Claims().Subject)
	assert.Equal(t, started.IDToken(), s0.IDToken())
	_, err = s0.Token(ctx, "nhn:service-a")
	require.NoError(t, err)
	assert.Equal(t, issued, r.srv.Stats().TokensIssued, "the login's token comes from the store")

	b0, err := s0.Token(ctx, "nhn:service-b")
	require.NoError(t, err)
	assert.Equal(t, issued+1, r.srv.Stats().TokensIssued)
	s2, err := r.clients[2].LoadUserSession(ctx, started.ID())
	require.NoError(t, err)
	b2, err := s2.Token(ctx, "nhn:service-b")
	require.NoError(t, err)
	assert.Equal(t, b0.AccessToken, b2.AccessToken, "another replica uses the stored token")
	assert.Equal(t, issued+1, r.srv.Stats().TokensIssued)

	// The session's DPoP key signs on every replica: the demo API accepts the proofs.
	for _, c := range r.clients {
		s, err := c.LoadUserSession(ctx, started.ID())
		require.NoError(t, err)
		resp, err := s.HTTPClient("nhn:helseidtest-api").Get(r.srv.APIURL())
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Equal(t, issued+2, r.srv.Stats().TokensIssued, "one refresh for the API, for all three replicas")
}

// Many goroutines on several replicas need a new token at once: exactly one refresh per
// resource per lifetime, and never a spent refresh token (which would revoke the grant).
func TestStoredSessionOneRefreshPerLifetimeAcrossReplicas(t *testing.T) {
	r := newReplicas(t, 3, nil, nil)
	ctx := context.Background()
	id := r.login(t).ID()
	resources := []string{"nhn:service-a", "nhn:service-b", "nhn:helseidtest-api"}
	for lifetime := range 3 {
		issued := r.srv.Stats().TokensIssued
		var wg sync.WaitGroup
		for _, c := range r.clients {
			s, err := c.LoadUserSession(ctx, id)
			require.NoError(t, err)
			for g := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Token(ctx, resources[g%len(resources)])
					assert.NoError(t, err)
				}()
			}
		}
		wg.Wait()
		want := int64(len(resources))
		if lifetime == 0 {
			want-- // the login's own token
		}
		assert.Equal(t, issued+want, r.srv.Stats().TokensIssued, "lifetime %d", lifetime)
		r.clock.Advance(helseidtest.DefaultAccessTokenLifetime)
	}
	assert.Zero(t, r.srv.Stats().TokenErrors, "no invalid_grant")
}

// Fencing: a write over an older generation is refused, so a replica that paused past its
// lease cannot overwrite a newer refresh token.
func TestMemorySessionStoreCompareAndSet(t *testing.T) {
	testSessionStore(t, helseid.NewMemorySessionStore(nil))
}

// testSessionStore checks the SessionStore contract.
func testSessionStore(t *testing.T, store helseid.SessionStore) {
	t.Helper()
	ctx := context.Background()
	rec := &helseid.StoredSession{Generation: 1, RefreshToken: "rt-1", RefreshExpiry: time.Now().Add(time.Hour), DPoPKey: []byte(`{"kty":"EC"}`),
		Claims: &helseid.IDTokenClaims{Subject: "sub"}, Tokens: map[string]fapi.Token{"nhn:a": {AccessToken: "at-a", Expiry: time.Now().Add(time.Minute).Round(0)}}}
	got, err := store.LoadSession(ctx, "s1")
	require.NoError(t, err)
	assert.Nil(t, got)
	ok, err := store.SaveSession(ctx, "s1", rec, 0)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = store.SaveSession(ctx, "s1", rec, 0)
	require.NoError(t, err)
	assert.False(t, ok, "a second create is refused")

	next := *rec
	next.Generation, next.RefreshToken = 2, "rt-2"
	ok, err = store.SaveSession(ctx, "s1", &next, 1)
	require.NoError(t, err)
	assert.True(t, ok)
	stale := *rec
	stale.Generation, stale.RefreshToken = 2, "rt-stale"
	ok, err = store.SaveSession(ctx, "s1", &stale, 1)
	require.NoError(t, err)
	assert.False(t, ok, "a write over an older generation is fenced off")
	got, err = store.LoadSession(ctx, "s1")
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, "rt-2", got.RefreshToken)
	assert.Equal(t, uint64(2), got.Generation)
	assert.Equal(t, "sub", got.Claims.Subject)
	assert.Equal(t, "at-a", got.Tokens["nhn:a"].AccessToken)
	assert.True(t, rec.Tokens["nhn:a"].Expiry.Equal(got.Tokens["nhn:a"].Expiry))

	lease, ok, err := store.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = store.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	assert.False(t, ok, "one lease at a time")
	require.NoError(t, store.ReleaseRefreshLease(ctx, "s1", "not-the-lease"))
	_, ok, err = store.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	assert.False(t, ok, "another's release does not free the lease")
	require.NoError(t, store.ReleaseRefreshLease(ctx, "s1", lease))
	lease, ok, err = store.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, store.ReleaseRefreshLease(ctx, "s1", lease))

	deleted, err := store.DeleteSession(ctx, "s1")
	require.NoError(t, err)
	require.NotNil(t, deleted, "the delete returns the record it removed")
	assert.Equal(t, "rt-2", deleted.RefreshToken)
	assert.Equal(t, uint64(2), deleted.Generation)
	got, err = store.LoadSession(ctx, "s1")
	require.NoError(t, err)
	assert.Nil(t, got)
	deleted, err = store.DeleteSession(ctx, "s1")
	require.NoError(t, err)
	assert.Nil(t, deleted, "nothing left to remove")
}

// Logout on one replica: every replica refuses the session from then on, the grant is
// revoked, and a replica holding the session in memory stops refreshing it.
func TestEndUserSessionOnEveryReplica(t *testing.T) {
	r := newReplicas(t, 2, nil, nil)
	ctx := context.Background()
	id := r.login(t).ID()
	held, err := r.clients[1].LoadUserSession(ctx, id)
	require.NoError(t, err)
	s0, err := r.clients[0].LoadUserSession(ctx, id)
	require.NoError(t, err)
	require.NoError(t, s0.EndUserSession(ctx))

	for _, c := range r.clients {
		_, err := c.LoadUserSession(ctx, id)
		assert.ErrorIs(t, err, helseid.ErrSessionEnded)
	}
	before := r.srv.Stats().TokenRequests
	_, err = held.Token(ctx, "nhn:service-b")
	assert.ErrorIs(t, err, helseid.ErrSessionEnded, "a session held in memory ends at its next refresh")
	_, err = s0.Token(ctx, "nhn:service-a")
	assert.ErrorIs(t, err, helseid.ErrSessionEnded, "the ending replica drops its tokens")
	assert.Equal(t, before, r.srv.Stats().TokenRequests)
}

func TestStoredSessionExpiresWithItsRefreshToken(t *testing.T) {
	r := newReplicas(t, 1, nil, nil)
	ctx := context.Background()
	s := r.login(t)
	_, exp := s.RefreshToken()
	require.False(t, exp.IsZero())
	r.clock.Set(exp)
	_, err := r.clients[0].LoadUserSession(ctx, s.ID())
	assert.ErrorIs(t, err, helseid.ErrSessionEnded)
}

// The crash window, step by step. A replica (a) takes the refresh lease and "dies" at a
// step: it never returns (the hook blocks), and its lease is not released. Another replica
// (b) waits for the lease within its own context, then refreshes. Only a crash after HelseID
// rotated the refresh token and before the new one is stored loses the session.
func TestStoredSessionCrashAtEachRefreshStep(t *testing.T) {
	for _, tc := range []struct {
		step string
		lost bool
	}{
		{step: "before sending"},
		{step: "after sending", lost: true},
		{step: "after the response", lost: true},
		{step: "after the store write"},
	} {
		t.Run(tc.step, func(t *testing.T) {
			dead := make(chan struct{})
			var dying sync.WaitGroup
			t.Cleanup(dying.Wait) // runs last: after the servers closed
			t.Cleanup(func() { close(dead) })
			r := newReplicas(t, 2, nil, nil)
			ctx := context.Background()
			id := r.login(t).ID()
			a, err := r.clients[0].LoadUserSession(ctx, id)
			require.NoError(t, err)
			crashed := make(chan struct{})
			die := func() { close(crashed); <-dead }
			if tc.step == "after sending" {
				// The refresh reaches HelseID, which rotates the refresh token; the replica
				// dies before reading the answer.
				hook := func(resp *http.Response) {
					if resp.Request.URL.Path == helseidtest.TokenPath && resp.StatusCode == http.StatusOK {
						die()
					}
				}
				r.afterSend[0].Store(&hook)
			}
			helseid.SetRefreshStepHook(r.clients[0], func(step string) {
				if step == tc.step {
					die()
				}
			})
			dying.Add(1)
			go func() {
				defer dying.Done()
				_, _ = a.Token(ctx, "nhn:service-b")
			}()
			<-crashed

			b, err := r.clients[1].LoadUserSession(ctx, id)
			require.NoError(t, err)
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err = b.Token(short, "nhn:service-b")
			cancel()
			require.ErrorIs(t, err, context.DeadlineExceeded, "the dead replica's lease holds the others until it expires")
			r.clock.Advance(helseid.DefaultRefreshLeaseTTL)

			_, err = b.Token(ctx, "nhn:service-b")
			if tc.lost {
				assert.ErrorIs(t, err, resource.ErrInvalidGrant, "the named window: the stored refresh token was spent")
				_, err = r.clients[1].LoadUserSession(ctx, id)
				assert.ErrorIs(t, err, helseid.ErrSessionEnded, "the lost session leaves the store")
				return
			}
			require.NoError(t, err, "nothing is lost at this step")
			_, err = b.Token(ctx, "nhn:service-a")
			require.NoError(t, err)
			r.clock.Advance(helseidtest.DefaultAccessTokenLifetime)
			_, err = b.Token(ctx, "nhn:service-a")
			require.NoError(t, err, "the session keeps refreshing")
			assert.Zero(t, r.srv.Stats().TokenErrors)
		})
	}
}

// A replica that paused past its lease before sending resumes without presenting the spent
// refresh token: it reads the record again and uses the token the other replica stored.
func TestStoredSessionPausedPastItsLeaseUsesTheNewerRecord(t *testing.T) {
	r := newReplicas(t, 2, nil, nil)
	ctx := context.Background()
	id := r.login(t).ID()
	a, err := r.clients[0].LoadUserSession(ctx, id)
	require.NoError(t, err)
	paused, resume := make(chan struct{}), make(chan struct{})
	helseid.SetRefreshStepHook(r.clients[0], func(step string) {
		if step == "before sending" {
			close(paused)
			<-resume
		}
	})
	type result struct {
		tok *fapi.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := a.Token(ctx, "nhn:service-b")
		done <- result{tok, err}
	}()
	<-paused
	r.clock.Advance(helseid.DefaultRefreshLeaseTTL)
	b, err := r.clients[1].LoadUserSession(ctx, id)
	require.NoError(t, err)
	tb, err := b.Token(ctx, "nhn:service-b")
	require.NoError(t, err)
	issued := r.srv.Stats().TokensIssued
	close(resume)
	got := <-done
	require.NoError(t, got.err)
	assert.Equal(t, tb.AccessToken, got.tok.AccessToken, "the paused replica takes the stored token")
	assert.Equal(t, issued, r.srv.Stats().TokensIssued, "and sends no refresh")
	assert.Zero(t, r.srv.Stats().TokenErrors, "no spent refresh token was presented")
}

// The refresh lease is renewed only by its holder, and only while it has not expired.
func TestMemorySessionStoreExtendRefreshLease(t *testing.T) {
	clock := fakeclock.New(time.Now())
	store := helseid.NewMemorySessionStore(clock.Now)
	ctx := context.Background()
	rec := &helseid.StoredSession{Generation: 1, RefreshToken: "rt-1", RefreshExpiry: clock.Now().Add(time.Hour)}
	ok, err := store.SaveSession(ctx, "s1", rec, 0)
	require.NoError(t, err)
	require.True(t, ok)
	lease, ok, err := store.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	require.True(t, ok)

	clock.Advance(helseid.DefaultRefreshLeaseTTL - time.Second)
	ttl, ok, err := store.ExtendRefreshLease(ctx, "s1", lease)
	require.NoError(t, err)
	assert.True(t, ok, "the holder renews its lease")
	assert.Equal(t, helseid.DefaultRefreshLeaseTTL, ttl)
	clock.Advance(helseid.DefaultRefreshLeaseTTL - time.Second)
	_, ok, err = store.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	assert.False(t, ok, "the renewed lease outlives the first TTL")

	_, ok, err = store.ExtendRefreshLease(ctx, "s1", "not-the-lease")
	require.NoError(t, err)
	assert.False(t, ok, "another process cannot renew it")

	clock.Advance(time.Second)
	_, ok, err = store.ExtendRefreshLease(ctx, "s1", lease)
	require.NoError(t, err)
	assert.False(t, ok, "an expired lease is not renewed")
	other, ok, err := store.AcquireRefreshLease(ctx, "s1")
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = store.ExtendRefreshLease(ctx, "s1", lease)
	require.NoError(t, err)
	assert.False(t, ok, "nor one another process has taken over")
	_, ok, err = store.ExtendRefreshLease(ctx, "s1", other)
	require.NoError(t, err)
	assert.True(t, ok)
}

// The interleaving that revoked grants: replica 0 sends the refresh, HelseID answers 503
// (Retry-After), and while it waits its lease runs out and replica 1 refreshes with the same
// refresh token. Replica 0 must not send its retry: the refresh token is spent, and a second
// use revokes the grant. It renews its lease before every attempt, finds it lost, and sends
// nothing; the session lives on with replica 1's refresh token.
func TestStoredSessionRetryAfterLostLeaseSendsNothing(t *testing.T) {
	r := newReplicas(t, 2, nil, nil)
	ctx := context.Background()
	id := r.login(t).ID()
	a, err := r.clients[0].LoadUserSession(ctx, id)
	require.NoError(t, err)
	b, err := r.clients[1].LoadUserSession(ctx, id)
	require.NoError(t, err)

	var refreshes atomic.Int32
	var bTok *fapi.Token
	hook := func(resp *http.Response) {
		if resp.Request.URL.Path != helseidtest.TokenPath || refreshes.Add(1) != 1 {
			return
		}
		// The first attempt was answered; before replica 0 reads it, its lease runs out and
		// replica 1 refreshes. The answer replica 0 reads is a 503 with Retry-After, so it
		// would present the same refresh token again.
		r.clock.Advance(helseid.DefaultRefreshLeaseTTL)
		var err error
		bTok, err = b.Token(ctx, "nhn:service-b")
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		resp.StatusCode, resp.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
		resp.Header = http.Header{"Retry-After": {"0"}, "Content-Type": {"application/json"}}
		resp.Body = io.NopCloser(strings.NewReader(`{"error":"temporarily_unavailable"}`))
		resp.ContentLength = -1
	}
	r.afterSend[0].Store(&hook)
	_, err = a.Token(ctx, "nhn:service-b")
	require.ErrorIs(t, err, helseid.ErrRefreshLeaseLost, "the retry is not sent without the lease")
	assert.Zero(t, r.srv.Stats().TokenErrors, "the spent refresh token was not presented again")

	r.afterSend[0].Store(nil)
	got, err := a.Token(ctx, "nhn:service-b")
	require.NoError(t, err, "the session lives on")
	assert.Equal(t, bTok.AccessToken, got.AccessToken, "replica 0 takes replica 1's stored token")
	r.clock.Advance(helseidtest.DefaultAccessTokenLifetime)
	_, err = a.Token(ctx, "nhn:service-b")
	require.NoError(t, err, "and refreshes with the newest refresh token")
	assert.Zero(t, r.srv.Stats().TokenErrors)
}

// flakyStore fails the SaveSession calls it is told to, as a store briefly unreachable.
type flakyStore struct {
	helseid.SessionStore
	failSaves atomic.Int32
	failLoads atomic.Bool
}

func (s *flakyStore) LoadSession(ctx context.Context, id string) (*helseid.StoredSession, error) {
	if s.failLoads.Load() {
		return nil, errors.New("store unreachable")
	}
	return s.SessionStore.LoadSession(ctx, id)
}

func (s *flakyStore) SaveSession(ctx context.Context, id string, rec *helseid.StoredSession, prev uint64) (bool, error) {
	if s.failSaves.Add(-1) >= 0 {
		return false, errors.New("store unreachable")
	}
	return s.SessionStore.SaveSession(ctx, id, rec, prev)
}

// The write of a rotated refresh token fails once: the holder keeps its lease and writes
// again within the same call, so nothing is lost, and another replica then refreshes with
// the new refresh token (before, the lease was released with the spent token in the store,
// and the next replica's refresh revoked the grant).
func TestStoredSessionFailedWriteAfterRefreshLosesNothing(t *testing.T) {
	store := &flakyStore{}
	r := newReplicas(t, 2, nil, store)
	store.SessionStore = helseid.NewMemorySessionStore(r.clock.Now)
	ctx := context.Background()
	id := r.login(t).ID()
	a, err := r.clients[0].LoadUserSession(ctx, id)
	require.NoError(t, err)
	rtBefore, _ := a.RefreshToken()

	store.failSaves.Store(1)
	_, err = a.Token(ctx, "nhn:service-b")
	require.NoError(t, err, "the write is retried within the call")
	rtAfter, _ := a.RefreshToken()
	require.NotEqual(t, rtBefore, rtAfter)

	b, err := r.clients[1].LoadUserSession(ctx, id)
	require.NoError(t, err)
	rtB, _ := b.RefreshToken()
	assert.Equal(t, rtAfter, rtB, "the other replica reads the new refresh token")
	issued := r.srv.Stats().TokensIssued
	r.clock.Advance(helseidtest.DefaultAccessTokenLifetime)
	_, err = b.Token(ctx, "nhn:service-a")
	require.NoError(t, err, "and refreshes with it")
	assert.Equal(t, issued+1, r.srv.Stats().TokensIssued)
	assert.Zero(t, r.srv.Stats().TokenErrors, "no spent refresh token was presented")
}

// A session held in memory on one replica hears of a logout on another within
// Config.SessionRecheck: its Token fails with ErrSessionEnded, its tokens are dropped, and its
// HTTP client sends nothing.
func TestHeldSessionSeesLogoutElsewhereWithinTheRecheck(t *testing.T) {
	r := newReplicas(t, 2, nil, nil)
	ctx := context.Background()
	id := r.login(t).ID()
	var apiCalls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { apiCalls.Add(1) }))
	t.Cleanup(api.Close)

	held, err := r.clients[1].LoadUserSession(ctx, id)
	require.NoError(t, err)
	hc := held.HTTPClient("nhn:service-a")
	resp, err := hc.Get(api.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.EqualValues(t, 1, apiCalls.Load())

	s0, err := r.clients[0].LoadUserSession(ctx, id)
	require.NoError(t, err)
	require.NoError(t, s0.EndUserSession(ctx))
	_, err = held.Token(ctx, "nhn:service-a")
	require.NoError(t, err, "within the interval the held token is served from memory")

	r.clock.Advance(helseid.DefaultSessionRecheck)
	_, err = held.Token(ctx, "nhn:service-a")
	require.ErrorIs(t, err, helseid.ErrSessionEnded, "after the interval the store is asked")
	_, err = hc.Get(api.URL)
	require.ErrorIs(t, err, helseid.ErrSessionEnded)
	assert.EqualValues(t, 1, apiCalls.Load(), "the HTTP client sends no token")
}

// An organisation switch on one replica reaches a session another holds within
// Config.SessionRecheck: the old organisation's tokens are dropped there, not served.
func TestHeldSessionSeesOrganizationSwitchElsewhere(t *testing.T) {
	r := newReplicas(t, 2, nil, nil)
	ctx := context.Background()
	id := r.login(t).ID()
	held, err := r.clients[1].LoadUserSession(ctx, id)
	require.NoError(t, err)
	old, err := held.Token(ctx, "nhn:service-a")
	require.NoError(t, err)
	require.Empty(t, claimsOf(t, old.AccessToken)[helseid.ClaimOrgNrChild])

	s0, err := r.clients[0].LoadUserSession(ctx, id)
	require.NoError(t, err)
	_, err = s0.SwitchOrganization(ctx, helseid.Organization{Child: "920773230"}, "nhn:service-b")
	require.NoError(t, err)

	r.clock.Advance(helseid.DefaultSessionRecheck)
	a, err := held.Token(ctx, "nhn:service-a")
	require.NoError(t, err)
	assert.NotEqual(t, old.AccessToken, a.AccessToken, "the old organisation's token is dropped")
	assert.Equal(t, "920773230", claimsOf(t, a.AccessToken)[helseid.ClaimOrgNrChild])
	assert.Zero(t, r.srv.Stats().TokenErrors)
}

// A negative SessionRecheck asks the store on every call.
func TestSessionRecheckEveryCall(t *testing.T) {
	r := newReplicas(t, 1, nil, nil)
	ctx := context.Background()
	id := r.login(t).ID()
	c, err := helseid.NewClient(helseid.Config{Issuer: r.srv.Issuer(), ClientID: "ehr", Key: r.key, HTTPClient: r.srv.Client(),
		Now: r.clock.Now, Sessions: r.sessions, SessionRecheck: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	held, err := c.LoadUserSession(ctx, id)
	require.NoError(t, err)
	_, err = held.Token(ctx, "nhn:service-a")
	require.NoError(t, err)
	other, err := r.clients[0].LoadUserSession(ctx, id)
	require.NoError(t, err)
	require.NoError(t, other.EndUserSession(ctx))
	_, err = held.Token(ctx, "nhn:service-a")
	assert.ErrorIs(t, err, helseid.ErrSessionEnded, "no time has passed")
}

// Logout on a replica holding an older view of the session (another replica refreshed since
// it read the record) revokes the newest refresh token, the one the store held, not only the
// spent one it has in memory.
func TestEndUserSessionRevokesTheNewestRefreshToken(t *testing.T) {
	r := newReplicas(t, 1, nil, nil)
	ctx := context.Background()
	id := r.login(t).ID()
	var mu sync.Mutex
	var revoked []string
	capture := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Path == helseidtest.RevocationPath {
			body, err := io.ReadAll(req.Body)
			require.NoError(t, err)
			form, err := url.ParseQuery(string(body))
			require.NoError(t, err)
			mu.Lock()
			revoked = append(revoked, form.Get("token"))
			mu.Unlock()
			req.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		return r.srv.Client().Transport.RoundTrip(req)
	})
	c, err := helseid.NewClient(helseid.Config{Issuer: r.srv.Issuer(), ClientID: "ehr", Key: r.key, HTTPClient: &http.Client{Transport: capture},
		Now: r.clock.Now, Sessions: r.sessions})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	older, err := c.LoadUserSession(ctx, id)
	require.NoError(t, err)
	spent, _ := older.RefreshToken()

	s0, err := r.clients[0].LoadUserSession(ctx, id)
	require.NoError(t, err)
	_, err = s0.Token(ctx, "nhn:service-b") // a refresh: the stored refresh token rotates
	require.NoError(t, err)
	newest, _ := s0.RefreshToken()
	require.NotEqual(t, spent, newest)

	require.NoError(t, older.EndUserSession(ctx))
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, revoked)
	assert.Equal(t, newest, revoked[0], "the newest refresh token is revoked first")
	assert.Contains(t, revoked, spent, "and the one this replica held")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// With DPoPAtPAR the code is bound to the starting replica's DPoP key: a replica with another
// key refuses to finish the login before sending anything, and says to share the key; with
// the same Config.DPoPKey the login finishes anywhere.
func TestStoredLoginBoundToAnotherDPoPKey(t *testing.T) {
	r := newReplicas(t, 0, nil, nil)
	ctx := context.Background()
	logins := helseid.NewMemoryLoginStore(r.clock.Now)
	shared, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	replica := func(dpopKey *helseid.Key) *helseid.Client {
		c, err := helseid.NewClient(helseid.Config{Issuer: r.srv.Issuer(), ClientID: "ehr", Key: r.key, HTTPClient: r.srv.Client(),
			Now: r.clock.Now, Logins: logins, DPoPKey: dpopKey, DPoPAtPAR: true})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	start := func(c *helseid.Client) url.Values {
		authURL, err := c.StartStoredLogin(ctx, helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope, Resources: []string{"nhn:service-a"}})
		require.NoError(t, err)
		return r.browse(t, authURL)
	}

	callback := start(replica(nil))
	before := r.srv.Stats().TokenRequests
	_, err = replica(nil).FinishStoredLogin(ctx, callback)
	require.ErrorIs(t, err, helseid.ErrLoginDPoPKey)
	assert.Contains(t, err.Error(), "Config.DPoPKey")
	assert.Equal(t, before, r.srv.Stats().TokenRequests, "the exchange is not sent")

	callback = start(replica(shared))
	res, err := replica(shared).FinishStoredLogin(ctx, callback)
	require.NoError(t, err, "replicas sharing Config.DPoPKey finish each other's logins")
	assert.NotEmpty(t, res.RefreshToken)
}

// A store that stays unwritable after the refresh: the holder retries the write, then gives
// up (ErrPersistFailed) but keeps the lease until it expires, never handing the session to a
// replica that would refresh with the spent refresh token while this one may still store the
// new one.
func TestStoredSessionUnsavedRefreshTokenKeepsTheLease(t *testing.T) {
	store := &flakyStore{}
	r := newReplicas(t, 1, nil, store)
	store.SessionStore = helseid.NewMemorySessionStore(r.clock.Now)
	helseid.SetSessionSaveTimeout(r.clients[0], 200*time.Millisecond)
	ctx := context.Background()
	id := r.login(t).ID()
	a, err := r.clients[0].LoadUserSession(ctx, id)
	require.NoError(t, err)

	store.failSaves.Store(1 << 20)
	_, err = a.Token(ctx, "nhn:service-b")
	require.ErrorIs(t, err, resource.ErrPersistFailed)
	assert.Less(t, store.failSaves.Load(), int32(1<<20-1), "the write was tried more than once")
	store.failSaves.Store(0)

	_, ok, err := r.sessions.AcquireRefreshLease(ctx, id)
	require.NoError(t, err)
	assert.False(t, ok, "the lease is kept while the new refresh token is unsaved")
	r.clock.Advance(helseid.DefaultRefreshLeaseTTL)
	_, ok, err = r.sessions.AcquireRefreshLease(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok, "until it expires")
}

// While the store cannot answer the recheck, a held session's Token fails (a logout could not
// be seen) instead of serving its token, and asks again on the next call.
func TestHeldSessionRecheckFailsClosed(t *testing.T) {
	store := &flakyStore{}
	r := newReplicas(t, 1, nil, store)
	store.SessionStore = helseid.NewMemorySessionStore(r.clock.Now)
	ctx := context.Background()
	held, err := r.clients[0].LoadUserSession(ctx, r.login(t).ID())
	require.NoError(t, err)
	want, err := held.Token(ctx, "nhn:service-a")
	require.NoError(t, err)

	store.failLoads.Store(true)
	_, err = held.Token(ctx, "nhn:service-a")
	require.NoError(t, err, "within the interval the store is not asked")
	r.clock.Advance(helseid.DefaultSessionRecheck)
	_, err = held.Token(ctx, "nhn:service-a")
	require.ErrorContains(t, err, "store unreachable")
	_, err = held.Token(ctx, "nhn:service-a")
	require.ErrorContains(t, err, "store unreachable", "the next call asks again")

	store.failLoads.Store(false)
	got, err := held.Token(ctx, "nhn:service-a")
	require.NoError(t, err)
	assert.Equal(t, want.AccessToken, got.AccessToken)
}

// gatedSessions holds a LoadSession, once armed, between its read and its return, so that a
// test can run something in that window.
type gatedSessions struct {
	helseid.SessionStore
	armed         atomic.Bool
	read, release chan struct{}
}

func (g *gatedSessions) LoadSession(ctx context.Context, id string) (*helseid.StoredSession, error) {
	rec, err := g.SessionStore.LoadSession(ctx, id)
	if g.armed.CompareAndSwap(true, false) {
		close(g.read)
		<-g.release
	}
	return rec, err
}

// A logout that lands while a recheck's read of the store is in flight stays a logout: the
// record that read brings back (newer, written by another replica's refresh) is not adopted,
// and nothing is served from it, whether the session had built its refresh machinery or not.
func TestLogoutDuringARecheckStays(t *testing.T) {
	for _, built := range []bool{true, false} {
		t.Run(fmt.Sprintf("built=%v", built), func(t *testing.T) {
			gate := &gatedSessions{SessionStore: helseid.NewMemorySessionStore(time.Now), read: make(chan struct{}), release: make(chan struct{})}
			r := newReplicas(t, 2, nil, gate)
			ctx := context.Background()
			held := r.login(t) // started on replica 1: built
			if !built {
				var err error
				held, err = r.clients[1].LoadUserSession(ctx, held.ID())
				require.NoError(t, err)
			}
			_, err := held.Token(ctx, "nhn:service-a")
			require.NoError(t, err)
			other, err := r.clients[0].LoadUserSession(ctx, held.ID())
			require.NoError(t, err)
			_, err = other.Token(ctx, "nhn:service-b") // a refresh: a newer record, with both tokens
			require.NoError(t, err)

			r.clock.Advance(helseid.DefaultSessionRecheck)
			gate.armed.Store(true)
			got := make(chan error, 1)
			go func() {
				_, err := held.Token(ctx, "nhn:service-a") // rechecks, and waits in the read
				got <- err
			}()
			<-gate.read
			require.NoError(t, held.EndUserSession(ctx))
			close(gate.release)
			assert.ErrorIs(t, <-got, helseid.ErrSessionEnded)
			_, err = held.Token(ctx, "nhn:service-a")
			assert.ErrorIs(t, err, helseid.ErrSessionEnded)
			_, err = held.Token(ctx, "nhn:service-b")
			assert.ErrorIs(t, err, helseid.ErrSessionEnded)
		})
	}
}
