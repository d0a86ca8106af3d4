//go:build unix

package keystore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives tmp the owner and group of the file at path it is about to replace. A rename
// keeps the writer's owner: without this, root rotating a service's key file would leave a
// file the service can no longer read. When the writer may not chown (EPERM: it is neither
// root nor allowed that owner), the Save is refused rather than changing who owns the key.
func (s *FileStore) keepOwner(tmp *os.File, path string) error {
	old, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	ownerOf := s.ownerOf
	if ownerOf == nil {
		ownerOf = fileOwner
	}
	uid, gid, ok := ownerOf(old)
	if !ok {
		return nil
	}
	fresh, err := tmp.Stat()
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if tuid, tgid, ok := fileOwner(fresh); ok && tuid == uid && tgid == gid {
		return nil
	}
	chown := s.chown
	if chown == nil {
		chown = (*os.File).Chown
	}
	if err := chown(tmp, uid, gid); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("keystore: %s belongs to uid %d gid %d, and this process (uid %d) may not give its replacement that owner: run as the file's owner or as root, or the service could no longer read its key", path, uid, gid, os.Geteuid())
		}
		return fmt.Errorf("keystore: keep the owner of %s: %w", path, err)
	}
	return nil
}

func fileOwner(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// checkPrivate refuses a key file its group or others may read or write: the private key may
// already have leaked, and an operator should know (ssh refuses such a key the same way).
func checkPrivate(path string, fi fs.FileInfo) error {
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return fmt.Errorf("keystore: %s holds a private key but has mode %04o, open to its group or others: chmod 600 %s (and replace the key if others may have read it)", path, mode, path)
	}
	return nil
}
