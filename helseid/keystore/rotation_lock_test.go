package keystore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// pausingAuthenticator tries keys at HelseID and, once it has tried two (a Resolve that found
// the pending key refused and the current one accepted), says so and holds the answer until
// resume is closed, so a test can let another process act between Resolve's verdict and its
// save.
type pausingAuthenticator struct {
	inner   keystore.Authenticator
	tried   atomic.Int32
	decided chan struct{}
	resume  <-chan struct{}
}

func (p *pausingAuthenticator) Authenticate(ctx context.Context, key *helseid.Key) error {
	err := p.inner.Authenticate(ctx, key)
	if p.tried.Add(1) == 2 {
		close(p.decided)
		<-p.resume
	}
	return err
}

// A replica that restarts while another process rotates must not settle the rotation's
// pending key: HelseID refuses it until it is registered, and a save of the old key landing
// after the promotion would leave the store with a key HelseID no longer accepts. Resolve
// takes the store's lock, finds it held, and returns the stored keys without saving.
func TestResolveDuringAFleetRotationSavesNothing(t *testing.T) {
	ctx := context.Background()
	srv, current := newServer(t)
	cfg := helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, HTTPClient: srv.Client()}
	path := writeKeys(t, current, time.Now().Add(time.Hour)) // due
	m := newMember(t, srv, path, cfg)
	ev := make(events, 16)
	auto := m.autoRotator(t, cfg, ev)

	promoted := make(chan struct{})
	replicaDone := make(chan struct{})
	auth := &pausingAuthenticator{inner: tokenEndpoint(srv), decided: make(chan struct{}), resume: promoted}
	replica := &keystore.Rotator{Store: keystore.NewFileStore(path), Authenticator: auth}
	var (
		replicaKeys *keystore.Keys
		replicaErr  error
	)
	keystore.SetStepHook(auto.Rotator, func(step string) {
		switch step {
		case "pending-stored": // the replica restarts while the pending key waits out FleetDelay
			go func() {
				defer close(replicaDone)
				replicaKeys, replicaErr = replica.Resolve(ctx)
			}()
			select {
			case <-auth.decided:
			case <-replicaDone:
			}
		case "promoted": // whatever the replica saves lands after the promotion
			close(promoted)
			<-replicaDone
		}
	})
	require.NoError(t, auto.Start(ctx))
	t.Cleanup(func() { auto.Close() })
	rotated := ev.next(t, keystore.Rotated)
	require.NoError(t, auto.Close())

	require.NoError(t, replicaErr)
	assert.Zero(t, auth.tried.Load(), "the replica tries no key while the rotation is under way")
	assert.Equal(t, current.KeyID(), replicaKeys.Current.KeyID())
	require.NotNil(t, replicaKeys.Pending, "the replica learns the pending key")
	assert.Equal(t, rotated.KeyID, replicaKeys.Pending.KeyID())

	stored, err := keystore.NewFileStore(path).Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, rotated.KeyID, stored.Current.KeyID(), "the promotion is not overwritten")
	assert.Nil(t, stored.Pending)
	assert.NoError(t, tryKey(t, srv, stored.Current), "HelseID accepts the stored key")
}

// Rotate takes the store's lock too: while another process holds it, it fails and changes
// nothing.
func TestRotateRefusesWhileAnotherProcessRotates(t *testing.T) {
	ctx := context.Background()
	srv, current := newServer(t)
	path := writeKeys(t, current, time.Time{})
	unlock, err := keystore.NewFileStore(path).TryLock(ctx)
	require.NoError(t, err)
	registered := false
	rot := &keystore.Rotator{Store: keystore.NewFileStore(path), Authenticator: tokenEndpoint(srv),
		Registrar: registrarFunc(func(context.Context, *helseid.Key) (time.Time, error) {
			registered = true
			return time.Time{}, nil
		})}
	_, err = rot.Rotate(ctx)
	require.ErrorIs(t, err, keystore.ErrLocked)
	assert.False(t, registered)
	stored, err := keystore.NewFileStore(path).Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, current.KeyID(), stored.Current.KeyID())
	assert.Nil(t, stored.Pending)

	unlock()
	rotated, err := rot.Rotate(ctx)
	require.NoError(t, err)
	assert.True(t, registered)
	assert.NotEqual(t, current.KeyID(), rotated.Current.KeyID())
}

// storeOnly hides a store's lock, as a lock that expired under a slow holder would.
type storeOnly struct{ keystore.Store }

// Without the lock, the generation still stops the replica's stale save: it derives from the
// record holding the pending key, which the promotion replaced.
func TestResolveCannotOverwriteANewerRotation(t *testing.T) {
	ctx := context.Background()
	srv, current := newServer(t)
	cfg := helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, HTTPClient: srv.Client()}
	path := writeKeys(t, current, time.Time{})
	m := newMember(t, srv, path, cfg)
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: srv.SelfServiceURL(), Client: m.client})
	require.NoError(t, err)
	rot := &keystore.Rotator{Store: storeOnly{m.store}, Authenticator: tokenEndpoint(srv), Registrar: ss,
		BeforeRegister: func(_ context.Context, keys *keystore.Keys) error {
			return m.client.SetKeys(keys.Current, keys.Pending)
		}}

	promoted := make(chan struct{})
	replicaDone := make(chan struct{})
	auth := &pausingAuthenticator{inner: tokenEndpoint(srv), decided: make(chan struct{}), resume: promoted}
	replica := &keystore.Rotator{Store: storeOnly{keystore.NewFileStore(path)}, Authenticator: auth}
	var replicaErr error
	keystore.SetStepHook(rot, func(step string) {
		switch step {
		case "pending-stored":
			go func() {
				defer close(replicaDone)
				_, replicaErr = replica.Resolve(ctx)
			}()
			<-auth.decided // refused the pending key, accepted the current one
		case "promoted":
			close(promoted)
			<-replicaDone
		}
	})
	rotated, err := rot.Rotate(ctx)
	require.NoError(t, err)
	require.ErrorIs(t, replicaErr, keystore.ErrStale)

	stored, err := keystore.NewFileStore(path).Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, rotated.Current.KeyID(), stored.Current.KeyID(), "the promotion is not overwritten")
	assert.Equal(t, rotated.Generation, stored.Generation)
	assert.NoError(t, tryKey(t, srv, stored.Current))
}
