package helseid_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/fakeclock"
)

// Config.Retry reaches the push: with retries turned off, a push answered 503 is not sent
// again (the default policy would retry it and succeed).
func TestConfigRetryReachesPAR(t *testing.T) {
	clock := fakeclock.New(time.Now())
	var lost *lostPARResponse
	f := newLoginFixtureWith(t, helseidtest.Options{Now: clock.Now}, func(c *helseid.Config) {
		c.Now = clock.Now
		c.Retry = fapi.RetryPolicy{MaxAttempts: 1}
		lost = &lostPARResponse{base: c.HTTPClient.Transport, clock: clock}
		c.HTTPClient = &http.Client{Transport: lost}
	})
	_, _, err := f.client.StartLogin(context.Background(), helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope,
		Resources: []string{"nhn:service-a"}})
	var oe *fapi.Error
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, http.StatusServiceUnavailable, oe.StatusCode)
	assert.Len(t, lost.forms, 1, "MaxAttempts 1: no retry")
}

// Config.Retry reaches a user session's refreshes: with retries turned off, a refresh answered
// 503 is not sent again; with the default policy the same 503 is retried.
func TestConfigRetryReachesSessionRefresh(t *testing.T) {
	for _, tc := range []struct {
		name     string
		retry    fapi.RetryPolicy
		wantSent int64
	}{
		{"retries off", fapi.RetryPolicy{MaxAttempts: 1}, 1},
		{"default", fapi.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newLoginFixture(t, func(c *helseid.Config) { c.Retry = tc.retry })
			s, _ := f.loggedIn(t)
			var sent atomic.Int64
			f.srv.SetTokenHook(func(w http.ResponseWriter, _ *http.Request) bool {
				if sent.Add(1) == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return true
				}
				return false
			})
			_, err := s.Token(context.Background(), "nhn:service-b")
			assert.Equal(t, tc.wantSent, sent.Load())
			if tc.wantSent == 1 {
				var oe *fapi.Error
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, http.StatusServiceUnavailable, oe.StatusCode)
				return
			}
			require.NoError(t, err)
		})
	}
}
