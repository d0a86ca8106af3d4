package keystore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/helseid-go/sdk/helseid"
)

// maxFileSize bounds a key file: two 4096-bit RSA private JWKs are about 7 KiB.
const maxFileSize = 256 << 10

// FileStore keeps Keys in one JSON file of mode 0600: the current and pending keys as
// private JWKs and the expiration. Every Save writes a temporary file in the same directory,
// syncs it, renames it over the file and syncs the directory, so a crash or power loss leaves
// the old file or the new one, and refuses (ErrStale) keys whose Generation is not the file's,
// so a writer that loaded before another's Save cannot overwrite it. The new file keeps the old one's owner and group (unix), so an
// operator's `sudo helseid rotate` leaves the key readable by the service; a writer that may
// not give it that owner (neither root nor the owner) gets an error and changes nothing. Load also reads a file holding a single private JWK (as
// helseid.Key.PrivateJWK writes it) as the current key, so an existing key file can be used
// as it is; the first Save rewrites it in the store's format. On unix, Load refuses a key file
// that its group or others may read or write (as ssh does): chmod 600 it. A path that is a
// symbolic link stays one: Save writes beside the link's target and renames over the target,
// and the rotation lock is taken next to the target too.
//
// A FileStore holds keys that can be exported (helseid.Key.PrivateJWK); the file is the
// secret, so keep it on a disk only the service can read. It is safe for concurrent use
// within a process; processes sharing the file need one rotator at a time.
type FileStore struct {
	path string
	mu   sync.Mutex // serialises Saves of this process

	// Test hooks (unix): the owner of the file a Save replaces, and the chown of its
	// replacement; nil means the file's own and (*os.File).Chown.
	ownerOf func(fs.FileInfo) (uid, gid int, ok bool)
	chown   func(f *os.File, uid, gid int) error
}

// NewFileStore returns a store kept at path. It touches nothing until Load or Save.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

// Path returns the file's path.
func (s *FileStore) Path() string { return s.path }

// fileKeys is the file's format.
type fileKeys struct {
	Current    json.RawMessage `json:"current"`
	Expires    *time.Time      `json:"expires,omitempty"`
	Pending    json.RawMessage `json:"pending,omitempty"`
	Generation uint64          `json:"generation,omitempty"`
}

// Load reads the file.
func (s *FileStore) Load(ctx context.Context) (*Keys, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNotFound, s.path)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if err := checkPrivate(s.path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keystore: read %s: %w", s.path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("keystore: %s is larger than %d bytes", s.path, maxFileSize)
	}
	return parseFile(s.path, data)
}

func parseFile(path string, data []byte) (*Keys, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, fmt.Errorf("keystore: %s is not a json object", path)
	}
	if _, bare := members["kty"]; bare {
		key, err := helseid.ParseJWK(data, "")
		if err != nil {
			return nil, fmt.Errorf("keystore: %s: %w", path, err)
		}
		return &Keys{Current: key}, nil
	}
	var fk fileKeys
	if err := json.Unmarshal(data, &fk); err != nil {
		return nil, fmt.Errorf("keystore: %s: malformed key file", path)
	}
	if len(fk.Current) == 0 {
		return nil, fmt.Errorf("keystore: %s has no current key", path)
	}
	keys := &Keys{Generation: fk.Generation}
	var err error
	if keys.Current, err = helseid.ParseJWK(fk.Current, ""); err != nil {
		return nil, fmt.Errorf("keystore: %s: current key: %w", path, err)
	}
	if fk.Expires != nil {
		keys.Expires = *fk.Expires
	}
	if len(fk.Pending) > 0 && !bytes.Equal(fk.Pending, []byte("null")) {
		if keys.Pending, err = helseid.ParseJWK(fk.Pending, ""); err != nil {
			return nil, fmt.Errorf("keystore: %s: pending key: %w", path, err)
		}
	}
	return keys, nil
}

// Save writes keys atomically (see FileStore).
func (s *FileStore) Save(ctx context.Context, keys *Keys) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if keys == nil || keys.Current == nil {
		return errors.New("keystore: no current key to save")
	}
	var (
		fk  fileKeys
		err error
	)
	if fk.Current, err = keys.Current.PrivateJWK(); err != nil {
		return fmt.Errorf("keystore: current key: %w", err)
	}
	if keys.Pending != nil {
		if fk.Pending, err = keys.Pending.PrivateJWK(); err != nil {
			return fmt.Errorf("keystore: pending key: %w", err)
		}
	}
	if !keys.Expires.IsZero() {
		exp := keys.Expires.UTC()
		fk.Expires = &exp
	}
	fk.Generation = keys.Generation + 1
	data, err := json.MarshalIndent(fk, "", "  ")
	if err != nil {
		return fmt.Errorf("keystore: encode keys: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	path, err := s.target()
	if err != nil {
		return err
	}
	if stored := storedGeneration(path); stored != keys.Generation {
		return fmt.Errorf("%w: %s is at generation %d, these keys derive from %d", ErrStale, s.path, stored, keys.Generation)
	}
	return s.writeAtomic(path, append(data, '\n'))
}

// storedGeneration returns the generation of the file at path: 0 when there is none, or it
// keeps none (a bare JWK, a file from before generations) or cannot be read (a Save may
// repair it). Between processes the check is exact under the rotation lock, which Rotator
// holds for every Save.
func storedGeneration(path string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil || len(data) > maxFileSize {
		return 0
	}
	var fk struct {
		Generation uint64 `json:"generation"`
	}
	if json.Unmarshal(data, &fk) != nil {
		return 0
	}
	return fk.Generation
}

// target is the file a Save replaces: path, or the file it links to, so that a symlinked key
// file (a secret mounted by a deployment tool, say) stays a link and its target gets the keys.
func (s *FileStore) target() (string, error) {
	path, err := filepath.EvalSymlinks(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s.path, nil // a first Save
	}
	if err != nil {
		return "", fmt.Errorf("keystore: %w", err)
	}
	return path, nil
}

// writeAtomic replaces path with data: temporary file (0600, the replaced file's owner) in the
// same directory, fsync, rename, directory fsync.
func (s *FileStore) writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err = s.keepOwner(tmp, path); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("keystore: write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("keystore: sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot sync a directory, and its rename is
// durable by itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keystore: sync directory %s: %w", dir, err)
	}
	return nil
}
