//go:build !unix

package keystore

import (
	"io/fs"
	"os"
)

// keepOwner does nothing where files have no unix owner: a replacement inherits the
// directory's ACL.
func (s *FileStore) keepOwner(*os.File, string) error { return nil }

// checkPrivate accepts any file where modes have no group or other bits: a file's access is
// its ACL, inherited from its directory.
func checkPrivate(string, fs.FileInfo) error { return nil }
