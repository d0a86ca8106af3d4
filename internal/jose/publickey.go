package jose

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
)

// MaxRSABits is the largest RSA modulus accepted from untrusted input, bounding the cost of a
// verification.
const MaxRSABits = 16384

// PublicJWK members as they appear in a JWK (RFC 7517, RFC 7518 §6, RFC 8037 §2), already
// decoded from JSON but not from base64url. Only the members that define a public key are here.
type PublicJWKMembers struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// ErrInvalidJWK reports a JWK that does not describe a usable public key.
var ErrInvalidJWK = errors.New("invalid jwk")

// JWKError says why a JWK is unusable. Reason starts with "it" ("its curve … is not
// supported") and quotes no key material. It matches ErrInvalidJWK with errors.Is.
type JWKError struct{ Reason string }

func (e *JWKError) Error() string { return "invalid jwk: " + e.Reason }

// Is makes errors.Is(err, ErrInvalidJWK) hold.
func (e *JWKError) Is(target error) bool { return target == ErrInvalidJWK }

func jwkError(format string, args ...any) error {
	return &JWKError{Reason: fmt.Sprintf(format, args...)}
}

// PrivateJWKMembers are the JWK members that carry private or secret key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). A public JWK never has any of them.
var PrivateJWKMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParsePublicKey returns the public key m describes: RSA of MinRSABits to MaxRSABits with an
// odd modulus and a sane exponent, EC on P-256, P-384 or P-521 with full-size coordinates of a
// point on the curve, or Ed25519. Errors are *JWKError.
func ParsePublicKey(m PublicJWKMembers) (crypto.PublicKey, error) {
	switch m.Kty {
	case "RSA":
		return rsaKey(m)
	case "EC":
		return ecKey(m)
	case "OKP":
		return okpKey(m)
	case "":
		return nil, jwkError("it has no kty")
	case "oct":
		return nil, jwkError("it is a symmetric key")
	}
	return nil, jwkError("its kty %.20q is not supported", m.Kty)
}

func rsaKey(m PublicJWKMembers) (crypto.PublicKey, error) {
	n, err := b64Member("n", m.N)
	if err != nil {
		return nil, err
	}
	eb, err := b64Member("e", m.E)
	if err != nil {
		return nil, err
	}
	eb = bytes.TrimLeft(eb, "\x00")
	if len(eb) == 0 || len(eb) > 4 {
		return nil, jwkError("its RSA exponent is out of range")
	}
	var exp int64
	for _, b := range eb {
		exp = exp<<8 | int64(b)
	}
	if exp < 3 || exp > 1<<31-1 || exp%2 == 0 {
		return nil, jwkError("its RSA exponent is out of range")
	}
	mod := new(big.Int).SetBytes(n)
	switch bits := mod.BitLen(); {
	case bits < MinRSABits:
		return nil, jwkError("its RSA modulus has %d bits, at least %d are required", bits, MinRSABits)
	case bits > MaxRSABits:
		return nil, jwkError("its RSA modulus has %d bits, at most %d are accepted", bits, MaxRSABits)
	}
	if mod.Bit(0) == 0 {
		return nil, jwkError("its RSA modulus is even")
	}
	return &rsa.PublicKey{N: mod, E: int(exp)}, nil
}

func ecKey(m PublicJWKMembers) (crypto.PublicKey, error) {
	var curve elliptic.Curve
	switch m.Crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, jwkError("its curve %.20q is not supported", m.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err := b64Member("x", m.X)
	if err != nil {
		return nil, err
	}
	y, err := b64Member("y", m.Y)
	if err != nil {
		return nil, err
	}
	// RFC 7518 §6.2.1.2-3: the coordinates are the full size of the curve.
	if len(x) != size || len(y) != size {
		return nil, jwkError("its %s coordinates are not %d bytes long", m.Crv, size)
	}
	pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	if _, err := pub.ECDH(); err != nil { // rejects points off the curve and the point at infinity
		return nil, jwkError("its point is not on the curve")
	}
	return pub, nil
}

func okpKey(m PublicJWKMembers) (crypto.PublicKey, error) {
	if m.Crv != "Ed25519" {
		return nil, jwkError("its curve %.20q is not supported", m.Crv)
	}
	x, err := b64Member("x", m.X)
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, jwkError("its Ed25519 key is %d bytes, not %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}

// b64Member decodes a required base64url member (no padding, RFC 7515 §2).
func b64Member(name, s string) ([]byte, error) {
	if s == "" {
		return nil, jwkError("it has no %s", name)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, jwkError("its %s is not base64url", name)
	}
	return b, nil
}
