package tokencache

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// shard holds a share of the keys in an open-addressing hash table of entry pointers with
// linear probing. Readers take no lock: they load the table and then its slots, each an atomic
// pointer. Writers hold mu. An entry is added by storing its pointer into a free slot, removed
// by storing the cache's tombstone there (or nil, when nil follows it, which ends every probe
// that reached it anyway), and the table is replaced by a rehashed one only when it fills up
// (with entries and tombstones) past three quarters: then at half load. Adding a key therefore
// allocates nothing but the entry most of the time, and the tables it outgrows make garbage in
// proportion to the keys, not to keys times shard size as a copy per added key does; each slot
// costs 8 bytes.
type shard[K comparable, V any] struct {
	mu   sync.Mutex
	t    atomic.Pointer[table[K, V]] // nil until the shard's first entry
	live int                         // under mu: entries in t
	used int                         // under mu: slots of t that are not nil (entries and tombstones)
}

type table[K comparable, V any] struct {
	slots []atomic.Pointer[entry[K, V]] // a power of two of them, never full
}

const minTableSlots = 8

// find returns key's entry in t, or nil; h is key's hash shifted past the shard bits.
func (t *table[K, V]) find(h uint64, key K, tomb *entry[K, V]) *entry[K, V] {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		e := t.slots[i].Load()
		if e == nil {
			return nil
		}
		if e != tomb && e.key == key {
			return e
		}
	}
}

// find returns key's entry in the shard without locking, or nil.
func (sh *shard[K, V]) find(h uint64, key K, tomb *entry[K, V]) *entry[K, V] {
	if t := sh.t.Load(); t != nil {
		return t.find(h, key, tomb)
	}
	return nil
}

// add stores e, whose key is not in the shard, under its hash h; mu must be held. hash gives
// the shifted hash of a key when the table is rebuilt.
func (sh *shard[K, V]) add(h uint64, e *entry[K, V], tomb *entry[K, V], hash func(K) uint64) {
	t := sh.t.Load()
	if t == nil || 4*(sh.used+1) > 3*len(t.slots) {
		t = sh.rebuild(sh.live+1, tomb, hash)
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s := t.slots[i].Load(); s {
		case nil:
			sh.used++
			fallthrough
		case tomb:
			t.slots[i].Store(e)
			sh.live++
			return
		}
	}
}

// remove takes e, which is in the shard under the hash h, out of it; mu must be held.
func (sh *shard[K, V]) remove(h uint64, e *entry[K, V], tomb *entry[K, V]) {
	t := sh.t.Load()
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.slots[i].Load() {
		case e:
		case nil:
			return // not there: the end of its probe
		default:
			continue
		}
		if t.slots[(i+1)&mask].Load() == nil {
			t.slots[i].Store(nil)
			sh.used--
		} else {
			t.slots[i].Store(tomb)
		}
		sh.live--
		return
	}
}

// rebuild publishes a table that holds the shard's entries at no more than half load with room
// for n of them, dropping tombstones; mu must be held.
func (sh *shard[K, V]) rebuild(n int, tomb *entry[K, V], hash func(K) uint64) *table[K, V] {
	size := max(minTableSlots, 1<<bits.Len(uint(2*n-1)))
	next := &table[K, V]{slots: make([]atomic.Pointer[entry[K, V]], size)}
	mask := uint64(size - 1)
	if old := sh.t.Load(); old != nil {
		for i := range old.slots {
			e := old.slots[i].Load()
			if e == nil || e == tomb {
				continue
			}
			j := hash(e.key) & mask
			for next.slots[j].Load() != nil {
				j = (j + 1) & mask
			}
			next.slots[j].Store(e)
		}
	}
	sh.used = sh.live
	sh.t.Store(next)
	return next
}

// each calls f with every entry of the shard; mu must be held, and f may remove the entry.
func (sh *shard[K, V]) each(tomb *entry[K, V], f func(*entry[K, V])) {
	t := sh.t.Load()
	if t == nil {
		return
	}
	for i := range t.slots {
		if e := t.slots[i].Load(); e != nil && e != tomb {
			f(e)
		}
	}
}
