//go:build !unix

package keystore

import (
	"context"
	"time"
)

// staleLock is how old a lock file left by a crashed holder may get before it is taken over;
// a rotation takes seconds.
const staleLock = 10 * time.Minute

// TryLock creates the file next to the key file (path + ".lock") exclusively, writes a random
// owner ID into it, and on unlock removes it only while it still holds that ID. A lock file
// older than 10 minutes is taken to be a crashed holder's and taken over.
func (s *FileStore) TryLock(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return tryLockFile(s.lockPath(), staleLock)
}

// LockHold implements ExpiringLocker: a lock file is taken over once it is staleLock old, so a
// rotation under it is bounded a minute short of that (the file store's writes are local).
func (s *FileStore) LockHold() time.Duration { return staleLock - time.Minute }
