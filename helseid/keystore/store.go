package keystore

import (
	"context"
	"errors"
	"time"

	"github.com/helseid-go/sdk/helseid"
)

// ErrNotFound reports a store that holds no keys yet.
var ErrNotFound = errors.New("keystore: no keys stored")

// ErrStale reports a Save refused because the store was written since the keys were loaded
// (their Generation is no longer the stored one): a writer that paused, or lost its lock,
// cannot overwrite a newer rotation. Load again and decide anew.
var ErrStale = errors.New("keystore: the stored keys changed since they were loaded")

// ErrRollback reports stored keys of an older Generation than a reader has already seen: an
// old record written back, by a stale writer or by someone replaying a copy. The reader keeps
// the newer keys it has.
var ErrRollback = errors.New("keystore: the store went back to an older generation of the keys")

// Keys is what a Store holds for one client.
type Keys struct {
	// Current is the key the client authenticates with. Required.
	Current *helseid.Key
	// Expires is when HelseID stops accepting Current; zero when unknown (a key given by an
	// operator, or one promoted by Rotator.Resolve).
	Expires time.Time
	// Pending is the key of a rotation under way: generated, maybe registered, not yet
	// promoted. Nil otherwise.
	Pending *helseid.Key
	// Generation counts the stored record's writes: Load returns it (0 from a store that
	// keeps none, or for a record written before it did), and Save writes Generation+1. A
	// store that keeps generations refuses a Save with ErrStale unless the stored record's
	// is still Generation, so keys derived from a Load can only replace what was loaded;
	// Watchers never go back to a lower one. Zero saves into an empty store.
	Generation uint64
}

// Store keeps a client's Keys. Save must be atomic: after a crash, Load returns the Keys of
// the last Save that returned, or of the one under way, never a mix or nothing. FileStore and
// helseidredis.KeyStore keep generations (see Keys.Generation); a Store that does not still
// works, without that guard.
type Store interface {
	// Load returns the stored keys, or an error matching ErrNotFound.
	Load(ctx context.Context) (*Keys, error)
	// Save replaces the stored keys.
	Save(ctx context.Context, keys *Keys) error
}
