package helseid

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/jose"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Errors of key loading. Messages never contain key material.
var (
	// ErrInvalidKey reports key data that cannot be used to sign: malformed, public only,
	// symmetric, too small, or not fitting its algorithm.
	ErrInvalidKey = errors.New("invalid key")
	// ErrPublicKeyOnly reports a public key where a private key is needed.
	ErrPublicKeyOnly = errors.New("key has no private part")
	// ErrNoAlgorithm reports a key given without an algorithm, in the JWK or by the caller.
	ErrNoAlgorithm = errors.New("no signing algorithm given")
)

// Key is a private signing key with its JWS algorithm and key ID, as HelseID's self-service
// issues it. Formatting a Key shows only its algorithm and key ID.
type Key struct {
	signer     crypto.Signer
	alg        string
	kid        string
	thumbprint string
}

// maxJWKSize bounds key files: a 4096-bit RSA private JWK is about 3.3 KiB.
const maxJWKSize = 64 << 10

// ParseJWK loads a private JWK (JSON), as issued by HelseID's self-service: RSA of at least
// 2048 bits, EC P-256, P-384 or P-521, or Ed25519. alg may be empty when the JWK carries
// "alg"; when both are given they must agree. A JWK without "kid" gets its RFC 7638 thumbprint.
func ParseJWK(data []byte, alg string) (*Key, error) {
	if len(data) > maxJWKSize {
		return nil, fmt.Errorf("%w: jwk is larger than %d bytes", ErrInvalidKey, maxJWKSize)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, fmt.Errorf("%w: not a jwk json object", ErrInvalidKey)
	}
	var kty, use, jwkAlg string
	_ = json.Unmarshal(members["kty"], &kty)
	_ = json.Unmarshal(members["use"], &use)
	_ = json.Unmarshal(members["alg"], &jwkAlg)
	switch kty {
	case "RSA", "EC", "OKP":
	case "oct":
		return nil, fmt.Errorf("%w: symmetric (oct) keys cannot be used; HelseID needs an asymmetric private key", ErrInvalidKey)
	case "":
		return nil, fmt.Errorf("%w: jwk has no kty", ErrInvalidKey)
	default:
		return nil, fmt.Errorf("%w: unsupported kty %.16q", ErrInvalidKey, kty)
	}
	if _, ok := members["d"]; !ok {
		return nil, fmt.Errorf("%w: %w: the jwk is a public key; load the private jwk", ErrInvalidKey, ErrPublicKeyOnly)
	}
	if use != "" && use != "sig" {
		return nil, fmt.Errorf("%w: jwk use is %.8q, not sig", ErrInvalidKey, use)
	}
	switch {
	case alg == "" && jwkAlg == "":
		return nil, fmt.Errorf("%w: %w: the jwk has no alg and none was given", ErrInvalidKey, ErrNoAlgorithm)
	case alg == "":
		alg = jwkAlg
	case jwkAlg != "" && jwkAlg != alg:
		return nil, fmt.Errorf("%w: the jwk says alg %.16q but %.16q was given", ErrInvalidKey, jwkAlg, alg)
	}
	parsed, err := jwk.ParseKey(data)
	if err != nil {
		// jwx's message may quote key members; say only which kind of key failed.
		return nil, fmt.Errorf("%w: malformed %s jwk parameters", ErrInvalidKey, kty)
	}
	var raw any
	if err := parsed.Raw(&raw); err != nil {
		return nil, fmt.Errorf("%w: malformed %s jwk parameters", ErrInvalidKey, kty)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, ErrPublicKeyOnly)
	}
	return newKey(signer, alg, parsed.KeyID())
}

// ParsePEM loads a private key from PEM (PKCS #8 "PRIVATE KEY", PKCS #1 "RSA PRIVATE KEY" or
// SEC 1 "EC PRIVATE KEY"). PEM carries no algorithm, so alg is required. An empty kid means
// the key's RFC 7638 thumbprint.
func ParsePEM(data []byte, alg, kid string) (*Key, error) {
	if alg == "" {
		return nil, fmt.Errorf("%w: %w: pem keys need an explicit algorithm", ErrInvalidKey, ErrNoAlgorithm)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no pem block found", ErrInvalidKey)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: more than one pem block; give exactly one private key", ErrInvalidKey)
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted {
		return nil, fmt.Errorf("%w: encrypted pem is not supported; decrypt it or use a crypto.Signer", ErrInvalidKey)
	}
	var (
		raw any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		raw, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		raw, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		raw, err = x509.ParseECPrivateKey(block.Bytes)
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, fmt.Errorf("%w: %w: pem block is %q", ErrInvalidKey, ErrPublicKeyOnly, block.Type)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%w: encrypted pem is not supported; decrypt it or use a crypto.Signer", ErrInvalidKey)
	default:
		return nil, fmt.Errorf("%w: unsupported pem block type %.32q", ErrInvalidKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: malformed %s", ErrInvalidKey, block.Type)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrInvalidKey, raw)
	}
	return newKey(signer, alg, kid)
}

// NewKey wraps any crypto.Signer, such as an HSM or cloud KMS key, with its algorithm and the
// kid of its registered public key. An empty kid means the key's RFC 7638 thumbprint.
func NewKey(signer crypto.Signer, alg, kid string) (*Key, error) {
	if signer == nil {
		return nil, fmt.Errorf("%w: signer is nil", ErrInvalidKey)
	}
	if alg == "" {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, ErrNoAlgorithm)
	}
	return newKey(signer, alg, kid)
}

func newKey(signer crypto.Signer, alg, kid string) (*Key, error) {
	if err := jose.CheckKey(signer.Public(), alg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if rk, ok := signer.(*rsa.PrivateKey); ok {
		if err := rk.Validate(); err != nil {
			return nil, fmt.Errorf("%w: inconsistent rsa private key", ErrInvalidKey)
		}
	}
	if err := checkKeyPair(signer); err != nil {
		return nil, err
	}
	thumbprint, err := jose.Thumbprint(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if kid == "" {
		kid = thumbprint
	}
	return &Key{signer: signer, alg: alg, kid: kid, thumbprint: thumbprint}, nil
}

// checkKeyPair refuses an in-memory private key whose public half does not belong to it (a JWK
// whose d does not match x and y). Such a key would sign, but with a kid and thumbprint of
// another key, and HelseID would answer every request with invalid_client and no hint why.
func checkKeyPair(signer crypto.Signer) error {
	switch k := signer.(type) {
	case *ecdsa.PrivateKey:
		// crypto/ecdh checks that the public point is on the curve (and not the point at
		// infinity) when it converts it.
		pub, err := k.PublicKey.ECDH()
		if err != nil {
			return fmt.Errorf("%w: ec public point is not on the curve", ErrInvalidKey)
		}
		priv, err := k.ECDH()
		if err != nil {
			return fmt.Errorf("%w: malformed ec private key", ErrInvalidKey)
		}
		if !priv.PublicKey().Equal(pub) {
			return fmt.Errorf("%w: the ec private key (d) does not match its public key (x, y)", ErrInvalidKey)
		}
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize || !ed25519.NewKeyFromSeed(k.Seed()).Equal(k) {
			return fmt.Errorf("%w: the ed25519 private key does not match its public key (x)", ErrInvalidKey)
		}
	}
	return nil
}

// GenerateKey makes a new private key for alg: RSA 4096 bits for RS*/PS* (as HelseID's own
// tools do), the matching curve for ES256/384/512, Ed25519 for EdDSA. Its kid is the RFC 7638
// thumbprint.
func GenerateKey(alg string) (*Key, error) {
	if err := jose.CheckAlgorithm(alg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	var (
		signer crypto.Signer
		err    error
	)
	switch alg {
	case "ES256":
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		signer, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "EdDSA":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		signer, err = rsa.GenerateKey(rand.Reader, 4096)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return newKey(signer, alg, "")
}

// Signer returns the key for signing.
func (k *Key) Signer() crypto.Signer { return k.signer }

// Algorithm returns the JWS algorithm the key signs with.
func (k *Key) Algorithm() string { return k.alg }

// KeyID returns the kid of the registered public key.
func (k *Key) KeyID() string { return k.kid }

// PrivateKeyJWT returns private_key_jwt client authentication with this key for clientID at
// the server whose issuer identifier is issuer (the assertions' aud), in HelseID's profile (see
// fapi.PrivateKeyJWT), for use with packages par, resource and tokenexchange directly. The
// key needs a kid.
func (k *Key) PrivateKeyJWT(clientID, issuer string) (*fapi.PrivateKeyJWT, error) {
	return fapi.NewPrivateKeyJWT(fapi.PrivateKeyJWTConfig{ClientID: clientID, Issuer: issuer, Key: k.signer, Algorithm: k.alg, KeyID: k.kid})
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the public key.
func (k *Key) Thumbprint() string { return k.thumbprint }

// PublicJWK returns the public key as a JWK with kid, alg and use "sig": the document to
// register in HelseID's self-service.
func (k *Key) PublicJWK() ([]byte, error) {
	pub, err := jwk.FromRaw(k.signer.Public())
	if err != nil {
		return nil, fmt.Errorf("public jwk: %w", err)
	}
	return k.marshal(pub)
}

// PrivateJWK returns the private key as a JWK with kid, alg and use "sig", for storing the key
// HelseID's self-service will know by its public half. It works only for in-memory keys;
// keys held in an HSM or KMS cannot be exported.
func (k *Key) PrivateJWK() ([]byte, error) {
	switch k.signer.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("%w: a %T cannot be exported", ErrInvalidKey, k.signer)
	}
	priv, err := jwk.FromRaw(k.signer)
	if err != nil {
		return nil, fmt.Errorf("private jwk: %w", err)
	}
	return k.marshal(priv)
}

func (k *Key) marshal(key jwk.Key) ([]byte, error) {
	for name, value := range map[string]any{jwk.KeyIDKey: k.kid, jwk.AlgorithmKey: jwa.SignatureAlgorithm(k.alg), jwk.KeyUsageKey: "sig"} {
		if err := key.Set(name, value); err != nil {
			return nil, fmt.Errorf("jwk member %s: %w", name, err)
		}
	}
	return json.Marshal(key)
}

func (k Key) redacted() string {
	return "helseid.Key{alg=" + k.alg + " kid=" + k.kid + " private=REDACTED}"
}

// String shows the algorithm and key ID only.
func (k Key) String() string { return k.redacted() }

// GoString shows the algorithm and key ID only.
func (k Key) GoString() string { return k.redacted() }

// Format shows the algorithm and key ID only, for every verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.redacted())) }

// LogValue shows the algorithm and key ID only.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("alg", k.alg), slog.String("kid", k.kid))
}
