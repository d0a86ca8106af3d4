package helseidredis_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A token request slower than the lease does not let another replica start a second one: the
// holder renews its lease while the request runs.
func TestSlowTokenRequestKeepsItsLease(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	f.leaseTTL = 300 * time.Millisecond
	var requests atomic.Int32
	release := make(chan struct{})
	second := make(chan struct{}, 8)
	f.srv.SetTokenHook(func(_ http.ResponseWriter, r *http.Request) bool {
		if requests.Add(1) > 1 {
			select {
			case second <- struct{}{}:
			default:
			}
			return false
		}
		select { // the first request hangs until the test has waited several leases
		case <-release:
		case <-r.Context().Done():
		}
		return false
	})
	a, b := f.replica(t, nil, nil), f.replica(t, nil, nil)
	var once sync.Once
	releaseFirst := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseFirst) // before the replicas close, if the test fails early
	ctx := context.Background()

	type result struct {
		token string
		err   error
	}
	fromA, fromB := make(chan result, 1), make(chan result, 1)
	go func() {
		tok, err := a.Token(ctx, request(1))
		if err != nil {
			fromA <- result{err: err}
			return
		}
		fromA <- result{token: tok.AccessToken}
	}()
	require.Eventually(t, func() bool { return requests.Load() == 1 }, 10*time.Second, 5*time.Millisecond, "a's request arrived")
	go func() {
		tok, err := b.Token(ctx, request(1))
		if err != nil {
			fromB <- result{err: err}
			return
		}
		fromB <- result{token: tok.AccessToken}
	}()
	select {
	case <-second:
		t.Fatal("a second token request while the first holder's request ran")
	case <-time.After(5 * f.leaseTTL): // five leases: without renewal b takes over after one
	}
	releaseFirst()
	ra, rb := <-fromA, <-fromB
	require.NoError(t, ra.err)
	require.NoError(t, rb.err)
	assert.Equal(t, ra.token, rb.token, "b waited for a's token")
	assert.EqualValues(t, 1, f.srv.Stats().TokensIssued) // (a's nonce retry is a second HTTP request)
}
