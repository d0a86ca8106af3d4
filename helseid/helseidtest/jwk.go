package helseidtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// RSA key sizes accepted for client and proof keys. 2048 is HelseID's minimum (its own tools
// make 4096); the upper bound keeps a hostile proof from costing seconds to verify.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// privateJWKMembers are the JWK members that carry private or symmetric key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). A public key must have none of them.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicKey is a validated public JWK.
type publicKey struct {
	kty string
	crv string // EC and OKP
	kid string // may be empty
	alg string // may be empty
	raw any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	jkt string // RFC 7638 SHA-256 thumbprint, base64url
}

// parsePublicJWK validates a JWK as a public signature-verification key: RSA (2048–8192 bits,
// minimal big-endian n and e), EC P-256/P-384/P-521 (full-length coordinates, point on the
// curve) or OKP Ed25519. It refuses private or symmetric material, use other than "sig",
// and duplicate members.
func parsePublicJWK(data []byte) (*publicKey, error) {
	m, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	jm := members(m)
	for _, name := range privateJWKMembers {
		if _, ok := jm[name]; ok {
			return nil, fmt.Errorf("jwk contains private key material (%q)", name)
		}
	}
	kty, err := jm.requiredStr("kty")
	if err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	pk := &publicKey{kty: kty}
	if pk.kid, _, err = jm.str("kid"); err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	if pk.alg, _, err = jm.str("alg"); err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	if use, ok, err := jm.str("use"); err != nil || (ok && use != "sig") {
		return nil, errors.New(`jwk: "use" must be "sig" when present`)
	}
	switch kty {
	case "RSA":
		n, err := jwkInt(jm, "n")
		if err != nil {
			return nil, err
		}
		e, err := jwkInt(jm, "e")
		if err != nil {
			return nil, err
		}
		if n.BitLen() < minRSABits || n.BitLen() > maxRSABits {
			return nil, fmt.Errorf("jwk: RSA modulus is %d bits; %d to %d required", n.BitLen(), minRSABits, maxRSABits)
		}
		if e.BitLen() > 31 || e.Int64() < 3 || e.Bit(0) == 0 {
			return nil, errors.New("jwk: RSA public exponent is invalid")
		}
		pk.raw = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC":
		crv, err := jm.requiredStr("crv")
		if err != nil {
			return nil, fmt.Errorf("jwk: %w", err)
		}
		var curve elliptic.Curve
		switch crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("jwk: EC curve %q is not supported", crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err := jwkCoordinate(jm, "x", size)
		if err != nil {
			return nil, err
		}
		y, err := jwkCoordinate(jm, "y", size)
		if err != nil {
			return nil, err
		}
		k := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if _, err := k.ECDH(); err != nil {
			return nil, errors.New("jwk: EC point is not on the curve")
		}
		pk.crv, pk.raw = crv, k
	case "OKP":
		crv, err := jm.requiredStr("crv")
		if err != nil {
			return nil, fmt.Errorf("jwk: %w", err)
		}
		if crv != "Ed25519" {
			return nil, fmt.Errorf("jwk: OKP curve %q is not supported", crv)
		}
		x, err := jwkCoordinate(jm, "x", ed25519.PublicKeySize)
		if err != nil {
			return nil, err
		}
		pk.crv, pk.raw = crv, ed25519.PublicKey(x)
	default:
		return nil, fmt.Errorf("jwk: key type %q is not supported", kty)
	}
	if pk.jkt, err = thumbprint(pk.raw); err != nil {
		return nil, err
	}
	return pk, nil
}

// jwkInt decodes an RSA parameter: base64url, big-endian, without leading zero octets
// (RFC 7518 §6.3.1.1 requires the minimal encoding).
func jwkInt(m members, name string) (*big.Int, error) {
	s, err := m.requiredStr(name)
	if err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("jwk: %q is not base64url", name)
	}
	if b[0] == 0 {
		return nil, fmt.Errorf("jwk: %q has leading zero octets", name)
	}
	return new(big.Int).SetBytes(b), nil
}

// jwkCoordinate decodes an EC or OKP coordinate that must be exactly size octets
// (RFC 7518 §6.2.1.2, RFC 8037 §2).
func jwkCoordinate(m members, name string, size int) ([]byte, error) {
	s, err := m.requiredStr(name)
	if err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("jwk: %q is not base64url", name)
	}
	if len(b) != size {
		return nil, fmt.Errorf("jwk: %q must be %d octets", name, size)
	}
	return b, nil
}

// thumbprint returns the RFC 7638 SHA-256 thumbprint of a raw public key, base64url encoded.
func thumbprint(raw any) (string, error) {
	k, err := jwk.FromRaw(raw)
	if err != nil {
		return "", fmt.Errorf("jwk: %w", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwk thumbprint: %w", err)
	}
	return b64.EncodeToString(tp), nil
}

// keyFitsAlg reports whether alg can be used with key: RS*/PS* with RSA, ES256/384/512 with
// P-256/P-384/P-521 respectively (RFC 7518 §3.4 ties the curve to the algorithm), EdDSA with
// Ed25519. When the JWK names an alg, it must be alg.
func keyFitsAlg(key *publicKey, alg string) error {
	if key.alg != "" && key.alg != alg {
		return fmt.Errorf("algorithm %q does not match the key's alg %q", alg, key.alg)
	}
	ok := false
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		ok = key.kty == "RSA"
	case "ES256":
		ok = key.kty == "EC" && key.crv == "P-256"
	case "ES384":
		ok = key.kty == "EC" && key.crv == "P-384"
	case "ES512":
		ok = key.kty == "EC" && key.crv == "P-521"
	case "EdDSA":
		ok = key.kty == "OKP" && key.crv == "Ed25519"
	}
	if !ok {
		return fmt.Errorf("algorithm %q does not fit the %s key", alg, key.kty)
	}
	return nil
}
