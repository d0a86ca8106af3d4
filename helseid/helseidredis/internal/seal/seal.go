// Package seal encrypts what the SDK keeps in a shared store (tokens, logins, sessions, client
// keys) with application-supplied keys: AES-256-GCM, a random 96-bit nonce per value, and the
// value's store key as associated data, so that a sealed value opens only under the key it was
// stored with and a copy moved to another key (another tenant's) is refused.
//
// A Sealer holds a key ring: the current key, which seals, and older keys, which only open, so
// that the sealing key can be rotated without losing what is stored. Each value names its key
// by a short identifier, which lets Open tell a value sealed under a key the ring lacks (a
// process configured with another key, or a rotation not yet rolled out: ErrUnknownKey) from
// a value that was changed or moved (ErrOpen).
//
// The format is
//
//	version (1 byte, 2) | key id (8 bytes) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)
//
// The key id is the first 8 bytes of HMAC-SHA-256(key, "helseid-seal-key-id"): a fingerprint
// that names the key without revealing anything that helps recover it. The version and key id
// are not associated data, as in Tink's key prefixes: changing the key id only selects another
// key (or none), under which the tag does not verify, and an unknown version is refused before
// anything is opened. Version 1 (the format without a key id, never in a tagged release) is
// not read.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

// IDSize is the length of a key id.
const IDSize = 8

const (
	// version is the first byte of a sealed value, so that a later format or key scheme can be
	// told apart.
	version   = 2
	nonceSize = 12
	header    = 1 + IDSize + nonceSize
	tagSize   = 16
)

// ErrOpen reports a sealed value that does not open under the key its id names: a changed or
// truncated value, one moved to another store key, or an unknown format version.
var ErrOpen = errors.New("seal: value does not open (changed, truncated, moved to another store key, or of an unknown format)")

// ErrUnknownKey is matched (errors.Is) by the error of Open for a value whose key id is none of
// the ring's: it was sealed under a key this Sealer was not given.
var ErrUnknownKey = errors.New("seal: value sealed under a key that is not configured")

// UnknownKeyError is Open's error for a value sealed under a key the ring lacks. It names keys
// by their ids only.
type UnknownKeyError struct {
	// ID is the key id in the value; Current and Old are the ring's.
	ID      [IDSize]byte
	Current [IDSize]byte
	Old     [][IDSize]byte
}

func (e *UnknownKeyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seal: value sealed under key id %x; the configured keys are %x (current)", e.ID, e.Current)
	for _, id := range e.Old {
		fmt.Fprintf(&b, ", %x", id)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrUnknownKey) true.
func (e *UnknownKeyError) Is(target error) bool { return target == ErrUnknownKey }

// Sealer seals and opens values. It is safe for concurrent use.
type Sealer struct {
	ring []ringKey // the current key first, then the old ones
}

type ringKey struct {
	id   [IDSize]byte
	aead cipher.AEAD
}

// KeyID is key's identifier in sealed values, in hex.
func KeyID(key []byte) string {
	id := keyID(key)
	return hex.EncodeToString(id[:])
}

func keyID(key []byte) [IDSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("helseid-seal-key-id"))
	var id [IDSize]byte
	copy(id[:], m.Sum(nil))
	return id
}

// New returns a Sealer that seals with current and opens values sealed under current or any
// of old. Every key must be 32 bytes (AES-256); an old key equal to current, or repeated, is
// kept once.
func New(current []byte, old [][]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != KeySize {
			what := "key"
			if i > 0 {
				what = fmt.Sprintf("old key %d", i-1)
			}
			return nil, fmt.Errorf("seal: %s is %d bytes; AES-256-GCM needs exactly %d (generate one with: openssl rand -base64 32)", what, len(key), KeySize)
		}
		id := keyID(key)
		if s.find(id) != nil {
			continue
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		s.ring = append(s.ring, ringKey{id: id, aead: aead})
	}
	return s, nil
}

func (s *Sealer) find(id [IDSize]byte) cipher.AEAD {
	for i := range s.ring {
		if s.ring[i].id == id {
			return s.ring[i].aead
		}
	}
	return nil
}

// Version is the format's first byte, and KeyIDs the ring's key ids (the current key's first),
// for a store that must tell in Redis, inside a script, whether a value is sealed under a key of
// this ring: byte 1 of a value is its version, bytes 2 to 9 its key id.
const Version = version

// KeyIDs returns the ring's key ids as 8-byte strings, the current key's first.
func (s *Sealer) KeyIDs() []string {
	ids := make([]string, len(s.ring))
	for i := range s.ring {
		ids[i] = string(s.ring[i].id[:])
	}
	return ids
}

// Seal encrypts plaintext bound to aad under the current key.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	cur := &s.ring[0]
	out := make([]byte, header, header+len(plaintext)+tagSize)
	out[0] = version
	copy(out[1:], cur.id[:])
	if _, err := rand.Read(out[1+IDSize:]); err != nil {
		panic("seal: crypto/rand failed: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return cur.aead.Seal(out, out[1+IDSize:], plaintext, aad)
}

// Open decrypts a value Seal made with aad under one of the ring's keys. A value whose key id
// is not in the ring is an *UnknownKeyError (errors.Is ErrUnknownKey); any other value that
// does not open is ErrOpen.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < header+tagSize || sealed[0] != version {
		return nil, ErrOpen
	}
	id := [IDSize]byte(sealed[1 : 1+IDSize])
	aead := s.find(id)
	if aead == nil {
		e := &UnknownKeyError{ID: id, Current: s.ring[0].id}
		for _, k := range s.ring[1:] {
			e.Old = append(e.Old, k.id)
		}
		return nil, e
	}
	plain, err := aead.Open(nil, sealed[1+IDSize:header], sealed[header:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
