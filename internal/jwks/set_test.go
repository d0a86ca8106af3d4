package jwks

import (
	"context"
	"crypto/ecdsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/internal/docserver"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/helseid-go/sdk/internal/httpx"
	"github.com/helseid-go/sdk/internal/jose"
)

func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC))
}

func newJWKSServer(t *testing.T, body []byte) *docserver.Server {
	t.Helper()
	return docserver.New(t, "application/jwk-set+json", string(body))
}

func newTestSet(t *testing.T, cfg Config) *Set {
	t.Helper()
	s, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { waitIdle(s) })
	return s
}

// waitIdle waits for the fetch in flight, if any, to finish.
func waitIdle(s *Set) {
	s.mu.Lock()
	c := s.inflight
	s.mu.Unlock()
	if c != nil {
		<-c.done
	}
}

func ecSet(t *testing.T, keys map[string]*ecdsa.PrivateKey) []byte {
	t.Helper()
	var members []map[string]any
	for kid, k := range keys {
		members = append(members, jwkMap(t, &k.PublicKey, map[string]any{"kid": kid, "use": "sig", "alg": "ES256"}))
	}
	return setJSON(t, members...)
}

// signES256 returns a compact JWS signed by key with kid in its protected header.
func signES256(t *testing.T, key *ecdsa.PrivateKey, kid string) []byte {
	t.Helper()
	hdr := jws.NewHeaders()
	require.NoError(t, hdr.Set(jws.KeyIDKey, kid))
	token, err := jws.Sign([]byte(`{"iss":"https://helseid-sts.test.nhn.no","sub":"x"}`), jws.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(hdr)))
	require.NoError(t, err)
	return token
}

// verify selects the key for token from s, as an ID-token verifier does, and verifies.
func verify(ctx context.Context, s *Set, token []byte) error {
	c, err := jose.ParseCompact(string(token))
	if err != nil {
		return err
	}
	key, err := s.Key(ctx, c.Header.Kid, c.Header.Alg)
	if err != nil {
		return err
	}
	return c.Verify(key)
}

func TestNewValidatesURL(t *testing.T) {
	for _, u := range []string{"", "/jwks", "http://helseid-sts.nhn.no/jwks", "https://u:p@x.example/jwks", "https://x.example/jwks#k"} {
		_, err := New(Config{URL: u})
		assert.Error(t, err, u)
	}
	s, err := New(Config{URL: "https://helseid-sts.nhn.no/.well-known/openid-configuration/jwks"})
	require.NoError(t, err)
	assert.Equal(t, DefaultTTL, s.ttl)
	assert.Equal(t, DefaultMissRefetchInterval, s.missInterval)
	assert.Equal(t, 30*time.Second, s.client.Timeout)
	assert.Equal(t, "https://helseid-sts.nhn.no/.well-known/openid-configuration/jwks", s.URL())
}

func TestSetFetchesOnceAndServesFromCache(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}))
	s := newTestSet(t, Config{URL: srv.URL, Now: newFakeClock().Now})

	for range 10 {
		require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256, "k1")))
	}
	assert.EqualValues(t, 1, srv.Requests.Load())
	assert.Contains(t, srv.LastHeader().Get("Accept"), "application/jwk-set+json")

	_, err := s.Key(t.Context(), "k1", "none")
	assert.ErrorIs(t, err, ErrUnsupportedAlgorithm)
	_, err = s.Key(t.Context(), "k1", "HS256")
	assert.ErrorIs(t, err, ErrUnsupportedAlgorithm)
	assert.EqualValues(t, 1, srv.Requests.Load())
}

func TestSetUnknownKidSingleRefetchForConcurrentCallers(t *testing.T) {
	const callers = 50
	testKeys(t)
	srv := newJWKSServer(t, ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}))
	clock := newFakeClock()
	s := newTestSet(t, Config{URL: srv.URL, Now: clock.Now})
	_, err := s.Key(t.Context(), "k1", "ES256")
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.Requests.Load())

	// The issuer adds k2; tokens signed with it arrive at once, from many goroutines.
	srv.Set(http.StatusOK, string(ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256, "k2": ecKey256b})))
	release := make(chan struct{})
	srv.SetBlock(release)
	var waiting atomic.Int32
	allWaiting := make(chan struct{})
	s.testHookWaiting = func() {
		if waiting.Add(1) == callers {
			close(allWaiting)
		}
	}
	token := signES256(t, ecKey256b, "k2")
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = verify(context.Background(), s, token)
		}()
	}
	<-allWaiting
	close(release)
	wg.Wait()

	for _, err := range errs {
		assert.NoError(t, err)
	}
	assert.EqualValues(t, 2, srv.Requests.Load(), "exactly one refetch")
	assert.Equal(t, "no-cache", srv.LastHeader().Get("Cache-Control"), "a miss refetch bypasses HTTP caches")
}

// sequenceServer answers its i-th request with bodies[i] and then the last body for good, as
// a key set behind a cache (or a load balancer mid-rotation) that first serves an old copy.
// Request i waits until holds[i], if any, is closed.
type sequenceServer struct {
	*httptest.Server
	bodies [][]byte
	holds  map[int]chan struct{}

	mu           sync.Mutex
	cacheControl []string // the Cache-Control header of each request, in order
}

func newSequenceServer(t *testing.T, holds map[int]chan struct{}, bodies ...[]byte) *sequenceServer {
	t.Helper()
	s := &sequenceServer{bodies: bodies, holds: holds}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.cacheControl)
		s.cacheControl = append(s.cacheControl, r.Header.Get("Cache-Control"))
		s.mu.Unlock()
		if hold := s.holds[n]; hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(s.bodies[min(n, len(s.bodies)-1)])
	}))
	t.Cleanup(s.Close)
	return s
}

// requests returns the Cache-Control header of every request received so far.
func (s *sequenceServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cacheControl...)
}

func TestSetKidMissingFromFirstFetchIsRefetchedAtOnce(t *testing.T) {
	testKeys(t)
	srv := newSequenceServer(t, nil,
		ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}),
		ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256, "k2": ecKey256b}))
	clock := newFakeClock()
	s := newTestSet(t, Config{URL: srv.URL, Now: clock.Now, MissRefetchInterval: 10 * time.Second})

	// The very first fetch lacks k2: one refetch at once, which finds it.
	require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256b, "k2")), "a kid missing from the first fetch is refetched")
	assert.Len(t, srv.requests(), 2, "the first fetch and exactly one refetch")
	assert.Equal(t, "no-cache", srv.requests()[1], "the refetch bypasses HTTP caches")

	// A second unknown kid right after is a repeated miss: rate-limited, no request.
	_, err := s.Key(t.Context(), "k3", "ES256")
	require.ErrorIs(t, err, ErrKeyNotFound)
	assert.Contains(t, err.Error(), "rate-limited")
	assert.Len(t, srv.requests(), 2)

	// Known keys keep verifying meanwhile, without requests.
	require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256, "k1")))
	require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256b, "k2")))
	assert.Len(t, srv.requests(), 2)

	// After the interval an unknown kid is refetched again.
	clock.Advance(10 * time.Second)
	_, err = s.Key(t.Context(), "k3", "ES256")
	require.ErrorIs(t, err, ErrKeyNotFound)
	assert.NotContains(t, err.Error(), "rate-limited")
	assert.Len(t, srv.requests(), 3)
}

func TestSetKidMissingFromFirstFetchAndRefetch(t *testing.T) {
	testKeys(t)
	srv := newSequenceServer(t, nil, ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}))
	clock := newFakeClock()
	s := newTestSet(t, Config{URL: srv.URL, Now: clock.Now, MissRefetchInterval: 10 * time.Second})

	_, err := s.Key(t.Context(), "forged", "ES256")
	require.ErrorIs(t, err, ErrKeyNotFound)
	assert.NotContains(t, err.Error(), "rate-limited", "the refetch was made")
	assert.Equal(t, []string{"no-cache", "no-cache"}, srv.requests(), "the first fetch and one refetch, no more")

	for _, kid := range []string{"forged", "forged-2", ""} {
		clock.Advance(time.Second)
		_, err = s.Key(t.Context(), kid, "ES384") // no key fits ES384 either: a miss for the empty kid
		require.ErrorIs(t, err, ErrKeyNotFound, kid)
		assert.Contains(t, err.Error(), "rate-limited", kid)
	}
	assert.Len(t, srv.requests(), 2, "repeated misses send nothing inside the interval")
}

func TestSetKidMissingFromFirstFetchOneRefetchForConcurrentCallers(t *testing.T) {
	const callers = 50
	testKeys(t)
	hold := make(chan struct{})
	srv := newSequenceServer(t, map[int]chan struct{}{0: hold},
		ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}),
		ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256, "k2": ecKey256b}))
	s := newTestSet(t, Config{URL: srv.URL, Now: newFakeClock().Now})
	var waiting atomic.Int32
	allWaiting := make(chan struct{})
	s.testHookWaiting = func() {
		if waiting.Add(1) == callers {
			close(allWaiting)
		}
	}

	// Every caller arrives during the first fetch, which lacks k2.
	token := signES256(t, ecKey256b, "k2")
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = verify(context.Background(), s, token)
		}()
	}
	<-allWaiting
	close(hold)
	wg.Wait()

	for _, err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, srv.requests(), 2, "one first fetch and one shared refetch")
}

func TestSetKidMissingFromTTLRefreshIsRefetched(t *testing.T) {
	testKeys(t)
	refreshHeld := make(chan struct{})
	srv := newSequenceServer(t, map[int]chan struct{}{1: refreshHeld},
		ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}),
		ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}), // the TTL refresh, from a stale cache
		ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256, "k2": ecKey256b}))
	clock := newFakeClock()
	s := newTestSet(t, Config{URL: srv.URL, Now: clock.Now, TTL: time.Hour})
	require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256, "k1")))

	// The set is stale: k1 is served while a TTL refresh starts (held at the server).
	clock.Advance(time.Hour)
	require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256, "k1")))

	// A token with the new kid waits for that refresh, which still lacks it: as no refetch
	// for the kid (nor one forced past caches), it is followed by one at once.
	waiting := make(chan struct{}, 2)
	s.testHookWaiting = func() { waiting <- struct{}{} }
	done := make(chan error, 1)
	go func() { done <- verify(context.Background(), s, signES256(t, ecKey256b, "k2")) }()
	<-waiting
	close(refreshHeld)
	require.NoError(t, <-done)
	assert.Equal(t, []string{"no-cache", "", "no-cache"}, srv.requests())
}

func TestSetWaiterWithEndedContextReturnsAtOnce(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}))
	release := make(chan struct{})
	srv.SetBlock(release)
	s := newTestSet(t, Config{URL: srv.URL})
	waiting := make(chan struct{}, 2)
	s.testHookWaiting = func() { waiting <- struct{}{} }

	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error, 1)
	go func() {
		_, err := s.Key(ctx, "k1", "ES256")
		impatient <- err
	}()
	<-waiting
	patient := make(chan error, 1)
	go func() {
		_, err := s.Key(context.Background(), "k1", "ES256")
		patient <- err
	}()
	<-waiting

	cancel()
	assert.ErrorIs(t, <-impatient, context.Canceled)
	close(release)
	assert.NoError(t, <-patient, "the fetch went on for the patient caller")
	assert.EqualValues(t, 1, srv.Requests.Load())
}

func TestSetRepeatedMissesAreRateLimited(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}))
	clock := newFakeClock()
	s := newTestSet(t, Config{URL: srv.URL, Now: clock.Now, MissRefetchInterval: 10 * time.Second})

	_, err := s.Key(t.Context(), "k1", "ES256")
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.Requests.Load())

	// The first miss after the first fetch refetches at once.
	clock.Advance(time.Second)
	_, err = s.Key(t.Context(), "random-1", "ES256")
	assert.ErrorIs(t, err, ErrKeyNotFound)
	assert.Contains(t, err.Error(), `"random-1"`)
	assert.EqualValues(t, 2, srv.Requests.Load())

	// That refetch still missed: further misses wait for the interval.
	for i := range 20 {
		clock.Advance(450 * time.Millisecond) // up to 9 s after the refetch
		_, err = s.Key(t.Context(), "random-more", "ES256")
		require.ErrorIs(t, err, ErrKeyNotFound, i)
		assert.Contains(t, err.Error(), "rate-limited")
	}
	assert.EqualValues(t, 2, srv.Requests.Load(), "no request inside the interval")

	// Known keys keep verifying meanwhile, without requests.
	_, err = s.Key(t.Context(), "k1", "ES256")
	require.NoError(t, err)

	clock.Advance(time.Second) // 10 s after the last refetch started
	_, err = s.Key(t.Context(), "random-2", "ES256")
	assert.ErrorIs(t, err, ErrKeyNotFound)
	assert.EqualValues(t, 3, srv.Requests.Load(), "one refetch per interval")

	_, err = s.Key(t.Context(), "random-3", "ES256")
	assert.ErrorIs(t, err, ErrKeyNotFound)
	assert.EqualValues(t, 3, srv.Requests.Load())

	// A kid that exists but cannot verify the algorithm is not a miss: no refetch.
	clock.Advance(time.Minute)
	_, err = s.Key(t.Context(), "k1", "ES384")
	assert.ErrorIs(t, err, ErrKeyUnusable)
	assert.EqualValues(t, 3, srv.Requests.Load())
}

func TestSetKeyRotation(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecSet(t, map[string]*ecdsa.PrivateKey{"old": ecKey256}))
	clock := newFakeClock()
	s := newTestSet(t, Config{URL: srv.URL, Now: clock.Now})

	require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256, "old")))

	// The issuer rotates just after we started: the new key replaces the old one.
	srv.Set(http.StatusOK, string(ecSet(t, map[string]*ecdsa.PrivateKey{"new": ecKey256b})))
	clock.Advance(2 * time.Second)
	require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256b, "new")), "the new kid verifies after one refetch")
	assert.EqualValues(t, 2, srv.Requests.Load())

	// A token signed by the new key but claiming the old kid does not verify.
	err := verify(t.Context(), s, signES256(t, ecKey256b, "old"))
	assert.ErrorIs(t, err, ErrKeyNotFound, "the old key is gone")
	// A token signed with the old key under the new kid fails signature verification.
	err = verify(t.Context(), s, signES256(t, ecKey256, "new"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrKeyNotFound)
}

func TestSetTTLRefresh(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}))
	clock := newFakeClock()
	s := newTestSet(t, Config{URL: srv.URL, Now: clock.Now, TTL: time.Hour})

	_, err := s.Key(t.Context(), "k1", "ES256")
	require.NoError(t, err)
	clock.Advance(time.Hour - time.Nanosecond)
	_, err = s.Key(t.Context(), "k1", "ES256")
	require.NoError(t, err)
	assert.EqualValues(t, 1, srv.Requests.Load(), "fresh until the TTL")

	srv.Set(http.StatusOK, string(ecSet(t, map[string]*ecdsa.PrivateKey{"k2": ecKey256b})))
	clock.Advance(time.Nanosecond)
	key, err := s.Key(t.Context(), "k1", "ES256")
	require.NoError(t, err, "the stale set is served while it refreshes")
	require.NotNil(t, key)
	waitIdle(s)
	assert.EqualValues(t, 2, srv.Requests.Load())
	assert.Empty(t, srv.LastHeader().Get("Cache-Control"), "a TTL refresh is not forced")

	_, err = s.Key(t.Context(), "k2", "ES256")
	require.NoError(t, err, "the refreshed set is in use")
	assert.EqualValues(t, 2, srv.Requests.Load())
}

func TestSetFailedRefreshKeepsOldKeys(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256}))
	clock := newFakeClock()
	s := newTestSet(t, Config{URL: srv.URL, Now: clock.Now, TTL: time.Hour, MissRefetchInterval: 10 * time.Second})
	require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256, "k1")))

	for _, broken := range []struct {
		name   string
		status int
		body   []byte
	}{
		{"500", http.StatusInternalServerError, []byte(`{"error":"x"}`)},
		{"not JSON", http.StatusOK, []byte(`<html>maintenance</html>`)},
		{"empty set", http.StatusOK, []byte(`{"keys":[]}`)},
	} {
		srv.Set(broken.status, string(broken.body))
		before := srv.Requests.Load()
		clock.Advance(2 * time.Hour)
		require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256, "k1")), broken.name)
		waitIdle(s)
		assert.EqualValues(t, before+1, srv.Requests.Load(), broken.name)

		// Old keys keep verifying, with no request inside the interval after the failure.
		require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256, "k1")), broken.name)
		_, err := s.Key(t.Context(), "k2", "ES256")
		require.ErrorIs(t, err, ErrKeyNotFound, broken.name)
		assert.EqualValues(t, before+1, srv.Requests.Load(), broken.name)
	}

	// A miss-triggered refetch that fails reports the failure but keeps the old keys.
	clock.Advance(time.Minute)
	srv.Set(http.StatusBadGateway, "")
	_, err := s.Key(t.Context(), "k2", "ES256")
	require.ErrorIs(t, err, ErrKeyNotFound)
	var fe *FetchError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, http.StatusBadGateway, fe.StatusCode)
	assert.Contains(t, err.Error(), "serving the previous set")
	require.NoError(t, verify(t.Context(), s, signES256(t, ecKey256, "k1")))
}

func TestSetColdStartFailure(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, nil)
	srv.Set(http.StatusServiceUnavailable, "")
	clock := newFakeClock()
	s := newTestSet(t, Config{URL: srv.URL, Now: clock.Now, MissRefetchInterval: 10 * time.Second})

	_, err := s.Key(t.Context(), "k1", "ES256")
	var fe *FetchError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, http.StatusServiceUnavailable, fe.StatusCode)
	assert.Equal(t, srv.URL, fe.URL)

	clock.Advance(9 * time.Second)
	_, err = s.Key(t.Context(), "k1", "ES256")
	require.ErrorAs(t, err, &fe, "the remembered failure")
	assert.EqualValues(t, 1, srv.Requests.Load())

	srv.Set(http.StatusOK, string(ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256})))
	clock.Advance(time.Second)
	_, err = s.Key(t.Context(), "k1", "ES256")
	require.NoError(t, err)
	assert.EqualValues(t, 2, srv.Requests.Load())
}

func TestSetFetchErrors(t *testing.T) {
	testKeys(t)
	body := ecSet(t, map[string]*ecdsa.PrivateKey{"k1": ecKey256})

	t.Run("oversized body", func(t *testing.T) {
		srv := newJWKSServer(t, body)
		s := newTestSet(t, Config{URL: srv.URL, MaxBody: int64(len(body) - 1)})
		_, err := s.Key(t.Context(), "k1", "ES256")
		assert.ErrorIs(t, err, httpx.ErrBodyTooLarge)
		assert.NotErrorIs(t, err, ErrKeyNotFound, "with no set at all the fetch failure is the error")
	})
	t.Run("default limit is 1 MiB", func(t *testing.T) {
		padded := []byte(strings.Replace(string(body), `{"keys"`, `{"pad":"`+strings.Repeat("x", httpx.DefaultMaxBody)+`","keys"`, 1))
		srv := newJWKSServer(t, padded)
		s := newTestSet(t, Config{URL: srv.URL})
		_, err := s.Key(t.Context(), "k1", "ES256")
		assert.ErrorIs(t, err, httpx.ErrBodyTooLarge)
	})
	t.Run("fetch is bounded by its own timeout", func(t *testing.T) {
		srv := newJWKSServer(t, body)
		srv.SetBlock(make(chan struct{}))
		s := newTestSet(t, Config{URL: srv.URL, Timeout: 20 * time.Millisecond})
		_, err := s.Key(context.Background(), "k1", "ES256")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "did not finish")
	})
	t.Run("transport error", func(t *testing.T) {
		srv := newJWKSServer(t, body)
		srv.Close()
		s := newTestSet(t, Config{URL: srv.URL})
		_, err := s.Key(t.Context(), "k1", "ES256")
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "jwks: "), err.Error())
		assert.Contains(t, err.Error(), srv.URL)
	})
	t.Run("ended context does not start a fetch", func(t *testing.T) {
		srv := newJWKSServer(t, body)
		s := newTestSet(t, Config{URL: srv.URL})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Key(ctx, "k1", "ES256")
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, srv.Requests.Load())
	})
}

func TestSetReturnsUsableJWK(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, setJSON(t,
		jwkMap(t, &rsaKey1.PublicKey, map[string]any{"kid": "rsa", "alg": "PS256", "use": "sig"}),
		jwkMap(t, edKey.Public(), map[string]any{"kid": "ed"}),
	))
	s := newTestSet(t, Config{URL: srv.URL})

	key, err := s.Key(t.Context(), "rsa", "PS256")
	require.NoError(t, err)
	assertPublic(t, key)
	token, err := jws.Sign([]byte("payload"), jws.WithKey(jwa.PS256, rsaKey1))
	require.NoError(t, err)
	c, err := jose.ParseCompact(string(token))
	require.NoError(t, err)
	assert.NoError(t, c.Verify(key))

	key, err = s.Key(t.Context(), "ed", "EdDSA")
	require.NoError(t, err)
	assertPublic(t, key)
	token, err = jws.Sign([]byte("payload"), jws.WithKey(jwa.EdDSA, edKey))
	require.NoError(t, err)
	c, err = jose.ParseCompact(string(token))
	require.NoError(t, err)
	assert.NoError(t, c.Verify(key))
}
