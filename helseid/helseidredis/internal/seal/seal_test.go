package seal

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newKey(t *testing.T) []byte {
	k := make([]byte, KeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func TestKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		_, err := New(make([]byte, n))
		assert.ErrorContains(t, err, "needs exactly 32", "length %d", n)
	}
	_, err := New(make([]byte, 32))
	assert.NoError(t, err)
}

func TestRoundTripAndNonceUnique(t *testing.T) {
	s, err := New(newKey(t))
	require.NoError(t, err)
	plain := []byte("eyJhbGciOiJSUzI1NiJ9.secret-token")
	a := s.Seal(plain, []byte("key-a"))
	b := s.Seal(plain, []byte("key-a"))
	assert.NotEqual(t, a, b, "each value gets its own nonce")
	assert.False(t, bytes.Contains(a, plain), "the plaintext is not in the sealed value")
	got, err := s.Open(a, []byte("key-a"))
	require.NoError(t, err)
	assert.Equal(t, plain, got)
}

func TestOpenRefuses(t *testing.T) {
	s, err := New(newKey(t))
	require.NoError(t, err)
	other, err := New(newKey(t))
	require.NoError(t, err)
	sealed := s.Seal([]byte("token"), []byte("tenant-1"))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	badVersion := bytes.Clone(sealed)
	badVersion[0] = 2
	for name, tc := range map[string]struct {
		s      *Sealer
		sealed []byte
		aad    string
	}{
		"another store key (tenant)": {s, sealed, "tenant-2"},
		"another sealing key":        {other, sealed, "tenant-1"},
		"changed value":              {s, flipped, "tenant-1"},
		"truncated":                  {s, sealed[:20], "tenant-1"},
		"empty":                      {s, nil, "tenant-1"},
		"unknown version":            {s, badVersion, "tenant-1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.s.Open(tc.sealed, []byte(tc.aad))
			assert.ErrorIs(t, err, ErrOpen)
		})
	}
}
