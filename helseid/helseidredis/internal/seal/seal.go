// Package seal encrypts what the SDK keeps in a shared store (tokens today, sessions later)
// with an application-supplied key: AES-256-GCM, a random 96-bit nonce per value, and the
// value's store key as associated data, so that a sealed value opens only under the key it was
// stored with and a copy moved to another key (another tenant's) is refused.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

// version is the first byte of a sealed value, so that a later format or key scheme can be told
// apart.
const version = 1

// ErrOpen reports a sealed value that does not open: another key, another store key, or a
// changed or truncated value.
var ErrOpen = errors.New("seal: value does not open with this key")

// Sealer seals and opens values. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a 32-byte AES-256 key; any other length is refused.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key is %d bytes; AES-256-GCM needs exactly %d (generate one with: openssl rand -base64 32)", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext bound to aad: version, nonce, ciphertext and tag.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		panic("seal: crypto/rand failed: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return s.aead.Seal(out, out[1:], plaintext, aad)
}

// Open decrypts a value Seal made with the same key and aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
