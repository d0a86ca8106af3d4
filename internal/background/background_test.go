package background

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

type key struct{}

func TestGroupCloseCancelsAndWaits(t *testing.T) {
	var g Group
	started := make(chan struct{})
	var ended atomic.Bool
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	g.Go(parent, time.Hour, func(ctx context.Context) {
		assert.Equal(t, "v", ctx.Value(key{}), "the parent's values")
		close(started)
		<-ctx.Done()
		ended.Store(true)
	})
	<-started
	cancelParent() // the caller giving up does not stop the task
	assert.False(t, ended.Load())
	g.Close()
	assert.True(t, ended.Load(), "Close waited for the task")

	done := make(chan struct{})
	g.Go(context.Background(), time.Hour, func(ctx context.Context) {
		assert.Error(t, ctx.Err(), "a task after Close starts cancelled")
		close(done)
	})
	<-done
}

func TestGroupTimeout(t *testing.T) {
	var g Group
	defer g.Close()
	done := make(chan error)
	g.Go(context.Background(), time.Millisecond, func(ctx context.Context) { <-ctx.Done(); done <- ctx.Err() })
	assert.ErrorIs(t, <-done, context.DeadlineExceeded)
}
