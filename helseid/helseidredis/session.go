package helseidredis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/helseid-go/sdk/helseid/fapi"
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

func sessionAAD(id string) []byte { return []byte("helseid-session-v1\x00" + id) }

// storedJSON is the sealed layout of a helseid.StoredSession: the Organization's supplier
// mark, which its own fields do not show, is kept explicitly.
type storedJSON struct {
	Generation    uint64                  `json:"gen"`
	RefreshToken  string                  `json:"rt"`
	RefreshExpiry time.Time               `json:"rt_exp"`
	DPoPKey       json.RawMessage         `json:"dpop_jwk"`
	IDToken       string                  `json:"id_token,omitempty"`
	Claims        *helseid.IDTokenClaims  `json:"claims,omitempty"`
	OrgParent     string                  `json:"org_parent,omitempty"`
	OrgChild      string                  `json:"org_child,omitempty"`
	OrgSupplier   bool                    `json:"org_supplier,omitempty"`
	Resource      string                  `json:"resource,omitempty"`
	Tokens        map[string]storedAccess `json:"tokens,omitempty"`
}

type storedAccess struct {
	AccessToken string    `json:"at"`
	Expiry      time.Time `json:"exp"`
}

func encodeSession(rec *helseid.StoredSession) ([]byte, error) {
	j := storedJSON{Generation: rec.Generation, RefreshToken: rec.RefreshToken, RefreshExpiry: rec.RefreshExpiry,
		DPoPKey: rec.DPoPKey, IDToken: rec.IDToken, Claims: rec.Claims, Resource: rec.Resource,
		OrgParent: rec.Organization.Parent, OrgChild: rec.Organization.Child,
		OrgSupplier: rec.Organization == helseid.SupplierOrganization(), Tokens: map[string]storedAccess{}}
	for r, t := range rec.Tokens {
		j.Tokens[r] = storedAccess{AccessToken: t.AccessToken, Expiry: t.Expiry}
	}
	return json.Marshal(j)
}

func decodeSession(b []byte) (*helseid.StoredSession, error) {
	var j storedJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	rec := &helseid.StoredSession{Generation: j.Generation, RefreshToken: j.RefreshToken, RefreshExpiry: j.RefreshExpiry,
		DPoPKey: j.DPoPKey, IDToken: j.IDToken, Claims: j.Claims, Resource: j.Resource,
		Organization: helseid.Organization{Parent: j.OrgParent, Child: j.OrgChild}, Tokens: map[string]fapi.Token{}}
	if j.OrgSupplier {
		rec.Organization = helseid.SupplierOrganization()
	}
	for r, t := range j.Tokens {
		rec.Tokens[r] = fapi.Token{AccessToken: t.AccessToken, Expiry: t.Expiry}
	}
	return rec, nil
}

// LoadSession implements helseid.SessionStore. A record that does not open (another sealing
// key, moved from another session) or whose sealed generation is not the stored one counts as
// absent: the session has ended.
func (st *SessionStore) LoadSession(ctx context.Context, id string) (*helseid.StoredSession, error) {
	ctx, cancel := context.WithTimeout(ctx, st.s.timeout)
	defer cancel()
	dk, _ := st.keys(id)
	vals, err := st.s.rdb.HMGet(ctx, dk, "gen", "data").Result()
	if err != nil {
		return nil, fmt.Errorf("helseidredis: load session: %w", err)
	}
	gen, _ := vals[0].(string)
	sealed, _ := vals[1].(string)
	if gen == "" || sealed == "" {
		return nil, nil
	}
	plain, err := st.s.sealer.Open([]byte(sealed), sessionAAD(id))
	if err != nil {
		return nil, nil
	}
	rec, err := decodeSession(plain)
	if err != nil || strconv.FormatUint(rec.Generation, 10) != gen {
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
	plain, err := encodeSession(rec)
	if err != nil {
		return false, fmt.Errorf("helseidredis: save session: %w", err)
	}
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
	gen, _ := vals[0].(string)
	sealed, _ := vals[1].(string)
	if gen == "" || sealed == "" {
		return nil, nil
	}
	plain, err := st.s.sealer.Open([]byte(sealed), sessionAAD(id))
	if err != nil {
		return nil, nil // not this session's (see LoadSession): gone all the same
	}
	rec, err := decodeSession(plain)
	if err != nil || strconv.FormatUint(rec.Generation, 10) != gen {
		return nil, nil
	}
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
	var b [16]byte
	_, _ = rand.Read(b[:])
	lease := base64.RawURLEncoding.EncodeToString(b[:])
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
