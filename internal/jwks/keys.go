package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/helseid-go/sdk/internal/jose"
)

// Limits on what a key set may contain.
const (
	// MaxKeys bounds the number of keys in one set. Issuers publish a handful.
	MaxKeys = 100
	// MinRSABits is the smallest RSA modulus accepted (FAPI 2.0 and HelseID require 2048).
	MinRSABits = jose.MinRSABits
	// MaxRSABits is the largest RSA modulus accepted, bounding the cost of a verification.
	MaxRSABits = jose.MaxRSABits
)

// kind is what a key can verify: a key type, plus the curve for EC and OKP keys.
type kind uint8

const (
	kindRSA kind = iota + 1
	kindP256
	kindP384
	kindP521
	kindEd25519
)

func (k kind) String() string {
	switch k {
	case kindRSA:
		return "an RSA key"
	case kindP256:
		return "an EC P-256 key"
	case kindP384:
		return "an EC P-384 key"
	case kindP521:
		return "an EC P-521 key"
	case kindEd25519:
		return "an Ed25519 key"
	}
	return "an unsupported key"
}

// kindFor returns the kind of key that verifies alg.
func kindFor(alg string) (kind, error) {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return kindRSA, nil
	case "ES256":
		return kindP256, nil
	case "ES384":
		return kindP384, nil
	case "ES512":
		return kindP521, nil
	case "EdDSA":
		return kindEd25519, nil
	case "":
		return 0, fmt.Errorf("jwks: %w: no algorithm given", ErrUnsupportedAlgorithm)
	}
	return 0, fmt.Errorf("jwks: %w: %s", ErrUnsupportedAlgorithm, quote(alg))
}

// entry is one key of a parsed set. Entries that cannot verify anything are kept (with the
// reason) when they have a kid, so that a lookup by that kid explains itself.
type entry struct {
	kid    string
	alg    string           // the key's own "alg"; empty when absent
	kind   kind             // zero when unusable
	reason string           // why the key is unusable; empty when usable
	pub    crypto.PublicKey // the public key handed to callers; nil when unusable
}

// keySet is an immutable parsed set.
type keySet struct {
	entries []entry
}

// parseSet parses a JWK Set (RFC 7517 §5). The document must be one JSON object whose "keys"
// member (exact name) is an array of at most MaxKeys elements. Keys that cannot verify a
// signature are kept as unusable, with a reason; keys this package does not understand (an
// unknown kty, a missing or malformed member) are unusable too, as RFC 7517 §5 asks. Only
// the public members of a key are read: a key that publishes private members ("d", RSA
// primes, or a symmetric "k") is refused as compromised. A set with no usable key is an
// error wrapping ErrInvalidSet.
func parseSet(data []byte) (*keySet, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w: %w", ErrInvalidSet, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("jwks: %w: the document is not a JSON object", ErrInvalidSet)
	}
	rawKeys, ok := doc["keys"]
	if !ok {
		return nil, fmt.Errorf("jwks: %w: no \"keys\" member", ErrInvalidSet)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(rawKeys, &elems); err != nil || elems == nil {
		return nil, fmt.Errorf("jwks: %w: \"keys\" is not an array", ErrInvalidSet)
	}
	if len(elems) > MaxKeys {
		return nil, fmt.Errorf("jwks: %w: %d keys, at most %d are accepted", ErrInvalidSet, len(elems), MaxKeys)
	}
	ks := &keySet{entries: make([]entry, 0, len(elems))}
	usable := 0
	for _, raw := range elems {
		e, ok := parseKey(raw)
		if !ok {
			continue
		}
		if e.reason == "" {
			usable++
		}
		ks.entries = append(ks.entries, e)
	}
	if usable == 0 {
		return nil, fmt.Errorf("jwks: %w: no key in the set can verify signatures", ErrInvalidSet)
	}
	return ks, nil
}

// parseKey parses one element of "keys". ok is false for an element that can never be
// selected: not an object, or a kid that is not a string, or an unusable key with no kid.
func parseKey(raw json.RawMessage) (e entry, ok bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return entry{}, false
	}
	kid, _, err := stringMember(m, "kid")
	if err != nil {
		return entry{}, false
	}
	e.kid = kid
	e.reason = e.load(m)
	if e.reason != "" && e.kid == "" {
		return entry{}, false
	}
	return e, true
}

// load fills e from the members of a JWK and returns why it cannot verify, or "".
func (e *entry) load(m map[string]json.RawMessage) string {
	kty, _, err := stringMember(m, "kty")
	if err != nil {
		return err.Error()
	}
	alg, _, err := stringMember(m, "alg")
	if err != nil {
		return err.Error()
	}
	e.alg = alg
	use, hasUse, err := stringMember(m, "use")
	if err != nil {
		return err.Error()
	}
	if hasUse && use != "sig" {
		return fmt.Sprintf("its use is %s, not \"sig\"", quote(use))
	}
	if rawOps, hasOps := m["key_ops"]; hasOps {
		var ops []string
		if err := json.Unmarshal(rawOps, &ops); err != nil {
			return "key_ops is not an array of strings"
		}
		verify := false
		for _, op := range ops {
			verify = verify || op == "verify"
		}
		if !verify {
			return "its key_ops do not include \"verify\""
		}
	}
	for _, name := range jose.PrivateJWKMembers {
		if _, has := m[name]; has && kty != "oct" {
			return "the set publishes its private material, so it is compromised"
		}
	}
	members := jose.PublicJWKMembers{Kty: kty}
	for name, dst := range map[string]*string{"crv": &members.Crv, "x": &members.X, "y": &members.Y, "n": &members.N, "e": &members.E} {
		if *dst, _, err = stringMember(m, name); err != nil {
			return err.Error()
		}
	}
	pub, err := jose.ParsePublicKey(members)
	if err != nil {
		var jerr *jose.JWKError
		if errors.As(err, &jerr) {
			return jerr.Reason
		}
		return err.Error()
	}
	e.kind = kindOf(pub)
	e.pub = pub
	return ""
}

// stringMember returns the string member name of m; present is false when it is absent.
func stringMember(m map[string]json.RawMessage, name string) (value string, present bool, err error) {
	raw, ok := m[name]
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return "", true, fmt.Errorf("its %s is not a string", name)
	}
	return value, true, nil
}

// find selects the key for (kid, alg); want is kindFor(alg). A nil key with a nil error is
// a miss: no key has that kid, or (for an empty kid) no key fits the algorithm.
func (ks *keySet) find(kid, alg string, want kind) (crypto.PublicKey, error) {
	var (
		found     *entry
		ambiguous bool
		kidSeen   bool
		why       string
	)
	for i := range ks.entries {
		e := &ks.entries[i]
		if kid != "" && e.kid != kid {
			continue
		}
		kidSeen = true
		if r := e.unfit(alg, want); r != "" {
			if why == "" {
				why = r
			}
			continue
		}
		if found == nil {
			found = e
		} else if !samePublicKey(found.pub, e.pub) {
			ambiguous = true
		}
	}
	switch {
	case ambiguous && kid == "":
		return nil, fmt.Errorf("jwks: %w: the token has no kid and several keys fit %s", ErrAmbiguousKey, alg)
	case ambiguous:
		return nil, fmt.Errorf("jwks: %w: several different keys have kid %s and fit %s", ErrAmbiguousKey, quote(kid), alg)
	case found != nil:
		return found.pub, nil
	case kid != "" && kidSeen:
		return nil, fmt.Errorf("jwks: %w: key %s: %s", ErrKeyUnusable, quote(kid), why)
	}
	return nil, nil
}

// unfit returns why e cannot verify alg, or "".
func (e *entry) unfit(alg string, want kind) string {
	switch {
	case e.reason != "":
		return e.reason
	case e.kind != want:
		return fmt.Sprintf("it is %v, %s needs %v", e.kind, alg, want)
	case e.alg != "" && e.alg != alg:
		return fmt.Sprintf("its alg is %s, not %s", quote(e.alg), alg)
	}
	return ""
}

// kindOf returns what pub, a key from jose.ParsePublicKey, verifies.
func kindOf(pub crypto.PublicKey) kind {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return kindRSA
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return kindP256
		case elliptic.P384():
			return kindP384
		case elliptic.P521():
			return kindP521
		}
	case ed25519.PublicKey:
		return kindEd25519
	}
	return 0
}

func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
