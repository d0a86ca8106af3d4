package resource_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type traceKey struct{}

type refreshSeen struct {
	trace    any
	resource string
	took     time.Duration
	err      error
}

// Observe hears each refresh request, not the hits in between, with the context values of the
// call that needed it and its outcome.
func TestSessionObserveHearsEachRefresh(t *testing.T) {
	srv := &rotatingServer{refuse: "nhn:refused"}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	srv.current = "rt-0"
	var (
		mu   sync.Mutex
		seen []refreshSeen
	)
	s, err := resource.NewSession(resource.Config{TokenEndpoint: ts.URL, Settings: fapi.Settings{ClientAuth: noAuth{}, HTTPClient: ts.Client()},
		Observe: func(ctx context.Context, res string, took time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, refreshSeen{ctx.Value(traceKey{}), res, took, err})
		}}, "rt-0", time.Time{})
	require.NoError(t, err)

	ctx := context.WithValue(context.Background(), traceKey{}, "a")
	for range 2 {
		_, err = s.Token(ctx, "nhn:a")
		require.NoError(t, err)
	}
	_, err = s.Token(context.WithValue(context.Background(), traceKey{}, "refused"), "nhn:refused")
	require.Error(t, err)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2, "one refresh per resource; the second call for nhn:a is a hit")
	assert.Equal(t, "a", seen[0].trace)
	assert.Equal(t, "nhn:a", seen[0].resource)
	assert.NoError(t, seen[0].err)
	assert.Positive(t, seen[0].took)
	assert.Equal(t, "refused", seen[1].trace)
	assert.Equal(t, "nhn:refused", seen[1].resource)
	var oe *fapi.Error
	assert.ErrorAs(t, seen[1].err, &oe)
}
