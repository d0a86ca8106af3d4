package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/helseid-go/sdk/internal/jose"
)

// DefaultAlgorithm is used for a generated key and when a P-256 key is given without an
// algorithm: ES256 is fast and accepted by HelseID and every FAPI 2.0 server.
const DefaultAlgorithm = "ES256"

// ErrInvalidProofInput reports a method, URL or nonce a proof cannot be made for.
var ErrInvalidProofInput = errors.New("invalid dpop proof input")

// ProoferConfig configures a Proofer. The zero value is valid: an ephemeral P-256 key, ES256
// and the system clock.
type ProoferConfig struct {
	// Key signs the proofs. Any crypto.Signer works, so HSM and KMS keys can be used. Nil
	// means a fresh P-256 key held only in memory, which binds tokens to this process.
	Key crypto.Signer
	// Algorithm is the JWS alg: ES256 (the default for P-256 keys), ES384, ES512, PS256..512,
	// EdDSA, or RS256..512 for servers that need it. Required for non-P-256 keys.
	Algorithm string
	// Now returns the current time for iat; nil means time.Now.
	Now func() time.Time
	// Rand is the source of jti values; nil means crypto/rand.
	Rand io.Reader
}

// Proofer signs DPoP proofs with one key. It is safe for concurrent use. Formatting and
// logging it (or its ProoferConfig) never show the key.
type Proofer struct {
	signer     *jose.Signer
	header     string // base64url of {"typ":"dpop+jwt","alg":…,"jwk":{…}}, built once
	publicJWK  []byte
	thumbprint string
	now        func() time.Time
	rand       io.Reader
}

// NewProofer returns a Proofer for cfg.Key, checking that the key fits the algorithm.
func NewProofer(cfg ProoferConfig) (*Proofer, error) {
	key, alg := cfg.Key, cfg.Algorithm
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("dpop: generate key: %w", err)
		}
		key = k
	}
	if alg == "" {
		if pub, ok := key.Public().(*ecdsa.PublicKey); ok && pub.Curve == elliptic.P256() {
			alg = DefaultAlgorithm
		} else {
			return nil, fmt.Errorf("dpop: %w: an algorithm is required for a %T key", jose.ErrUnsupportedAlgorithm, key.Public())
		}
	}
	signer, err := jose.NewSigner(key, alg)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	publicJWK, err := jose.PublicJWK(key.Public())
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	thumbprint, err := jose.Thumbprint(key.Public())
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	header := make([]byte, 0, 64+len(publicJWK))
	header = append(header, `{"typ":"dpop+jwt","alg":"`...)
	header = append(header, alg...)
	header = append(header, `","jwk":`...)
	header = append(header, publicJWK...)
	header = append(header, '}')
	p := &Proofer{
		signer:     signer,
		header:     jose.EncodeHeader(header),
		publicJWK:  publicJWK,
		thumbprint: thumbprint,
		now:        cfg.Now,
		rand:       cfg.Rand,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	return p, nil
}

// Algorithm returns the JWS alg of the proofs.
func (p *Proofer) Algorithm() string { return p.signer.Algorithm() }

// Thumbprint returns the RFC 7638 thumbprint of the public key: the jkt that DPoP-bound tokens
// carry in cnf.jkt, and the value of a dpop_jkt parameter.
func (p *Proofer) Thumbprint() string { return p.thumbprint }

// PublicJWK returns the public key as canonical JWK JSON (the proof header's jwk).
func (p *Proofer) PublicJWK() []byte { return append([]byte(nil), p.publicJWK...) }

// PublicKey returns the public half of the proof key.
func (p *Proofer) PublicKey() crypto.PublicKey { return p.signer.Public() }

// Proof returns a new proof for a request with method to u: a fresh jti, htm, htu (u without
// query and fragment, RFC 9449 §4.2), iat, and nonce and ath when they are not empty.
// accessToken is the token the request presents to a resource server; ath is its hash.
// Never reuse a proof: make one per HTTP attempt.
func (p *Proofer) Proof(method string, u *url.URL, nonce, accessToken string) (string, error) {
	if !validMethod(method) {
		return "", fmt.Errorf("%w: method %q is not an http method token", ErrInvalidProofInput, method)
	}
	if u == nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("%w: url must be absolute http(s)", ErrInvalidProofInput)
	}
	if nonce != "" && !ValidNonce(nonce) {
		return "", fmt.Errorf("%w: nonce has invalid syntax", ErrInvalidProofInput)
	}
	var jti [16]byte
	if _, err := io.ReadFull(p.rand, jti[:]); err != nil {
		return "", fmt.Errorf("dpop: read random jti: %w", err)
	}
	var stack [512]byte
	b := append(stack[:0], `{"jti":"`...)
	b = base64.RawURLEncoding.AppendEncode(b, jti[:])
	b = append(b, `","htm":"`...)
	b = append(b, method...)
	b = append(b, `","htu":`...)
	b = jose.AppendJSONString(b, HTU(u))
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, p.now().Unix(), 10)
	if nonce != "" {
		b = append(b, `,"nonce":`...)
		b = jose.AppendJSONString(b, nonce)
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		b = append(b, `,"ath":"`...)
		b = base64.RawURLEncoding.AppendEncode(b, sum[:])
		b = append(b, '"')
	}
	b = append(b, '}')
	proof, err := p.signer.SignCompact(p.header, b)
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	return proof, nil
}

// ATH returns the ath claim for an access token: base64url(SHA-256(ASCII(token))).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validMethod reports whether m is an RFC 9110 token, so it can go into JSON unescaped.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}
