package helseid_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// The hot-reload test: requests of every kind that carries a client assertion (client
// credentials; logins, whose push carries a request object and whose code exchange a code;
// session refreshes; token exchanges) keep going while the key is rotated the way
// keystore.Rotator does it (pending known, registered, promoted), three times; none fails.
// Each kind runs to completion at least once while HelseID holds only the pending key and
// the client has not promoted it, and once after the promotion.
func TestSetKeysNoRequestFailsDuringRotation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newRotationFixture(t)
	subject := f.subjectToken(t)
	ops := map[string]func() error{
		"client credentials": func() error {
			_, err := f.client.ClientCredentials(ctx, ccRequest())
			return err
		},
		"login and refresh": func() error {
			authURL, st, err := f.client.StartLogin(ctx, helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope,
				Resources: []string{"nhn:service-a", "nhn:service-b"}, Organization: helseid.Organization{Child: "920773230"}})
			if err != nil {
				return err
			}
			callback, err := f.follow(authURL)
			if err != nil {
				return err
			}
			res, err := f.client.FinishLogin(ctx, callback, st)
			if err != nil {
				return err
			}
			s, err := f.client.NewUserSession(ctx, res, helseid.SessionOptions{})
			if err != nil {
				return err
			}
			_, err = s.Token(ctx, "nhn:service-b")
			return err
		},
		"token exchange": func() error {
			_, err := f.client.ExchangeToken(ctx, subject, exchangeRequest)
			return err
		},
	}
	type report struct {
		op  string
		gen int64
	}
	var gen atomic.Int64 // the rotation's stage when a request starts
	reports := make(chan report, 64)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var requests, failures atomic.Int64
	var firstErr atomic.Value
	for name, op := range ops {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					started := gen.Load()
					err := op()
					requests.Add(1)
					if err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, name+": "+err.Error())
					}
					select {
					case reports <- report{op: name, gen: started}:
					case <-stop:
						return
					}
				}
			}()
		}
	}
	// everyKind waits until each kind of request has finished one that started in the current
	// stage.
	everyKind := func() {
		t.Helper()
		want, seen := gen.Load(), map[string]bool{}
		for len(seen) < len(ops) {
			select {
			case r := <-reports:
				if r.gen == want {
					seen[r.op] = true
				}
			case <-ctx.Done():
				t.Fatalf("requests stopped finishing: %v", ctx.Err())
			}
		}
	}
	for range 3 {
		next := f.registerPending(t)
		gen.Add(1)
		everyKind() // HelseID refuses the current key; the client knows the pending one
		f.promote(t, next)
		gen.Add(1)
		everyKind()
	}
	close(stop)
	wg.Wait()
	assert.Zero(t, failures.Load(), "of %d requests; first: %v", requests.Load(), firstErr.Load())
	assert.Positive(t, requests.Load())
}
