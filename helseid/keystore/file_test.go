package keystore_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/keystore"
)

func generate(t *testing.T, alg string) *helseid.Key {
	t.Helper()
	k, err := helseid.GenerateKey(alg)
	require.NoError(t, err)
	return k
}

func TestFileStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "key.json")
	store := keystore.NewFileStore(path)
	_, err := store.Load(ctx)
	require.ErrorIs(t, err, keystore.ErrNotFound)

	current, pending := generate(t, "ES256"), generate(t, "PS256")
	expires := time.Date(2027, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	require.NoError(t, store.Save(ctx, &keystore.Keys{Current: current, Expires: expires, Pending: pending}))
	got, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, current.KeyID(), got.Current.KeyID())
	assert.Equal(t, "ES256", got.Current.Algorithm())
	assert.True(t, got.Current.Signer().Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(current.Signer().Public()))
	assert.True(t, expires.Equal(got.Expires))
	require.NotNil(t, got.Pending)
	assert.Equal(t, pending.KeyID(), got.Pending.KeyID())
	assert.Equal(t, "PS256", got.Pending.Algorithm())
	assert.Equal(t, uint64(1), got.Generation)

	require.NoError(t, store.Save(ctx, &keystore.Keys{Current: pending, Generation: got.Generation}))
	got, err = store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, pending.KeyID(), got.Current.KeyID())
	assert.Nil(t, got.Pending)
	assert.True(t, got.Expires.IsZero())
	assert.Equal(t, uint64(2), got.Generation)

	// A writer that loaded generation 1 cannot overwrite generation 2.
	err = store.Save(ctx, &keystore.Keys{Current: current, Generation: 1})
	require.ErrorIs(t, err, keystore.ErrStale)
	got, err = store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, pending.KeyID(), got.Current.KeyID(), "the newer keys stay")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
	assertPrivateFile(t, path)
}

func TestFileStoreMakesAnExistingFilePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.json")
	require.NoError(t, os.WriteFile(path, []byte("{}"), 0o644))
	require.NoError(t, keystore.NewFileStore(path).Save(context.Background(), &keystore.Keys{Current: generate(t, "ES256")}))
	assertPrivateFile(t, path)
}

// An operator's key file, a single private JWK, is the current key.
func TestFileStoreReadsABarePrivateJWK(t *testing.T) {
	key := generate(t, "ES384")
	jwk, err := key.PrivateJWK()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "key.json")
	require.NoError(t, os.WriteFile(path, jwk, 0o600))
	got, err := keystore.NewFileStore(path).Load(context.Background())
	require.NoError(t, err)
	assert.Equal(t, key.KeyID(), got.Current.KeyID())
	assert.Nil(t, got.Pending)
}

func TestFileStoreRefuses(t *testing.T) {
	key := generate(t, "ES256")
	jwk, err := key.PrivateJWK()
	require.NoError(t, err)
	public, err := key.PublicJWK()
	require.NoError(t, err)
	var members map[string]any
	require.NoError(t, json.Unmarshal(jwk, &members))
	secret := members["d"].(string)

	cases := []struct {
		name, content, want string
	}{
		{"not json", "garbage", "not a json object"},
		{"no current key", `{"expires":"2027-01-01T00:00:00Z"}`, "no current key"},
		{"public current key", `{"current":` + string(public) + `}`, "no private part"},
		{"broken pending key", `{"current":` + string(jwk) + `,"pending":{"kty":"EC"}}`, "pending key"},
		{"bad expiration", `{"current":` + string(jwk) + `,"expires":"soon"}`, "malformed"},
		{"too large", `{"current":"` + strings.Repeat("a", 300<<10) + `"}`, "larger than"},
		{"private key with the wrong alg", `{"current":` + strings.Replace(string(jwk), `"ES256"`, `"ES512"`, 1) + `}`, "invalid key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key.json")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			_, err := keystore.NewFileStore(path).Load(context.Background())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), secret, "no key material in errors")
		})
	}
}

// nonExportable is a key whose private part cannot be written to a file, as in an HSM.
type nonExportable struct{ crypto.Signer }

func TestFileStoreSaveRefuses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "key.json")
	store := keystore.NewFileStore(path)
	hsm, err := helseid.NewKey(nonExportable{generate(t, "ES256").Signer()}, "ES256", "")
	require.NoError(t, err)

	assert.Error(t, store.Save(ctx, &keystore.Keys{}), "no current key")
	assert.Error(t, store.Save(ctx, &keystore.Keys{Current: hsm}), "a key that cannot be exported")
	assert.Error(t, store.Save(ctx, &keystore.Keys{Current: generate(t, "ES256"), Pending: hsm}))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, store.Save(cancelled, &keystore.Keys{Current: generate(t, "ES256")}), context.Canceled)
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused Save writes nothing")
	assert.Error(t, keystore.NewFileStore(filepath.Join(t.TempDir(), "missing", "key.json")).Save(ctx, &keystore.Keys{Current: generate(t, "ES256")}))
}

func TestFileStoreConcurrentSavesLeaveOneWholeFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := keystore.NewFileStore(filepath.Join(dir, "key.json"))
	keys := make([]*helseid.Key, 8)
	done := make(chan error, len(keys))
	for i := range keys {
		keys[i] = generate(t, "ES256")
		go func(k *helseid.Key) { done <- store.Save(ctx, &keystore.Keys{Current: k}) }(keys[i])
	}
	saved := 0
	for range keys {
		if err := <-done; err == nil {
			saved++
		} else {
			require.ErrorIs(t, err, keystore.ErrStale)
		}
	}
	assert.Equal(t, 1, saved, "all derive from the empty store: the first Save wins, the others are stale")
	got, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Contains(t, kidsOf(keys), got.Current.KeyID())
	assert.Equal(t, uint64(1), got.Generation)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func kidsOf(keys []*helseid.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.KeyID()
	}
	return out
}

func TestKeysPrintNoKeyMaterial(t *testing.T) {
	key := generate(t, "ES256")
	jwk, err := key.PrivateJWK()
	require.NoError(t, err)
	var members map[string]any
	require.NoError(t, json.Unmarshal(jwk, &members))
	secret := members["d"].(string)
	keys := &keystore.Keys{Current: key, Pending: key}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, keys)
		assert.NotContains(t, out, secret, verb)
		assert.Contains(t, out, key.KeyID(), verb)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("keys", "keys", keys)
	assert.NotContains(t, buf.String(), secret)
}
