package helseidredis

import (
	"errors"
	"fmt"

	"github.com/helseid-go/sdk/helseid/helseidredis/internal/seal"
)

// ErrUnknownSealKey is matched (errors.Is) by the error of a read that found a record sealed
// under a key the store was not given: neither its Key nor one of its OldKeys. The record is
// left in Redis and is not reported as absent, so that a process configured with the wrong key
// does not log every user out (or fetch a client key over the fleet's): give every process the
// key that sealed it, as Key or in OldKeys. The error names keys by SealKeyID only.
var ErrUnknownSealKey = errors.New("helseidredis: record sealed under a key this store does not have; configure that key as Key or in OldKeys")

// SealKeyID is the identifier a sealed record carries for key (hex of 8 bytes of
// HMAC-SHA-256 under the key), as ErrUnknownSealKey's errors name keys: it tells which of an
// operator's keys sealed a record without revealing anything that helps recover the key.
func SealKeyID(key []byte) string { return seal.KeyID(key) }

// newSealer is the key ring of a store's configuration, named cfgName in errors.
func newSealer(cfgName string, key []byte, old [][]byte) (*seal.Sealer, error) {
	s, err := seal.New(key, old)
	if err != nil {
		field := "Key"
		if len(key) == seal.KeySize {
			field = "OldKeys"
		}
		return nil, fmt.Errorf("%s.%s: %w", cfgName, field, err)
	}
	return s, nil
}

// unknownSealKey is the ErrUnknownSealKey error for an Open that failed because the record's
// key is not in the ring, and nil for any other failure (a record changed or moved to another
// store key, which counts as refused).
func unknownSealKey(err error) error {
	if !errors.Is(err, seal.ErrUnknownKey) {
		return nil
	}
	return fmt.Errorf("%w (%w)", ErrUnknownSealKey, err)
}
