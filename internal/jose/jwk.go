package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
)

// PublicJWK returns the RFC 7638 canonical JSON of pub: only the required members, in
// lexicographic order, no white space. It is a valid public JWK to embed in a DPoP header and
// the exact input of the thumbprint.
func PublicJWK(pub crypto.PublicKey) ([]byte, error) {
	b := make([]byte, 0, 128)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == nil || k.Curve.Params() == nil {
			return nil, fmt.Errorf("%w: EC key without a curve", ErrKeyMismatch)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		b = append(b, `{"crv":"`...)
		b = append(b, k.Curve.Params().Name...)
		b = append(b, `","kty":"EC","x":"`...)
		b = appendB64Int(b, k.X, size)
		b = append(b, `","y":"`...)
		b = appendB64Int(b, k.Y, size)
		b = append(b, `"}`...)
	case *rsa.PublicKey:
		b = append(b, `{"e":"`...)
		b = appendB64Int(b, big.NewInt(int64(k.E)), 0)
		b = append(b, `","kty":"RSA","n":"`...)
		b = appendB64Int(b, k.N, 0)
		b = append(b, `"}`...)
	case ed25519.PublicKey:
		b = append(b, `{"crv":"Ed25519","kty":"OKP","x":"`...)
		b = base64.RawURLEncoding.AppendEncode(b, k)
		b = append(b, `"}`...)
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrKeyMismatch, pub)
	}
	return b, nil
}

// Thumbprint returns the RFC 7638 SHA-256 JWK thumbprint of pub, base64url-encoded: the value
// of a DPoP-bound token's cnf.jkt.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	canonical, err := PublicJWK(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canonical)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// appendB64Int appends the base64url encoding of x as a big-endian octet string, left-padded
// to size bytes when size > 0 (EC coordinates have a fixed length, RFC 7518 §6.2.1.2).
func appendB64Int(dst []byte, x *big.Int, size int) []byte {
	n := (x.BitLen() + 7) / 8
	if size < n {
		size = n
	}
	if size == 0 {
		size = 1
	}
	raw := make([]byte, size)
	x.FillBytes(raw)
	return base64.RawURLEncoding.AppendEncode(dst, raw)
}
