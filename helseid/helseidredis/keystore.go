package helseidredis

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	// Name tells apart the clients whose keys share one Redis and Prefix, for example the
	// client ID. Required; it may not contain '{' or '}'.
	Name string
	// Prefix namespaces the Redis keys: DefaultKeyPrefix when empty.
	Prefix string
	// LockTTL is how long the rotation lock lasts when its holder does not release it (it
	// crashed): DefaultKeyLockTTL when zero. It must exceed one rotation, AutoRotator's
	// FleetDelay included, or a second process may rotate while the first still does.
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
// copied to another name (another client's) does not open. The lock is
// "<prefix>{<name>}:lock", taken with SET NX PX and released only by its holder; both keys
// share a Redis Cluster slot.
type KeyStore struct {
	rdb     redis.UniversalClient
	sealer  *seal.Sealer
	keysKey string
	lockKey string
	lockTTL time.Duration
	timeout time.Duration
}

var (
	_ keystore.Store  = (*KeyStore)(nil)
	_ keystore.Locker = (*KeyStore)(nil)
)

// NewKeyStore checks cfg and returns a KeyStore; it makes no network call.
func NewKeyStore(cfg KeyStoreConfig) (*KeyStore, error) {
	if isNil(cfg.Redis) {
		return nil, errors.New("helseidredis: KeyStoreConfig.Redis is nil")
	}
	if !contextTimeoutEnabled(cfg.Redis) {
		return nil, errors.New("helseidredis: KeyStoreConfig.Redis: " + errNoContextTimeout)
	}
	sealer, err := seal.New(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("helseidredis: KeyStoreConfig.Key: %w", err)
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
	return s, nil
}

// storedKeys is the sealed value's format.
type storedKeys struct {
	Current json.RawMessage `json:"current"`
	Expires *time.Time      `json:"expires,omitempty"`
	Pending json.RawMessage `json:"pending,omitempty"`
}

// Load implements keystore.Store. A value that does not open (another sealing key, or copied
// from another name) is an error, not an absence: the caller must not generate a key over it.
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
	plain, err := s.sealer.Open(sealed, []byte(s.keysKey))
	if err != nil {
		return nil, fmt.Errorf("helseidredis: load keys: %s: %w", s.keysKey, err)
	}
	var sk storedKeys
	if err := json.Unmarshal(plain, &sk); err != nil || len(sk.Current) == 0 {
		return nil, fmt.Errorf("helseidredis: load keys: %s: malformed value", s.keysKey)
	}
	keys := &keystore.Keys{}
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

// Save implements keystore.Store with one SET of the sealed keys, which never expire.
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
	plain, err := json.Marshal(sk)
	if err != nil {
		return fmt.Errorf("helseidredis: save keys: encode: %w", err)
	}
	sealed := s.sealer.Seal(plain, []byte(s.keysKey))
	clear(plain)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.rdb.Set(ctx, s.keysKey, sealed, 0).Err(); err != nil {
		return fmt.Errorf("helseidredis: save keys: %w", err)
	}
	return nil
}

// TryLock implements keystore.Locker with one SET NX PX of a random holder ID: it lasts
// LockTTL at most, so a crashed holder blocks the fleet no longer than that, and unlock
// deletes it only while it is still this holder's (not after it expired and another took it).
func (s *KeyStore) TryLock(ctx context.Context) (func(), error) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	holder := base64.RawURLEncoding.EncodeToString(id[:])
	lctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.rdb.SetArgs(lctx, s.lockKey, holder, redis.SetArgs{Mode: "NX", TTL: s.lockTTL}).Err()
	if errors.Is(err, redis.Nil) {
		return nil, keystore.ErrLocked
	}
	if err != nil {
		return nil, fmt.Errorf("helseidredis: take the key lock: %w", err)
	}
	return func() {
		// Best effort: a release that fails leaves the lock to expire.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		_ = releaseScript.Run(uctx, s.rdb, []string{s.lockKey}, holder).Err()
	}, nil
}
