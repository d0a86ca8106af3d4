package helseidtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// maxJWSLength bounds every compact JWS the server parses (client assertions, DPoP proofs,
// access tokens). Real ones are 0.5–3 KiB; an RSA-4096 proof key is about 1 KiB of it.
const maxJWSLength = 16 << 10

// Algorithm allow-lists. Client assertions: what HelseID accepts (RS, PS and ES 256–512).
// DPoP proofs: the same plus EdDSA (RFC 9449 allows any asymmetric JWS algorithm; FAPI 2.0
// names EdDSA). none and the HMAC algorithms are never accepted anywhere.
var (
	assertionAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
	proofAlgs     = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

func algAllowed(list []string, alg string) bool {
	for _, a := range list {
		if a == alg {
			return true
		}
	}
	return false
}

// compactJWS is a JWS in compact serialisation whose header and payload are JSON objects
// (every JWS this server sees is a JWT). The signature is not verified by parsing.
type compactJWS struct {
	header       members
	payload      members
	payloadJSON  []byte
	signingInput []byte
	signature    []byte
	alg          string
}

// b64 is the strict unpadded base64url decoder of RFC 7515 §2: no padding, no other alphabet,
// no non-zero trailing bits.
var b64 = base64.RawURLEncoding.Strict()

// parseCompactJWS splits and decodes token. It refuses: more or fewer than three parts, a
// non-base64url part, a header or payload that is not one JSON object (or has duplicate
// members), a missing or non-string alg, and the header parameters this server does not
// implement (crit, b64), since RFC 7515 §4.1.11 requires rejecting what is not understood.
func parseCompactJWS(token string) (*compactJWS, error) {
	if token == "" {
		return nil, errors.New("empty")
	}
	if len(token) > maxJWSLength {
		return nil, errors.New("too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS (three base64url parts)")
	}
	hdrJSON, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, errors.New("header is not base64url")
	}
	payloadJSON, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("signature is not base64url")
	}
	hdr, err := decodeObject(hdrJSON)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	payload, err := decodeObject(payloadJSON)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	alg, err := members(hdr).requiredStr("alg")
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	for _, p := range []string{"crit", "b64"} {
		if _, ok := hdr[p]; ok {
			return nil, fmt.Errorf("header parameter %q is not supported", p)
		}
	}
	return &compactJWS{
		header:       hdr,
		payload:      payload,
		payloadJSON:  payloadJSON,
		signingInput: []byte(parts[0] + "." + parts[1]),
		signature:    sig,
		alg:          alg,
	}, nil
}

// verify checks the signature with key for the header's alg. The caller has already checked
// that alg is allowed and fits key (keyFitsAlg); verify checks again so it is safe on its own.
func (j *compactJWS) verify(key *publicKey) error {
	if err := keyFitsAlg(key, j.alg); err != nil {
		return err
	}
	return verifySignature(j.alg, key.raw, j.signingInput, j.signature)
}

// verifySignature implements the JWS signature algorithms of RFC 7518 §3 (and EdDSA, RFC 8037)
// on the standard library, strictly: PS* require a salt as long as the hash (RFC 7518 §3.5),
// ES* require the fixed-size R||S form (§3.4).
func verifySignature(alg string, pub any, input, sig []byte) error {
	errBad := errors.New("signature does not verify")
	var h crypto.Hash
	switch alg {
	case "RS256", "PS256", "ES256":
		h = crypto.SHA256
	case "RS384", "PS384", "ES384":
		h = crypto.SHA384
	case "RS512", "PS512", "ES512":
		h = crypto.SHA512
	}
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return errBad
		}
		d := h.New()
		d.Write(input)
		if alg[0] == 'R' {
			if rsa.VerifyPKCS1v15(k, h, d.Sum(nil), sig) != nil {
				return errBad
			}
			return nil
		}
		if rsa.VerifyPSS(k, h, d.Sum(nil), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}) != nil {
			return errBad
		}
		return nil
	case "ES256", "ES384", "ES512":
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return errBad
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return errBad
		}
		d := h.New()
		d.Write(input)
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, d.Sum(nil), r, s) {
			return errBad
		}
		return nil
	case "EdDSA":
		k, ok := pub.(ed25519.PublicKey)
		if !ok || len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, input, sig) {
			return errBad
		}
		return nil
	}
	return fmt.Errorf("algorithm %q is not supported", alg)
}
