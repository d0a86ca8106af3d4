package helseid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/helseid-go/sdk/internal/redact"
)

// LoginStore keeps started logins between StartStoredLogin and FinishStoredLogin, so that a
// callback may land on any process of a fleet (helseidredis.LoginStore is one on Redis). The
// default, NewMemoryLoginStore, serves one process.
//
// A LoginState holds the PKCE verifier: an implementation shared by processes should encrypt
// it at rest. Take must be atomic across the fleet (get and delete in one step), so that a
// callback replayed on another process finds nothing.
type LoginStore interface {
	// SaveLogin keeps st under st.State until st.Expiry.
	SaveLogin(ctx context.Context, st *LoginState) error
	// TakeLogin returns the login saved under state and deletes it in the same step; it
	// returns nil and no error when there is none (never saved, taken, or expired).
	TakeLogin(ctx context.Context, state string) (*LoginState, error)
}

// MaxPendingLogins bounds the logins NewMemoryLoginStore keeps waiting for their callback
// (each lives 10 minutes): anyone can start a login, so without a bound a stream of started
// and abandoned logins would grow the process's memory without end.
const MaxPendingLogins = 10_000

// ErrTooManyLogins reports a login refused because the login store is full of logins still
// waiting for their callback (MaxPendingLogins). Answer it as a temporary failure (503):
// the logins already started, the real users' among them, stay and can finish.
var ErrTooManyLogins = errors.New("too many logins waiting for their callback")

// NewMemoryLoginStore returns the LoginStore of one process, the Client's default. It keeps at
// most MaxPendingLogins: expired logins are dropped first, and when the store is still full a
// new login is refused with ErrTooManyLogins rather than evicting one already started. Under a
// flood of started logins, evicting the oldest would let the attacker push every real user's
// login out before its callback (each would fail after the user had signed in); refusing keeps
// them, turns new logins away only while the flood lasts (10 minutes at most after it stops),
// and tells the application so it can answer 503.
func NewMemoryLoginStore(now func() time.Time) LoginStore {
	return newMemoryLoginStore(now, MaxPendingLogins)
}

func newMemoryLoginStore(now func() time.Time, max int) *memoryLogins {
	if now == nil {
		now = time.Now
	}
	return &memoryLogins{now: now, max: max, logins: map[string]LoginState{}}
}

type memoryLogins struct {
	now     func() time.Time
	max     int
	mu      sync.Mutex
	logins  map[string]LoginState
	sweepAt time.Time // no login expires before this; zero: sweep on the next save
}

func (m *memoryLogins) SaveLogin(_ context.Context, st *LoginState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.logins) > 0 && !now.Before(m.sweepAt) { // logins abandoned in the browser do not pile up
		m.sweepAt = time.Time{}
		for k, v := range m.logins {
			switch {
			case !now.Before(v.Expiry):
				delete(m.logins, k)
			case m.sweepAt.IsZero() || v.Expiry.Before(m.sweepAt):
				m.sweepAt = v.Expiry
			}
		}
	}
	if _, ok := m.logins[st.State]; !ok && len(m.logins) >= m.max {
		return ErrTooManyLogins
	}
	m.logins[st.State] = *st
	if len(m.logins) == 1 || st.Expiry.Before(m.sweepAt) {
		m.sweepAt = st.Expiry
	}
	return nil
}

func (m *memoryLogins) TakeLogin(_ context.Context, state string) (*LoginState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.logins[state]
	if !ok {
		return nil, nil
	}
	delete(m.logins, state)
	if !m.now().Before(st.Expiry) {
		return nil, nil
	}
	return &st, nil
}

// StartStoredLogin is StartLogin with the LoginState kept in Config.Logins under its state,
// instead of by the application: it returns only the URL to redirect the browser to.
func (c *Client) StartStoredLogin(ctx context.Context, req LoginRequest) (string, error) {
	authURL, st, err := c.StartLogin(ctx, req)
	if err != nil {
		return "", err
	}
	if err := c.loginStore.SaveLogin(ctx, st); err != nil {
		return "", fmt.Errorf("helseid: save login: %w", err)
	}
	return authURL, nil
}

// FinishStoredLogin is FinishLogin for a login started with StartStoredLogin: it takes the
// LoginState saved under the callback's state out of Config.Logins (once for the whole fleet
// when the store is shared) and finishes the login with it. A callback whose state is
// unknown, already used or expired fails with ErrLoginState before anything is sent.
func (c *Client) FinishStoredLogin(ctx context.Context, callback url.Values) (*LoginResult, error) {
	cb, err := ParseCallback(callback)
	if err != nil {
		return nil, err
	}
	if cb.State == "" {
		return nil, fmt.Errorf("%w: the callback has no state", ErrLoginState)
	}
	st, err := c.loginStore.TakeLogin(ctx, cb.State)
	if err != nil {
		return nil, fmt.Errorf("helseid: take login: %w", err)
	}
	if st == nil {
		return nil, fmt.Errorf("%w: no login is waiting for this state (unknown, used or expired)", ErrLoginState)
	}
	return c.FinishLogin(ctx, callback, st)
}

// summary is all the memory login store shows of itself: fmt would otherwise print the
// logins' PKCE verifiers, unexported fields, by reflection.
func (m *memoryLogins) summary() redact.Summary {
	if m == nil {
		return redact.Nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return redact.Of("helseid.memoryLoginStore", slog.Int("logins", len(m.logins)))
}

// String never shows a login's secrets.
func (m *memoryLogins) String() string { return m.summary().String() }

// GoString never shows a login's secrets.
func (m *memoryLogins) GoString() string { return m.summary().String() }

// Format never shows a login's secrets, whatever the verb.
func (m *memoryLogins) Format(f fmt.State, verb rune) { m.summary().Format(f, verb) }

// LogValue never shows a login's secrets.
func (m *memoryLogins) LogValue() slog.Value { return m.summary().LogValue() }
