package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
)

// MinRSABits is the smallest RSA modulus accepted, as HelseID and FAPI 2.0 require.
const MinRSABits = 2048

var (
	// ErrUnsupportedAlgorithm reports an algorithm outside the asymmetric set this SDK signs with.
	ErrUnsupportedAlgorithm = errors.New("unsupported signing algorithm")
	// ErrKeyMismatch reports a key that does not fit its algorithm (type, curve or size).
	ErrKeyMismatch = errors.New("key does not fit algorithm")
)

type family uint8

const (
	familyRSAPKCS1 family = iota + 1
	familyRSAPSS
	familyECDSA
	familyEdDSA
)

// algorithm describes how one JWS "alg" value signs.
type algorithm struct {
	name   string
	family family
	hash   crypto.Hash    // zero for EdDSA, which signs the message itself
	curve  elliptic.Curve // ECDSA only
	size   int            // ECDSA: bytes per coordinate of the fixed-size r||s signature
}

var algorithms = [...]algorithm{
	{name: "RS256", family: familyRSAPKCS1, hash: crypto.SHA256},
	{name: "RS384", family: familyRSAPKCS1, hash: crypto.SHA384},
	{name: "RS512", family: familyRSAPKCS1, hash: crypto.SHA512},
	{name: "PS256", family: familyRSAPSS, hash: crypto.SHA256},
	{name: "PS384", family: familyRSAPSS, hash: crypto.SHA384},
	{name: "PS512", family: familyRSAPSS, hash: crypto.SHA512},
	{name: "ES256", family: familyECDSA, hash: crypto.SHA256, curve: elliptic.P256(), size: 32},
	{name: "ES384", family: familyECDSA, hash: crypto.SHA384, curve: elliptic.P384(), size: 48},
	{name: "ES512", family: familyECDSA, hash: crypto.SHA512, curve: elliptic.P521(), size: 66},
	{name: "EdDSA", family: familyEdDSA},
}

func lookup(alg string) (*algorithm, error) {
	for i := range algorithms {
		if algorithms[i].name == alg {
			return &algorithms[i], nil
		}
	}
	switch {
	case alg == "":
		return nil, fmt.Errorf("%w: no algorithm given", ErrUnsupportedAlgorithm)
	case strings.EqualFold(alg, "none"):
		return nil, fmt.Errorf("%w: %q (unsigned tokens are never accepted)", ErrUnsupportedAlgorithm, alg)
	case strings.HasPrefix(strings.ToUpper(alg), "HS"):
		return nil, fmt.Errorf("%w: %q (symmetric algorithms are not allowed; use a private key)", ErrUnsupportedAlgorithm, alg)
	}
	return nil, fmt.Errorf("%w: %q (allowed: RS256..512, PS256..512, ES256..512, EdDSA)", ErrUnsupportedAlgorithm, alg)
}

// Algorithms lists every algorithm name this package signs with.
func Algorithms() []string {
	names := make([]string, len(algorithms))
	for i, a := range algorithms {
		names[i] = a.name
	}
	return names
}

// CheckAlgorithm reports whether alg is one of Algorithms.
func CheckAlgorithm(alg string) error {
	_, err := lookup(alg)
	return err
}

// CheckKey verifies that pub, a public key, fits alg: RSA of at least MinRSABits for RS*/PS*,
// the matching NIST curve for ES256/384/512, Ed25519 for EdDSA.
func CheckKey(pub crypto.PublicKey, alg string) error {
	a, err := lookup(alg)
	if err != nil {
		return err
	}
	return a.checkKey(pub)
}

func (a *algorithm) checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if a.family != familyRSAPKCS1 && a.family != familyRSAPSS {
			return fmt.Errorf("%w: %s cannot use an RSA key", ErrKeyMismatch, a.name)
		}
		if bits := k.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("%w: RSA key has %d bits, at least %d are required", ErrKeyMismatch, bits, MinRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		if a.family != familyECDSA {
			return fmt.Errorf("%w: %s cannot use an EC key", ErrKeyMismatch, a.name)
		}
		if k.Curve != a.curve {
			return fmt.Errorf("%w: %s needs curve %s, the key is on %s", ErrKeyMismatch, a.name, a.curve.Params().Name, curveName(k.Curve))
		}
		return nil
	case ed25519.PublicKey:
		if a.family != familyEdDSA {
			return fmt.Errorf("%w: %s cannot use an Ed25519 key", ErrKeyMismatch, a.name)
		}
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 public key has %d bytes", ErrKeyMismatch, len(k))
		}
		return nil
	case nil:
		return fmt.Errorf("%w: no key", ErrKeyMismatch)
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrKeyMismatch, pub)
	}
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "an unknown curve"
	}
	return c.Params().Name
}
