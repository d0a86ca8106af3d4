package helseid_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
)

// A login store full of logins waiting for their callback refuses a new one through
// StartStoredLogin with ErrTooManyLogins, and a login started before it filled up still
// finishes.
func TestStartStoredLoginFullStore(t *testing.T) {
	ctx := context.Background()
	logins := helseid.NewMemoryLoginStore(nil)
	r := newReplicas(t, 1, logins, nil)
	c := r.clients[0]
	req := helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope, Resources: []string{"nhn:service-a"}}
	first, err := c.StartStoredLogin(ctx, req)
	require.NoError(t, err)
	for i := range helseid.MaxPendingLogins - 1 {
		require.NoError(t, logins.SaveLogin(ctx, &helseid.LoginState{State: fmt.Sprint("abandoned-", i), Expiry: time.Now().Add(time.Hour)}))
	}
	_, err = c.StartStoredLogin(ctx, req)
	require.ErrorIs(t, err, helseid.ErrTooManyLogins)
	_, err = c.FinishStoredLogin(ctx, r.browse(t, first))
	assert.NoError(t, err, "a login started before the store filled up still finishes")
}
