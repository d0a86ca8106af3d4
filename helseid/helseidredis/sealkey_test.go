package helseidredis_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/pkce"
)

func sealKeys(t *testing.T, n int) [][]byte {
	t.Helper()
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = make([]byte, 32)
		_, err := rand.Read(keys[i])
		require.NoError(t, err)
	}
	return keys
}

// requireNoKeyIn fails if err's message holds any of keys, raw, in hex or in base64.
func requireNoKeyIn(t *testing.T, err error, keys ...[]byte) {
	t.Helper()
	require.Error(t, err)
	for _, k := range keys {
		for _, form := range []string{string(k), hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k)} {
			assert.NotContains(t, err.Error(), form, "the error holds a sealing key")
		}
	}
}

// sealedWith is the key id a sealed Redis value names.
func sealedWith(t *testing.T, v []byte) string {
	t.Helper()
	require.Greater(t, len(v), 9)
	return hex.EncodeToString(v[1:9])
}

func sessionRecord(rt string) *helseid.StoredSession {
	return &helseid.StoredSession{Generation: 1, RefreshToken: rt, RefreshExpiry: time.Now().Add(time.Hour),
		DPoPKey: []byte(`{"kty":"EC"}`), Tokens: map[string]fapi.Token{"nhn:a": {AccessToken: "at-a", Expiry: time.Now().Add(time.Minute)}}}
}

func sessionStore(t *testing.T, rdb redis.UniversalClient, key []byte, old ...[]byte) *helseidredis.SessionStore {
	t.Helper()
	st, err := helseidredis.NewSessionStore(helseidredis.StoreConfig{Redis: rdb, Key: key, OldKeys: old, Timeout: 5 * time.Second})
	require.NoError(t, err)
	return st
}

func loginStore(t *testing.T, rdb redis.UniversalClient, key []byte, old ...[]byte) *helseidredis.LoginStore {
	t.Helper()
	st, err := helseidredis.NewLoginStore(helseidredis.StoreConfig{Redis: rdb, Key: key, OldKeys: old, Timeout: 5 * time.Second})
	require.NoError(t, err)
	return st
}

// sessionValue is the sealed record of the only session in Redis.
func sessionValue(t *testing.T, rdb *redis.Client) []byte {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "helseid:session:*:data").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	v, err := rdb.HGet(ctx, keys[0], "data").Bytes()
	require.NoError(t, err)
	return v
}

func TestNewStoresRefuseABadOldKey(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer rdb.Close()
	key := make([]byte, 32)
	for name, old := range map[string][][]byte{
		"16-byte old key":           {make([]byte, 16)},
		"empty old key":             {nil},
		"second old key of 33":      {make([]byte, 32), make([]byte, 33)},
		"old key of the right size": nil, // the control: accepted
	} {
		t.Run(name, func(t *testing.T) {
			check := func(err error) {
				if old == nil {
					assert.NoError(t, err)
					return
				}
				assert.ErrorContains(t, err, "OldKeys")
				assert.ErrorContains(t, err, "needs exactly 32")
			}
			_, err := helseidredis.NewSessionStore(helseidredis.StoreConfig{Redis: rdb, Key: key, OldKeys: old})
			check(err)
			_, err = helseidredis.NewLoginStore(helseidredis.StoreConfig{Redis: rdb, Key: key, OldKeys: old})
			check(err)
			_, err = helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: rdb, Key: key, OldKeys: old})
			check(err)
			_, err = helseidredis.NewKeyStore(helseidredis.KeyStoreConfig{Redis: rdb, Key: key, OldKeys: old, Name: "a"})
			check(err)
		})
	}
}

// A replica configured with another sealing key does not see the fleet's users as logged out:
// it gets ErrUnknownSealKey (through helseid.LoadUserSession too), and the session stays for the
// replicas that have the key.
func TestSessionSealedUnderAnUnknownKey(t *testing.T) {
	f := newEHRFleet(t, 2)
	ctx := context.Background()
	started, _ := f.login(t)
	other := sealKeys(t, 1)[0]
	wrong, err := helseid.NewClient(helseid.Config{Issuer: f.srv.Issuer(), ClientID: "ehr", Key: genKey(t, "ES256"), HTTPClient: f.srv.Client(),
		Sessions: sessionStore(t, f.rdb, other)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = wrong.Close() })

	_, err = wrong.LoadUserSession(ctx, started.ID())
	require.ErrorIs(t, err, helseidredis.ErrUnknownSealKey)
	assert.NotErrorIs(t, err, helseid.ErrSessionEnded)
	assert.ErrorContains(t, err, helseidredis.SealKeyID(f.sealKey), "the error names the record's key by id")
	assert.ErrorContains(t, err, helseidredis.SealKeyID(other), "and the store's")
	assert.ErrorContains(t, err, "OldKeys", "and says what to configure")
	requireNoKeyIn(t, err, f.sealKey, other)

	s, err := f.replicas[0].LoadUserSession(ctx, started.ID())
	require.NoError(t, err, "the session is still there for the replicas with the key")
	assert.Equal(t, started.Claims().Subject, s.Claims().Subject)

	// A record under a known key that does not open (changed) still counts as ended.
	keys, err := f.rdb.Keys(ctx, "helseid:session:*:data").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	v := sessionValue(t, f.rdb)
	v[len(v)-1] ^= 1
	require.NoError(t, f.rdb.HSet(ctx, keys[0], "data", v).Err())
	_, err = f.replicas[0].LoadUserSession(ctx, started.ID())
	assert.ErrorIs(t, err, helseid.ErrSessionEnded)
}

// Rotating the sealing key: a replica with the ring [new, old] reads what old-key replicas wrote
// and writes under the new key only; in the first step of a rotation ([old, new]) the replicas
// still on the old key read what the new-key replicas write.
func TestSessionSealKeyRotation(t *testing.T) {
	f := newEHRFleet(t, 0)
	ctx := context.Background()
	keys := sealKeys(t, 2)
	oldKey, newKey := keys[0], keys[1]
	before := sessionStore(t, f.rdb, oldKey)
	rec := sessionRecord("rt-1")
	ok, err := before.SaveSession(ctx, "s1", rec, 0)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, helseidredis.SealKeyID(oldKey), sealedWith(t, sessionValue(t, f.rdb)))

	_, err = sessionStore(t, f.rdb, newKey).LoadSession(ctx, "s1")
	require.ErrorIs(t, err, helseidredis.ErrUnknownSealKey, "without the old key in the ring")

	rotated := sessionStore(t, f.rdb, newKey, oldKey)
	got, err := rotated.LoadSession(ctx, "s1")
	require.NoError(t, err)
	require.NotNil(t, got, "a record sealed under an old key opens")
	assert.Equal(t, "rt-1", got.RefreshToken)

	next := *got
	next.Generation, next.RefreshToken = 2, "rt-2"
	ok, err = rotated.SaveSession(ctx, "s1", &next, 1)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, helseidredis.SealKeyID(newKey), sealedWith(t, sessionValue(t, f.rdb)), "rewritten under the current key")

	_, err = before.LoadSession(ctx, "s1")
	assert.ErrorIs(t, err, helseidredis.ErrUnknownSealKey, "a replica left on the old key alone")
	firstStep := sessionStore(t, f.rdb, oldKey, newKey)
	got, err = firstStep.LoadSession(ctx, "s1")
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, "rt-2", got.RefreshToken)
	got, err = sessionStore(t, f.rdb, newKey).LoadSession(ctx, "s1")
	require.NoError(t, err)
	require.NotNil(t, got, "once rewritten, the old key is no longer needed")
}

// A login sealed under a key the taking replica lacks is ErrUnknownSealKey, through
// FinishStoredLogin too, not "no login is waiting", and is left for a replica with the key;
// one sealed under an old key in the ring opens.
func TestLoginSealedUnderAnUnknownKey(t *testing.T) {
	f := newEHRFleet(t, 0)
	ctx := context.Background()
	keys := sealKeys(t, 2)
	oldKey, newKey := keys[0], keys[1]
	verifier, verr := pkce.NewVerifier()
	require.NoError(t, verr)
	save := func(state string) {
		t.Helper()
		require.NoError(t, loginStore(t, f.rdb, oldKey).SaveLogin(ctx, &helseid.LoginState{State: state, Nonce: "n", Verifier: verifier,
			Issuer: f.srv.Issuer(), ClientID: "ehr", RedirectURI: ehrRedirect, Expiry: time.Now().Add(time.Minute)}))
	}

	save("state-1")
	wrong, err := helseid.NewClient(helseid.Config{Issuer: f.srv.Issuer(), ClientID: "ehr", Key: genKey(t, "ES256"), HTTPClient: f.srv.Client(),
		Logins: loginStore(t, f.rdb, newKey)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = wrong.Close() })
	_, err = wrong.FinishStoredLogin(ctx, url.Values{"state": {"state-1"}, "code": {"c"}, "iss": {f.srv.Issuer()}})
	require.ErrorIs(t, err, helseidredis.ErrUnknownSealKey)
	assert.NotErrorIs(t, err, helseid.ErrLoginState)
	requireNoKeyIn(t, err, oldKey, newKey)

	rotated := loginStore(t, f.rdb, newKey, oldKey)
	st, err := rotated.TakeLogin(ctx, "state-1")
	require.NoError(t, err)
	require.NotNil(t, st, "the login is still there, and under an old key in the ring it opens")
	assert.Equal(t, verifier, st.Verifier)
	st, err = rotated.TakeLogin(ctx, "state-1")
	require.NoError(t, err)
	assert.Nil(t, st, "taken once")

	// Under a known key but changed: absent, as before.
	save("state-3")
	k, err := f.rdb.Keys(ctx, "helseid:login:*").Result()
	require.NoError(t, err)
	require.Len(t, k, 1)
	v, err := f.rdb.Get(ctx, k[0]).Bytes()
	require.NoError(t, err)
	v[len(v)-1] ^= 1
	require.NoError(t, f.rdb.Set(ctx, k[0], v, time.Minute).Err())
	st, err = loginStore(t, f.rdb, oldKey).TakeLogin(ctx, "state-3")
	require.NoError(t, err)
	assert.Nil(t, st)
	n, err := f.rdb.Exists(ctx, k[0]).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "a login under a known key is used up even when it does not open")
}

// A replica with another sealing key neither fails its token requests nor replaces the fleet's
// token: it requests its own and reports ErrUnknownSealKey through the observer, as when Redis
// is down. With the old key in its ring it takes the fleet's token.
func TestTokenSealedUnderAnUnknownKey(t *testing.T) {
	f := newFleet(t, helseidtest.Options{})
	ctx := context.Background()
	good := f.replica(t, nil, nil)
	_, err := good.Token(ctx, request(1))
	require.NoError(t, err)
	issued := f.srv.Stats().TokensIssued
	keys, err := f.rdb.Keys(ctx, "*:token").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	stored, err := f.rdb.Get(ctx, keys[0]).Bytes()
	require.NoError(t, err)

	replica := func(key []byte, old ...[]byte) (*helseid.Client, *events) {
		tc, err := helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: f.rdb, Key: key, OldKeys: old, Timeout: 5 * time.Second})
		require.NoError(t, err)
		ev := &events{}
		c, err := helseid.NewClient(helseid.Config{Issuer: f.srv.Issuer(), ClientID: "fleet", Key: f.key, DPoPKey: f.dpopKey,
			Tenancy: helseid.MultiTenant, HTTPClient: f.srv.Client(), SharedTokens: tc, Observer: ev})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c, ev
	}
	newKey := sealKeys(t, 1)[0]
	wrong, ev := replica(newKey)
	_, err = wrong.Token(ctx, request(1))
	require.NoError(t, err, "the token request does not fail")
	assert.Equal(t, issued+1, f.srv.Stats().TokensIssued, "it requested its own")
	require.Equal(t, 1, ev.count(helseid.SharedCacheDown))
	require.Len(t, ev.errs, 1)
	assert.ErrorIs(t, ev.errs[0], helseidredis.ErrUnknownSealKey)
	requireNoKeyIn(t, ev.errs[0], f.sealKey, newKey)
	now, err := f.rdb.Get(ctx, keys[0]).Bytes()
	require.NoError(t, err)
	assert.Equal(t, stored, now, "the fleet's token is left in place")

	rotated, ev := replica(newKey, f.sealKey)
	_, err = rotated.Token(ctx, request(1))
	require.NoError(t, err)
	assert.Equal(t, issued+1, f.srv.Stats().TokensIssued, "the fleet's token, sealed under the old key, is taken")
	assert.Equal(t, 1, ev.count(helseid.SharedCacheHit))
	assert.Zero(t, ev.count(helseid.SharedCacheDown))
}

// A client key sealed under a key the store lacks fails Load with ErrUnknownSealKey (not
// ErrNotFound, over which a rotator would generate a key); with the old key in the ring it
// loads, and the next Save seals it under the current key.
func TestKeyStoreSealKeyRotation(t *testing.T) {
	ctx := context.Background()
	rdb, oldKey := keyRedis(t)
	newKey := sealKeys(t, 1)[0]
	keysKey := helseidredis.DefaultKeyPrefix + "{client-a}:keys"
	before := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: oldKey, Name: "client-a"})
	current := genKey(t, "ES256")
	require.NoError(t, before.Save(ctx, &keystore.Keys{Current: current}))

	_, err := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: newKey, Name: "client-a"}).Load(ctx)
	require.ErrorIs(t, err, helseidredis.ErrUnknownSealKey)
	assert.NotErrorIs(t, err, keystore.ErrNotFound)
	requireNoKeyIn(t, err, oldKey, newKey)

	rotated := newKeyStore(t, helseidredis.KeyStoreConfig{Redis: rdb, Key: newKey, OldKeys: [][]byte{oldKey}, Name: "client-a"})
	keys, err := rotated.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, current.KeyID(), keys.Current.KeyID())
	require.NoError(t, rotated.Save(ctx, keys))
	v, err := rdb.Get(ctx, keysKey).Bytes()
	require.NoError(t, err)
	assert.Equal(t, helseidredis.SealKeyID(newKey), sealedWith(t, v))
	_, err = before.Load(ctx)
	assert.ErrorIs(t, err, helseidredis.ErrUnknownSealKey)
}
