package helseidredis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/redis/go-redis/v9"
)

// SessionStore is a helseid.SessionStore on Redis: set it as helseid.Config.Sessions on every
// process of a fleet, and any process serves any request of a logged-in user.
//
// A session is one Redis hash "<prefix>session:{<hash of the id>}:data" with its generation in
// the clear and its record sealed (AES-256-GCM, the session id as associated data): the
// refresh token, the DPoP private key, the ID token and its claims, and the access tokens.
// It expires from Redis with its refresh token. Every write is one script that compares the
// generation (fencing); the refresh lease is "…:lease" (SET NX PX), in the same Redis Cluster
// slot.
type SessionStore struct {
	s        store
	leaseTTL time.Duration
}

var _ helseid.SessionStore = (*SessionStore)(nil)

// NewSessionStore checks cfg and returns a SessionStore; it makes no network call.
func NewSessionStore(cfg StoreConfig) (*SessionStore, error) {
	s, err := newStore(cfg, "session store")
	if err != nil {
		return nil, err
	}
	st := &SessionStore{s: s, leaseTTL: cfg.LeaseTTL}
	if st.leaseTTL <= 0 {
		st.leaseTTL = helseid.DefaultRefreshLeaseTTL
	}
	if 2*s.timeout > st.leaseTTL {
		// The holder bounds each refresh attempt by half the lease; the other half must
		// cover the Redis calls that renew it and store the new refresh token.
		return nil, fmt.Errorf("helseidredis: session store: StoreConfig.Timeout %s is over half the LeaseTTL %s", s.timeout, st.leaseTTL)
	}
	return st, nil
}

func (st *SessionStore) keys(id string) (data, lease string) {
	base := st.s.base("session", id)
	return base + "data", base + "lease"
}

// dataKey is keys' data key in one allocation: LoadSession runs on every replica switch.
func (st *SessionStore) dataKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	var buf [128]byte
	k := append(buf[:0], st.s.prefix...)
	k = append(k, "session:{"...)
	k = base64.RawURLEncoding.AppendEncode(k, sum[:])
	return string(append(k, "}:data"...))
}

const sessionAADPrefix = "helseid-session-v1\x00"

func sessionAAD(id string) []byte {
	return append(append(make([]byte, 0, len(sessionAADPrefix)+len(id)), sessionAADPrefix...), id...)
}

// LoadSession implements helseid.SessionStore. A record that does not open (changed, moved
// from another session) or whose sealed generation is not the stored one counts as absent: the
// session has ended. A record sealed under a key the store was not given is ErrUnknownSealKey,
// not an end: the session stays in Redis for the processes that have the key.
func (st *SessionStore) LoadSession(ctx context.Context, id string) (*helseid.StoredSession, error) {
	ctx, cancel := context.WithTimeout(ctx, st.s.timeout)
	defer cancel()
	vals, err := st.s.rdb.HMGet(ctx, st.dataKey(id), "gen", "data").Result()
	if err != nil {
		return nil, fmt.Errorf("helseidredis: load session: %w", err)
	}
	rec, err := st.openSession(id, vals[0], vals[1])
	if err != nil {
		return nil, fmt.Errorf("helseidredis: load session: %w", err)
	}
	return rec, nil
}

// openSession is the record in a session's stored fields gen and data: nil when there is none
// or it is not this session's (it does not open under its id, or its sealed generation is not
// the stored one); an error only for a record sealed under a key the store lacks.
func (st *SessionStore) openSession(id string, gen, data any) (*helseid.StoredSession, error) {
	g, _ := gen.(string)
	sealed, _ := data.(string)
	if g == "" || sealed == "" {
		return nil, nil
	}
	plain, err := st.s.sealer.Open([]byte(sealed), sessionAAD(id))
	if err != nil {
		return nil, unknownSealKey(err)
	}
	rec, err := decodeSession(plain)
	if n, perr := strconv.ParseUint(g, 10, 64); err != nil || perr != nil || rec.Generation != n {
		return nil, nil
	}
	return rec, nil
}

// saveScript writes a session over generation ARGV[1] only.
var saveScript = redis.NewScript(`
if (redis.call('HGET', KEYS[1], 'gen') or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'gen', ARGV[2], 'data', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`)

// SaveSession implements helseid.SessionStore with one script (compare the generation, write,
// expire with the refresh token).
func (st *SessionStore) SaveSession(ctx context.Context, id string, rec *helseid.StoredSession, prev uint64) (bool, error) {
	ttl := time.Until(helseid.SessionExpiry(rec, time.Now())).Milliseconds()
	if ttl <= 0 {
		return false, errors.New("helseidredis: save session: its refresh token has expired")
	}
	plain := encodeSession(rec)
	ctx, cancel := context.WithTimeout(ctx, st.s.timeout)
	defer cancel()
	dk, _ := st.keys(id)
	n, err := saveScript.Run(ctx, st.s.rdb, []string{dk}, strconv.FormatUint(prev, 10), strconv.FormatUint(rec.Generation, 10),
		st.s.sealer.Seal(plain, sessionAAD(id)), ttl).Int()
	if err != nil {
		return false, fmt.Errorf("helseidredis: save session: %w", err)
	}
	return n == 1, nil
}

// deleteScript reads a session and removes it with its lease, in one step.
var deleteScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'gen', 'data')
redis.call('DEL', KEYS[1], KEYS[2])
return v`)

// DeleteSession implements helseid.SessionStore with one script (read, then delete the
// record and its lease), so that the record returned is the last one stored.
func (st *SessionStore) DeleteSession(ctx context.Context, id string) (*helseid.StoredSession, error) {
	ctx, cancel := context.WithTimeout(ctx, st.s.timeout)
	defer cancel()
	dk, lk := st.keys(id)
	vals, err := deleteScript.Run(ctx, st.s.rdb, []string{dk, lk}).Slice()
	if err != nil {
		return nil, fmt.Errorf("helseidredis: delete session: %w", err)
	}
	if len(vals) != 2 {
		return nil, nil
	}
	// Deleted all the same when the record is not this session's or is sealed under a key
	// this store lacks: then only the caller's own refresh token is known to revoke.
	rec, _ := st.openSession(id, vals[0], vals[1])
	return rec, nil
}

// leaseScript takes the lease of a session that exists.
var leaseScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`)

// AcquireRefreshLease implements helseid.SessionStore (SET NX PX); a session no longer
// stored is helseid.ErrSessionEnded.
func (st *SessionStore) AcquireRefreshLease(ctx context.Context, id string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, st.s.timeout)
	defer cancel()
	lease := newHolderID()
	dk, lk := st.keys(id)
	n, err := leaseScript.Run(ctx, st.s.rdb, []string{dk, lk}, lease, st.leaseTTL.Milliseconds()).Int()
	switch {
	case err != nil:
		return "", false, fmt.Errorf("helseidredis: acquire refresh lease: %w", err)
	case n < 0:
		return "", false, helseid.ErrSessionEnded
	}
	return lease, n == 1, nil
}

// extendScript renews the lease only if it is still the caller's.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// ExtendRefreshLease implements helseid.SessionStore with one script (compare the lease id,
// renew its expiry to LeaseTTL).
func (st *SessionStore) ExtendRefreshLease(ctx context.Context, id, lease string) (time.Duration, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, st.s.timeout)
	defer cancel()
	_, lk := st.keys(id)
	n, err := extendScript.Run(ctx, st.s.rdb, []string{lk}, lease, st.leaseTTL.Milliseconds()).Int()
	if err != nil {
		return 0, false, fmt.Errorf("helseidredis: extend refresh lease: %w", err)
	}
	if n != 1 {
		return 0, false, nil
	}
	return st.leaseTTL, true, nil
}

// ReleaseRefreshLease implements helseid.SessionStore.
func (st *SessionStore) ReleaseRefreshLease(ctx context.Context, id, lease string) error {
	ctx, cancel := context.WithTimeout(ctx, st.s.timeout)
	defer cancel()
	_, lk := st.keys(id)
	if err := releaseScript.Run(ctx, st.s.rdb, []string{lk}, lease).Err(); err != nil {
		return fmt.Errorf("helseidredis: release refresh lease: %w", err)
	}
	return nil
}
