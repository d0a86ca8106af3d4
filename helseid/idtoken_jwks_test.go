package helseid_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/internal/docserver"
)

// staleFirstJWKS sends the client's first JWKS request to stale, a server holding a copy of
// the key set from before a rotation (a cache in front of the issuer), and every later one to
// the issuer itself.
type staleFirstJWKS struct {
	base   http.RoundTripper
	stale  atomic.Pointer[url.URL]
	first  atomic.Bool
	issuer atomic.Int32 // JWKS requests that reached the issuer
}

func (s *staleFirstJWKS) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != helseidtest.JWKSPath {
		return s.base.RoundTrip(r)
	}
	if s.first.CompareAndSwap(false, true) {
		r = r.Clone(r.Context())
		r.URL, r.Host = s.stale.Load(), ""
		return s.base.RoundTrip(r)
	}
	s.issuer.Add(1)
	return s.base.RoundTrip(r)
}

// A login whose ID token is signed by a key that the first JWKS fetch did not list yet still
// succeeds: the unknown kid is refetched at once instead of counting the first fetch as the
// refetch.
func TestLoginIDTokenKeyMissingFromFirstJWKSFetch(t *testing.T) {
	jwksRoute := &staleFirstJWKS{}
	f := newLoginFixture(t, func(c *helseid.Config) {
		jwksRoute.base = c.HTTPClient.Transport
		c.HTTPClient = &http.Client{Transport: jwksRoute}
	})
	before, err := json.Marshal(f.srv.PublicKeys())
	require.NoError(t, err)
	stale := docserver.New(t, "application/jwk-set+json", string(before))
	staleURL, err := url.Parse(stale.URL + helseidtest.JWKSPath)
	require.NoError(t, err)
	jwksRoute.stale.Store(staleURL)
	f.srv.RotateSigningKey(true) // ID tokens are signed by a key the stale copy lacks

	callback, st := f.start(t)
	res, err := f.client.FinishLogin(context.Background(), callback, st)
	require.NoError(t, err)
	assert.Equal(t, helseidtest.DefaultTestUser().PID, res.Claims.PID)
	assert.EqualValues(t, 1, stale.Requests.Load(), "the first fetch got the stale copy")
	assert.EqualValues(t, 1, jwksRoute.issuer.Load(), "exactly one refetch, which found the new key")
}
