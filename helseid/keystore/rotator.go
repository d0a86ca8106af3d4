package keystore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// ErrPendingUnresolved reports a pending key Resolve could not settle: the token endpoint
// gave no clear answer, or refused both keys. Both stay in the store; nothing is lost.
var ErrPendingUnresolved = errors.New("keystore: pending key unresolved")

// Registrar registers a key with HelseID; *selfservice.Client is one.
type Registrar interface {
	// RegisterKey registers key as the client's and returns when it expires.
	RegisterKey(ctx context.Context, key *helseid.Key) (expires time.Time, err error)
}

// Authenticator tries a key at HelseID's token endpoint; *TokenEndpoint is one.
type Authenticator interface {
	// Authenticate returns nil when HelseID accepts key, an error matching
	// helseid.ErrInvalidClient when it refuses it, and any other error when the answer is
	// unknown.
	Authenticate(ctx context.Context, key *helseid.Key) error
}

// Rotator runs the rotation protocol (see the package documentation) on a Store. Set its
// fields before first use and do not copy it. It is safe for concurrent use within a
// process; processes sharing a store rotate one at a time when the Store is a Locker (Resolve
// and Rotate take its lock), and must otherwise take care of that themselves.
type Rotator struct {
	// Store holds the keys. Required.
	Store Store
	// Authenticator settles pending keys. Required.
	Authenticator Authenticator
	// Registrar registers new keys; required by Rotate only.
	Registrar Registrar
	// Algorithm of new keys; empty means the current key's.
	Algorithm string
	// BeforeRegister, when set, is called by Rotate once the new key is stored as pending and
	// before it is registered; an error stops the rotation there (the key stays pending).
	// AutoRotator uses it to give the fleet's Watchers time to learn the pending key.
	BeforeRegister func(ctx context.Context, keys *Keys) error

	mu sync.Mutex
	at func(step string) // test hook: called after each step of Rotate
}

// Steps of Rotate, as the test hook names them.
const (
	stepGenerated     = "generated"
	stepPendingStored = "pending-stored"
	stepRegistered    = "registered"
	stepPromoted      = "promoted"
)

func (r *Rotator) step(name string) {
	if r.at != nil {
		r.at(name)
	}
}

// Resolve settles a pending key left by an interrupted rotation and returns the stored keys;
// call it on start, before using Keys.Current. A pending key HelseID accepts is promoted
// (with an unknown expiration); one it refuses, while it accepts the current key, is
// dropped. Otherwise the error matches ErrPendingUnresolved and the store is unchanged.
//
// When the Store is a Locker, Resolve settles the pending key under its lock. If another
// process holds the lock, its rotation is under way and the pending key may be the one it is
// registering: Resolve then returns the stored keys as they are, pending key included, and
// saves nothing (a Watcher and helseid.Client.SetKeys keep the client on them until the
// rotating process promotes its key).
func (r *Rotator) Resolve(ctx context.Context) (*Keys, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(); err != nil {
		return nil, err
	}
	unlock, err := r.lock(ctx)
	if errors.Is(err, ErrLocked) {
		return r.Store.Load(ctx)
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	return r.resolve(ctx)
}

func (r *Rotator) check() error {
	if r.Store == nil || r.Authenticator == nil {
		return errors.New("keystore: Rotator needs a Store and an Authenticator")
	}
	return nil
}

// lock takes the Store's rotation lock when it is a Locker.
func (r *Rotator) lock(ctx context.Context) (unlock func(), err error) {
	l, ok := r.Store.(Locker)
	if !ok {
		return func() {}, nil
	}
	unlock, err = l.TryLock(ctx)
	if err != nil {
		return nil, fmt.Errorf("keystore: take the rotation lock: %w", err)
	}
	return unlock, nil
}

func (r *Rotator) resolve(ctx context.Context) (*Keys, error) {
	keys, err := r.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	if keys.Pending == nil {
		return keys, nil
	}
	err = r.Authenticator.Authenticate(ctx, keys.Pending)
	switch {
	case err == nil:
		// Registered, and its answer lost: HelseID may already refuse the current key.
		promoted := &Keys{Current: keys.Pending, Generation: keys.Generation}
		if err := r.save(context.WithoutCancel(ctx), promoted); err != nil {
			return keys, fmt.Errorf("keystore: promote the pending key: %w", err)
		}
		return promoted, nil
	case !errors.Is(err, helseid.ErrInvalidClient):
		return keys, fmt.Errorf("%w: trying it at the token endpoint: %w", ErrPendingUnresolved, err)
	}
	// Refused. Drop it only when the current key still works: if both are refused, something
	// else is wrong (the client id, the clock), and the pending key may be the one HelseID holds.
	if err := r.Authenticator.Authenticate(ctx, keys.Current); err != nil {
		return keys, fmt.Errorf("%w: HelseID refuses the pending key, and trying the current key failed: %w", ErrPendingUnresolved, err)
	}
	kept := &Keys{Current: keys.Current, Expires: keys.Expires, Generation: keys.Generation}
	if err := r.save(ctx, kept); err != nil {
		return keys, fmt.Errorf("keystore: drop the refused pending key: %w", err)
	}
	return kept, nil
}

// Rotate renews the client's key: it settles a pending key (as Resolve), generates a new one,
// stores it as pending, registers it, and promotes it with the expiration HelseID answered.
// It returns the stored keys, also on error. A failed registration leaves the new key
// pending, for the next Resolve or Rotate to settle, since an unanswered request may have
// registered it all the same. Once the key is registered, promoting it is not cancelled by
// ctx.
//
// When the Store is a Locker, Rotate holds its lock throughout, and fails with an error
// matching ErrLocked, having changed nothing, when another process holds it.
func (r *Rotator) Rotate(ctx context.Context) (*Keys, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkRotate(); err != nil {
		return nil, err
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return r.rotate(ctx)
}

// rotateLocked is Rotate for a caller that holds the Store's lock already (AutoRotator).
func (r *Rotator) rotateLocked(ctx context.Context) (*Keys, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkRotate(); err != nil {
		return nil, err
	}
	return r.rotate(ctx)
}

func (r *Rotator) checkRotate() error {
	if r.Registrar == nil {
		return errors.New("keystore: Rotator needs a Registrar to rotate")
	}
	return r.check()
}

func (r *Rotator) rotate(ctx context.Context) (*Keys, error) {
	keys, err := r.resolve(ctx)
	if err != nil {
		return keys, err
	}
	alg := r.Algorithm
	if alg == "" {
		alg = keys.Current.Algorithm()
	}
	next, err := helseid.GenerateKey(alg)
	if err != nil {
		return keys, fmt.Errorf("keystore: %w", err)
	}
	r.step(stepGenerated)
	pending := &Keys{Current: keys.Current, Expires: keys.Expires, Pending: next, Generation: keys.Generation}
	if err := r.save(ctx, pending); err != nil {
		return keys, fmt.Errorf("keystore: store the new key as pending: %w", err)
	}
	r.step(stepPendingStored)
	if r.BeforeRegister != nil {
		if err := r.BeforeRegister(ctx, pending); err != nil {
			return pending, fmt.Errorf("keystore: before registering the new key (kept as pending): %w", err)
		}
	}
	expires, err := r.Registrar.RegisterKey(ctx, next)
	if err != nil {
		return pending, fmt.Errorf("keystore: register the new key (kept as pending): %w", err)
	}
	r.step(stepRegistered)
	promoted := &Keys{Current: next, Expires: expires, Generation: pending.Generation}
	if err := r.save(context.WithoutCancel(ctx), promoted); err != nil {
		return pending, fmt.Errorf("keystore: promote the registered key (kept as pending; Resolve promotes it): %w", err)
	}
	r.step(stepPromoted)
	return promoted, nil
}

// save stores k over the generation it was derived from and gives k the stored generation,
// so that the next save from k is not refused as stale.
func (r *Rotator) save(ctx context.Context, k *Keys) error {
	if err := r.Store.Save(ctx, k); err != nil {
		return err
	}
	k.Generation++
	return nil
}

// TokenEndpoint is an Authenticator that requests a client-credentials token signed by the
// key it tries (the supplier's own, for a multi-tenant client), bypassing every cache.
type TokenEndpoint struct {
	// Config is the client's configuration; its Key is replaced by the key tried.
	Config helseid.Config
	// Scopes to request; empty means selfservice.Scope, which a client that rotates its
	// keys has.
	Scopes []string
}

// Authenticate tries key.
func (t *TokenEndpoint) Authenticate(ctx context.Context, key *helseid.Key) error {
	cfg := t.Config
	cfg.Key = key
	c, err := helseid.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	defer c.Close()
	scopes := t.Scopes
	if len(scopes) == 0 {
		scopes = []string{selfservice.Scope}
	}
	_, err = c.ClientCredentials(ctx, helseid.ClientCredentialsRequest{Scopes: scopes, Organization: helseid.SupplierOrganization()})
	return err
}
