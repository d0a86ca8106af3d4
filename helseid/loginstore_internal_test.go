package helseid

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryLoginStoreBound: a full store drops expired logins first and then refuses a new
// login with ErrTooManyLogins, keeping every live one.
func TestMemoryLoginStoreBound(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		lives   []time.Duration // the logins already saved, by how long each lives from start
		advance time.Duration   // then the clock moves on
		wantErr error
		kept    []int // which of lives can still be taken, besides the new one when saved
	}{
		{name: "room left", lives: []time.Duration{time.Minute, time.Minute}, kept: []int{0, 1}},
		{name: "full of live logins: refused, none evicted", lives: []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute},
			advance: 30 * time.Second, wantErr: ErrTooManyLogins, kept: []int{0, 1, 2}},
		{name: "full, one expired: it makes room", lives: []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute},
			advance: time.Minute, kept: []int{1, 2}},
		{name: "full, all expired", lives: []time.Duration{time.Minute, time.Minute, time.Minute}, advance: 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New(start)
			m := newMemoryLoginStore(clock.Now, 3)
			for i, life := range tt.lives {
				require.NoError(t, m.SaveLogin(ctx, &LoginState{State: fmt.Sprint("s", i), Expiry: start.Add(life)}))
			}
			clock.Advance(tt.advance)
			err := m.SaveLogin(ctx, &LoginState{State: "new", Expiry: clock.Now().Add(loginLifetime)})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Len(t, m.logins, len(tt.lives), "no login was evicted")
			} else {
				require.NoError(t, err)
				assert.LessOrEqual(t, len(m.logins), 3)
			}
			for i := range tt.lives {
				st, err := m.TakeLogin(ctx, fmt.Sprint("s", i))
				require.NoError(t, err)
				assert.Equal(t, contains(tt.kept, i), st != nil, "login s%d", i)
			}
			st, err := m.TakeLogin(ctx, "new")
			require.NoError(t, err)
			assert.Equal(t, tt.wantErr == nil, st != nil, "the new login")
		})
	}
}

func contains(v []int, x int) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}

// A login saved again under its own state (a retried save) is not refused by a full store.
func TestMemoryLoginStoreFullResave(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC))
	m := newMemoryLoginStore(clock.Now, 2)
	st := &LoginState{State: "a", Expiry: clock.Now().Add(time.Minute)}
	require.NoError(t, m.SaveLogin(ctx, st))
	require.NoError(t, m.SaveLogin(ctx, &LoginState{State: "b", Expiry: clock.Now().Add(time.Minute)}))
	require.NoError(t, m.SaveLogin(ctx, st))
	require.ErrorIs(t, m.SaveLogin(ctx, &LoginState{State: "c", Expiry: clock.Now().Add(time.Minute)}), ErrTooManyLogins)
}

// The Client's default store is bounded at MaxPendingLogins.
func TestMemoryLoginStoreDefaultBound(t *testing.T) {
	m := NewMemoryLoginStore(nil).(*memoryLogins)
	assert.Equal(t, MaxPendingLogins, m.max)
	ctx := context.Background()
	for i := range MaxPendingLogins {
		require.NoError(t, m.SaveLogin(ctx, &LoginState{State: fmt.Sprint(i), Expiry: time.Now().Add(loginLifetime)}))
	}
	err := m.SaveLogin(ctx, &LoginState{State: "one too many", Expiry: time.Now().Add(loginLifetime)})
	assert.ErrorIs(t, err, ErrTooManyLogins)
}
