package keystore_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/keystore"
)

// setter records the keys a Watcher gives it.
type setter struct {
	current, pending chan string
	extra            atomic.Int64 // calls the channels had no room for
}

func (s *setter) SetKeys(current, pending *helseid.Key) error {
	p := ""
	if pending != nil {
		p = pending.KeyID()
	}
	select {
	case s.current <- current.KeyID():
		s.pending <- p // same capacity
	default:
		s.extra.Add(1)
	}
	return nil
}

// loadSignal is a Store that signals each Load, so a test can wait for the watcher's polls.
type loadSignal struct {
	keystore.Store
	loads chan struct{}
}

func (s *loadSignal) Load(ctx context.Context) (*keystore.Keys, error) {
	k, err := s.Store.Load(ctx)
	select {
	case s.loads <- struct{}{}:
	default:
	}
	return k, err
}

func TestWatcherStartFailsWithoutKeys(t *testing.T) {
	w := &keystore.Watcher{Store: keystore.NewFileStore(filepath.Join(t.TempDir(), "none.json")), Client: &setter{}}
	require.ErrorIs(t, w.Start(context.Background()), keystore.ErrNotFound)
	require.NoError(t, w.Close())
}

// A store that cannot be read is reported and leaves the client on its key; the next good
// read is taken up.
func TestWatcherReportsFailedReadsAndKeepsTheKey(t *testing.T) {
	ctx := context.Background()
	key, next := generate(t, "ES256"), generate(t, "ES256")
	path := writeKeys(t, key, time.Time{})
	set := &setter{current: make(chan string, 4), pending: make(chan string, 4)}
	ev := make(events, 64)
	store := &loadSignal{Store: keystore.NewFileStore(path), loads: make(chan struct{}, 1)}
	w := &keystore.Watcher{Store: store, Client: set, Interval: 5 * time.Millisecond, OnEvent: ev.on}
	require.NoError(t, w.Start(ctx))
	t.Cleanup(func() { w.Close() })
	assert.Equal(t, key.KeyID(), <-set.current)
	assert.Empty(t, <-set.pending)

	require.NoError(t, os.WriteFile(path, []byte("not json"), 0o600))
	failed := ev.next(t, keystore.LoadFailed)
	require.Error(t, failed.Err)
	assert.NotContains(t, failed.Err.Error(), "not json", "the file's content is not quoted")

	require.NoError(t, keystore.NewFileStore(path).Save(ctx, &keystore.Keys{Current: key, Pending: next}))
	reloaded := ev.next(t, keystore.KeyReloaded)
	assert.Equal(t, key.KeyID(), reloaded.KeyID)
	assert.Equal(t, next.KeyID(), reloaded.PendingKeyID)
	assert.Equal(t, key.KeyID(), <-set.current)
	assert.Equal(t, next.KeyID(), <-set.pending)
	for range 3 { // polls that find the same keys
		<-store.loads
	}
	require.NoError(t, w.Close())
	assert.Empty(t, set.current, "unchanged keys are not given again")
	assert.Zero(t, set.extra.Load())
}

// An old record written back (a stale writer, or a replayed copy) is not taken up: the
// Watcher reports it and keeps the client on the newer keys.
func TestWatcherNeverGoesBackAGeneration(t *testing.T) {
	ctx := context.Background()
	first, second := generate(t, "ES256"), generate(t, "ES256")
	path := writeKeys(t, first, time.Time{})
	old, err := os.ReadFile(path)
	require.NoError(t, err)
	store := keystore.NewFileStore(path)
	ks := &setter{current: make(chan string, 8), pending: make(chan string, 8)}
	ev := make(events, 16)
	w := &keystore.Watcher{Store: store, Client: ks, Interval: 5 * time.Millisecond, OnEvent: ev.on}
	require.NoError(t, w.Start(ctx))
	t.Cleanup(func() { w.Close() })
	assert.Equal(t, first.KeyID(), <-ks.current)
	<-ks.pending

	require.NoError(t, store.Save(ctx, &keystore.Keys{Current: second, Generation: 1}))
	assert.Equal(t, second.KeyID(), ev.next(t, keystore.KeyReloaded).KeyID)
	assert.Equal(t, second.KeyID(), <-ks.current)
	<-ks.pending

	require.NoError(t, os.WriteFile(path+".old", old, 0o600))
	require.NoError(t, os.Rename(path+".old", path)) // generation 1 again
	failed := ev.next(t, keystore.LoadFailed)
	require.ErrorIs(t, failed.Err, keystore.ErrRollback)
	require.NoError(t, w.Close())
	assert.Empty(t, ks.current, "the client keeps the newer key")
	assert.Zero(t, ks.extra.Load())
}
