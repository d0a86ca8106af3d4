package helseidtest

import (
	"container/heap"
	"errors"
	"sync"
	"time"
)

// defaultReplayCapacity bounds each replay cache. Entries leave as soon as they expire (at most
// a minute or two after they are written), so only a flood of more than this many requests per
// window fills it; the cache then fails closed rather than forgetting an identifier early.
const defaultReplayCapacity = 1 << 20

var (
	errReplayed    = errors.New("identifier already used")
	errReplayFull  = errors.New("replay cache full")
	errReplayEmpty = errors.New("empty identifier")
)

// replayCache remembers one-time identifiers (client assertion and DPoP proof jti values)
// until they expire. Recording is an atomic check-and-set, so of two concurrent requests with
// the same identifier exactly one wins. Expired entries are pruned on every write, in expiry
// order, so memory is bounded by the number of live entries (and by capacity).
type replayCache struct {
	mu       sync.Mutex
	seen     map[string]time.Time
	byExpiry expiryHeap
	capacity int
}

func newReplayCache(capacity int) *replayCache {
	return &replayCache{seen: make(map[string]time.Time), capacity: capacity}
}

// used reports whether id is recorded and not yet expired at now. It does not record id.
func (c *replayCache) used(id string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.seen[id]
	return ok && now.Before(exp)
}

// record stores id until expires, unless it is already stored and unexpired (errReplayed) or
// the cache is full of unexpired entries (errReplayFull).
func (c *replayCache) record(id string, expires, now time.Time) error {
	if id == "" {
		return errReplayEmpty
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked(now)
	if exp, ok := c.seen[id]; ok && now.Before(exp) {
		return errReplayed
	}
	if len(c.seen) >= c.capacity {
		return errReplayFull
	}
	c.seen[id] = expires
	heap.Push(&c.byExpiry, expiryEntry{id: id, expires: expires})
	return nil
}

// len returns the number of stored identifiers (expired ones included until the next write).
func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *replayCache) pruneLocked(now time.Time) {
	for len(c.byExpiry) > 0 && !now.Before(c.byExpiry[0].expires) {
		e := heap.Pop(&c.byExpiry).(expiryEntry)
		if exp, ok := c.seen[e.id]; ok && exp.Equal(e.expires) {
			delete(c.seen, e.id)
		}
	}
}

type expiryEntry struct {
	id      string
	expires time.Time
}

// expiryHeap is a min-heap of entries by expiry (container/heap).
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiryEntry{}
	*h = old[:len(old)-1]
	return e
}
