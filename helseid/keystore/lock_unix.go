//go:build unix

package keystore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// TryLock takes an exclusive flock(2) on the file next to the key file (path + ".lock", beside
// a symlink's target). The
// kernel drops it when the holder exits, killed or not, so a crash blocks no one. Each call
// opens the file anew, so two FileStores on one file exclude each other within a process too.
func (s *FileStore) TryLock(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.lockPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keystore: open the lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("keystore: lock %s: %w", s.lockPath(), err)
	}
	return func() { f.Close() }, nil // closing the last descriptor releases the lock
}
