package resource_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/helseid-go/sdk/resource"
)

// rotatingServer is a token endpoint with one-time refresh tokens: reusing an old one revokes
// the grant, as HelseID and the conformance suite do.
type rotatingServer struct {
	mu       sync.Mutex
	current  string
	revoked  bool
	n        int
	failNext bool
	seen     []string // resource of each refresh
	calls    int
	before   func() // runs after rotating, before answering
	refuse   string // a resource answered with invalid_target
	// lifetime, when set, is sent instead of expires_in: as a JWT's exp with jwt, else
	// nowhere (an opaque token of unknown lifetime).
	lifetime func() (exp time.Time, jwt bool)
}

func (s *rotatingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	w.Header().Set("Content-Type", "application/json")
	if s.failNext {
		s.failNext = false
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
		return
	}
	if len(r.PostForm["resource"]) != 1 || r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("resource") == s.refuse {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_target"}`))
		return
	}
	if s.revoked || r.PostForm.Get("refresh_token") != s.current {
		s.revoked = true
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	s.n++
	s.current = "rt-" + strconv.Itoa(s.n)
	s.seen = append(s.seen, r.PostForm.Get("resource"))
	if s.before != nil {
		s.before()
	}
	body := map[string]any{"access_token": "at-" + r.PostForm.Get("resource") + "-" + strconv.Itoa(s.n),
		"token_type": "Bearer", "expires_in": 600, "refresh_token": s.current, "rt_expires_in": 3600}
	if s.lifetime != nil {
		delete(body, "expires_in")
		if exp, isJWT := s.lifetime(); isJWT {
			body["access_token"] = jwtWithExp(exp)
		}
	}
	_ = json.NewEncoder(w).Encode(body)
}

func jwtWithExp(exp time.Time) string {
	return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":`+strconv.FormatInt(exp.Unix(), 10)+`}`)) + ".c2ln"
}

type noAuth struct{}

func (noAuth) Authenticate(url.Values) error { return nil }

func newSession(t *testing.T, srv *rotatingServer, persist resource.PersistFunc) *resource.Session {
	t.Helper()
	return newSessionAt(t, srv, persist, time.Now)
}

func newSessionAt(t *testing.T, srv *rotatingServer, persist resource.PersistFunc, now func() time.Time) *resource.Session {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	srv.current = "rt-0"
	s, err := resource.NewSession(resource.Config{TokenEndpoint: ts.URL, Settings: fapi.Settings{ClientAuth: noAuth{}, HTTPClient: ts.Client(), Now: now}, Persist: persist}, "rt-0", time.Time{})
	require.NoError(t, err)
	return s
}

func TestSessionRotatesAndPersists(t *testing.T) {
	srv := &rotatingServer{}
	var persisted []string
	s := newSession(t, srv, func(_ context.Context, rt string, exp time.Time) error {
		persisted = append(persisted, rt)
		assert.WithinDuration(t, time.Now().Add(time.Hour), exp, time.Minute, "rt_expires_in")
		return nil
	})
	a, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err)
	assert.Equal(t, "at-nhn:a-1", a.AccessToken)
	a2, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err)
	assert.Equal(t, a.AccessToken, a2.AccessToken, "cached")
	b, err := s.Token(context.Background(), "nhn:b")
	require.NoError(t, err)
	assert.Equal(t, "at-nhn:b-2", b.AccessToken)
	assert.Equal(t, []string{"rt-1", "rt-2"}, persisted)
	rt, _ := s.RefreshToken()
	assert.Equal(t, "rt-2", rt)
	assert.Equal(t, []string{"nhn:a", "nhn:b"}, srv.seen, "one resource per refresh")
}

func TestSessionConcurrentCallersOneRefreshEach(t *testing.T) {
	srv := &rotatingServer{}
	s := newSession(t, srv, nil)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.Token(context.Background(), []string{"nhn:a", "nhn:b", "nhn:c"}[i%3])
			assert.NoError(t, err)
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, 3, srv.n, "one refresh per resource")
	assert.False(t, srv.revoked, "no refresh token was used twice")
}

func TestSessionFailedRefreshKeepsTheOldToken(t *testing.T) {
	srv := &rotatingServer{failNext: true}
	clock := fakeclock.New(time.Now())
	s := newSessionAt(t, srv, nil, clock.Now)
	_, err := s.Token(context.Background(), "nhn:a")
	var oe *fapi.Error
	require.ErrorAs(t, err, &oe)
	rt, _ := s.RefreshToken()
	assert.Equal(t, "rt-0", rt)
	_, again := s.Token(context.Background(), "nhn:a")
	assert.Equal(t, err, again, "a recent failure is answered from memory")
	assert.Equal(t, 1, srv.calls)
	clock.Advance(3 * time.Second)
	_, err = s.Token(context.Background(), "nhn:a")
	require.NoError(t, err, "then the kept refresh token is used")
}

// One resource the server refuses does not hold up the session's other resources: failures
// are remembered per resource, with a backoff that doubles while they repeat.
func TestSessionFailureIsPerResource(t *testing.T) {
	srv := &rotatingServer{refuse: "nhn:refused"}
	clock := fakeclock.New(time.Now())
	s := newSessionAt(t, srv, nil, clock.Now)
	_, err := s.Token(context.Background(), "nhn:refused")
	var oe *fapi.Error
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "invalid_target", oe.Code)
	assert.Contains(t, err.Error(), "nhn:refused")

	a, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err, "another resource refreshes at once")
	assert.Equal(t, "at-nhn:a-1", a.AccessToken)
	assert.Equal(t, 2, srv.calls)

	steps := []struct {
		advance time.Duration
		calls   int // at the token endpoint after asking for the refused resource again
	}{
		{0, 2},               // remembered (then nhn:b's refresh is the third request)
		{2 * time.Second, 4}, // first backoff (2 s) over: one more request, refused again
		{2 * time.Second, 4}, // the backoff doubled to 4 s
		{2 * time.Second, 5},
		{4 * time.Second, 5}, // 8 s
		{4 * time.Second, 6},
	}
	for i, step := range steps {
		clock.Advance(step.advance)
		_, err = s.Token(context.Background(), "nhn:refused")
		require.ErrorAs(t, err, &oe, "step %d", i)
		assert.Contains(t, err.Error(), "nhn:refused", "step %d", i)
		assert.Equal(t, step.calls, srv.calls, "step %d", i)
		b, err := s.Token(context.Background(), "nhn:b")
		require.NoError(t, err, "step %d", i)
		assert.Equal(t, b, must(s.Token(context.Background(), "nhn:b")), "step %d: cached", i)
	}
	assert.Equal(t, []string{"nhn:a", "nhn:b"}, srv.seen)

	// invalid_grant still ends the whole session.
	srv.mu.Lock()
	srv.revoked = true
	srv.mu.Unlock()
	_, err = s.Token(context.Background(), "nhn:c")
	require.ErrorIs(t, err, resource.ErrInvalidGrant)
	clock.Advance(time.Hour)
	for _, res := range []string{"nhn:a", "nhn:b", "nhn:refused", "nhn:d"} {
		_, err = s.Token(context.Background(), res)
		assert.ErrorIs(t, err, resource.ErrInvalidGrant, res)
	}
	assert.Equal(t, 7, srv.calls, "no request after invalid_grant")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// After invalid_grant the session is over: no caller sends the dead token again.
func TestSessionInvalidGrantIsFinal(t *testing.T) {
	srv := &rotatingServer{}
	clock := fakeclock.New(time.Now())
	s := newSessionAt(t, srv, nil, clock.Now)
	srv.revoked = true
	_, err := s.Token(context.Background(), "nhn:a")
	assert.ErrorIs(t, err, resource.ErrInvalidGrant)
	clock.Advance(time.Hour)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Token(context.Background(), "nhn:b")
			assert.ErrorIs(t, err, resource.ErrInvalidGrant)
		}()
	}
	wg.Wait()
	assert.Equal(t, 0, srv.n)
	assert.Equal(t, 1, srv.calls, "one request in all")
}

// A caller that gives up while its refresh is on the wire does not lose the rotated token.
func TestSessionCancelledRefreshKeepsTheRotatedToken(t *testing.T) {
	srv := &rotatingServer{}
	arrived, release := make(chan struct{}), make(chan struct{})
	srv.before = func() { close(arrived); <-release }
	s := newSession(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Token(ctx, "nhn:a"); done <- err }()
	<-arrived
	cancel()
	close(release)
	require.NoError(t, <-done, "the response was read to the end")
	rt, _ := s.RefreshToken()
	assert.Equal(t, "rt-1", rt)
	srv.before = nil
	_, err := s.Token(context.Background(), "nhn:b")
	require.NoError(t, err)
	assert.False(t, srv.revoked)
}

func TestSessionInvalidate(t *testing.T) {
	srv := &rotatingServer{}
	s := newSession(t, srv, nil)
	a, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err)
	s.Invalidate("nhn:a", "another token")
	same, _ := s.Token(context.Background(), "nhn:a")
	assert.Equal(t, a.AccessToken, same.AccessToken)
	s.Invalidate("nhn:a", a.AccessToken)
	fresh, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err)
	assert.NotEqual(t, a.AccessToken, fresh.AccessToken)
}

// flakyStore is a refresh-token store that fails while down.
type flakyStore struct {
	mu    sync.Mutex
	down  bool
	calls int
	saved []string
}

func (st *flakyStore) persist(_ context.Context, rt string, _ time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.calls++
	if st.down {
		return assert.AnError
	}
	st.saved = append(st.saved, rt)
	return nil
}

func (st *flakyStore) setDown(down bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.down = down
}

// While the store is down, the session sends one refresh in all: it keeps the rotated refresh
// token in memory, holds the access token back, and retries Persist (not the refresh) with
// backoff; once Persist succeeds the held token is handed out.
func TestSessionPersistFailureRetriesPersistNotTheRefresh(t *testing.T) {
	srv := &rotatingServer{}
	store := &flakyStore{down: true}
	clock := fakeclock.New(time.Now())
	s := newSessionAt(t, srv, store.persist, clock.Now)

	_, err := s.Token(context.Background(), "nhn:a")
	require.ErrorIs(t, err, resource.ErrPersistFailed)
	assert.ErrorIs(t, err, assert.AnError)
	rt, _ := s.RefreshToken()
	assert.Equal(t, "rt-1", rt, "the rotated refresh token is kept in memory")

	steps := []struct {
		advance  time.Duration
		persists int // calls of Persist after asking again
	}{
		{0, 1},               // remembered: no Persist, no refresh
		{2 * time.Second, 2}, // backoff over: Persist again, failing again
		{2 * time.Second, 2}, // the backoff doubled to 4 s
		{2 * time.Second, 3},
		{4 * time.Second, 3}, // 8 s
		{4 * time.Second, 4},
	}
	for i, step := range steps {
		clock.Advance(step.advance)
		for _, res := range []string{"nhn:a", "nhn:b"} {
			_, err = s.Token(context.Background(), res)
			require.ErrorIs(t, err, resource.ErrPersistFailed, "step %d %s", i, res)
		}
		assert.Equal(t, step.persists, store.calls, "step %d", i)
		assert.Equal(t, 1, srv.calls, "step %d: no other refresh", i)
	}

	store.setDown(false)
	clock.Advance(16 * time.Second)
	a, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err)
	assert.Equal(t, "at-nhn:a-1", a.AccessToken, "the held token, once its refresh token is saved")
	assert.Equal(t, []string{"rt-1"}, store.saved)
	assert.Equal(t, 1, srv.calls)

	b, err := s.Token(context.Background(), "nhn:b")
	require.NoError(t, err, "refreshes go on with the kept refresh token")
	assert.Equal(t, "at-nhn:b-2", b.AccessToken)
	assert.Equal(t, []string{"rt-1", "rt-2"}, store.saved)
	assert.Equal(t, 2, srv.calls)
	assert.False(t, srv.revoked, "no refresh token was used twice")
}

// Many callers at once while the store is down: one refresh, one Persist, and every caller
// gets ErrPersistFailed.
func TestSessionPersistFailureConcurrentCallers(t *testing.T) {
	srv := &rotatingServer{}
	store := &flakyStore{down: true}
	s := newSessionAt(t, srv, store.persist, fakeclock.New(time.Now()).Now)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.Token(context.Background(), []string{"nhn:a", "nhn:b", "nhn:c"}[i%3])
			assert.ErrorIs(t, err, resource.ErrPersistFailed)
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, 1, srv.calls, "one refresh")
	assert.Equal(t, 1, store.calls, "one Persist within the backoff")
}

// A caller with a cached token is served while the store is down; a caller that needs a new
// one gets ErrPersistFailed until Persist succeeds.
func TestSessionPersistFailureServesCachedTokens(t *testing.T) {
	srv := &rotatingServer{}
	store := &flakyStore{}
	clock := fakeclock.New(time.Now())
	s := newSessionAt(t, srv, store.persist, clock.Now)
	a, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err)
	store.setDown(true)
	_, err = s.Token(context.Background(), "nhn:b")
	require.ErrorIs(t, err, resource.ErrPersistFailed)
	cached, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err)
	assert.Equal(t, a, cached)
	store.setDown(false)
	clock.Advance(2 * time.Second)
	b, err := s.Token(context.Background(), "nhn:b")
	require.NoError(t, err)
	assert.Equal(t, "at-nhn:b-2", b.AccessToken)
	assert.Equal(t, 2, srv.calls)
}

// A Switch whose Persist fails has happened at the server: the new context stays (no undo),
// the old context's tokens are gone at once, and the new token comes once Persist succeeds.
func TestSessionSwitchPersistFailure(t *testing.T) {
	srv := &rotatingServer{}
	store := &flakyStore{}
	clock := fakeclock.New(time.Now())
	s := newSessionAt(t, srv, store.persist, clock.Now)
	_, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err)
	store.setDown(true)
	var changed, undone int
	_, err = s.Switch(context.Background(), "nhn:b", func() { changed++ }, func() { undone++ })
	require.ErrorIs(t, err, resource.ErrPersistFailed)
	assert.Equal(t, []int{1, 0}, []int{changed, undone}, "the refresh happened: no undo")
	_, err = s.Token(context.Background(), "nhn:a")
	require.ErrorIs(t, err, resource.ErrPersistFailed, "the old context's token is not served")
	store.setDown(false)
	clock.Advance(2 * time.Second)
	b, err := s.Token(context.Background(), "nhn:b")
	require.NoError(t, err)
	assert.Equal(t, "at-nhn:b-2", b.AccessToken)
	assert.Equal(t, 2, srv.calls)
}

func TestSessionWaiterLeavesOnItsContext(t *testing.T) {
	arrived, block := make(chan struct{}, 1), make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-block
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer ts.Close()
	s, err := resource.NewSession(resource.Config{TokenEndpoint: ts.URL, Settings: fapi.Settings{ClientAuth: noAuth{}, HTTPClient: ts.Client()}}, "rt", time.Time{})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { // holds the refresh lane until the server answers
		defer close(done)
		_, _ = s.Token(context.Background(), "nhn:a")
	}()
	<-arrived
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Token(ctx, "nhn:b")
	assert.ErrorIs(t, err, context.Canceled, "a waiter whose context ends leaves at once")
	close(block)
	<-done
}

func TestSessionRefusals(t *testing.T) {
	_, err := resource.NewSession(resource.Config{TokenEndpoint: "https://as.example/token", Settings: fapi.Settings{ClientAuth: noAuth{}}}, "", time.Time{})
	assert.ErrorContains(t, err, "the refresh token is empty")
	s, err := resource.NewSession(resource.Config{TokenEndpoint: "https://as.example/token", Settings: fapi.Settings{ClientAuth: noAuth{}}}, "rt", time.Now().Add(-time.Second))
	require.NoError(t, err)
	_, err = s.Token(context.Background(), "nhn:a")
	assert.ErrorIs(t, err, resource.ErrRefreshTokenExpired)
	_, err = s.Token(context.Background(), "a b")
	assert.ErrorIs(t, err, resource.ErrInvalidResource)
}

// A token response without expires_in is not cached forever: the JWT's exp when the access
// token is a JWT, else the one-minute lifetime the client-credentials cache assumes; in both
// cases without the last ExpiryMargin (10 s).
func TestSessionTokenWithoutExpiresIn(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name        string
		jwt         bool
		exp         time.Duration // the JWT's exp, from the clock at the refresh
		cachedUntil time.Duration // the last moment the first token is still served
		viaPut      bool          // the token arrives through Put (the login's), not a refresh
	}{
		{name: "opaque: one minute", cachedUntil: 50 * time.Second},
		{name: "JWT: its exp", jwt: true, exp: 5 * time.Minute, cachedUntil: 290 * time.Second},
		{name: "JWT with a past exp: one minute", jwt: true, exp: -time.Second, cachedUntil: 50 * time.Second},
		{name: "Put, opaque: one minute", viaPut: true, cachedUntil: 50 * time.Second},
		{name: "Put, JWT: its exp", viaPut: true, jwt: true, exp: 2 * time.Minute, cachedUntil: 110 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := fakeclock.New(start)
			srv := &rotatingServer{lifetime: func() (time.Time, bool) { return start.Add(tc.exp), tc.jwt }}
			s := newSessionAt(t, srv, nil, clock.Now)
			var first *fapi.Token
			if tc.viaPut {
				at := "opaque-login-token"
				if tc.jwt {
					at = jwtWithExp(start.Add(tc.exp))
				}
				s.Put("nhn:a", fapi.Token{AccessToken: at})
				first = must(s.Token(context.Background(), "nhn:a"))
				assert.Equal(t, at, first.AccessToken)
			} else {
				first = must(s.Token(context.Background(), "nhn:a"))
			}
			calls := srv.calls
			clock.Set(start.Add(tc.cachedUntil - time.Second))
			again, err := s.Token(context.Background(), "nhn:a")
			require.NoError(t, err)
			assert.Equal(t, first.AccessToken, again.AccessToken, "still cached")
			assert.Equal(t, calls, srv.calls)
			clock.Set(start.Add(tc.cachedUntil + time.Second))
			_, err = s.Token(context.Background(), "nhn:a")
			require.NoError(t, err)
			assert.Equal(t, calls+1, srv.calls, "refreshed once the assumed lifetime is over")
		})
	}
}

// Cached answers from memory only; Adopt makes the next refresh present another process's
// newer refresh token and drops a token held for a Persist that failed; End refuses every
// later refresh with its reason and drops the cached tokens, with no request.
func TestSessionCachedAdoptEnd(t *testing.T) {
	srv := &rotatingServer{}
	store := &flakyStore{down: true}
	s := newSession(t, srv, store.persist)
	assert.Nil(t, s.Cached("nhn:a"))
	assert.Zero(t, srv.calls, "Cached sends nothing")

	_, err := s.Token(context.Background(), "nhn:a")
	require.ErrorIs(t, err, resource.ErrPersistFailed)
	// Another process refreshed meanwhile (rt-1 -> rt-2) and stored rt-2.
	srv.mu.Lock()
	srv.current = "rt-2"
	srv.n = 2
	srv.mu.Unlock()
	s.Adopt("rt-2", time.Now().Add(time.Hour))
	store.setDown(false)
	a, err := s.Token(context.Background(), "nhn:a")
	require.NoError(t, err, "the held token is dropped: no Persist of the superseded refresh token")
	assert.Equal(t, "at-nhn:a-3", a.AccessToken)
	assert.Equal(t, []string{"rt-3"}, store.saved)
	assert.Same(t, a, s.Cached("nhn:a"))
	assert.False(t, srv.revoked)

	reason := errors.New("logged out elsewhere")
	s.End(reason)
	assert.Nil(t, s.Cached("nhn:a"))
	calls := srv.calls
	_, err = s.Token(context.Background(), "nhn:a")
	assert.ErrorIs(t, err, reason)
	assert.Equal(t, calls, srv.calls)
}

// CachedAt answers at the caller's time, with the expiry margin; ReplaceTokens makes the given
// set the whole cache (a token missing from it is no longer served).
func TestSessionCachedAtAndReplaceTokens(t *testing.T) {
	srv := &rotatingServer{}
	s := newSession(t, srv, nil)
	now := time.Now()
	s.ReplaceTokens(map[string]fapi.Token{"nhn:a": {AccessToken: "at-a", Expiry: now.Add(time.Minute)}})
	require.NotNil(t, s.CachedAt("nhn:a", now))
	assert.Equal(t, "at-a", s.CachedAt("nhn:a", now).AccessToken)
	assert.NotNil(t, s.CachedAt("nhn:a", now.Add(49*time.Second)))
	assert.Nil(t, s.CachedAt("nhn:a", now.Add(50*time.Second)), "not in its last 10 s")

	s.ReplaceTokens(map[string]fapi.Token{"nhn:b": {AccessToken: "at-b", Expiry: now.Add(time.Minute)}})
	assert.Nil(t, s.CachedAt("nhn:a", now), "a token missing from the new set is dropped")
	assert.Equal(t, "at-b", s.CachedAt("nhn:b", now).AccessToken)
	assert.Zero(t, srv.calls)
}
