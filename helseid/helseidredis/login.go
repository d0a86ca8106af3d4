package helseidredis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/seal"
	"github.com/redis/go-redis/v9"
)

// StoreConfig configures a LoginStore or a SessionStore.
type StoreConfig struct {
	// Redis is the client, for example redis.NewClient(opts) from redis.ParseURL. Required.
	// The store does not close it.
	Redis redis.UniversalClient
	// Key is the 32-byte AES-256 key that seals logins and sessions at rest, the same on every
	// process of the fleet. Without it nothing in Redis is a usable verifier, token or key.
	// Required.
	Key []byte
	// Prefix namespaces the Redis keys: DefaultTokenPrefix when empty.
	Prefix string
	// Timeout bounds each Redis call: DefaultTokenTimeout when zero.
	Timeout time.Duration
	// LeaseTTL, for a SessionStore, is how long one process may refresh a session before
	// another may take over: helseid.DefaultRefreshLeaseTTL when zero. A process that dies
	// holding the lease blocks the session's refreshes for at most this. The holder renews it
	// before every refresh attempt and bounds the attempt by half of it, so it must be at
	// least twice Timeout (NewSessionStore refuses less).
	LeaseTTL time.Duration
}

type store struct {
	rdb     redis.UniversalClient
	sealer  *seal.Sealer
	prefix  string
	timeout time.Duration
}

func newStore(cfg StoreConfig, what string) (store, error) {
	if cfg.Redis == nil {
		return store{}, fmt.Errorf("helseidredis: %s: StoreConfig.Redis is nil", what)
	}
	sealer, err := seal.New(cfg.Key)
	if err != nil {
		return store{}, fmt.Errorf("helseidredis: %s: StoreConfig.Key: %w", what, err)
	}
	s := store{rdb: cfg.Redis, sealer: sealer, prefix: cfg.Prefix, timeout: cfg.Timeout}
	if s.prefix == "" {
		s.prefix = DefaultTokenPrefix
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTokenTimeout
	}
	return s, nil
}

// base is the Redis key stem of name in kind: a hash, so that keys have a fixed length and an
// attacker-chosen value (a callback's state) is never a key.
func (s store) base(kind, name string) string {
	sum := sha256.Sum256([]byte(name))
	return s.prefix + kind + ":{" + base64.RawURLEncoding.EncodeToString(sum[:]) + "}:"
}

// LoginStore is a helseid.LoginStore on Redis: set it as helseid.Config.Logins on every
// process, and a login started on one finishes on any. Each LoginState is sealed (AES-256-GCM,
// its state as associated data) under "<prefix>login:{<hash of the state>}:" with a Redis
// expiry at the login's, and taken with one GETDEL: a callback replayed on another process
// finds nothing.
type LoginStore struct{ s store }

var _ helseid.LoginStore = (*LoginStore)(nil)

// NewLoginStore checks cfg and returns a LoginStore; it makes no network call.
func NewLoginStore(cfg StoreConfig) (*LoginStore, error) {
	s, err := newStore(cfg, "login store")
	if err != nil {
		return nil, err
	}
	return &LoginStore{s: s}, nil
}

func loginAAD(state string) []byte { return []byte("helseid-login-v1\x00" + state) }

// SaveLogin implements helseid.LoginStore.
func (l *LoginStore) SaveLogin(ctx context.Context, st *helseid.LoginState) error {
	ttl := time.Until(st.Expiry)
	if ttl <= 0 {
		return errors.New("helseidredis: save login: the login has expired")
	}
	plain, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("helseidredis: save login: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, l.s.timeout)
	defer cancel()
	if err := l.s.rdb.Set(ctx, l.s.base("login", st.State), l.s.sealer.Seal(plain, loginAAD(st.State)), ttl).Err(); err != nil {
		return fmt.Errorf("helseidredis: save login: %w", err)
	}
	return nil
}

// TakeLogin implements helseid.LoginStore with one GETDEL. A value that does not open
// (another sealing key, or moved from another state) counts as absent.
func (l *LoginStore) TakeLogin(ctx context.Context, state string) (*helseid.LoginState, error) {
	ctx, cancel := context.WithTimeout(ctx, l.s.timeout)
	defer cancel()
	sealed, err := l.s.rdb.GetDel(ctx, l.s.base("login", state)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("helseidredis: take login: %w", err)
	}
	plain, err := l.s.sealer.Open(sealed, loginAAD(state))
	if err != nil {
		return nil, nil
	}
	var st helseid.LoginState
	if err := json.Unmarshal(plain, &st); err != nil || st.State != state {
		return nil, nil
	}
	return &st, nil
}
