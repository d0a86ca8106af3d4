package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newKey(t testing.TB) []byte {
	k := make([]byte, KeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func newSealer(t testing.TB, current []byte, old ...[]byte) *Sealer {
	s, err := New(current, old)
	require.NoError(t, err)
	return s
}

func TestKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		_, err := New(make([]byte, n), nil)
		assert.ErrorContains(t, err, "key is", "length %d", n)
		assert.ErrorContains(t, err, "needs exactly 32", "length %d", n)
		_, err = New(make([]byte, 32), [][]byte{make([]byte, 32), make([]byte, n)})
		assert.ErrorContains(t, err, "old key 1 is", "old key of length %d", n)
	}
	_, err := New(make([]byte, 32), nil)
	assert.NoError(t, err)
}

func TestRoundTripAndNonceUnique(t *testing.T) {
	key := newKey(t)
	s := newSealer(t, key)
	plain := []byte("eyJhbGciOiJSUzI1NiJ9.secret-token")
	a := s.Seal(plain, []byte("key-a"))
	b := s.Seal(plain, []byte("key-a"))
	assert.NotEqual(t, a, b, "each value gets its own nonce")
	assert.False(t, bytes.Contains(a, plain), "the plaintext is not in the sealed value")
	assert.Equal(t, byte(version), a[0])
	assert.Equal(t, KeyID(key), hex.EncodeToString(a[1:1+IDSize]), "the value names its key")
	assert.Len(t, a, header+len(plain)+tagSize)
	got, err := s.Open(a, []byte("key-a"))
	require.NoError(t, err)
	assert.Equal(t, plain, got)
}

// The key id is a keyed fingerprint: fixed per key, different between keys, and not a prefix
// of the key or of its plain hash.
func TestKeyID(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	assert.Equal(t, KeyID(k1), KeyID(bytes.Clone(k1)))
	assert.NotEqual(t, KeyID(k1), KeyID(k2))
	assert.Len(t, KeyID(k1), 2*IDSize)
	assert.NotContains(t, hex.EncodeToString(k1), KeyID(k1))
	// A fixed vector, so that the id cannot change unnoticed (it is in every stored value):
	// HMAC-SHA-256(32 zero bytes, "helseid-seal-key-id"), first 8 bytes.
	assert.Equal(t, "897463edb529307a", KeyID(make([]byte, 32)))

	hexIDs := func(ids []string) (out []string) {
		for _, id := range ids {
			out = append(out, hex.EncodeToString([]byte(id)))
		}
		return out
	}
	assert.Equal(t, []string{KeyID(k1), KeyID(k2)}, hexIDs(newSealer(t, k1, k2, k1).KeyIDs()), "the current key's first, each once")
}

func TestOpen(t *testing.T) {
	cur, old, stranger := newKey(t), newKey(t), newKey(t)
	ring := newSealer(t, cur, old)
	plain := []byte("token")
	byCurrent := newSealer(t, cur).Seal(plain, []byte("tenant-1"))
	byOld := newSealer(t, old).Seal(plain, []byte("tenant-1"))
	byStranger := newSealer(t, stranger).Seal(plain, []byte("tenant-1"))
	flipped := bytes.Clone(byCurrent)
	flipped[len(flipped)-1] ^= 1
	flippedNonce := bytes.Clone(byOld)
	flippedNonce[1+IDSize] ^= 1
	// The old key's id on a value sealed under the current key: another key is selected, under
	// which the tag does not verify.
	swappedID := bytes.Clone(byCurrent)
	copy(swappedID[1:], byOld[1:1+IDSize])
	v1 := append([]byte{1}, byCurrent[1+IDSize:]...) // the format before key ids
	v3 := bytes.Clone(byCurrent)
	v3[0] = 3
	for name, tc := range map[string]struct {
		sealed []byte
		aad    string
		want   error // nil: opens to plain
	}{
		"current key":                {byCurrent, "tenant-1", nil},
		"old key in the ring":        {byOld, "tenant-1", nil},
		"unknown key id":             {byStranger, "tenant-1", ErrUnknownKey},
		"unknown key id, other aad":  {byStranger, "tenant-2", ErrUnknownKey},
		"another store key (tenant)": {byCurrent, "tenant-2", ErrOpen},
		"old key, another store key": {byOld, "tenant-2", ErrOpen},
		"changed tag":                {flipped, "tenant-1", ErrOpen},
		"changed nonce":              {flippedNonce, "tenant-1", ErrOpen},
		"key id swapped to another":  {swappedID, "tenant-1", ErrOpen},
		"truncated":                  {byCurrent[:header+tagSize-1], "tenant-1", ErrOpen},
		"header only":                {byCurrent[:header], "tenant-1", ErrOpen},
		"empty":                      {nil, "tenant-1", ErrOpen},
		"version 1 (no key id)":      {v1, "tenant-1", ErrOpen},
		"unknown version":            {v3, "tenant-1", ErrOpen},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ring.Open(tc.sealed, []byte(tc.aad))
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, plain, got)
				return
			}
			assert.ErrorIs(t, err, tc.want)
			assert.Nil(t, got)
			if tc.want == ErrOpen {
				assert.NotErrorIs(t, err, ErrUnknownKey, "a known key id that does not open is not an unknown key")
			}
		})
	}
}

// A ring seals with its current key only: a value it writes opens without the old keys.
func TestSealUsesTheCurrentKey(t *testing.T) {
	cur, old := newKey(t), newKey(t)
	sealed := newSealer(t, cur, old).Seal([]byte("v"), []byte("k"))
	_, err := newSealer(t, cur).Open(sealed, []byte("k"))
	require.NoError(t, err)
	_, err = newSealer(t, old).Open(sealed, []byte("k"))
	assert.ErrorIs(t, err, ErrUnknownKey)
}

// The error names keys by id only, never by their bytes.
func TestUnknownKeyErrorNamesIDsOnly(t *testing.T) {
	cur, old, stranger := newKey(t), newKey(t), newKey(t)
	_, err := newSealer(t, cur, old, cur).Open(newSealer(t, stranger).Seal([]byte("v"), nil), nil)
	var uk *UnknownKeyError
	require.True(t, errors.As(err, &uk))
	msg := err.Error()
	for _, id := range []string{KeyID(stranger), KeyID(cur), KeyID(old)} {
		assert.Contains(t, msg, id)
	}
	assert.Len(t, uk.Old, 1, "a repeated key is kept once")
	for _, k := range [][]byte{cur, old, stranger} {
		assert.NotContains(t, msg, hex.EncodeToString(k))
		assert.NotContains(t, msg, string(k))
	}
}

func FuzzOpen(f *testing.F) {
	cur, old := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	ring, err := New(cur, [][]byte{old})
	require.NoError(f, err)
	byOld, err := New(old, nil)
	require.NoError(f, err)
	stranger, err := New(bytes.Repeat([]byte{3}, KeySize), nil)
	require.NoError(f, err)
	f.Add(ring.Seal([]byte("token"), []byte("aad")), []byte("aad"))
	f.Add(byOld.Seal([]byte("token"), []byte("aad")), []byte("aad"))
	f.Add(stranger.Seal([]byte("token"), []byte("aad")), []byte("aad"))
	f.Add(ring.Seal(nil, nil), []byte{})
	f.Add([]byte{version}, []byte("aad"))
	f.Add([]byte{1, 0, 0}, []byte(nil))
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		plain, err := ring.Open(sealed, aad)
		if err == nil {
			// Only the ring's own values open; sealing the plaintext again round-trips.
			again, err := ring.Open(ring.Seal(plain, aad), aad)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(plain, again))
			return
		}
		assert.Nil(t, plain)
		unknown := errors.Is(err, ErrUnknownKey)
		assert.True(t, unknown != errors.Is(err, ErrOpen), "exactly one of ErrOpen and ErrUnknownKey: %v", err)
		if len(sealed) >= header+tagSize && sealed[0] == version {
			id := [IDSize]byte(sealed[1 : 1+IDSize])
			known := id == keyID(cur) || id == keyID(old)
			assert.Equal(t, !known, unknown, "unknown exactly when the key id is not in the ring")
		} else {
			assert.False(t, unknown, "a malformed value is not an unknown key")
		}
		// Sealed values round-trip whatever the plaintext and associated data.
		got, err := ring.Open(ring.Seal(sealed, aad), aad)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(sealed, got), "an empty value opens as empty")
	})
}
