//go:build unix

package keystore_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/keystore"
)

// A Save replacing the key file gives the new file the old one's owner and group, or, when
// the writer may not, refuses and leaves the file as it was.
func TestFileStoreSaveKeepsTheOwner(t *testing.T) {
	ctx := context.Background()
	const serviceUID, serviceGID = 4242, 4343
	type chowned struct{ uid, gid int }
	cases := []struct {
		name     string
		owner    func(fs.FileInfo) (int, int, bool) // nil: the file's real owner (ours)
		chownErr error
		wantErr  string
		want     []chowned
	}{
		{name: "same owner: no chown"},
		{name: "another owner is kept",
			owner: func(fs.FileInfo) (int, int, bool) { return serviceUID, serviceGID, true },
			want:  []chowned{{serviceUID, serviceGID}}},
		{name: "not permitted: refused",
			owner:    func(fs.FileInfo) (int, int, bool) { return serviceUID, serviceGID, true },
			chownErr: &os.PathError{Op: "chown", Path: "tmp", Err: syscall.EPERM},
			wantErr:  "belongs to uid 4242 gid 4343",
			want:     []chowned{{serviceUID, serviceGID}}},
		{name: "other chown failure",
			owner:    func(fs.FileInfo) (int, int, bool) { return serviceUID, serviceGID, true },
			chownErr: &os.PathError{Op: "chown", Path: "tmp", Err: syscall.EIO},
			wantErr:  "keep the owner of",
			want:     []chowned{{serviceUID, serviceGID}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "key.json")
			first := generate(t, "ES256")
			require.NoError(t, keystore.NewFileStore(path).Save(ctx, &keystore.Keys{Current: first}))
			before, err := os.ReadFile(path)
			require.NoError(t, err)

			store := keystore.NewFileStore(path)
			var got []chowned
			keystore.SetOwnerHooks(store, tc.owner, func(_ *os.File, uid, gid int) error {
				got = append(got, chowned{uid, gid})
				return tc.chownErr
			})
			err = store.Save(ctx, &keystore.Keys{Current: generate(t, "ES256"), Generation: 1})
			assert.Equal(t, tc.want, got)
			entries, rerr := os.ReadDir(dir)
			require.NoError(t, rerr)
			assert.Len(t, entries, 1, "no temporary file is left behind")
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.Equal(t, before, after, "the key file is unchanged")
		})
	}
}

// The real thing, where the test may own a file as another user: root rotating a service's
// key file leaves it the service's.
func TestFileStoreSaveAsRootKeepsTheServicesOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root can hand a file to another user; TestFileStoreSaveKeepsTheOwner covers the logic")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "key.json")
	store := keystore.NewFileStore(path)
	require.NoError(t, store.Save(ctx, &keystore.Keys{Current: generate(t, "ES256")}))
	require.NoError(t, os.Chown(path, 4242, 4343))
	require.NoError(t, store.Save(ctx, &keystore.Keys{Current: generate(t, "ES256"), Generation: 1}))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	assert.Equal(t, []uint32{4242, 4343}, []uint32{st.Uid, st.Gid})
	assertPrivateFile(t, path)
}

// Load refuses a private key file its group or others may read or write, as ssh does, and
// says how to fix it; the mode of a key file is never a silent matter.
func TestFileStoreLoadRefusesAnOpenKeyFile(t *testing.T) {
	key := generate(t, "ES256")
	bare, err := key.PrivateJWK()
	require.NoError(t, err)
	cases := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o640, false},
		{0o644, false},
		{0o604, false},
		{0o620, false},
		{0o602, false},
		{0o660, false},
		{0o666, false},
	}
	for _, tc := range cases {
		for _, format := range []string{"store", "bare jwk"} {
			t.Run(fmt.Sprintf("%04o %s", tc.mode, format), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "key.json")
				if format == "bare jwk" {
					require.NoError(t, os.WriteFile(path, bare, 0o600))
				} else {
					require.NoError(t, keystore.NewFileStore(path).Save(context.Background(), &keystore.Keys{Current: key}))
				}
				require.NoError(t, os.Chmod(path, tc.mode))
				got, err := keystore.NewFileStore(path).Load(context.Background())
				if tc.ok {
					require.NoError(t, err)
					assert.Equal(t, key.KeyID(), got.Current.KeyID())
					return
				}
				require.Error(t, err)
				assert.Nil(t, got)
				assert.Contains(t, err.Error(), fmt.Sprintf("mode %04o", tc.mode))
				assert.Contains(t, err.Error(), "chmod 600 "+path)
				assert.NotContains(t, err.Error(), `"d"`, "no key in the error")
			})
		}
	}
}

// A key file that is a symlink (a mounted secret) stays one: Save replaces the link's target,
// and the lock is the target's, whichever link a process reaches it by.
func TestFileStoreWritesThroughASymlink(t *testing.T) {
	ctx := context.Background()
	secrets, config := t.TempDir(), t.TempDir()
	target := filepath.Join(secrets, "key.json")
	link := filepath.Join(config, "helseid-key.json")
	first, second := generate(t, "ES256"), generate(t, "ES256")
	require.NoError(t, keystore.NewFileStore(target).Save(ctx, &keystore.Keys{Current: first}))
	require.NoError(t, os.Symlink(target, link))

	viaLink := keystore.NewFileStore(link)
	require.NoError(t, viaLink.Save(ctx, &keystore.Keys{Current: second, Generation: 1}))
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode().Type(), "the link stays a link")
	got, err := keystore.NewFileStore(target).Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, second.KeyID(), got.Current.KeyID(), "the target holds the new key")
	assertPrivateFile(t, target)
	for _, dir := range []string{secrets, config} {
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Len(t, entries, 1, "nothing else in %s", dir)
	}

	unlock, err := viaLink.TryLock(ctx)
	require.NoError(t, err)
	_, err = keystore.NewFileStore(target).TryLock(ctx)
	assert.ErrorIs(t, err, keystore.ErrLocked, "the link's lock is the target's")
	unlock()
}
