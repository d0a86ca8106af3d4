package jose

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// ErrSign reports that the underlying crypto.Signer failed or returned a malformed signature.
var ErrSign = errors.New("signing failed")

// Signer signs compact JWS with one key and one algorithm. It is safe for concurrent use when
// the crypto.Signer it wraps is (every standard-library key is; HSM and KMS signers usually are).
type Signer struct {
	key    crypto.Signer
	alg    *algorithm
	rand   io.Reader
	sigLen int // raw signature length, known up front so the output buffer is allocated once
}

// NewSigner checks that key fits alg (see CheckKey) and returns a Signer for it.
func NewSigner(key crypto.Signer, alg string) (*Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrKeyMismatch)
	}
	a, err := lookup(alg)
	if err != nil {
		return nil, err
	}
	pub := key.Public()
	if err := a.checkKey(pub); err != nil {
		return nil, err
	}
	s := &Signer{key: key, alg: a, rand: rand.Reader}
	switch a.family {
	case familyECDSA:
		s.sigLen = 2 * a.size
	case familyEdDSA:
		s.sigLen = 64
	default:
		s.sigLen = pub.(*rsa.PublicKey).Size()
	}
	return s, nil
}

// Algorithm returns the JWS "alg" value this Signer produces.
func (s *Signer) Algorithm() string { return s.alg.name }

// Public returns the public half of the signing key.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// EncodeHeader base64url-encodes a protected header once, for reuse by SignCompact.
func EncodeHeader(headerJSON []byte) string {
	return base64.RawURLEncoding.EncodeToString(headerJSON)
}

// SignCompact returns encodedHeader "." base64url(payload) "." base64url(signature), the JWS
// compact serialisation, building it in one buffer sized up front.
func (s *Signer) SignCompact(encodedHeader string, payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(encodedHeader)+2+enc.EncodedLen(len(payload))+enc.EncodedLen(s.sigLen))
	buf = append(buf, encodedHeader...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	var sigBuf [132]byte // fits every ECDSA and EdDSA signature; RSA allocates its own
	sig, err := s.sign(sigBuf[:0], buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// sign signs the JWS signing input and appends the raw JWS signature to dst.
func (s *Signer) sign(dst, input []byte) ([]byte, error) {
	if s.alg.family == familyEdDSA {
		sig, err := s.key.Sign(s.rand, input, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrSign, s.alg.name, err)
		}
		return append(dst, sig...), nil
	}
	var sum [64]byte
	digest := hashInto(&sum, s.alg.hash, input)
	var opts crypto.SignerOpts = s.alg.hash
	if s.alg.family == familyRSAPSS {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: s.alg.hash}
	}
	sig, err := s.key.Sign(s.rand, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrSign, s.alg.name, err)
	}
	if s.alg.family != familyECDSA {
		if len(sig) != s.sigLen {
			return nil, fmt.Errorf("%w: %s signature has %d bytes, want %d", ErrSign, s.alg.name, len(sig), s.sigLen)
		}
		return append(dst, sig...), nil
	}
	return appendRawECDSA(dst, sig, s.alg.size)
}

// hashInto hashes input with h into sum without allocating and returns the digest slice.
func hashInto(sum *[64]byte, h crypto.Hash, input []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(input)
		return append(sum[:0], d[:]...)
	case crypto.SHA384:
		d := sha512.Sum384(input)
		return append(sum[:0], d[:]...)
	default:
		d := sha512.Sum512(input)
		return append(sum[:0], d[:]...)
	}
}

// appendRawECDSA converts an ASN.1 DER ECDSA signature, SEQUENCE { INTEGER r, INTEGER s },
// into the fixed-size r||s form JWS uses (RFC 7518 §3.4), appending it to dst.
func appendRawECDSA(dst, der []byte, size int) ([]byte, error) {
	body, rest, ok := derElement(der, 0x30)
	if !ok || len(rest) != 0 {
		return nil, fmt.Errorf("%w: malformed ECDSA signature", ErrSign)
	}
	for i := 0; i < 2; i++ {
		var n []byte
		n, body, ok = derElement(body, 0x02)
		if !ok || len(n) == 0 || n[0]&0x80 != 0 {
			return nil, fmt.Errorf("%w: malformed ECDSA signature", ErrSign)
		}
		for len(n) > 1 && n[0] == 0 {
			n = n[1:]
		}
		if len(n) > size {
			return nil, fmt.Errorf("%w: ECDSA signature value too long", ErrSign)
		}
		for pad := size - len(n); pad > 0; pad-- {
			dst = append(dst, 0)
		}
		dst = append(dst, n...)
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("%w: malformed ECDSA signature", ErrSign)
	}
	return dst, nil
}

// derElement reads one DER element with the given tag and a short or one-byte long length.
func derElement(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	n, off := int(b[1]), 2
	if n&0x80 != 0 {
		if n != 0x81 || len(b) < 3 || b[2] < 0x80 {
			return nil, nil, false
		}
		n, off = int(b[2]), 3
	}
	if len(b)-off < n {
		return nil, nil, false
	}
	return b[off : off+n], b[off+n:], true
}
