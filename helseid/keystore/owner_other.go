//go:build !unix

package keystore

import "os"

// keepOwner does nothing where files have no unix owner: a replacement inherits the
// directory's ACL.
func (s *FileStore) keepOwner(*os.File, string) error { return nil }
