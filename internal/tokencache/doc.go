// Package tokencache caches access tokens per key for every flow of the SDK: a lock-free,
// allocation-free hit path; one fetch in flight per key, whose waiters each honour their own
// context; refresh ahead of expiry in the background, serving the current token meanwhile and
// while a refresh fails; failed fetches remembered briefly with backoff so waiters do not each
// hit the server; explicit invalidation; a bounded number of entries; and Close, which stops
// every goroutine the cache started.
//
// Entries live in shards, each an open-addressing hash table of atomic entry pointers that
// readers probe without a lock; a writer fills a free slot under the shard's lock, and replaces
// the table only when it fills up, so a new key costs its entry and, amortised, a few slots, not
// a copy of its shard. Memory per entry therefore stays flat however many keys the cache holds.
//
// A cache nobody calls starts no timer and wakes no goroutine: the coarse clock that spares the
// hit path a system clock read runs only while hits read it.
package tokencache
