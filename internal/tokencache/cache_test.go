package tokencache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type token struct {
	value string
	n     int64
}

var seed = maphash.MakeSeed()

func hashString(k string) uint64 { return maphash.String(seed, k) }

// fetcher is a scriptable Fetch: it counts calls and can be held until released.
type fetcher struct {
	calls   atomic.Int64
	clock   *fakeclock.Clock
	life    time.Duration
	hold    chan struct{} // when non-nil, fetches wait for it to be closed (or their ctx)
	started chan struct{} // when non-nil, receives once per started fetch
	fail    atomic.Pointer[error]
}

func (f *fetcher) fetch(ctx context.Context, key string) (*token, time.Time, error) {
	n := f.calls.Add(1)
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		}
	}
	if err := f.fail.Load(); err != nil {
		return nil, time.Time{}, *err
	}
	return &token{value: fmt.Sprintf("%s#%d", key, n), n: n}, f.clock.Now().Add(f.life), nil
}

type events struct {
	mu     sync.Mutex
	counts map[EventKind]int
	fetch  chan Event
	misses chan struct{}
}

func (ev *events) observe(_ context.Context, _ string, e Event) {
	ev.mu.Lock()
	ev.counts[e.Kind]++
	ev.mu.Unlock()
	if e.Kind == Fetched && ev.fetch != nil {
		ev.fetch <- e
	}
	if e.Kind == Miss && ev.misses != nil {
		ev.misses <- struct{}{}
	}
}

func (ev *events) count(k EventKind) int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.counts[k]
}

func newCache(t *testing.T, f *fetcher, ev *events, mutate func(*Config[string, token])) *Cache[string, token] {
	t.Helper()
	if f.clock == nil {
		f.clock = fakeclock.New(time.Unix(1_700_000_000, 0))
	}
	if f.life == 0 {
		f.life = 10 * time.Minute
	}
	cfg := Config[string, token]{Fetch: f.fetch, Hash: hashString, Now: f.clock.Now}
	if ev != nil {
		ev.counts = map[EventKind]int{}
		cfg.Observe = ev.observe
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func TestColdStampedeOneFetch(t *testing.T) {
	const callers = 1000
	f := &fetcher{hold: make(chan struct{})}
	ev := &events{misses: make(chan struct{}, callers)}
	c := newCache(t, f, ev, nil)

	results := make(chan *token, callers)
	for i := 0; i < callers; i++ {
		go func() {
			v, err := c.Get(context.Background(), "tenant-a")
			assert.NoError(t, err)
			results <- v
		}()
	}
	for i := 0; i < callers; i++ {
		<-ev.misses // every caller is on the slow path before the fetch may finish
	}
	close(f.hold)
	first := <-results
	for i := 1; i < callers; i++ {
		assert.Same(t, first, <-results)
	}
	assert.Equal(t, int64(1), f.calls.Load(), "1,000 callers on a cold key cause exactly one fetch")
}

func TestWaiterLeavesAtOnce(t *testing.T) {
	f := &fetcher{hold: make(chan struct{}), started: make(chan struct{}, 1)}
	c := newCache(t, f, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())

	leaver := make(chan error, 1)
	go func() { _, err := c.Get(ctx, "k"); leaver <- err }()
	<-f.started
	stayer := make(chan *token, 1)
	go func() { v, err := c.Get(context.Background(), "k"); assert.NoError(t, err); stayer <- v }()

	cancel()
	assert.ErrorIs(t, <-leaver, context.Canceled, "the leaving waiter returns while the fetch still runs")
	close(f.hold)
	v := <-stayer
	assert.Equal(t, "k#1", v.value, "the fetch went on for the others")
	assert.Equal(t, int64(1), f.calls.Load())
}

func TestRefreshAheadNeverBlocks(t *testing.T) {
	f := &fetcher{}
	ev := &events{fetch: make(chan Event, 4)}
	c := newCache(t, f, ev, nil)
	ctx := context.Background()

	v1, err := c.Get(ctx, "k")
	require.NoError(t, err)
	<-ev.fetch

	// Enter the refresh window (at most 72 s before expiry) with a token endpoint that hangs.
	f.hold = make(chan struct{})
	f.started = make(chan struct{}, 1)
	f.clock.Advance(f.life - 30*time.Second)
	for i := 0; i < 100; i++ {
		v, err := c.Get(ctx, "k")
		require.NoError(t, err)
		assert.Same(t, v1, v, "callers inside the refresh window get the current token at once")
	}
	<-f.started
	assert.Equal(t, int64(2), f.calls.Load(), "exactly one background refresh")
	assert.Equal(t, 1, ev.count(RefreshStarted))

	close(f.hold)
	e := <-ev.fetch
	assert.True(t, e.Background)
	require.NoError(t, e.Err)
	v2, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "k#2", v2.value)
}

func TestRefreshFailureKeepsServing(t *testing.T) {
	f := &fetcher{}
	ev := &events{fetch: make(chan Event, 4)}
	c := newCache(t, f, ev, nil)
	ctx := context.Background()
	v1, err := c.Get(ctx, "k")
	require.NoError(t, err)
	<-ev.fetch

	boom := errors.New("token endpoint down")
	f.fail.Store(&boom)
	f.clock.Advance(f.life - 30*time.Second)
	v, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Same(t, v1, v)
	e := <-ev.fetch
	assert.ErrorIs(t, e.Err, boom, "the failure is reported to the observer")

	// Within the backoff no new refresh starts; the valid token is still served.
	for i := 0; i < 10; i++ {
		v, err = c.Get(ctx, "k")
		require.NoError(t, err)
		assert.Same(t, v1, v)
	}
	assert.Equal(t, int64(2), f.calls.Load())

	// After the backoff the next hit tries again, and succeeds.
	f.fail.Store(nil)
	f.clock.Advance(DefaultFailureMin + time.Millisecond)
	_, err = c.Get(ctx, "k")
	require.NoError(t, err)
	require.NoError(t, (<-ev.fetch).Err)
	v, err = c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "k#3", v.value)
}

func TestFailedFetchRemembered(t *testing.T) {
	f := &fetcher{}
	c := newCache(t, f, nil, nil)
	ctx := context.Background()
	boom := errors.New("invalid_client")
	f.fail.Store(&boom)

	_, err := c.Get(ctx, "k")
	require.ErrorIs(t, err, boom)
	for i := 0; i < 5; i++ {
		_, err = c.Get(ctx, "k")
		require.ErrorIs(t, err, boom)
	}
	assert.Equal(t, int64(1), f.calls.Load(), "a failure is remembered: waiters do not each hit the server")

	f.clock.Advance(DefaultFailureMin + time.Millisecond)
	_, err = c.Get(ctx, "k")
	require.ErrorIs(t, err, boom)
	assert.Equal(t, int64(2), f.calls.Load())
	f.clock.Advance(DefaultFailureMin + time.Millisecond)
	_, err = c.Get(ctx, "k")
	require.ErrorIs(t, err, boom)
	assert.Equal(t, int64(2), f.calls.Load(), "the backoff doubled after the second failure")

	f.fail.Store(nil)
	f.clock.Advance(2 * DefaultFailureMin)
	v, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "k#3", v.value)
}

func TestInvalidate(t *testing.T) {
	f := &fetcher{}
	c := newCache(t, f, nil, nil)
	ctx := context.Background()
	v1, err := c.Get(ctx, "k")
	require.NoError(t, err)
	c.Invalidate("k", v1)
	v2, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.NotSame(t, v1, v2)

	c.Invalidate("k", v1) // stale: a newer token is kept
	v3, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Same(t, v2, v3)
	c.Invalidate("absent", nil)
}

func TestExpiryMarginAndUnknownLifetime(t *testing.T) {
	f := &fetcher{}
	c := newCache(t, f, nil, nil)
	ctx := context.Background()
	_, err := c.Get(ctx, "k")
	require.NoError(t, err)
	f.clock.Advance(f.life - DefaultExpiryMargin + time.Millisecond)
	v, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "k#2", v.value, "a token about to expire is not handed out")

	zero := newCache(t, &fetcher{}, nil, func(cfg *Config[string, token]) {
		cfg.Fetch = func(context.Context, string) (*token, time.Time, error) { return &token{value: "x"}, time.Time{}, nil }
	})
	_, err = zero.Get(ctx, "k")
	require.NoError(t, err)
}

func TestBoundedSize(t *testing.T) {
	f := &fetcher{}
	ev := &events{}
	c := newCache(t, f, ev, func(cfg *Config[string, token]) { cfg.MaxEntries = 100 })
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		_, err := c.Get(ctx, fmt.Sprintf("tenant-%d", i))
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, c.Len(), 100)
	assert.Equal(t, 1000-c.Len(), ev.count(Evicted))

	// The most recently used key survives eviction of others.
	f.clock.Advance(2 * time.Second)
	_, err := c.Get(ctx, "hot")
	require.NoError(t, err)
	calls := f.calls.Load()
	for i := 0; i < 50; i++ {
		f.clock.Advance(2 * time.Second)
		_, err := c.Get(ctx, "hot")
		require.NoError(t, err)
		_, err = c.Get(ctx, fmt.Sprintf("new-%d", i))
		require.NoError(t, err)
	}
	assert.Equal(t, calls+50, f.calls.Load(), "the hot key was never evicted and refetched")
}

func TestCloseStopsFetches(t *testing.T) {
	f := &fetcher{hold: make(chan struct{}), started: make(chan struct{}, 1)}
	c := newCache(t, f, nil, nil)
	errc := make(chan error, 1)
	go func() { _, err := c.Get(context.Background(), "k"); errc <- err }()
	<-f.started
	c.Close() // cancels the blocked fetch and waits for it
	err := <-errc
	assert.ErrorIs(t, err, ErrClosed, "the waiter learns that the cache closed")
	assert.ErrorIs(t, err, context.Canceled)
	_, err = c.Get(context.Background(), "other")
	assert.ErrorIs(t, err, ErrClosed)
}

// Close stops the coarse clock of the hit path; a value must still expire by the real clock
// afterwards rather than be served for ever. The cache uses the coarse clock only without an
// injected Now, so the test builds it that way and then swaps the clock the cache falls back to
// for a fake one that starts at the real time.
func TestClosedCacheServesOnlyUsableValues(t *testing.T) {
	clock := fakeclock.New(time.Now())
	f := &fetcher{clock: clock, life: 10 * time.Minute}
	c, err := New(Config[string, token]{Fetch: f.fetch, Hash: hashString})
	require.NoError(t, err)
	require.True(t, c.coarse)
	c.now = clock.Now
	t.Cleanup(c.Close)
	ctx := context.Background()

	v1, err := c.Get(ctx, "k")
	require.NoError(t, err)
	c.Close()
	v, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Same(t, v1, v, "a usable value is still served after Close")

	clock.Advance(f.life - DefaultExpiryMargin + time.Millisecond)
	v, err = c.Get(ctx, "k")
	assert.Nil(t, v, "an expiring value is not served after Close")
	assert.ErrorIs(t, err, ErrClosed)
	assert.Nil(t, c.Lookup(context.Background(), "k"))
	assert.Equal(t, int64(1), f.calls.Load(), "no fetch after Close")
}

// A failure remembered before Close is not what a caller sees after it: the cache is closed.
func TestClosedCacheReportsClosedOverRememberedFailure(t *testing.T) {
	f := &fetcher{}
	c := newCache(t, f, nil, nil)
	boom := errors.New("token endpoint down")
	f.fail.Store(&boom)
	_, err := c.Get(context.Background(), "k")
	require.ErrorIs(t, err, boom)
	c.Close()
	_, err = c.Get(context.Background(), "k")
	assert.ErrorIs(t, err, ErrClosed)
	assert.NotErrorIs(t, err, boom)
}

func TestKeysNeverMix(t *testing.T) {
	f := &fetcher{}
	c := newCache(t, f, nil, func(cfg *Config[string, token]) { cfg.MaxEntries = 64 })
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				key := fmt.Sprintf("org-%d", (g*7+i)%100)
				v, err := c.Get(context.Background(), key)
				if assert.NoError(t, err) {
					assert.Regexp(t, "^"+key+"#", v.value)
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestNewValidation(t *testing.T) {
	_, err := New(Config[string, token]{Fetch: (&fetcher{}).fetch})
	assert.Error(t, err, "no Hash")
	c, err := New(Config[string, token]{Hash: hashString})
	require.NoError(t, err, "Fetch is optional with GetWith")
	defer c.Close()
	_, err = c.Get(context.Background(), "k")
	assert.ErrorIs(t, err, errNoFetch)

	// A refresh window that leaves a refresh less than the expiry margin to finish is refused.
	for _, tc := range []struct {
		window, margin time.Duration
		ok             bool
	}{
		{0, 0, true},
		{2 * DefaultExpiryMargin, 0, true},
		{2*DefaultExpiryMargin - 1, 0, false},
		{DefaultExpiryMargin, 0, false},
		{time.Second, 0, false},
		{time.Minute, 30 * time.Second, true},
		{0, 31 * time.Second, false},
	} {
		c, err := New(Config[string, token]{Hash: hashString, RefreshWindow: tc.window, ExpiryMargin: tc.margin})
		if tc.ok {
			require.NoError(t, err, "window %s, margin %s", tc.window, tc.margin)
			c.Close()
		} else {
			assert.ErrorContains(t, err, "RefreshWindow", "window %s, margin %s", tc.window, tc.margin)
		}
	}
}

// GetWith fetches with the caller's function, once for many waiters, and the entry refreshes
// with the newest one.
func TestGetWith(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	c, err := New(Config[string, token]{Hash: hashString, Now: clock.Now, RefreshWindow: 10 * time.Second})
	require.NoError(t, err)
	defer c.Close()
	var calls atomic.Int32
	fetchAs := func(name string) Fetcher[token] {
		return func(context.Context) (*token, time.Time, error) {
			calls.Add(1)
			return &token{value: name}, clock.Now().Add(time.Minute), nil
		}
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.GetWith(context.Background(), "k", fetchAs("first"))
			if assert.NoError(t, err) {
				assert.Equal(t, "first", v.value)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), calls.Load())

	clock.Advance(50 * time.Second) // inside the refresh window, before the expiry margin: a background refresh with the newest fetch
	v, err := c.GetWith(context.Background(), "k", fetchAs("second"))
	require.NoError(t, err)
	assert.Equal(t, "first", v.value, "the current value is served during the refresh")
	c.Close() // waits for the refresh
	assert.Equal(t, "second", c.Peek("k").value)
}

// A fetch that answers NoRefresh(err) keeps a usable value and stops refreshing it; without
// one, the callers get err itself, never a wrapper of the cache's.
func TestNoRefresh(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	fetched := make(chan Event, 4)
	c, err := New(Config[string, token]{Hash: hashString, Now: clock.Now, Observe: func(_ context.Context, _ string, e Event) {
		if e.Kind == Fetched {
			fetched <- e
		}
	}})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	why := errors.New("subject expires soon")
	var calls atomic.Int32
	fetch := func(context.Context) (*token, time.Time, error) {
		if calls.Add(1) == 1 {
			return &token{value: "capped"}, clock.Now().Add(10 * time.Minute), nil
		}
		return nil, time.Time{}, NoRefresh(why)
	}

	_, err = c.GetWith(ctx, "cold", func(context.Context) (*token, time.Time, error) { return nil, time.Time{}, NoRefresh(why) })
	assert.Equal(t, why, err, "no value to keep: the fetch's own error")
	<-fetched

	v, err := c.GetWith(ctx, "k", fetch)
	require.NoError(t, err)
	<-fetched
	clock.Advance(10*time.Minute - 30*time.Second) // inside the refresh window
	got, err := c.GetWith(ctx, "k", fetch)
	require.NoError(t, err)
	assert.Same(t, v, got)
	<-fetched // the refresh answered NoRefresh
	for range 5 {
		got, err = c.GetWith(ctx, "k", fetch)
		require.NoError(t, err)
		assert.Same(t, v, got, "the value is kept")
	}
	assert.Equal(t, int32(2), calls.Load(), "no refresh starts again")

	clock.Advance(25*time.Second + time.Millisecond) // inside the expiry margin
	_, err = c.GetWith(ctx, "k", fetch)
	assert.Equal(t, why, err)
}

// A caller that has published a new key's entry but not yet started its fetch (preempted
// between the two) must not lose the entry to an eviction: a second caller would start a
// second fetch for the key.
func TestEvictionSparesAnEntryNotYetJoined(t *testing.T) {
	f := &fetcher{}
	c := newCache(t, f, nil, func(cfg *Config[string, token]) { cfg.MaxEntries = 4 })
	ctx := context.Background()
	h := hashString("k")
	e := c.entryFor(context.Background(), h, "k") // the first caller is preempted here
	for i := range 10 {
		_, err := c.Get(ctx, fmt.Sprintf("other-%d", i))
		require.NoError(t, err)
	}
	v, err := c.Get(ctx, "k") // a second caller
	require.NoError(t, err)
	first, err := c.await(ctx, h, "k", nil, e) // the first caller goes on
	require.NoError(t, err)
	assert.Same(t, v, first)
	assert.Equal(t, int64(11), f.calls.Load(), "one fetch for k")
}

// An entry found by a caller and evicted before the caller joins it sends the caller to the
// key's new entry, so that the key still has one fetch.
func TestEvictedEntrySendsCallersToTheNewOne(t *testing.T) {
	f := &fetcher{}
	c := newCache(t, f, nil, func(cfg *Config[string, token]) { cfg.MaxEntries = 4 })
	ctx := context.Background()
	h := hashString("k")
	_, err := c.Get(ctx, "k")
	require.NoError(t, err)
	e := c.find(h, "k")    // a caller finds k's entry, then is preempted
	c.Invalidate("k", nil) // so that the caller needs a fetch
	for i := range 10 {
		f.clock.Advance(2 * time.Second) // k is the least recently used
		_, err := c.Get(ctx, fmt.Sprintf("other-%d", i))
		require.NoError(t, err)
	}
	require.NotSame(t, e, c.find(h, "k"), "k's entry was evicted")
	v, err := c.Get(ctx, "k")
	require.NoError(t, err)
	late, err := c.await(ctx, h, "k", nil, e)
	require.NoError(t, err)
	assert.Same(t, v, late)
	assert.Equal(t, int64(12), f.calls.Load(), "k fetched twice in all: before and after its eviction")
}

// A full cache under churn: rounds of new keys, each asked for by several callers at once while
// hundreds of others come and go, and a quarter of them failing (an outage for some tenants).
// Every key is fetched exactly once however the cache evicts; a failed key asked again within
// its backoff gets the remembered error without a fetch; after the backoff it is fetched once
// more, and then its doubled backoff holds too.
func TestFullCacheUnderChurn(t *testing.T) {
	const (
		maxEntries   = 32
		rounds       = 40
		keysPerRound = 8
		callers      = 8
		backoff      = time.Minute
		roundTime    = 1100 * time.Millisecond // rounds are apart in the least-recently-used order
	)
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	boom := errors.New("token endpoint down")
	var (
		mu     sync.Mutex
		misses = map[string]int{}
		gates  = map[string]chan struct{}{}
		calls  = map[string]int{}
	)
	gate := func(k string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if gates[k] == nil {
			gates[k] = make(chan struct{})
		}
		return gates[k]
	}
	failing := func(k string) bool { return strings.HasSuffix(k, "-0") || strings.HasSuffix(k, "-4") }
	var evictions atomic.Int64
	c, err := New(Config[string, token]{
		Hash: hashString, Now: clock.Now, MaxEntries: maxEntries, FailureMin: backoff, FailureMax: 10 * backoff,
		Fetch: func(ctx context.Context, k string) (*token, time.Time, error) {
			mu.Lock()
			calls[k]++
			n := calls[k]
			mu.Unlock()
			select { // until every caller of the round has asked for k
			case <-gate(k):
			case <-ctx.Done():
				return nil, time.Time{}, ctx.Err()
			}
			if failing(k) {
				return nil, time.Time{}, boom
			}
			return &token{value: fmt.Sprintf("%s#%d", k, n)}, clock.Now().Add(time.Hour), nil
		},
		Observe: func(_ context.Context, k string, e Event) {
			switch e.Kind {
			case Miss:
				mu.Lock()
				misses[k]++
				n := misses[k]
				mu.Unlock()
				if n == callers {
					close(gate(k))
				}
			case Evicted:
				evictions.Add(1)
			}
		},
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ctx := context.Background()

	get := func(keys []string, perKey int) {
		var wg sync.WaitGroup
		for _, k := range keys {
			for range perKey {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := c.Get(ctx, k)
					if failing(k) {
						assert.ErrorIs(t, err, boom, k)
					} else if assert.NoError(t, err, k) {
						assert.Equal(t, k+"#1", v.value)
					}
				}()
			}
		}
		wg.Wait()
	}
	callsOf := func(keys []string) []int {
		mu.Lock()
		defer mu.Unlock()
		out := make([]int, len(keys))
		for i, k := range keys {
			out[i] = calls[k]
		}
		return out
	}
	same := func(n int, size int) []int {
		out := make([]int, size)
		for i := range out {
			out[i] = n
		}
		return out
	}
	var all, failed []string
	for r := range rounds {
		keys := make([]string, keysPerRound)
		for i := range keys {
			keys[i] = fmt.Sprintf("tenant-%d-%d", r, i)
			if failing(keys[i]) {
				failed = append(failed, keys[i])
			}
		}
		all = append(all, keys...)
		get(keys, callers)
		clock.Advance(roundTime)
	}
	assert.Equal(t, same(1, len(all)), callsOf(all), "exactly one fetch per key")
	assert.Greater(t, evictions.Load(), int64(rounds*keysPerRound-maxEntries-len(failed)-1), "the cache was full and evicting")

	churn := func(tag string) []string {
		keys := make([]string, 3*maxEntries)
		for i := range keys {
			keys[i] = fmt.Sprintf("churn-%s-%d-%d", tag, i, 1+i%3) // never failing
			close(gate(keys[i]))
		}
		return keys
	}
	// Within the backoff: the remembered error, no fetch, while new keys keep evicting others.
	get(append(churn("a"), failed...), 1)
	assert.Equal(t, same(1, len(failed)), callsOf(failed), "no fetch within the backoff")

	// After the backoff: one more fetch each; then the doubled backoff holds.
	clock.Advance(backoff)
	get(append(churn("b"), failed...), 1)
	assert.Equal(t, same(2, len(failed)), callsOf(failed), "one fetch each after the backoff")
	clock.Advance(backoff + rounds*roundTime)
	get(append(churn("c"), failed...), 1)
	assert.Equal(t, same(2, len(failed)), callsOf(failed), "the doubled backoff holds under churn")
}
