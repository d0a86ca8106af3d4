package tokencache

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A shard's table under churn: keys that stay are found by lock-free readers throughout, while a
// writer adds and removes thousands of others whose hashes collide in long probe chains; removed
// keys are gone, and tombstones never make the table grow without bound.
func TestShardTableChurn(t *testing.T) {
	hash := func(k int) uint64 { return uint64(k % 7) } // long chains of equal hashes
	tomb := new(entry[int, token])
	var sh shard[int, token]
	add := func(k int) *entry[int, token] {
		e := &entry[int, token]{key: k}
		sh.mu.Lock()
		defer sh.mu.Unlock()
		require.Nil(t, sh.find(hash(k), k, tomb))
		sh.add(hash(k), e, tomb, hash)
		return e
	}
	remove := func(e *entry[int, token]) {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		sh.remove(hash(e.key), e, tomb)
	}
	assert.Nil(t, sh.find(hash(1), 1, tomb), "an empty shard has no table")

	const stay = 50
	stayers := make([]*entry[int, token], stay)
	for k := range stay {
		stayers[k] = add(k)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	misses := make(chan int, 8)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for k, want := range stayers {
					if sh.find(hash(k), k, tomb) != want {
						misses <- k
						return
					}
				}
			}
		}()
	}
	maxSlots := 0
	window := make([]*entry[int, token], 0, 100)
	for k := stay; k < stay+2000; k++ {
		window = append(window, add(k))
		if len(window) == cap(window) {
			for _, e := range window[:90] {
				remove(e)
			}
			window = append(window[:0], window[90:]...)
		}
		maxSlots = max(maxSlots, len(sh.t.Load().slots))
	}
	stop.Store(true)
	wg.Wait()
	close(misses)
	for k := range misses {
		t.Errorf("a reader missed key %d, which stayed", k)
	}

	gone := add(-1)
	remove(gone)
	remove(gone) // a second removal finds nothing and changes nothing

	sh.mu.Lock()
	defer sh.mu.Unlock()
	assert.Equal(t, stay+len(window), sh.live)
	assert.LessOrEqual(t, maxSlots, 512, "tombstones are dropped when the table is rebuilt, not kept growing it")
	for k := stay; k < stay+2000; k++ {
		e := sh.find(hash(k), k, tomb)
		if k < stay+2000-len(window) {
			assert.Nil(t, e, "key %d was removed", k)
		} else {
			assert.NotNil(t, e, "key %d is present", k)
		}
	}
	n := 0
	sh.each(tomb, func(*entry[int, token]) { n++ })
	assert.Equal(t, sh.live, n)
}
