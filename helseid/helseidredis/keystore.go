package helseidredis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/seal"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/redis/go-redis/v9"
)

// Defaults for the zero values of KeyStoreConfig.
const (
	DefaultKeyPrefix  = "helseid:keystore:"
	DefaultKeyLockTTL = 5 * time.Minute
	DefaultKeyTimeout = 2 * time.Second
)

// KeyStoreConfig configures a KeyStore.
type KeyStoreConfig struct {
	// Redis is the client, with ContextTimeoutEnabled (NewKeyStore refuses a client without
	// it, which would ignore Timeout). Required. The KeyStore does not close it.
	Redis redis.UniversalClient
	// Key is the 32-byte AES-256 key that seals the private keys at rest, the same on every
	// process of the fleet. Required. Keep it apart from Redis: with both, the client key is
	// readable.
	Key []byte
	// OldKeys open the stored keys but never seal them: the keys a rotation of Key leaves them
	// sealed under (each 32 bytes). Keep an old key until a Save (the next client-key rotation)
	// has sealed the value under Key. A value sealed under a key in neither Key nor OldKeys
	// fails Load with ErrUnknownSealKey.
	OldKeys [][]byte
	// Name tells apart the clients whose keys share one Redis and Prefix, for example the
	// client ID. Required; it may not contain '{' or '}'.
	Name string
	// Prefix namespaces the Redis keys: DefaultKeyPrefix when empty.
	Prefix string
	// LockTTL is how long the rotation lock lasts when its holder does not release it (it
	// crashed): DefaultKeyLockTTL when zero. It is not renewed: keystore.AutoRotator cuts a
	// rotation under it short at LockTTL less twice Timeout (KeyStore.LockHold), leaving room
	// for the promotion's write, so no second process rotates while the first still does; its
	// FleetDelay must fit in that. It must exceed twice Timeout.
	LockTTL time.Duration
	// Timeout bounds each Redis call: DefaultKeyTimeout when zero.
	Timeout time.Duration
}

// KeyStore is a keystore.Store and keystore.Locker on Redis, for a fleet that shares no disk:
// every process runs a keystore.Watcher on it, and one at a time rotates (keystore.AutoRotator
// takes the lock). The keys are one value, so a Save replaces them at once: Load returns the
// last Save's keys, never a mix.
//
// The value is "<prefix>{<name>}:keys", sealed with AES-256-GCM under KeyStoreConfig.Key with
// that Redis key name as associated data: Redis holds no private key in clear, and a value
// copied to another name (another client's) does not open. The sealed record carries its
// generation (keystore.Keys.Generation): Save is a compare-and-set on it, and a KeyStore never
// goes back to a lower one than it has read, so an older value written back by someone
// without the sealing key is refused (keystore.ErrRollback), not taken up. (A process that
// starts after such a write cannot tell; the lock's holder's next Save then fails as stale.) The lock is
// "<prefix>{<name>}:lock", taken with SET NX PX and released only by its holder; both keys
// share a Redis Cluster slot.
type KeyStore struct {
	rdb     redis.UniversalClient
	sealer  *seal.Sealer
	keysKey string
	lockKey string
	lockTTL time.Duration
	timeout time.Duration
	highest atomic.Uint64 // the highest generation this store has read or written
}

var (
	_ keystore.Store          = (*KeyStore)(nil)
	_ keystore.ExpiringLocker = (*KeyStore)(nil)
)

// NewKeyStore checks cfg and returns a KeyStore; it makes no network call.
func NewKeyStore(cfg KeyStoreConfig) (*KeyStore, error) {
	if isNil(cfg.Redis) {
		return nil, errors.New("helseidredis: KeyStoreConfig.Redis is nil")
	}
	if !contextTimeoutEnabled(cfg.Redis) {
		return nil, errors.New("helseidredis: KeyStoreConfig.Redis: " + errNoContextTimeout)
	}
	if _, ok := cfg.Redis.(*redis.Ring); ok {
		// The lock key would move to another shard when its shard fails, and a second
		// process could take it and rotate at the same time as the holder.
		return nil, errors.New("helseidredis: KeyStoreConfig.Redis: a redis.Ring moves a failed shard's keys, and with them the rotation lock; use a redis.Client or redis.ClusterClient")
	}
	sealer, err := newSealer("KeyStoreConfig", cfg.Key, cfg.OldKeys)
	if err != nil {
		return nil, fmt.Errorf("helseidredis: %w", err)
	}
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, "{}") {
		return nil, errors.New("helseidredis: KeyStoreConfig.Name must be set and contain no '{' or '}'")
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	base := prefix + "{" + cfg.Name + "}:"
	s := &KeyStore{rdb: cfg.Redis, sealer: sealer, keysKey: base + "keys", lockKey: base + "lock", lockTTL: cfg.LockTTL, timeout: cfg.Timeout}
	if s.lockTTL <= 0 {
		s.lockTTL = DefaultKeyLockTTL
	}
	if s.timeout <= 0 {
		s.timeout = DefaultKeyTimeout
	}
	if s.lockTTL <= 2*s.timeout {
		return nil, fmt.Errorf("helseidredis: KeyStoreConfig.LockTTL %s must exceed twice Timeout %s", s.lockTTL, s.timeout)
	}
	return s, nil
}

// storedKeys is the sealed value's format.
type storedKeys struct {
	Current    json.RawMessage `json:"current"`
	Expires    *time.Time      `json:"expires,omitempty"`
	Pending    json.RawMessage `json:"pending,omitempty"`
	Generation uint64          `json:"generation,omitempty"`
}

// Load implements keystore.Store. A value that does not open (changed, or copied from another
// name) is an error, not an absence: the caller must not generate a key over it. A value sealed
// under a key the store was not given is ErrUnknownSealKey. A value of a lower generation than
// this store has read or written is an older record put back (by a writer without the sealing
// key, replaying a copy): an error matching keystore.ErrRollback.
func (s *KeyStore) Load(ctx context.Context) (*keystore.Keys, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	sealed, err := s.rdb.Get(ctx, s.keysKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: %s does not exist in redis", keystore.ErrNotFound, s.keysKey)
	}
	if err != nil {
		return nil, fmt.Errorf("helseidredis: load keys: %w", err)
	}
	sk, err := s.open(sealed)
	if err != nil {
		if uk := unknownSealKey(err); uk != nil {
			err = uk
		}
		return nil, fmt.Errorf("helseidredis: load keys: %w", err)
	}
	if highest := s.highest.Load(); sk.Generation < highest {
		return nil, fmt.Errorf("helseidredis: load keys: %s: %w: generation %d after %d", s.keysKey, keystore.ErrRollback, sk.Generation, highest)
	}
	s.raise(sk.Generation)
	keys := &keystore.Keys{Generation: sk.Generation}
	if keys.Current, err = helseid.ParseJWK(sk.Current, ""); err != nil {
		return nil, fmt.Errorf("helseidredis: load keys: current key: %w", err)
	}
	if sk.Expires != nil {
		keys.Expires = *sk.Expires
	}
	if len(sk.Pending) > 0 && !bytes.Equal(sk.Pending, []byte("null")) {
		if keys.Pending, err = helseid.ParseJWK(sk.Pending, ""); err != nil {
			return nil, fmt.Errorf("helseidredis: load keys: pending key: %w", err)
		}
	}
	return keys, nil
}

// open unseals and decodes a stored value.
func (s *KeyStore) open(sealed []byte) (*storedKeys, error) {
	plain, err := s.sealer.Open(sealed, []byte(s.keysKey))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.keysKey, err)
	}
	defer clear(plain)
	var sk storedKeys
	if err := json.Unmarshal(plain, &sk); err != nil || len(sk.Current) == 0 {
		return nil, fmt.Errorf("%s: malformed value", s.keysKey)
	}
	return &sk, nil
}

// raise records gen as seen, unless a higher one was.
func (s *KeyStore) raise(gen uint64) {
	for {
		h := s.highest.Load()
		if gen <= h || s.highest.CompareAndSwap(h, gen) {
			return
		}
	}
}

// Save implements keystore.Store: a compare-and-set (WATCH, MULTI, SET) of the sealed keys,
// which never expire, at generation keys.Generation+1. It refuses with keystore.ErrStale
// when the stored value's generation is not keys.Generation, or the value changes while it
// checks, and refuses to overwrite a value that does not open.
func (s *KeyStore) Save(ctx context.Context, keys *keystore.Keys) error {
	if keys == nil || keys.Current == nil {
		return errors.New("helseidredis: no current key to save")
	}
	var (
		sk  storedKeys
		err error
	)
	if sk.Current, err = keys.Current.PrivateJWK(); err != nil {
		return fmt.Errorf("helseidredis: save keys: current key: %w", err)
	}
	if keys.Pending != nil {
		if sk.Pending, err = keys.Pending.PrivateJWK(); err != nil {
			return fmt.Errorf("helseidredis: save keys: pending key: %w", err)
		}
	}
	if !keys.Expires.IsZero() {
		exp := keys.Expires.UTC()
		sk.Expires = &exp
	}
	sk.Generation = keys.Generation + 1
	plain, err := json.Marshal(sk)
	if err != nil {
		return fmt.Errorf("helseidredis: save keys: encode: %w", err)
	}
	sealed := s.sealer.Seal(plain, []byte(s.keysKey))
	clear(plain)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		stored := uint64(0)
		old, err := tx.Get(ctx, s.keysKey).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return err
		default:
			sk, err := s.open(old)
			if err != nil {
				return fmt.Errorf("the stored value: %w", err)
			}
			stored = sk.Generation
		}
		if stored != keys.Generation {
			return fmt.Errorf("%w: %s is at generation %d, these keys derive from %d", keystore.ErrStale, s.keysKey, stored, keys.Generation)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, s.keysKey, sealed, 0)
			return nil
		})
		return err
	}, s.keysKey)
	if errors.Is(err, redis.TxFailedErr) {
		err = fmt.Errorf("%w: %s changed while saving", keystore.ErrStale, s.keysKey)
	}
	if err != nil {
		return fmt.Errorf("helseidredis: save keys: %w", err)
	}
	s.raise(sk.Generation)
	return nil
}

// LockHold implements keystore.ExpiringLocker: LockTTL less twice Timeout, so that a
// rotation cut short at the hold still stores a registered key (one Save, bounded by Timeout)
// before the lock lapses.
func (s *KeyStore) LockHold() time.Duration { return s.lockTTL - 2*s.timeout }

// TryLock implements keystore.Locker with one set-if-absent (with expiry) of a random holder ID: it lasts
// LockTTL at most, so a crashed holder blocks the fleet no longer than that, and unlock
// deletes it only while it is still this holder's (not after it expired and another took it).
func (s *KeyStore) TryLock(ctx context.Context) (func(), error) {
	holder := newHolderID()
	lctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// acquireScript, not a plain SET NX: a resent command must not lock its own holder out.
	n, err := acquireScript.Run(lctx, s.rdb, []string{s.lockKey}, holder, s.lockTTL.Milliseconds()).Int()
	if err != nil {
		return nil, fmt.Errorf("helseidredis: take the key lock: %w", err)
	}
	if n != 1 {
		return nil, keystore.ErrLocked
	}
	return func() {
		// Best effort: a release that fails leaves the lock to expire.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		_ = releaseScript.Run(uctx, s.rdb, []string{s.lockKey}, holder).Err()
	}, nil
}
