package helseid

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func digestOf(i int) [sha256.Size]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

// The cache holds at most maxVerifiedTokens entries and maxVerifiedBytes of claims, and skips
// an entry too large to be an access token's.
func TestVerifiedTokensBounds(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	entry := func(size int) *verifiedToken {
		return &verifiedToken{claims: &AccessTokenClaims{}, expires: now.Add(time.Hour), size: size}
	}
	var c verifiedTokens
	for i := range maxVerifiedTokens + 100 {
		c.put(digestOf(i), entry(300), now)
	}
	assert.Equal(t, maxVerifiedTokens, c.len())
	assert.NotNil(t, c.get(digestOf(maxVerifiedTokens+99)), "the newest entry is kept")

	var big verifiedTokens
	const size = maxVerifiedBytes / 20
	for i := range 100 {
		big.put(digestOf(i), entry(size), now)
		assert.LessOrEqual(t, big.bytes, maxVerifiedBytes)
	}
	assert.Equal(t, 20, big.len())

	var huge verifiedTokens
	huge.put(digestOf(1), entry(maxVerifiedBytes/8), now)
	assert.Equal(t, 0, huge.len())

	// Replacing an entry does not count it twice.
	var again verifiedTokens
	again.put(digestOf(1), entry(300), now)
	again.put(digestOf(1), entry(300), now)
	assert.Equal(t, 300, again.bytes)
	again.drop(digestOf(1), again.get(digestOf(1)))
	assert.Equal(t, 0, again.bytes)
	assert.Equal(t, 0, again.len())
}
