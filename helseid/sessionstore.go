package helseid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/redact"
)

var (
	// ErrSessionEnded reports a stored user session that is gone: ended by logout on any
	// process, expired with its refresh token, its grant refused, or never stored. The user
	// must log in again.
	ErrSessionEnded = errors.New("user session ended")
	// ErrSessionConflict reports a write to the session store fenced off because another
	// process stored a newer generation of the session first (this one held its refresh lease
	// past its expiry). The store keeps the newer generation.
	ErrSessionConflict = errors.New("user session changed by another process")
	// ErrRefreshLeaseLost reports a refresh of a stored session not sent because this process
	// no longer holds the session's refresh lease (it expired while a slow or retried request
	// went on, and another process may be refreshing): sending the refresh token then could
	// present it twice, which revokes the grant. The next call reads the other process's
	// result.
	ErrRefreshLeaseLost = errors.New("refresh lease of the user session lost")
)

// Defaults of the session stores.
const (
	// DefaultRefreshLeaseTTL is how long one process may refresh a stored session before
	// another may take over: a process that dies holding the lease blocks the session's
	// refreshes for at most this. The holder renews the lease before every attempt it sends
	// and bounds that attempt by half the lease, so that the other half covers reading the
	// response and storing the new refresh token.
	DefaultRefreshLeaseTTL = 10 * time.Second
	// DefaultSessionRecheck is how often a stored user session held in memory asks the store
	// whether it still stands (Config.SessionRecheck).
	DefaultSessionRecheck = 5 * time.Second
	// DefaultSessionLifetime is how long a stored session whose refresh token has no known
	// expiry is kept.
	DefaultSessionLifetime = 24 * time.Hour
)

// StoredSession is one generation of a user session as a SessionStore keeps it. Every field
// but Generation is a secret or personal data: an implementation shared by processes must
// encrypt it at rest. Formatting and logging it never show a token or key.
type StoredSession struct {
	// Generation counts the session's writes, from 1; the store compares it on every write
	// (fencing).
	Generation uint64
	// RefreshToken is the newest refresh token, RefreshExpiry its expiry (zero when unknown).
	RefreshToken  string
	RefreshExpiry time.Time
	// DPoPKey is the private JWK of the DPoP key the session's tokens are bound to: every
	// process signs the session's proofs with it.
	DPoPKey []byte
	// IDToken and Claims are the login's.
	IDToken string
	Claims  *IDTokenClaims
	// Organization is the one the session speaks for; Resource the login's first.
	Organization Organization
	Resource     string
	// Tokens are the current access tokens, per resource.
	Tokens map[string]fapi.Token
}

func (r StoredSession) redacted() string {
	return fmt.Sprintf("StoredSession{Generation:%d, Resource:%q, RefreshToken, DPoPKey, IDToken, Tokens:REDACTED}", r.Generation, r.Resource)
}

// String redacts the secrets.
func (r StoredSession) String() string { return r.redacted() }

// GoString redacts the secrets.
func (r StoredSession) GoString() string { return r.redacted() }

// Format redacts the secrets for every verb.
func (r StoredSession) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.redacted())) }

// LogValue redacts the secrets.
func (r StoredSession) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("generation", r.Generation), slog.String("resource", r.Resource))
}

// SessionStore keeps user sessions by id, so that any process of a fleet can serve any
// request of a logged-in user (helseidredis.SessionStore is one on Redis; the default,
// NewMemorySessionStore, serves one process). Refreshes of a session are single-flight across
// the fleet through its refresh lease, and every write is a compare-and-set on the
// generation, so that a process that paused past its lease cannot overwrite a newer refresh
// token.
type SessionStore interface {
	// LoadSession returns the session stored under id, or nil and no error when there is none
	// (ended, expired or never stored).
	LoadSession(ctx context.Context, id string) (*StoredSession, error)
	// SaveSession stores rec under id if the stored generation is prev (0: no session is
	// stored) and reports whether it did. It keeps rec until rec.RefreshExpiry
	// (DefaultSessionLifetime when that is zero).
	SaveSession(ctx context.Context, id string, rec *StoredSession, prev uint64) (bool, error)
	// DeleteSession removes the session and its lease and returns the record it removed (nil
	// when there was none), read and removed in one step: its refresh token is the newest,
	// whichever process stored it, so that logout revokes that one.
	DeleteSession(ctx context.Context, id string) (*StoredSession, error)
	// AcquireRefreshLease tries to take the right to refresh the session for the fleet: a
	// lease id and true when taken, false when another process holds it. A lease expires by
	// itself, so that a process that died holding it blocks the session only that long.
	AcquireRefreshLease(ctx context.Context, id string) (lease string, ok bool, err error)
	// ExtendRefreshLease renews lease for the store's lease TTL, from now, if it is still
	// held (a compare-and-extend on the lease id), and returns that TTL; ok is false when the
	// lease has expired or another process holds it. The holder calls it before every refresh
	// attempt and bounds the attempt by half the TTL.
	ExtendRefreshLease(ctx context.Context, id, lease string) (ttl time.Duration, ok bool, err error)
	// ReleaseRefreshLease gives lease up if it is still held.
	ReleaseRefreshLease(ctx context.Context, id, lease string) error
}

// NewMemorySessionStore returns the SessionStore of one process, the Client's default; its
// leases last DefaultRefreshLeaseTTL on the clock now (nil: time.Now).
func NewMemorySessionStore(now func() time.Time) SessionStore {
	if now == nil {
		now = time.Now
	}
	return &memorySessions{now: now, sessions: map[string]*memorySession{}}
}

type memorySessions struct {
	now      func() time.Time
	mu       sync.Mutex
	sessions map[string]*memorySession
	leases   uint64
}

type memorySession struct {
	rec        *StoredSession
	until      time.Time
	lease      string
	leaseUntil time.Time
}

func copyStored(rec *StoredSession) *StoredSession {
	c := *rec
	c.Tokens = maps.Clone(rec.Tokens)
	return &c
}

// live returns id's entry unless it has expired; m.mu is held.
func (m *memorySessions) live(id string) *memorySession {
	e := m.sessions[id]
	if e != nil && !m.now().Before(e.until) {
		delete(m.sessions, id)
		return nil
	}
	return e
}

func (m *memorySessions) LoadSession(_ context.Context, id string) (*StoredSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.live(id); e != nil && e.rec != nil {
		return copyStored(e.rec), nil
	}
	return nil, nil
}

func (m *memorySessions) SaveSession(_ context.Context, id string, rec *StoredSession, prev uint64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(id)
	var cur uint64
	if e != nil && e.rec != nil {
		cur = e.rec.Generation
	}
	if cur != prev {
		return false, nil
	}
	if e == nil {
		e = &memorySession{}
		m.sessions[id] = e
	}
	e.rec, e.until = copyStored(rec), SessionExpiry(rec, m.now())
	return true, nil
}

func (m *memorySessions) DeleteSession(_ context.Context, id string) (*StoredSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(id)
	delete(m.sessions, id)
	if e == nil || e.rec == nil {
		return nil, nil
	}
	return copyStored(e.rec), nil
}

func (m *memorySessions) AcquireRefreshLease(_ context.Context, id string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(id)
	if e == nil || e.rec == nil {
		return "", false, ErrSessionEnded
	}
	now := m.now()
	if e.lease != "" && now.Before(e.leaseUntil) {
		return "", false, nil
	}
	m.leases++
	e.lease, e.leaseUntil = fmt.Sprint(m.leases), now.Add(DefaultRefreshLeaseTTL)
	return e.lease, true, nil
}

func (m *memorySessions) ExtendRefreshLease(_ context.Context, id, lease string) (time.Duration, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(id)
	now := m.now()
	if e == nil || e.lease != lease || lease == "" || !now.Before(e.leaseUntil) {
		return 0, false, nil
	}
	e.leaseUntil = now.Add(DefaultRefreshLeaseTTL)
	return DefaultRefreshLeaseTTL, true, nil
}

func (m *memorySessions) ReleaseRefreshLease(_ context.Context, id, lease string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.sessions[id]; e != nil && e.lease == lease {
		e.lease = ""
	}
	return nil
}

// SessionExpiry is when a store drops rec, written at now: with its refresh token, or
// DefaultSessionLifetime after now when the refresh token's expiry is unknown.
func SessionExpiry(rec *StoredSession, now time.Time) time.Time {
	if rec.RefreshExpiry.IsZero() {
		return now.Add(DefaultSessionLifetime)
	}
	return rec.RefreshExpiry
}

// summary is all the memory session store shows of itself: fmt would otherwise print the
// sessions' tokens and keys, unexported fields, by reflection.
func (m *memorySessions) summary() redact.Summary {
	if m == nil {
		return redact.Nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return redact.Of("helseid.memorySessionStore", slog.Int("sessions", len(m.sessions)))
}

// String never shows a session's secrets.
func (m *memorySessions) String() string { return m.summary().String() }

// GoString never shows a session's secrets.
func (m *memorySessions) GoString() string { return m.summary().String() }

// Format never shows a session's secrets, whatever the verb.
func (m *memorySessions) Format(f fmt.State, verb rune) { m.summary().Format(f, verb) }

// LogValue never shows a session's secrets.
func (m *memorySessions) LogValue() slog.Value { return m.summary().LogValue() }
