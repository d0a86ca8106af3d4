//go:build !unix

package keystore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// staleLock is how old a lock file left by a crashed holder may get before it is taken over;
// a rotation takes seconds.
const staleLock = 10 * time.Minute

// TryLock creates the file next to the key file (path + ".lock") exclusively and removes it
// on unlock. A lock file older than 10 minutes is taken to be a crashed holder's and removed.
func (s *FileStore) TryLock(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for range 2 {
		f, err := os.OpenFile(s.lockPath(), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(s.lockPath()) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("keystore: create the lock file: %w", err)
		}
		fi, err := os.Stat(s.lockPath())
		if err != nil || time.Since(fi.ModTime()) < staleLock {
			return nil, ErrLocked
		}
		os.Remove(s.lockPath())
	}
	return nil, ErrLocked
}

// LockHold implements ExpiringLocker: a lock file is taken over once it is staleLock old, so a
// rotation under it is bounded a minute short of that (the file store's writes are local).
func (s *FileStore) LockHold() time.Duration { return staleLock - time.Minute }
