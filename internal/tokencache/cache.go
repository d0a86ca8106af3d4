package tokencache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/internal/background"
)

// ErrClosed is returned once the cache is closed and it has no value for the key that is still
// usable by the real clock, and to the waiters of a fetch that Close stopped. It is
// background.ErrClosed, the one closed error of every cache in the SDK.
var ErrClosed = background.ErrClosed

// Defaults for the zero values of Config.
const (
	DefaultRefreshWindow   = time.Minute
	DefaultExpiryMargin    = 5 * time.Second
	DefaultFetchTimeout    = time.Minute
	DefaultFailureMin      = time.Second
	DefaultFailureMax      = 30 * time.Second
	DefaultMaxEntries      = 10_000
	DefaultUnknownLifetime = time.Minute
)

// Config configures a Cache.
type Config[K comparable, V any] struct {
	// Fetch gets a new value for key and says when it expires (zero: unknown). It runs in a
	// goroutine of the cache, bounded by FetchTimeout and ended by Close, not by a caller's
	// context; its context carries the values of the context of the caller that started it
	// (a trace span, a request id), so that what it does can be told apart and joined.
	// It may be nil when every caller uses GetWith.
	Fetch func(ctx context.Context, key K) (*V, time.Time, error)
	// Hash spreads keys over shards; it must be consistent with == and mix every bit: its low
	// bits choose a key's shard and the rest its place in the shard's table, so keys that
	// differ only in some bits of their hash would probe long runs of each other's slots.
	Hash func(K) uint64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RefreshWindow is how long before expiry a background refresh starts, at most half the
	// token's lifetime; the start is moved earlier by up to a fifth of the window at random, so
	// that many keys fetched together do not refresh together. It must be at least twice
	// ExpiryMargin, so that a refresh has at least the margin's time to finish before the
	// token stops being handed out: a smaller window would turn each expiry into a wait.
	RefreshWindow time.Duration
	// ExpiryMargin: a token is not handed out when it expires within this margin, so it does
	// not expire in flight.
	ExpiryMargin time.Duration
	// FetchTimeout bounds one fetch.
	FetchTimeout time.Duration
	// FailureMin and FailureMax bound how long a failed fetch is remembered (doubling with
	// each consecutive failure of a key): meanwhile callers get the error without a request.
	FailureMin, FailureMax time.Duration
	// MaxEntries bounds the number of keys; when full, entries without a usable value and then
	// the least recently used ones are evicted. An entry with a fetch in flight, or whose fetch
	// failed within FailureMax, is neither evicted (that would start a second fetch for the key,
	// or forget its backoff) nor counted against MaxEntries: while many keys fetch or fail at
	// once the cache holds that many more, those fetched within FetchTimeout or failed within
	// FailureMax.
	MaxEntries int
	// UnknownLifetime is assumed for a token whose expiry Fetch does not know.
	UnknownLifetime time.Duration
	// Observe, when set, is told of hits, misses, refreshes and fetch outcomes, with the key
	// and the context of the call (for Fetched, the fetch's: the values of the caller that
	// started it). It is called on the hit path, and before a fetch's waiters are released,
	// so it must be fast and must not block.
	Observe func(ctx context.Context, key K, e Event)
}

// EventKind says what an Event reports.
type EventKind int

const (
	// Hit: a cached token was returned.
	Hit EventKind = iota + 1
	// Miss: no usable token; the caller waits for a fetch (or a remembered failure).
	Miss
	// RefreshStarted: a token in its refresh window triggered a background refresh.
	RefreshStarted
	// Fetched: a fetch finished (Err says how); Duration is its latency.
	Fetched
	// Evicted: an entry was dropped to respect MaxEntries.
	Evicted
)

// Event reports what the cache did. It carries no token.
type Event struct {
	Kind       EventKind
	Background bool          // Fetched: the fetch was a refresh ahead of expiry
	Duration   time.Duration // Fetched
	Err        error         // Fetched: nil on success
}

type flight[V any] struct {
	done chan struct{}
	val  *V
	err  error
}

type failure struct {
	err   error
	at    int64 // unix nanoseconds
	until int64 // unix nanoseconds
	count int
}

// entry holds one key's token. Its times are unix nanoseconds. They and val change only under
// mu, in the order val, refreshAt, expires, usableUntil, and readers load usableUntil first:
// a reader that sees a new usableUntil therefore sees the value and times written with it, and
// one that sees an old usableUntil gets a value at least as fresh as that time promises. The
// hit path, which reads them without the lock, touches no memory but the entry itself.
type entry[K comparable, V any] struct {
	usableUntil atomic.Int64
	val         atomic.Pointer[V]
	refreshAt   atomic.Int64
	lastUsed    atomic.Int64              // unix seconds, updated at most once a second
	flight      atomic.Pointer[flight[V]] // set and cleared under mu
	expires     atomic.Int64
	mu          sync.Mutex
	pending     bool       // under mu; published, and its first caller has not joined it yet
	evicted     bool       // under mu; dropped from its shard: callers that found it start over
	fail        *failure   // under mu; nil unless the last fetch failed
	fetcher     Fetcher[V] // under mu; the newest GetWith fetch, used instead of Config.Fetch
	key         K
}

// current returns the value if it is usable at now.
func (e *entry[K, V]) current(now int64) *V {
	if now < e.usableUntil.Load() {
		return e.val.Load()
	}
	return nil
}

// clear drops the value; mu must be held.
func (e *entry[K, V]) clear() {
	e.usableUntil.Store(0)
	e.val.Store(nil)
}

// Cache is safe for concurrent use. Create it with New; Close it when done.
type Cache[K comparable, V any] struct {
	cfg      Config[K, V]
	now      func() time.Time
	shards   []shard[K, V]
	mask     uint64       // of a hash: its shard
	shift    uint         // of a hash: the bits past the shard's, which place the key in its table
	tomb     *entry[K, V] // marks a removed entry's slot in a table
	shardCap int

	base      context.Context
	cancel    context.CancelFunc
	closeMu   sync.RWMutex // held for reading while starting a fetch goroutine
	closed    bool
	inflight  sync.WaitGroup
	entries   atomic.Int64
	observing bool

	// Reading the system clock costs tens of nanoseconds and does not scale across cores on
	// some virtual machines, more than the rest of a hit. Without an injected clock the hit
	// path reads coarseNow instead: wall time updated every coarseTick by a ticker goroutine
	// that runs only while hits read it. The first hit that finds coarseNow 0 reads the real
	// clock and starts the ticker; the ticker stops after coarseIdle ticks in which no hit read
	// it, so a cache nobody calls starts no timer and wakes no goroutine. Its lag is far below
	// the expiry margin. coarseNow is 0 whenever no ticker keeps it current (before the first
	// hit, while idle, after Close), which sends the hit path to the real clock: a stopped
	// clock would make a cached value look usable for ever.
	coarse     bool
	coarseNow  atomic.Int64
	coarseRead atomic.Bool                       // a hit read coarseNow since the last tick
	ticking    atomic.Bool                       // a ticker runs or starts; stays set after Close
	newTicker  func() (<-chan time.Time, func()) // the ticker's channel and stop; tests replace it
}

const (
	coarseTick = 50 * time.Millisecond
	coarseIdle = 20 // ticks without a hit before the ticker stops: a second
)

func newTicker() (<-chan time.Time, func()) {
	t := time.NewTicker(coarseTick)
	return t.C, t.Stop
}

// Fetcher fetches one key's value for GetWith; it has the same contract as Config.Fetch.
type Fetcher[V any] func(ctx context.Context) (*V, time.Time, error)

// NoRefresh, returned by a fetch, keeps the current value and stops refreshing it ahead of
// its expiry: for a value that no fetch can make last longer (an exchanged token capped at the
// subject token's expiry). Without a usable current value the fetch fails with err, which is
// what the callers get and what is remembered, so err must say why to the caller.
func NoRefresh(err error) error { return noRefresh{err} }

type noRefresh struct{ err error }

func (n noRefresh) Error() string { return n.err.Error() }
func (n noRefresh) Unwrap() error { return n.err }

// errNoFetch reports a key with neither Config.Fetch nor a GetWith fetcher.
var errNoFetch = errors.New("token cache: no fetch for this key")

// New returns a Cache; Hash is required, and Fetch unless every caller uses GetWith.
func New[K comparable, V any](cfg Config[K, V]) (*Cache[K, V], error) {
	if cfg.Hash == nil {
		return nil, errors.New("token cache: Hash is required")
	}
	setDefault(&cfg.RefreshWindow, DefaultRefreshWindow)
	setDefault(&cfg.ExpiryMargin, DefaultExpiryMargin)
	setDefault(&cfg.FetchTimeout, DefaultFetchTimeout)
	setDefault(&cfg.FailureMin, DefaultFailureMin)
	setDefault(&cfg.FailureMax, DefaultFailureMax)
	setDefault(&cfg.UnknownLifetime, DefaultUnknownLifetime)
	if cfg.RefreshWindow < 2*cfg.ExpiryMargin {
		return nil, fmt.Errorf("token cache: RefreshWindow %s is under twice ExpiryMargin %s", cfg.RefreshWindow, cfg.ExpiryMargin)
	}
	if cfg.FailureMax < cfg.FailureMin {
		cfg.FailureMax = cfg.FailureMin
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	n := 1
	for n < 1024 && n*64 < cfg.MaxEntries {
		n *= 2
	}
	// Eviction keeps the total at MaxEntries; the per-shard cap only bounds the size of a
	// shard's table when hashing is uneven.
	c := &Cache[K, V]{cfg: cfg, now: cfg.Now, shards: make([]shard[K, V], n), mask: uint64(n - 1),
		shift: uint(bits.Len(uint(n - 1))), tomb: new(entry[K, V]),
		shardCap: 4*((cfg.MaxEntries+n-1)/n) + 8, observing: cfg.Observe != nil}
	if c.now == nil {
		c.now = time.Now
		c.coarse = true
		c.newTicker = newTicker
	}
	c.base, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// fastNow returns the time in unix nanoseconds for the hit path.
func (c *Cache[K, V]) fastNow() int64 {
	if c.coarse {
		if now := c.coarseNow.Load(); now != 0 {
			if !c.coarseRead.Load() { // written once a tick, so cores do not fight over it
				c.coarseRead.Store(true)
			}
			return now
		}
		c.startTicker()
	}
	return c.now().UnixNano()
}

// startTicker starts the goroutine that keeps coarseNow current while hits read it, unless it
// runs already or the cache is closed.
func (c *Cache[K, V]) startTicker() {
	if c.ticking.Load() || !c.ticking.CompareAndSwap(false, true) {
		return
	}
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return // ticking stays set: no ticker after Close
	}
	c.coarseRead.Store(true) // the hit that starts it counts as one
	c.inflight.Add(1)
	go c.tick()
}

// tick updates coarseNow every coarseTick until Close, or until coarseIdle ticks pass without a
// hit reading it.
func (c *Cache[K, V]) tick() {
	defer c.inflight.Done()
	ticks, stop := c.newTicker()
	defer stop()
	c.coarseNow.Store(time.Now().UnixNano())
	idle := 0
	for {
		select {
		case now := <-ticks:
			if c.coarseRead.Swap(false) {
				idle = 0
			} else if idle++; idle >= coarseIdle {
				// 0 first, then allow a new ticker: a hit in between reads the real clock.
				c.coarseNow.Store(0)
				c.ticking.Store(false)
				return
			}
			c.coarseNow.Store(now.UnixNano())
		case <-c.base.Done():
			return
		}
	}
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Len returns the number of cached keys.
func (c *Cache[K, V]) Len() int { return int(c.entries.Load()) }

// Get returns a usable value for key, fetching one if needed. A caller whose ctx ends while it
// waits gets ctx's error at once; the fetch goes on for the other waiters.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (*V, error) { return c.get(ctx, key, nil) }

// GetWith is Get with fetch in place of Config.Fetch for key: for values whose fetch needs an
// input that the key must not hold, such as a token exchange's subject token, which the key
// holds only as a hash. The entry keeps the newest fetch for its refreshes ahead of expiry.
func (c *Cache[K, V]) GetWith(ctx context.Context, key K, fetch Fetcher[V]) (*V, error) {
	return c.get(ctx, key, fetch)
}

func (c *Cache[K, V]) get(ctx context.Context, key K, fetch Fetcher[V]) (*V, error) {
	h := c.cfg.Hash(key)
	if v := c.hit(ctx, h, key, fetch, true); v != nil {
		return v, nil
	}
	return c.miss(ctx, h, key, fetch)
}

// Lookup returns key's value when it is usable, as Get does on a hit (starting a refresh ahead
// of expiry with the entry's fetch), and nil on a miss, without fetching: a caller whose fetch
// costs an allocation to build tries Lookup before GetWith.
//
// Unlike Get it does not report the hit to Observe: its caller, which knows more of the
// request than the key says, does. A refresh it starts carries ctx's values.
func (c *Cache[K, V]) Lookup(ctx context.Context, key K) *V {
	return c.hit(ctx, c.cfg.Hash(key), key, nil, false)
}

// find returns key's entry, whose hash is h, or nil, without locking.
func (c *Cache[K, V]) find(h uint64, key K) *entry[K, V] {
	return c.shards[h&c.mask].find(h>>c.shift, key, c.tomb)
}

// slotHash is the part of key's hash that places it in its shard's table.
func (c *Cache[K, V]) slotHash(key K) uint64 { return c.cfg.Hash(key) >> c.shift }

// hit is the lock-free, allocation-free hit path.
func (c *Cache[K, V]) hit(ctx context.Context, h uint64, key K, fetch Fetcher[V], observe bool) *V {
	if e := c.find(h, key); e != nil {
		now := c.fastNow()
		if v := e.current(now); v != nil {
			if now-e.lastUsed.Load()*1e9 > 1e9 {
				e.lastUsed.Store(now / 1e9)
			}
			if now >= e.refreshAt.Load() {
				c.refreshAhead(ctx, e, now, fetch)
			}
			if observe && c.observing {
				c.cfg.Observe(ctx, key, Event{Kind: Hit})
			}
			return v
		}
	}
	return nil
}

// Invalidate drops key's value if it is old (or any value if old is nil), for example after an
// API answered 401 invalid_token. A newer value fetched meanwhile is kept.
func (c *Cache[K, V]) Invalidate(key K, old *V) {
	e := c.find(c.cfg.Hash(key), key)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if v := e.val.Load(); v != nil && (old == nil || v == old) {
		e.clear()
	}
}

// Close stops background refreshes and waits for every fetch goroutine to end. Values are still
// served afterwards while they are usable by the real clock; after that, and for a key with no
// value, Get returns ErrClosed.
func (c *Cache[K, V]) Close() {
	c.closeMu.Lock()
	c.closed = true
	c.closeMu.Unlock()
	c.cancel()
	c.ticking.Store(true) // no ticker starts from here on
	c.inflight.Wait()
	c.coarseNow.Store(0) // the ticker has stopped: read the real clock from now on
}

func (c *Cache[K, V]) miss(ctx context.Context, h uint64, key K, fetch Fetcher[V]) (*V, error) {
	if c.observing {
		c.cfg.Observe(ctx, key, Event{Kind: Miss})
	}
	return c.await(ctx, h, key, fetch, c.entryFor(ctx, h, key))
}

// await returns e's value, waiting for its fetch; when e is evicted before this caller joins
// it, it starts over with key's new entry.
func (c *Cache[K, V]) await(ctx context.Context, h uint64, key K, fetch Fetcher[V], e *entry[K, V]) (*V, error) {
	for {
		v, f, err := c.join(ctx, e, fetch)
		switch {
		case err != nil || v != nil:
			return v, err
		case f == nil:
			e = c.entryFor(ctx, h, key)
			continue
		}
		select {
		case <-f.done:
			return f.val, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// join returns e's usable value, or else the fetch to wait for, starting one unless a failure
// is remembered; all nil when e has been evicted.
func (c *Cache[K, V]) join(ctx context.Context, e *entry[K, V], fetch Fetcher[V]) (*V, *flight[V], error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.evicted {
		return nil, nil, nil
	}
	e.pending = false // from here on a fetch in flight or a remembered failure keeps e
	if fetch != nil {
		e.fetcher = fetch
	}
	now := c.now().UnixNano()
	e.lastUsed.Store(now / 1e9) // a key asked for is in use, whether or not it has a value
	if v := e.current(now); v != nil {
		return v, nil, nil
	}
	if f := e.flight.Load(); f != nil {
		return nil, f, nil
	}
	if c.isClosed() {
		return nil, nil, ErrClosed
	}
	if e.fail != nil && now < e.fail.until {
		return nil, nil, e.fail.err
	}
	f, err := c.start(ctx, e, false)
	return nil, f, err
}

func (c *Cache[K, V]) isClosed() bool {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	return c.closed
}

// refreshAhead starts a background refresh of a token that is still usable, unless one runs
// or a failed refresh is being backed off.
func (c *Cache[K, V]) refreshAhead(ctx context.Context, e *entry[K, V], now int64, fetch Fetcher[V]) {
	if e.flight.Load() != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if fetch != nil {
		e.fetcher = fetch
	}
	if e.evicted || e.flight.Load() != nil || (e.fail != nil && now < e.fail.until) {
		return
	}
	if _, err := c.start(ctx, e, true); err == nil && c.observing {
		c.cfg.Observe(ctx, e.key, Event{Kind: RefreshStarted})
	}
}

// start launches the fetch for e; e.mu must be held.
func (c *Cache[K, V]) start(caller context.Context, e *entry[K, V], background bool) (*flight[V], error) {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	fetch := e.fetcher
	if fetch == nil && c.cfg.Fetch == nil {
		return nil, errNoFetch
	}
	f := &flight[V]{done: make(chan struct{})}
	e.flight.Store(f)
	c.inflight.Add(1)
	go c.fetch(valuesOf{Context: c.base, values: caller}, e, f, background, fetch)
	return f, nil
}

// valuesOf is the context of a fetch: the cache's cancellation (Close) with the values of the
// caller that started it. The caller's own cancellation must not end a fetch that other
// callers wait for.
type valuesOf struct {
	context.Context // the cache's base: Deadline, Done, Err
	values          context.Context
}

func (v valuesOf) Value(key any) any { return v.values.Value(key) }

func (c *Cache[K, V]) fetch(base context.Context, e *entry[K, V], f *flight[V], background bool, fetch Fetcher[V]) {
	defer c.inflight.Done()
	ctx, cancel := context.WithTimeout(base, c.cfg.FetchTimeout)
	started := time.Now()
	var (
		val    *V
		expiry time.Time
		err    error
	)
	if fetch != nil {
		val, expiry, err = fetch(ctx)
	} else {
		val, expiry, err = c.cfg.Fetch(ctx, e.key)
	}
	defer cancel() // after Observe, which gets ctx for its values
	if err == nil && val == nil {
		err = errors.New("token cache: fetch returned no value")
	}
	took := time.Since(started)

	now := c.now()
	e.mu.Lock()
	var nr noRefresh
	kept := false
	if errors.As(err, &nr) {
		err = nr.err
		if v := e.current(now.UnixNano()); v != nil {
			e.refreshAt.Store(e.usableUntil.Load()) // no refresh before it is unusable
			f.val, kept, err = v, true, nil
		}
	}
	switch {
	case kept:
	case err == nil:
		c.store(e, val, now, expiry)
		e.fail = nil
		f.val = val
	default:
		if c.base.Err() != nil {
			err = fmt.Errorf("%w: %w", ErrClosed, err) // stopped by Close
		}
		fl := e.fail
		if fl == nil {
			fl = &failure{}
		}
		fl.count++
		fl.err = err
		fl.at = now.UnixNano()
		fl.until = now.Add(c.failureBackoff(fl.count)).UnixNano()
		e.fail = fl
		// A token that is still usable keeps being served, to the waiters too.
		if v := e.current(now.UnixNano()); v != nil {
			f.val = v
		} else {
			f.err = err
		}
	}
	e.flight.Store(nil)
	e.mu.Unlock()
	// Observed before the waiters are released, so that a caller's Get returns after the
	// fetch it waited for has been reported (a trace span ends before its parent does).
	if c.observing {
		c.cfg.Observe(ctx, e.key, Event{Kind: Fetched, Background: background, Duration: took, Err: err})
	}
	close(f.done)
}

// store publishes a new value; e.mu must be held.
func (c *Cache[K, V]) store(e *entry[K, V], val *V, now, expiry time.Time) {
	if expiry.IsZero() {
		expiry = now.Add(c.cfg.UnknownLifetime)
	}
	lifetime := expiry.Sub(now)
	window := min(c.cfg.RefreshWindow, lifetime/2)
	if window > 0 {
		window += rand.N(window/5 + 1)
	}
	margin := min(c.cfg.ExpiryMargin, lifetime/4)
	e.val.Store(val)
	e.refreshAt.Store(expiry.Add(-window).UnixNano())
	e.expires.Store(expiry.UnixNano())
	e.usableUntil.Store(expiry.Add(-margin).UnixNano())
}

func (c *Cache[K, V]) failureBackoff(n int) time.Duration {
	d := c.cfg.FailureMin
	for i := 1; i < n && d < c.cfg.FailureMax; i++ {
		d *= 2
	}
	return min(d, c.cfg.FailureMax)
}

// entryFor returns key's entry (h is its hash), adding it (and evicting to make room) when
// absent.
func (c *Cache[K, V]) entryFor(ctx context.Context, h uint64, key K) *entry[K, V] {
	if e := c.find(h, key); e != nil {
		return e
	}
	sh := &c.shards[h&c.mask]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.find(h>>c.shift, key, c.tomb); e != nil {
		return e
	}
	e := &entry[K, V]{key: key, pending: true}
	e.lastUsed.Store(c.now().Unix())
	if sh.live >= c.shardCap || c.entries.Load() >= int64(c.cfg.MaxEntries) {
		c.evict(ctx, sh)
	}
	sh.add(h>>c.shift, e, c.tomb, c.slotHash)
	c.entries.Add(1)
	return e
}

// evict removes entries from sh, a shard about to get one more, until the shard is under its
// cap and the cache under MaxEntries: entries without a usable value first, then the shard's
// least recently used. An entry is kept while its first caller has yet to join it, while a fetch
// is in flight and for FailureMax after a failed fetch (its backoff, and long enough after it
// that a key which keeps failing keeps doubling its backoff), so that neither one fetch per key
// nor the backoff depends on the cache's size; meanwhile the shard may grow past its share, and
// the cache past MaxEntries, by the number of such entries. sh.mu must be held.
func (c *Cache[K, V]) evict(ctx context.Context, sh *shard[K, V]) {
	now := c.now().UnixNano()
	sh.each(c.tomb, func(e *entry[K, V]) {
		if (e.val.Load() == nil || now >= e.expires.Load()) && c.drop(e, now) {
			c.remove(ctx, sh, e)
		}
	})
	// Entries that must stay do not count: they would push out every other one.
	pinned := 0
	full := func() bool {
		n := sh.live - pinned
		return n >= c.shardCap || (n > 0 && c.entries.Load()-int64(pinned) >= int64(c.cfg.MaxEntries))
	}
	if !full() {
		return
	}
	type candidate struct {
		used int64
		e    *entry[K, V]
	}
	byAge := make([]candidate, 0, sh.live)
	sh.each(c.tomb, func(e *entry[K, V]) {
		if e.flight.Load() == nil {
			byAge = append(byAge, candidate{e.lastUsed.Load(), e})
		} else {
			pinned++
		}
	})
	slices.SortFunc(byAge, func(a, b candidate) int { return cmp.Compare(a.used, b.used) })
	for _, v := range byAge {
		if !full() {
			return
		}
		if c.drop(v.e, now) {
			c.remove(ctx, sh, v.e)
		} else {
			pinned++
		}
	}
}

// remove takes an evicted entry out of sh; sh.mu must be held.
func (c *Cache[K, V]) remove(ctx context.Context, sh *shard[K, V], e *entry[K, V]) {
	sh.remove(c.slotHash(e.key), e, c.tomb)
	c.entries.Add(-1)
	if c.observing {
		c.cfg.Observe(ctx, e.key, Event{Kind: Evicted})
	}
}

// drop marks e evicted unless it must stay (see evict). An entry whose lock is held is in use
// and stays.
func (c *Cache[K, V]) drop(e *entry[K, V], now int64) bool {
	if e.flight.Load() != nil || !e.mu.TryLock() {
		return false
	}
	defer e.mu.Unlock()
	if e.pending || e.flight.Load() != nil || (e.fail != nil && now < e.fail.at+int64(c.cfg.FailureMax)) {
		return false
	}
	e.evicted = true
	return true
}

// Peek returns key's current value, usable or not, without fetching; nil when there is none.
func (c *Cache[K, V]) Peek(key K) *V {
	if e := c.find(c.cfg.Hash(key), key); e != nil {
		return e.val.Load()
	}
	return nil
}
