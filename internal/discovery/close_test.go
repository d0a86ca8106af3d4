package discovery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/internal/background"
)

// Close ends a fetch that is still waiting for the server: no goroutine outlives it.
func TestCloseStopsAFetchInFlight(t *testing.T) {
	arrived, gone := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // the client hung up
		close(gone)
	}))
	defer srv.Close()
	c, err := NewCache(Config{Issuer: srv.URL, HTTPClient: srv.Client()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { _, err := c.Metadata(ctx); errs <- err }()
	<-arrived
	cancel()
	assert.Error(t, <-errs, "the caller leaves on its context")
	c.Close() // the shared fetch goes on for other callers until Close
	<-gone
	_, err = c.Metadata(context.Background())
	assert.ErrorIs(t, err, background.ErrClosed, "no fetch (and no goroutine) after Close")
}
