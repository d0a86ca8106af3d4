package helseid

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
)

// at_hash is the left half of the access token's hash under the ID token's algorithm:
// SHA-256 for *256, SHA-384 for *384, SHA-512 for *512 and EdDSA (as the conformance suite).
func TestAtHashPerAlgorithm(t *testing.T) {
	const at = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	enc := base64.RawURLEncoding.EncodeToString
	s256, s384, s512 := sha256.Sum256([]byte(at)), sha512.Sum384([]byte(at)), sha512.Sum512([]byte(at))
	for alg, want := range map[string]string{
		"RS256": enc(s256[:16]), "PS256": enc(s256[:16]), "ES256": enc(s256[:16]),
		"RS384": enc(s384[:24]), "ES384": enc(s384[:24]),
		"RS512": enc(s512[:32]), "ES512": enc(s512[:32]), "EdDSA": enc(s512[:32]),
	} {
		assert.True(t, atHashMatches(want, at, alg), alg)
		assert.False(t, atHashMatches(want, at+"x", alg), alg)
	}
	assert.False(t, atHashMatches(enc(s256[:16]), at, "EdDSA"), "EdDSA does not use SHA-256")
}
