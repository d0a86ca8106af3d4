package tokencache

import (
	"context"
	"testing"
	"time"

	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTicker stands in for the coarse clock's time.Ticker: the test sends each tick, and learns
// when a ticker starts and stops.
type fakeTicker struct {
	ticks   chan time.Time
	started chan struct{}
	stopped chan struct{}
}

func newFakeTicker() *fakeTicker {
	return &fakeTicker{ticks: make(chan time.Time), started: make(chan struct{}, 10), stopped: make(chan struct{}, 10)}
}

func (f *fakeTicker) new() (<-chan time.Time, func()) {
	f.started <- struct{}{}
	return f.ticks, func() { f.stopped <- struct{}{} }
}

// receive fails the test unless ch delivers within a generous bound (a hang, not a timing).
func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
	}
}

func assertNone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("unexpected %s", what)
	default:
	}
}

// A cache nobody calls starts no timer and wakes no goroutine: the coarse clock starts with the
// first hit that needs it and stops after coarseIdle ticks without a hit; the next hit starts it
// again.
func TestIdleCacheWakesNothing(t *testing.T) {
	clock := fakeclock.New(time.Now())
	f := &fetcher{clock: clock, life: time.Hour}
	c, err := New(Config[string, token]{Fetch: f.fetch, Hash: hashString})
	require.NoError(t, err)
	require.True(t, c.coarse, "only a cache without an injected clock keeps a coarse one")
	ft := newFakeTicker()
	c.newTicker = ft.new
	t.Cleanup(c.Close)
	ctx := context.Background()

	v, err := c.Get(ctx, "k") // a miss reads the real clock
	require.NoError(t, err)
	assertNone(t, ft.started, "ticker for a miss")
	got, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Same(t, v, got)
	receive(t, ft.started, "ticker started by the first hit")

	// Hits keep it running. A send returns once the ticker has taken the tick; it may still be
	// working on it when the next hit comes, so a hit counts for that tick or for the next one,
	// and never two ticks in a row pass without one.
	for range 3 * coarseIdle {
		require.NotNil(t, c.Lookup(context.Background(), "k"))
		ft.ticks <- time.Now()
	}
	// A hit reads the tick's time, not the clock: a tick far in the future makes the token
	// look expired.
	ft.ticks <- time.Now().Add(2 * time.Hour)
	ft.ticks <- time.Now().Add(2 * time.Hour) // returns once the previous tick is stored
	assert.Nil(t, c.Lookup(context.Background(), "k"), "the hit path reads the coarse clock while it runs")
	assertNone(t, ft.stopped, "ticker stopped while in use")

	// Without hits it stops after coarseIdle ticks (one more if the last hit came after the
	// ticker took the previous tick); then the cache starts nothing and reads the real clock.
	sent := 0
idle:
	for {
		select {
		case ft.ticks <- time.Now():
			sent++
			require.LessOrEqual(t, sent, coarseIdle+1, "ticker still running after %d idle ticks", sent)
		case <-ft.stopped:
			break idle
		}
	}
	assert.GreaterOrEqual(t, sent, coarseIdle, "ticker stopped before it was idle")
	assert.Zero(t, c.coarseNow.Load(), "an idle cache reads the real clock")
	assertNone(t, ft.started, "ticker while idle")

	// The next hit uses the real clock and starts the ticker again.
	assert.Same(t, v, c.Lookup(context.Background(), "k"))
	receive(t, ft.started, "ticker started again by a hit")
	c.Close()
	receive(t, ft.stopped, "ticker stopped by Close")
	assert.Same(t, v, c.Lookup(context.Background(), "k"), "a usable value is served after Close")
	assertNone(t, ft.started, "ticker after Close")
	assert.Equal(t, int64(1), f.calls.Load())
}
