package keystore

import (
	"io/fs"
	"os"
	"time"
)

// SetStepHook makes r call at after each step of Rotate, with the step's name.
func SetStepHook(r *Rotator, at func(step string)) { r.at = at }

// RenewAt returns the moment a has drawn to renew the key kid expiring at expires.
func RenewAt(a *AutoRotator, kid string, expires time.Time) time.Time {
	return a.renewTime(kid, expires)
}

// SetOwnerHooks makes s read the owner of the file it replaces with ownerOf and give it to the
// replacement with chown (unix).
func SetOwnerHooks(s *FileStore, ownerOf func(fs.FileInfo) (uid, gid int, ok bool), chown func(f *os.File, uid, gid int) error) {
	s.ownerOf, s.chown = ownerOf, chown
}

// TryLockFile is the lock file of platforms without flock(2), here for every platform's tests.
func TryLockFile(path string, stale time.Duration) (func(), error) { return tryLockFile(path, stale) }
