package keystore

import (
	"context"
	"errors"
	"time"
)

// ErrLocked reports a store another process holds the rotation lock of.
var ErrLocked = errors.New("keystore: another process is rotating the key")

// Locker is a Store that lets one process of a fleet rotate at a time; AutoRotator takes the
// lock when its Store is one. A lock must not outlive a crashed holder for long.
type Locker interface {
	// TryLock takes the lock without waiting, or returns an error matching ErrLocked.
	TryLock(ctx context.Context) (unlock func(), err error)
}

// lockPath is the file FileStore locks: next to the key file (a symlink's target), so the
// same disk and mounts, and the same lock for processes that reach the file by other links.
func (s *FileStore) lockPath() string {
	path, err := s.target()
	if err != nil {
		path = s.path
	}
	return path + ".lock"
}

// ExpiringLocker is a Locker whose lock lapses on its own after a while (a lease, such as a
// Redis key with a TTL), so that a crashed holder blocks the fleet only that long. A lapsed
// lock lets a second process rotate, and two rotations at once can leave the fleet with a key
// HelseID no longer holds; so AutoRotator bounds the work under such a lock instead of
// renewing it: the rotation gets a deadline of LockHold from the moment the lock is asked for,
// and Start refuses a FleetDelay that does not fit in it. A bound needs no background renewal
// (nor a decision about a holder whose renewal failed), and a rotation's steps are short: a
// token request, a registration, two store writes and FleetDelay.
type ExpiringLocker interface {
	Locker
	// LockHold is how long a holder may work under a lock it has just asked for. It must fall
	// short of the lock's lifetime by at least what the store needs for one write begun at
	// the deadline: a rotation that registered its key stores it even past the deadline.
	LockHold() time.Duration
}
