package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
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
		r := new(big.Int).SetBytes(sig[:a.size])
		s := new(big.Int).SetBytes(sig[a.size:])
		if !ecdsa.Verify(pub.(*ecdsa.PublicKey), digest, r, s) {
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
