package keystore

import (
	"context"
	"errors"
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
