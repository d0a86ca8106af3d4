package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"unsafe"
)

// ErrSignature reports a JWS signature that does not verify.
var ErrSignature = errors.New("signature does not verify")

// Verify checks the raw JWS signature sig (RFC 7515 §5.2, RFC 7518 §3) of signingInput, the
// "header.payload" of a compact JWS, with pub under alg. The key must fit alg (CheckKey); none
// and HS* are never accepted. It is the verifying half of Signer, for callers that already hold
// the key, such as the jwk of a DPoP proof.
func Verify(alg string, pub crypto.PublicKey, signingInput, sig []byte) error {
	a, err := lookup(alg)
	if err != nil {
		return err
	}
	if err := a.checkKey(pub); err != nil {
		return err
	}
	if a.family == familyEdDSA {
		if !ed25519.Verify(pub.(ed25519.PublicKey), signingInput, sig) {
			return ErrSignature
		}
		return nil
	}
	var sum [64]byte
	digest := hashInto(&sum, a.hash, signingInput)
	switch a.family {
	case familyECDSA:
		// RFC 7518 §3.4: exactly r||s, each the full coordinate size.
		if len(sig) != 2*a.size {
			return fmt.Errorf("%w: %s signature has %d bytes, want %d", ErrSignature, a.name, len(sig), 2*a.size)
		}
		// The ASN.1 form crypto/ecdsa reads, built on the stack: ecdsa.Verify would make two
		// big.Ints and encode them on the heap on every call.
		var der [maxECDSADER]byte
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest, appendECDSADER(der[:0], sig[:a.size], sig[a.size:])) {
			return ErrSignature
		}
	case familyRSAPKCS1:
		if rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), a.hash, digest, sig) != nil {
			return ErrSignature
		}
	case familyRSAPSS:
		// RFC 7518 §3.5: the salt is as long as the hash.
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash}
		if rsa.VerifyPSS(pub.(*rsa.PublicKey), a.hash, digest, sig, opts) != nil {
			return ErrSignature
		}
	}
	return nil
}

// VerifyString is Verify for a signing input held in a string, the prefix of a compact JWS as
// it arrived, without copying it (a kilobyte or two per token otherwise).
func VerifyString(alg string, pub crypto.PublicKey, signingInput string, sig []byte) error {
	return Verify(alg, pub, ReadOnlyBytes(signingInput), sig)
}

// ReadOnlyBytes returns the bytes of s without a copy, for a function that only reads them (a
// hash, a signature check) and keeps none. Writing to them is undefined behaviour.
func ReadOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// maxECDSADER is the longest DER ECDSA signature appendECDSADER writes: P-521's, two
// 66-byte integers with a sign byte each under a SEQUENCE with a two-byte length.
const maxECDSADER = 3 + 2*(2+67)

// appendECDSADER appends SEQUENCE { INTEGER r, INTEGER s } in DER (minimal, non-negative
// integers) for the big-endian unsigned r and s, each at most 66 bytes: the form
// ecdsa.VerifyASN1 reads, and the one ecdsa.Verify builds from its big.Ints.
func appendECDSADER(dst, r, s []byte) []byte {
	r, s = trimZeros(r), trimZeros(s)
	body := intDERLen(r) + intDERLen(s)
	dst = append(dst, 0x30)
	if body >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(body))
	return appendIntDER(appendIntDER(dst, r), s)
}

// trimZeros drops leading zero bytes, keeping none for zero.
func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// intDERLen is the length of the DER INTEGER appendIntDER writes for the trimmed v.
func intDERLen(v []byte) int {
	if len(v) == 0 || v[0]&0x80 != 0 {
		return 2 + len(v) + 1
	}
	return 2 + len(v)
}

// appendIntDER appends the DER INTEGER of the trimmed, non-negative v: a zero byte before a
// set high bit, and a single zero byte for zero.
func appendIntDER(dst, v []byte) []byte {
	if len(v) == 0 || v[0]&0x80 != 0 {
		return append(append(dst, 0x02, byte(len(v)+1), 0), v...)
	}
	return append(append(dst, 0x02, byte(len(v))), v...)
}
