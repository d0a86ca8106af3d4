package keystore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// memStore is a Store in memory that honours ctx like the file store and counts generations
// (without refusing stale ones).
type memStore struct {
	mu    sync.Mutex
	keys  keystore.Keys
	saves int
}

func (s *memStore) Load(ctx context.Context) (*keystore.Keys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys
	return &k, ctx.Err()
}

func (s *memStore) Save(ctx context.Context, k *keystore.Keys) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.saves = *k, s.saves+1
	s.keys.Generation++
	return nil
}

// verdicts is an Authenticator answering per key ID; keys it does not know are refused.
type verdicts struct {
	mu    sync.Mutex
	by    map[string]error
	tried []string
}

func (v *verdicts) Authenticate(_ context.Context, key *helseid.Key) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tried = append(v.tried, key.KeyID())
	if err, ok := v.by[key.KeyID()]; ok {
		return err
	}
	return helseid.ErrInvalidClient
}

type registrarFunc func(ctx context.Context, key *helseid.Key) (time.Time, error)

func (f registrarFunc) RegisterKey(ctx context.Context, key *helseid.Key) (time.Time, error) {
	return f(ctx, key)
}

var errNetwork = errors.New("connection reset")

func TestResolve(t *testing.T) {
	current, pending := generate(t, "ES256"), generate(t, "ES256")
	expires := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name        string
		verdicts    map[string]error
		wantErr     error
		wantCurrent *helseid.Key
		wantPending *helseid.Key
	}{
		{"registered pending is promoted", map[string]error{pending.KeyID(): nil}, nil, pending, nil},
		{"refused pending is dropped while current works", map[string]error{current.KeyID(): nil}, nil, current, nil},
		{"both refused: both kept", map[string]error{}, keystore.ErrPendingUnresolved, current, pending},
		{"pending unknown: both kept", map[string]error{pending.KeyID(): errNetwork, current.KeyID(): nil}, keystore.ErrPendingUnresolved, current, pending},
		{"pending refused, current unknown: both kept", map[string]error{current.KeyID(): errNetwork}, keystore.ErrPendingUnresolved, current, pending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := &memStore{keys: keystore.Keys{Current: current, Expires: expires, Pending: pending}}
			rot := &keystore.Rotator{Store: store, Authenticator: &verdicts{by: tc.verdicts}}
			got, err := rot.Resolve(context.Background())
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Same(t, tc.wantCurrent, got.Current)
			assert.Same(t, tc.wantPending, got.Pending)
			assert.Equal(t, *got, store.keys, "the store holds what Resolve returns")
			if tc.wantCurrent == pending {
				assert.True(t, got.Expires.IsZero(), "a promoted key's expiration is unknown")
			} else {
				assert.Equal(t, expires, got.Expires)
			}
		})
	}
}

func TestResolveWithoutPendingTriesNothing(t *testing.T) {
	store := &memStore{keys: keystore.Keys{Current: generate(t, "ES256")}}
	v := &verdicts{}
	got, err := (&keystore.Rotator{Store: store, Authenticator: v}).Resolve(context.Background())
	require.NoError(t, err)
	assert.Same(t, store.keys.Current, got.Current)
	assert.Empty(t, v.tried)
	assert.Zero(t, store.saves)
}

func TestRotateKeepsAnUnansweredRegistrationPending(t *testing.T) {
	current := generate(t, "ES256")
	store := &memStore{keys: keystore.Keys{Current: current}}
	var sent *helseid.Key
	rot := &keystore.Rotator{Store: store, Authenticator: &verdicts{by: map[string]error{current.KeyID(): nil}},
		Registrar: registrarFunc(func(_ context.Context, key *helseid.Key) (time.Time, error) {
			sent = key
			return time.Time{}, errNetwork
		})}
	got, err := rot.Rotate(context.Background())
	require.ErrorIs(t, err, errNetwork)
	assert.Same(t, current, got.Current, "the current key stays")
	require.NotNil(t, got.Pending)
	assert.Same(t, sent, got.Pending, "the key that may be registered is kept")
	assert.Equal(t, *got, store.keys)

	// HelseID never got it: the next start drops it.
	got, err = rot.Resolve(context.Background())
	require.NoError(t, err)
	assert.Same(t, current, got.Current)
	assert.Nil(t, got.Pending)
}

func TestRotatePromotesEvenWhenCancelledAfterRegistering(t *testing.T) {
	store := &memStore{keys: keystore.Keys{Current: generate(t, "ES256")}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	expires := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	rot := &keystore.Rotator{Store: store, Authenticator: &verdicts{}, Algorithm: "ES384",
		Registrar: registrarFunc(func(context.Context, *helseid.Key) (time.Time, error) {
			cancel() // the caller gives up as HelseID answers
			return expires, nil
		})}
	got, err := rot.Rotate(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ES384", got.Current.Algorithm())
	assert.Equal(t, expires, got.Expires)
	assert.Nil(t, got.Pending)
	assert.Equal(t, *got, store.keys)
}

func TestRotateDoesNotStartOverAnUnresolvedPendingKey(t *testing.T) {
	current, pending := generate(t, "ES256"), generate(t, "ES256")
	store := &memStore{keys: keystore.Keys{Current: current, Pending: pending}}
	registered := false
	rot := &keystore.Rotator{Store: store, Authenticator: &verdicts{by: map[string]error{pending.KeyID(): errNetwork}},
		Registrar: registrarFunc(func(context.Context, *helseid.Key) (time.Time, error) {
			registered = true
			return time.Time{}, nil
		})}
	_, err := rot.Rotate(context.Background())
	require.ErrorIs(t, err, keystore.ErrPendingUnresolved)
	assert.False(t, registered)
	assert.Same(t, pending, store.keys.Pending)
}

func TestRotatorNeedsItsParts(t *testing.T) {
	ctx := context.Background()
	_, err := (&keystore.Rotator{Authenticator: &verdicts{}}).Resolve(ctx)
	assert.Error(t, err)
	_, err = (&keystore.Rotator{Store: &memStore{}}).Resolve(ctx)
	assert.Error(t, err)
	_, err = (&keystore.Rotator{Store: &memStore{}, Authenticator: &verdicts{}}).Rotate(ctx)
	assert.Error(t, err)
}

func TestTokenEndpointTriesAMultiTenantClientsKey(t *testing.T) {
	srv := helseidtest.NewServer(t)
	priv, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID: clientID, Scopes: []string{selfservice.Scope}, OrgNumber: helseidtest.DefaultOrgNumber, MultiTenant: true})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	te := &keystore.TokenEndpoint{Config: helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, HTTPClient: srv.Client(), Tenancy: helseid.MultiTenant}}
	assert.NoError(t, te.Authenticate(context.Background(), key))
	assert.ErrorIs(t, te.Authenticate(context.Background(), generate(t, "ES256")), helseid.ErrInvalidClient)
}
