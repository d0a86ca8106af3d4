package background

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type key struct{}

func TestGroupCloseCancelsAndWaits(t *testing.T) {
	var g Group
	started := make(chan struct{})
	var ended atomic.Bool
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	require.NoError(t, g.Go(parent, time.Hour, func(ctx context.Context) {
		assert.Equal(t, "v", ctx.Value(key{}), "the parent's values")
		close(started)
		<-ctx.Done()
		ended.Store(true)
	}))
	<-started
	cancelParent() // the caller giving up does not stop the task
	assert.False(t, ended.Load())
	g.Close()
	assert.True(t, ended.Load(), "Close waited for the task")

	err := g.Go(context.Background(), time.Hour, func(context.Context) { t.Error("a task ran after Close") })
	assert.ErrorIs(t, err, ErrClosed, "nothing starts after Close")
	g.Close() // a second Close is harmless
}

// Go and Close may race: each task either runs and is waited for, or is refused. Under -race
// this also checks that no wg.Add can slip in while Close waits.
func TestGroupGoRacingClose(t *testing.T) {
	for range 200 {
		var g Group
		var ran, refused, running atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := g.Go(context.Background(), time.Hour, func(ctx context.Context) {
					running.Add(1)
					<-ctx.Done()
					running.Add(-1)
					ran.Add(1)
				})
				if err != nil {
					refused.Add(1)
				}
			}()
		}
		close(start)
		g.Close()
		assert.Zero(t, running.Load(), "Close returned while a task it let start still ran")
		wg.Wait()
		g.Close()
		require.Equal(t, int32(4), ran.Load()+refused.Load())
	}
}

func TestGroupTimeout(t *testing.T) {
	var g Group
	defer g.Close()
	done := make(chan error)
	require.NoError(t, g.Go(context.Background(), time.Millisecond, func(ctx context.Context) { <-ctx.Done(); done <- ctx.Err() }))
	assert.ErrorIs(t, <-done, context.DeadlineExceeded)
}
