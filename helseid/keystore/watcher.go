package keystore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helseid-go/sdk/helseid"
)

// KeySetter takes a client's keys while it runs; *helseid.Client is one.
type KeySetter interface {
	SetKeys(current, pending *helseid.Key) error
}

// DefaultWatchInterval is how often a Watcher reads the store when Interval is zero.
const DefaultWatchInterval = 30 * time.Second

// Watcher keeps a running client on the keys in a Store, so that every process sharing the
// store (a fleet on one file, or one Redis) signs with the key the rotating process promoted
// within one Interval, and knows a pending key as soon as it reads it (see
// helseid.Client.SetKeys). It never goes back to keys of a lower Keys.Generation than it has
// read (an old record written back: see ErrRollback); it reports them as LoadFailed and keeps
// the client on its keys, so restart the fleet after replacing a store's keys by hand with
// fresh ones. Set its fields, then call Start; Close stops it.
type Watcher struct {
	// Store holds the keys. Required.
	Store Store
	// Client is given the stored keys whenever they change. Required.
	Client KeySetter
	// Interval between reads of the store: DefaultWatchInterval when zero. It bounds how long
	// a fleet member takes to pick up a new key.
	Interval time.Duration
	// OnEvent is told of reloads and failed reads; nil means nobody. It must not block.
	OnEvent func(Event)

	cancel context.CancelFunc
	done   chan struct{}
	seen   string // key IDs last given to Client
	gen    uint64 // the highest Generation read
}

// Start reads the store once, gives its keys to Client, and reads it again every Interval
// until Close. It fails when the first read does.
func (w *Watcher) Start(ctx context.Context) error {
	if w.Store == nil || w.Client == nil {
		return errors.New("keystore: Watcher needs a Store and a Client")
	}
	if w.done != nil {
		return errors.New("keystore: Watcher already started")
	}
	if err := w.reload(ctx); err != nil {
		return err
	}
	interval := orDefault(w.Interval, DefaultWatchInterval)
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel, w.done = cancel, make(chan struct{})
	go w.loop(bg, interval)
	return nil
}

// Close stops the watcher and waits for it.
func (w *Watcher) Close() error {
	if w.done != nil {
		w.cancel()
		<-w.done
	}
	return nil
}

func (w *Watcher) loop(ctx context.Context, interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.reload(ctx); err != nil && ctx.Err() == nil {
			w.emit(Event{Kind: LoadFailed, Err: err})
		}
	}
}

func (w *Watcher) reload(ctx context.Context) error {
	keys, err := w.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("keystore: watch: %w", err)
	}
	if keys.Current == nil {
		return errors.New("keystore: watch: the store holds no current key")
	}
	if keys.Generation < w.gen {
		return fmt.Errorf("keystore: watch: %w: generation %d after %d; keeping the newer keys", ErrRollback, keys.Generation, w.gen)
	}
	seen := keys.Current.KeyID()
	pendingKID := ""
	if keys.Pending != nil {
		pendingKID = keys.Pending.KeyID()
		seen += " " + pendingKID
	}
	if seen == w.seen {
		w.gen = keys.Generation
		return nil
	}
	if err := w.Client.SetKeys(keys.Current, keys.Pending); err != nil {
		return fmt.Errorf("keystore: watch: %w", err)
	}
	w.gen = keys.Generation
	first := w.seen == ""
	w.seen = seen
	if !first {
		w.emit(Event{Kind: KeyReloaded, KeyID: keys.Current.KeyID(), PendingKeyID: pendingKID, Expires: keys.Expires})
	}
	return nil
}

func (w *Watcher) emit(e Event) {
	if w.OnEvent != nil {
		w.OnEvent(e)
	}
}
