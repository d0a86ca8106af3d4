package tokencache

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type traceKey struct{}

// seen records, per event kind and for each fetch, the trace value of the context it came with.
type seen struct {
	mu      sync.Mutex
	events  map[EventKind][]any
	fetches chan any
	release chan struct{}
	fetched chan struct{}
}

func (s *seen) observe(ctx context.Context, _ string, e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[e.Kind] = append(s.events[e.Kind], ctx.Value(traceKey{}))
	if e.Kind == Fetched {
		s.fetched <- struct{}{}
	}
}

func (s *seen) of(k EventKind) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]any(nil), s.events[k]...)
}

func TestFetchCarriesFirstCallersValuesNotItsCancellation(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	s := &seen{events: map[EventKind][]any{}, fetches: make(chan any, 4), release: make(chan struct{}), fetched: make(chan struct{}, 4)}
	fetchErr := make(chan error, 4)
	c, err := New(Config[string, token]{Hash: hashString, Now: clock.Now, Observe: s.observe,
		Fetch: func(ctx context.Context, key string) (*token, time.Time, error) {
			s.fetches <- ctx.Value(traceKey{})
			select {
			case <-s.release:
			case <-ctx.Done():
				fetchErr <- ctx.Err()
				return nil, time.Time{}, ctx.Err()
			}
			return &token{value: key}, clock.Now().Add(10 * time.Minute), nil
		}})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	first, cancelFirst := context.WithCancel(context.WithValue(context.Background(), traceKey{}, "first"))
	firstDone := make(chan error, 1)
	go func() { _, err := c.Get(first, "k"); firstDone <- err }()
	assert.Equal(t, "first", <-s.fetches, "the fetch carries the first caller's values")

	second := context.WithValue(context.Background(), traceKey{}, "second")
	secondDone := make(chan *token, 1)
	go func() { tok, _ := c.Get(second, "k"); secondDone <- tok }()

	cancelFirst()
	require.ErrorIs(t, <-firstDone, context.Canceled, "the first caller leaves at once")
	select {
	case err := <-fetchErr:
		t.Fatalf("the first caller's cancellation ended the fetch: %v", err)
	default:
	}
	close(s.release)
	tok := <-secondDone
	require.NotNil(t, tok, "the fetch went on for the second caller")
	assert.Equal(t, "k", tok.value)
	<-s.fetched
	assert.Equal(t, []any{"first"}, s.of(Fetched), "Fetched is observed with the fetch's context")

	third := context.WithValue(context.Background(), traceKey{}, "third")
	_, err = c.Get(third, "k")
	require.NoError(t, err)
	hits := s.of(Hit) // the second caller may have come after the fetch, and hit
	require.NotEmpty(t, hits)
	assert.Equal(t, "third", hits[len(hits)-1], "a hit is observed with its caller's context")
}

func TestRefreshAheadCarriesTheHittingCallersValues(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	fetches := make(chan any, 4)
	fetched := make(chan struct{}, 4)
	c, err := New(Config[string, token]{Hash: hashString, Now: clock.Now,
		Observe: func(_ context.Context, _ string, e Event) {
			if e.Kind == Fetched {
				fetched <- struct{}{}
			}
		},
		Fetch: func(ctx context.Context, key string) (*token, time.Time, error) {
			fetches <- ctx.Value(traceKey{})
			return &token{value: key}, clock.Now().Add(10 * time.Minute), nil
		}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	_, err = c.Get(context.WithValue(context.Background(), traceKey{}, "cold"), "k")
	require.NoError(t, err)
	require.Equal(t, "cold", <-fetches)
	<-fetched

	clock.Advance(9*time.Minute + 30*time.Second) // inside the refresh window, still usable
	for i, lookup := range []bool{false, true} {
		trace := fmt.Sprintf("hit-%d", i)
		ctx := context.WithValue(context.Background(), traceKey{}, trace)
		if lookup {
			assert.NotNil(t, c.Lookup(ctx, "k"))
		} else {
			_, err = c.Get(ctx, "k")
			require.NoError(t, err)
		}
		assert.Equal(t, trace, <-fetches, "the refresh carries the values of the call that started it")
		<-fetched
		clock.Advance(9*time.Minute + 30*time.Second) // the refreshed token is in its window

	}
}

func TestLookupLeavesTheHitToItsCaller(t *testing.T) {
	f := &fetcher{}
	ev := &events{}
	c := newCache(t, f, ev, nil)
	ctx := context.Background()
	_, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.NotNil(t, c.Lookup(ctx, "k"))
	assert.Equal(t, 0, ev.count(Hit))
	_, err = c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, 1, ev.count(Hit))
}
