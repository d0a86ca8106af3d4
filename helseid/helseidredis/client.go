package helseidredis

import (
	"crypto/rand"
	"encoding/base64"

	"github.com/redis/go-redis/v9"
)

// newHolderID is a random id for one holder of a lease or lock: the value only it may renew
// or release.
func newHolderID() string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// errNoContextTimeout ends the message of a constructor given a client without
// ContextTimeoutEnabled. Every store here bounds each call with a context deadline (its
// Timeout); go-redis honours that deadline only with ContextTimeoutEnabled, and otherwise waits
// its own ReadTimeout (3 s by default) for a Redis that accepts and never answers. redis.ParseURL
// leaves it off, so the check is done once here, not left to a comment.
const errNoContextTimeout = "the redis client must have ContextTimeoutEnabled (set it on the redis.Options, also after redis.ParseURL), or a hung redis would hold each call for go-redis's ReadTimeout instead of the store's Timeout"

// isNil reports a nil client, a nil *redis.Client in the interface included.
func isNil(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case nil:
		return true
	case *redis.Client:
		return c == nil
	case *redis.ClusterClient:
		return c == nil
	case *redis.Ring:
		return c == nil
	}
	return false
}

// contextTimeoutEnabled reports whether the client honours context deadlines, for the
// client types go-redis makes; others are trusted.
func contextTimeoutEnabled(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}
