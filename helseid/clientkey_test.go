package helseid_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// rotatingClient starts helseidtest with a client allowed to register keys and returns the
// server, a Client with the registered key, and a self-service client that registers keys.
func rotatingClient(t *testing.T) (*helseidtest.Server, *helseid.Client, *selfservice.Client, *helseid.Key) {
	t.Helper()
	srv := helseidtest.NewServer(t)
	priv, err := srv.GenerateClient("rotating", selfservice.Scope)
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	c, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "rotating", Key: key, HTTPClient: srv.Client()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: srv.SelfServiceURL(), Client: c})
	require.NoError(t, err)
	return srv, c, ss, key
}

func ccRequest() helseid.ClientCredentialsRequest {
	return helseid.ClientCredentialsRequest{Scopes: []string{selfservice.Scope}}
}

func TestSetKeysSwitchesNewAssertions(t *testing.T) {
	ctx := context.Background()
	srv, c, ss, _ := rotatingClient(t)
	old := c.KeyID()
	next, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	_, err = ss.RegisterKey(ctx, next) // helseidtest drops the old key at once
	require.NoError(t, err)
	_, err = c.ClientCredentials(ctx, ccRequest())
	require.ErrorIs(t, err, helseid.ErrInvalidClient, "precondition: the old key is refused")

	require.NoError(t, c.SetKeys(next, nil))
	assert.Equal(t, next.KeyID(), c.KeyID())
	assert.NotEqual(t, old, c.KeyID())
	_, err = c.ClientCredentials(ctx, ccRequest())
	require.NoError(t, err)
	kids, _, _ := srv.ClientKeyIDs("rotating")
	assert.Equal(t, []string{next.KeyID()}, kids)
}

// HelseID may refuse the current key from the moment it registers the pending one, before the
// rotation promotes it: a refused request is tried again with the pending key.
func TestSetKeysPendingKeyTriedWhenCurrentRefused(t *testing.T) {
	ctx := context.Background()
	_, c, ss, oldKey := rotatingClient(t)
	next, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	_, err = ss.RegisterKey(ctx, next)
	require.NoError(t, err)

	// The client still signs with the old key, but knows the pending one.
	require.NoError(t, c.SetKeys(oldKey, next))
	_, err = c.ClientCredentials(ctx, ccRequest())
	require.NoError(t, err)
	assert.Equal(t, oldKey.KeyID(), c.KeyID(), "the pending key is not promoted by a request")
}

func TestSetKeysRefusesNil(t *testing.T) {
	_, c, _, _ := rotatingClient(t)
	require.ErrorContains(t, c.SetKeys(nil, nil), "invalid helseid configuration")
}

// The hot-reload test: token requests keep going while the key is rotated the way
// keystore.Rotator does it (pending known, registered, promoted), three times; none fails.
// Between rotations every worker finishes a request, as days pass between real rotations.
func TestSetKeysNoRequestFailsDuringRotation(t *testing.T) {
	ctx := context.Background()
	_, c, ss, current := rotatingClient(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var requests, failures atomic.Int64
	var firstErr atomic.Value
	done := make(chan struct{}, 64)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.ClientCredentials(ctx, ccRequest())
				requests.Add(1)
				select {
				case done <- struct{}{}:
				default:
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	for range 3 {
		next, err := helseid.GenerateKey("ES256")
		require.NoError(t, err)
		require.NoError(t, c.SetKeys(current, next))
		_, err = ss.RegisterKey(ctx, next)
		require.NoError(t, err)
		require.NoError(t, c.SetKeys(next, nil))
		current = next
		for len(done) > 0 { // drain, then wait for requests that started after the promotion
			<-done
		}
		for range 16 {
			<-done
		}
	}
	close(stop)
	wg.Wait()
	assert.Zero(t, failures.Load(), "of %d requests; first: %v", requests.Load(), firstErr.Load())
	assert.Positive(t, requests.Load())
}
