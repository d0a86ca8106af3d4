package keystore

import (
	"context"
	"errors"
	"time"

	"github.com/helseid-go/sdk/helseid"
)

// ErrNotFound reports a store that holds no keys yet.
var ErrNotFound = errors.New("keystore: no keys stored")

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
}

// Store keeps a client's Keys. Save must be atomic: after a crash, Load returns the Keys of
// the last Save that returned, or of the one under way, never a mix or nothing.
type Store interface {
	// Load returns the stored keys, or an error matching ErrNotFound.
	Load(ctx context.Context) (*Keys, error)
	// Save replaces the stored keys.
	Save(ctx context.Context, keys *Keys) error
}
