package jwks

import (
	"errors"
	"fmt"

	"github.com/helseid-go/sdk/internal/httpx"
)

var (
	// ErrKeyNotFound reports that no key in the set has the requested kid (or, for an empty
	// kid, that no key fits the algorithm), also after any refetch that was allowed.
	ErrKeyNotFound = errors.New("no matching key in the key set")
	// ErrKeyUnusable reports that keys with the requested kid exist but none may verify the
	// algorithm: wrong key type or curve, a different "alg", use "enc", key_ops without
	// "verify", published private material, or a weak or malformed key.
	ErrKeyUnusable = errors.New("key cannot verify this algorithm")
	// ErrAmbiguousKey reports that more than one distinct key fits the request.
	ErrAmbiguousKey = errors.New("more than one key matches")
	// ErrUnsupportedAlgorithm reports an algorithm no key can fit: not one of RS256..512,
	// PS256..512, ES256..512, EdDSA (so never "none" nor HS*).
	ErrUnsupportedAlgorithm = errors.New("unsupported signature algorithm")
	// ErrInvalidSet reports a key set document that is not a JSON object with a "keys" array,
	// or that has no key usable for verification.
	ErrInvalidSet = errors.New("invalid key set")
)

// FetchError reports a JWKS endpoint that answered with a status other than 200.
type FetchError = httpx.FetchError

// quote quotes s for an error message, shortened so that an attacker-chosen kid or a hostile
// key set cannot make errors (and logs) arbitrarily large.
func quote(s string) string {
	const limit = 100
	if len(s) > limit {
		return fmt.Sprintf("%q…", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
