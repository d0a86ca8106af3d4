// Package background runs the detached work of the SDK's caches (a fetch that waiting callers
// share, and that must not be cancelled when the first caller gives up) so that their owner's
// Close can stop and wait for it: no goroutine outlives Close.
package background

import (
	"context"
	"sync"
	"time"
)

// Group runs detached tasks. The zero value is ready to use; it is safe for concurrent use.
type Group struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (g *Group) init() {
	g.once.Do(func() { g.ctx, g.cancel = context.WithCancel(context.Background()) })
}

// Go runs fn in a new goroutine with a context that keeps parent's values but not its
// cancellation, ends after timeout, and ends at once on Close.
func (g *Group) Go(parent context.Context, timeout time.Duration, fn func(ctx context.Context)) {
	g.init()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
		defer cancel()
		stop := context.AfterFunc(g.ctx, cancel)
		defer stop()
		if g.ctx.Err() != nil {
			cancel() // closed already: AfterFunc would cancel only a moment later
		}
		fn(ctx)
	}()
}

// Close cancels the running tasks and waits for them to return. Tasks started after Close get
// a context that is already cancelled.
func (g *Group) Close() {
	g.init()
	g.cancel()
	g.wg.Wait()
}
