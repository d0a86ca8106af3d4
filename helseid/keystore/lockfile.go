package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// tryLockFile is the rotation lock where flock(2) is missing: the file at path, created
// exclusively, holding a random owner ID. A file older than stale is taken to be a crashed
// holder's and taken over. Unlock removes the file only while it still holds this holder's
// ID, so a holder that outlived stale does not remove its successor's lock. (The check and
// the removal are two steps: a takeover landing between them, after stale, is not excluded.)
func tryLockFile(path string, stale time.Duration) (func(), error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("keystore: lock owner id: %w", err)
	}
	id := []byte(hex.EncodeToString(raw[:]))
	for range 2 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, werr := f.Write(id)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				_ = os.Remove(path)
				return nil, fmt.Errorf("keystore: write the lock file: %w", werr)
			}
			return func() { removeIfOwner(path, id) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("keystore: create the lock file: %w", err)
		}
		fi, err := os.Stat(path)
		if err != nil || time.Since(fi.ModTime()) < stale {
			return nil, ErrLocked
		}
		// A crashed holder's: remove it if it is still the one judged stale.
		if owner, err := os.ReadFile(path); err == nil {
			if fi2, err := os.Stat(path); err == nil && fi2.ModTime().Equal(fi.ModTime()) {
				removeIfOwner(path, owner)
			}
		}
	}
	return nil, ErrLocked
}

// removeIfOwner removes the lock file at path if it holds id.
func removeIfOwner(path string, id []byte) {
	if held, err := os.ReadFile(path); err == nil && bytes.Equal(held, id) {
		_ = os.Remove(path)
	}
}
