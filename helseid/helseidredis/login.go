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
	// Redis is the client, for example redis.NewClient(opts) from redis.ParseURL, with
	// opts.ContextTimeoutEnabled = true (the stores refuse a client without it, which would
	// ignore Timeout). Required. The store does not close it.
	Redis redis.UniversalClient
	// Key is the 32-byte AES-256 key that seals logins and sessions at rest, the same on every
	// process of the fleet. Without it nothing in Redis is a usable verifier, token or key.
	// Required.
	Key []byte
	// OldKeys open records but never seal them: the keys a rotation of Key leaves records
	// sealed under (each 32 bytes). A record sealed under one of them opens, and is sealed
	// under Key when it is next written. A record sealed under a key in neither Key nor OldKeys
	// is not absent but ErrUnknownSealKey. To rotate with no process meeting a record it
	// cannot open, roll out twice: first the new key in OldKeys everywhere, then the new key as
	// Key and the old one in OldKeys; drop the old key once the records sealed under it have
	// expired (logins within their lifetime, sessions with their refresh tokens).
	OldKeys [][]byte
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
	if isNil(cfg.Redis) {
		return store{}, fmt.Errorf("helseidredis: %s: StoreConfig.Redis is nil", what)
	}
	if !contextTimeoutEnabled(cfg.Redis) {
		return store{}, fmt.Errorf("helseidredis: %s: StoreConfig.Redis: %s", what, errNoContextTimeout)
	}
	sealer, err := newSealer("StoreConfig", cfg.Key, cfg.OldKeys)
	if err != nil {
		return store{}, fmt.Errorf("helseidredis: %s: %w", what, err)
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
// expiry at the login's, and taken with one script that reads and deletes it: a callback
// replayed on another process finds nothing.
type LoginStore struct {
	s store
	// takeArgs are takeScript's: the sealed format's version and the ring's key ids.
	takeArgs []any
}

var _ helseid.LoginStore = (*LoginStore)(nil)

// NewLoginStore checks cfg and returns a LoginStore; it makes no network call.
func NewLoginStore(cfg StoreConfig) (*LoginStore, error) {
	s, err := newStore(cfg, "login store")
	if err != nil {
		return nil, err
	}
	l := &LoginStore{s: s, takeArgs: []any{seal.Version}}
	for _, id := range s.sealer.KeyIDs() {
		l.takeArgs = append(l.takeArgs, id)
	}
	return l, nil
}

// takeScript is GETDEL, except that a value of the sealed format ARGV[1] whose key id (bytes
// 2 to 9) is none of ARGV[2..] stays: a process configured with another key does not use up a
// login that a process with the key can finish.
var takeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
if #v >= 9 and string.byte(v, 1) == tonumber(ARGV[1]) then
  local id, known = string.sub(v, 2, 9), false
  for i = 2, #ARGV do
    if ARGV[i] == id then known = true end
  end
  if not known then return v end
end
redis.call('DEL', KEYS[1])
return v`)

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

// TakeLogin implements helseid.LoginStore with one script that reads and deletes the login, so
// the fleet finishes it once. A value that does not open (changed, or moved from another
// state) counts as absent. One sealed under a key the store was not given is ErrUnknownSealKey
// and is left in Redis, for a process with the key to finish.
func (l *LoginStore) TakeLogin(ctx context.Context, state string) (*helseid.LoginState, error) {
	ctx, cancel := context.WithTimeout(ctx, l.s.timeout)
	defer cancel()
	sealed, err := takeScript.Run(ctx, l.s.rdb, []string{l.s.base("login", state)}, l.takeArgs...).Text()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("helseidredis: take login: %w", err)
	}
	plain, err := l.s.sealer.Open([]byte(sealed), loginAAD(state))
	if err != nil {
		if err := unknownSealKey(err); err != nil {
			return nil, fmt.Errorf("helseidredis: take login: %w", err)
		}
		return nil, nil
	}
	var st helseid.LoginState
	if err := json.Unmarshal(plain, &st); err != nil || st.State != state {
		return nil, nil
	}
	return &st, nil
}
