// Package background runs the detached work of the SDK's caches (a fetch that waiting callers
// share, and that must not be cancelled when the first caller gives up) so that their owner's
// Close can stop and wait for it: no goroutine outlives Close, and none starts after it.
package background

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned for work asked of anything after its Close. It is the one value behind
// helseid.ErrClosed and tokenexchange.ErrClosed, so that callers can branch on it whichever
// cache refused.
var ErrClosed = errors.New("already closed")

// Group runs detached tasks. The zero value is ready to use; it is safe for concurrent use.
type Group struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // orders Go's wg.Add before Close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

func (g *Group) init() {
	g.once.Do(func() { g.ctx, g.cancel = context.WithCancel(context.Background()) })
}

// Go runs fn in a new goroutine with a context that keeps parent's values but not its
// cancellation, ends after timeout, and ends at once on Close. After Close it starts nothing
// and returns ErrClosed: the caller must then finish the work fn would have finished.
func (g *Group) Go(parent context.Context, timeout time.Duration, fn func(ctx context.Context)) error {
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
		defer cancel()
		stop := context.AfterFunc(g.ctx, cancel)
		defer stop()
		if g.ctx.Err() != nil {
			cancel() // Close came right after Go: AfterFunc would cancel only a moment later
		}
		fn(ctx)
	}()
	return nil
}

// Close cancels the running tasks and waits for them to return. Later calls to Go start
// nothing. Close may be called more than once.
func (g *Group) Close() {
	g.init()
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}
