package keystore_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/keystore"
)

// The lock file of platforms without flock: exclusive, taken over from a crashed holder after
// the stale time, and removed on unlock only by its owner, so a holder that outlived its lock
// does not free its successor's.
func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.json.lock")
	const stale = time.Hour

	unlockA, err := keystore.TryLockFile(path, stale)
	require.NoError(t, err)
	idA, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, idA, 32, "a random owner id")
	_, err = keystore.TryLockFile(path, stale)
	require.ErrorIs(t, err, keystore.ErrLocked, "held")

	// A's holder stalls past the stale time: B takes over.
	old := time.Now().Add(-2 * stale)
	require.NoError(t, os.Chtimes(path, old, old))
	unlockB, err := keystore.TryLockFile(path, stale)
	require.NoError(t, err)
	idB, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotEqual(t, idA, idB)

	unlockA() // late: it must not free B's lock
	_, err = os.Stat(path)
	require.NoError(t, err, "B's lock file stays")
	_, err = keystore.TryLockFile(path, stale)
	require.ErrorIs(t, err, keystore.ErrLocked, "B still holds it")

	unlockB()
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "its owner's unlock removes it")
	unlockC, err := keystore.TryLockFile(path, stale)
	require.NoError(t, err)
	unlockC()
}
