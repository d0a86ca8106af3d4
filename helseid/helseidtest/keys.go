package helseidtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// signingKeyBits is the size of generated token-signing keys (HelseID signs with RS256).
const signingKeyBits = 2048

// signingKey is one of the server's RS256 token-signing keys.
type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
	pub  *publicKey
}

func newSigningKey(priv *rsa.PrivateKey) (*signingKey, error) {
	if priv == nil {
		var err error
		if priv, err = rsa.GenerateKey(rand.Reader, signingKeyBits); err != nil {
			return nil, fmt.Errorf("helseidtest: generate signing key: %w", err)
		}
	}
	if priv.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("helseidtest: signing key is %d bits; at least %d required", priv.N.BitLen(), minRSABits)
	}
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("helseidtest: signing key: %w", err)
	}
	kid, err := thumbprint(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	return &signingKey{
		kid:  kid,
		priv: priv,
		pub:  &publicKey{kty: "RSA", kid: kid, alg: "RS256", raw: &priv.PublicKey, jkt: kid},
	}, nil
}

// jwk returns the public JWK as published in the JWKS: kty, n, e, kid, use sig, and alg
// RS256 when the key signs with nothing else (with PS256 ID tokens it signs with both, and a
// JWK names one alg at most).
func (k *signingKey) jwk(onlyRS256 bool) (jwk.Key, error) {
	key, err := jwk.FromRaw(&k.priv.PublicKey)
	if err != nil {
		return nil, err
	}
	members := map[string]any{jwk.KeyIDKey: k.kid, jwk.KeyUsageKey: jwk.ForSignature}
	if onlyRS256 {
		members[jwk.AlgorithmKey] = jwa.RS256
	}
	for name, v := range members {
		if err := key.Set(name, v); err != nil {
			return nil, err
		}
	}
	return key, nil
}

// keyring holds the active signing key and every published one (the active key first).
type keyring struct {
	mu        sync.RWMutex
	active    *signingKey
	published []*signingKey
}

func (kr *keyring) current() *signingKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.active
}

// lookup returns the published key with kid, or nil.
func (kr *keyring) lookup(kid string) *signingKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for _, k := range kr.published {
		if k.kid == kid {
			return k
		}
	}
	return nil
}

func (kr *keyring) all() []*signingKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return append([]*signingKey(nil), kr.published...)
}

// install makes k the active key. The previously published keys stay published iff keepOld.
func (kr *keyring) install(k *signingKey, keepOld bool) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	pub := []*signingKey{k}
	if keepOld {
		pub = append(pub, kr.published...)
	}
	kr.active, kr.published = k, pub
}

// RotateSigningKey generates a new RS256 key (with a new kid) and makes it the key that signs
// access tokens from now on. With keepOld the previous keys stay in the JWKS, so tokens they
// signed still verify (at the demo API too); without it they disappear at once, like an
// emergency rotation.
func (s *Server) RotateSigningKey(keepOld bool) {
	k, err := newSigningKey(nil)
	if err != nil {
		// rsa.GenerateKey fails only for invalid sizes; 2048 is valid.
		panic(err)
	}
	s.keys.install(k, keepOld)
	// The demo API caches the JWKS as a real API does; it is told, so a dropped key is
	// refused at once rather than after the cache's TTL.
	s.resetAPIGuard(nil)
	resetGuard(&s.selfService, nil)
}

// PublicKeys returns a copy of the published verification keys (the JWKS).
func (s *Server) PublicKeys() jwk.Set {
	set := jwk.NewSet()
	for _, k := range s.keys.all() {
		key, err := k.jwk(s.opts.IDTokenAlgorithm == "RS256")
		if err != nil {
			continue // cannot happen for a valid RSA key
		}
		_ = set.AddKey(key)
	}
	return set
}

// jwksJSON returns the JWKS document.
func (s *Server) jwksJSON() ([]byte, error) {
	return json.Marshal(s.PublicKeys())
}
