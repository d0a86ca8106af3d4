package dpop

import (
	"container/heap"
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// ErrReplayStoreFull reports that a MemoryReplayStore holds as many unexpired identifiers as it
// may. It fails closed: a proof is refused rather than an identifier forgotten early.
var ErrReplayStoreFull = errors.New("dpop replay store is full")

// ReplayStore remembers the identifiers of proofs already accepted, so that each proof is
// accepted once (RFC 9449 §11.1).
//
// CheckAndSet must be atomic: it records id until expires and reports fresh == true, or reports
// fresh == false when id is already recorded and has not expired. Of two concurrent calls with
// the same id exactly one may see fresh. id is an opaque string of at most 64 URL-safe
// characters (a hash of the proof key and its jti), never a token or a proof.
//
// An API running on several machines shares one store, or a replayed proof succeeds once per
// machine. With Redis, CheckAndSet is one command,
//
//	SET <namespace>:<hash of id> 1 NX PX <milliseconds until expires>
//
// which answers OK for a fresh id and nil for a replay; the module
// github.com/helseid-go/sdk/helseid/helseidredis implements it (NewReplayStore). An error (the
// store is down) makes the Verifier refuse the request with an error wrapping ErrReplayCheck,
// never accept it.
type ReplayStore interface {
	CheckAndSet(ctx context.Context, id string, expires time.Time) (fresh bool, err error)
}

// MemoryReplayStoreConfig configures a MemoryReplayStore. The zero value is valid.
type MemoryReplayStoreConfig struct {
	// Capacity bounds the unexpired identifiers held; zero means 1,000,000 (about 100 MB at
	// the worst). Entries leave when they expire, so only more than this many proofs within
	// one acceptance window fill it.
	Capacity int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// replayShards spreads the store over independent locks, so concurrent requests rarely wait
// for one another.
const replayShards = 64

// MemoryReplayStore is the in-process ReplayStore: sharded maps with expiry heaps, pruned on
// every write, so memory follows the number of live identifiers. It starts no goroutine and
// needs no Close. It is right for an API on one machine; see ReplayStore for several.
type MemoryReplayStore struct {
	seed     maphash.Seed
	now      func() time.Time
	perShard int
	shards   [replayShards]replayShard
}

type replayShard struct {
	mu       sync.Mutex
	seen     map[string]int64 // id → expiry in Unix nanoseconds
	byExpiry replayHeap
	_        [40]byte // keeps neighbouring shards' locks off one cache line
}

// NewMemoryReplayStore returns an empty store.
func NewMemoryReplayStore(cfg MemoryReplayStoreConfig) *MemoryReplayStore {
	if cfg.Capacity <= 0 {
		cfg.Capacity = 1_000_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &MemoryReplayStore{seed: maphash.MakeSeed(), now: cfg.Now, perShard: (cfg.Capacity + replayShards - 1) / replayShards}
	for i := range s.shards {
		s.shards[i].seen = make(map[string]int64)
	}
	return s
}

// CheckAndSet implements ReplayStore.
func (s *MemoryReplayStore) CheckAndSet(_ context.Context, id string, expires time.Time) (bool, error) {
	now := s.now().UnixNano()
	sh := &s.shards[maphash.String(s.seed, id)%replayShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for len(sh.byExpiry) > 0 && sh.byExpiry[0].expires <= now {
		e := heap.Pop(&sh.byExpiry).(replayEntry)
		if exp, ok := sh.seen[e.id]; ok && exp == e.expires {
			delete(sh.seen, e.id)
		}
	}
	if exp, ok := sh.seen[id]; ok && exp > now {
		return false, nil
	}
	if len(sh.seen) >= s.perShard {
		return false, ErrReplayStoreFull
	}
	exp := expires.UnixNano()
	sh.seen[id] = exp
	heap.Push(&sh.byExpiry, replayEntry{id: id, expires: exp})
	return true, nil
}

// Len returns the number of identifiers held, expired ones included until the next write to
// their shard.
func (s *MemoryReplayStore) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.seen)
		sh.mu.Unlock()
	}
	return n
}

type replayEntry struct {
	id      string
	expires int64
}

// replayHeap is a min-heap of entries by expiry (container/heap).
type replayHeap []replayEntry

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h replayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *replayHeap) Push(x any)        { *h = append(*h, x.(replayEntry)) }
func (h *replayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = replayEntry{}
	*h = old[:len(old)-1]
	return e
}
