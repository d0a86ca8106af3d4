// Package tokencache caches access tokens per key for every flow of the SDK: a lock-free,
// allocation-free hit path; one fetch in flight per key, whose waiters each honour their own
// context; refresh ahead of expiry in the background, serving the current token meanwhile and
// while a refresh fails; failed fetches remembered briefly with backoff so waiters do not each
// hit the server; explicit invalidation; a bounded number of entries; and Close, which stops
// every goroutine the cache started.
//
// Entries live in shards, each a map behind an atomic pointer that is replaced, never changed,
// when an entry is added or evicted. Reads therefore take no lock. Adding an entry copies one
// shard, which is cheap next to the network fetch that always follows it.
package tokencache
