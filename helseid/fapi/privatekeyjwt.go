package fapi

import (
	"crypto"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/helseid-go/sdk/internal/clientauth"
)

// Client-assertion constants (RFC 7523, and the typ that HelseID and strict FAPI 2.0 servers
// expect).
const (
	// ClientAssertionType is the client_assertion_type form value for JWT client assertions.
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// ClientAssertionHeaderType is the typ header of every assertion.
	ClientAssertionHeaderType = "client-authentication+jwt"
	// DefaultAssertionLifetime is exp - iat when PrivateKeyJWTConfig.Lifetime is zero: the
	// assertion is used at once, and a short life limits replay.
	DefaultAssertionLifetime = 10 * time.Second
	// MaxAssertionLifetime is the longest lifetime allowed (HelseID's limit for exp).
	MaxAssertionLifetime = 60 * time.Second
)

// PrivateKeyJWTConfig describes the client and key that sign client assertions.
type PrivateKeyJWTConfig struct {
	// ClientID is the client's identifier, sent as iss and sub. Required.
	ClientID string
	// Issuer is the authorization server's issuer identifier, sent as aud exactly as its
	// metadata gives it: never normalised, never the token endpoint URL (FAPI 2.0 §5.3.2.1).
	// Required.
	Issuer string
	// Key signs the assertions: any crypto.Signer, so HSM and KMS keys work (an
	// *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey, or helseid.Key's Signer).
	// Required.
	Key crypto.Signer
	// Algorithm is the JWS algorithm for Key, such as ES256 or PS256. Required.
	Algorithm string
	// KeyID is the kid of the registered public key; the server selects the key with it.
	// Required.
	KeyID string
	// Lifetime is exp - iat, in whole seconds; zero means DefaultAssertionLifetime, more than
	// MaxAssertionLifetime is refused.
	Lifetime time.Duration
	// Details, when set, is sent as the assertion_details claim: a JSON object or array of
	// objects, such as HelseID's organisation numbers.
	Details json.RawMessage
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// PrivateKeyJWT is private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect
// Core §9): a new signed assertion for every HTTP attempt, with header typ
// client-authentication+jwt, kid and alg; claims iss = sub = the client, aud = the issuer,
// iat, nbf, a short exp and a 128-bit random jti. It is a ClientAuthenticator, accepted by
// Settings and so by packages par, resource and tokenexchange. It is safe for concurrent use,
// and formatting it shows no key.
type PrivateKeyJWT struct {
	b       *clientauth.Builder
	details json.RawMessage
}

// NewPrivateKeyJWT checks cfg and returns a PrivateKeyJWT. It signs nothing yet.
func NewPrivateKeyJWT(cfg PrivateKeyJWTConfig) (*PrivateKeyJWT, error) {
	b, err := clientauth.New(clientauth.Config{ClientID: cfg.ClientID, Audience: cfg.Issuer, Key: cfg.Key,
		Algorithm: cfg.Algorithm, KeyID: cfg.KeyID, Lifetime: cfg.Lifetime, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("private_key_jwt: %w", err)
	}
	p := &PrivateKeyJWT{b: b}
	return p.withDetails(cfg.Details)
}

// WithDetails returns a PrivateKeyJWT with the same key and client that sends details as the
// assertion_details claim instead (nil: none), such as another organisation's numbers. The
// two share their key and may be used at once.
func (p *PrivateKeyJWT) WithDetails(details json.RawMessage) (*PrivateKeyJWT, error) {
	return p.withDetails(details)
}

func (p *PrivateKeyJWT) withDetails(details json.RawMessage) (*PrivateKeyJWT, error) {
	if details != nil {
		// Checked now rather than on the first request.
		if err := clientauth.CheckDetails(details); err != nil {
			return nil, fmt.Errorf("private_key_jwt: %w", err)
		}
		details = append(json.RawMessage(nil), details...)
	}
	return &PrivateKeyJWT{b: p.b, details: details}, nil
}

// ClientID returns the client the assertions are signed for.
func (p *PrivateKeyJWT) ClientID() string { return p.b.ClientID() }

// Authenticate sets client_id, client_assertion_type and a new client_assertion on form.
func (p *PrivateKeyJWT) Authenticate(form url.Values) error {
	if err := p.b.Authenticate(form, p.details); err != nil {
		return fmt.Errorf("private_key_jwt: %w", err)
	}
	return nil
}

// Assertion returns a new signed client assertion, for a request that is not a form post.
func (p *PrivateKeyJWT) Assertion() (string, error) {
	a, err := p.b.Assertion(p.details)
	if err != nil {
		return "", fmt.Errorf("private_key_jwt: %w", err)
	}
	return a, nil
}

// RequestObject returns a new signed request object (RFC 9101) for a pushed authorization
// request, signed with the client's key: the assertion's header and claims plus client_id,
// and authorizationDetails, when not nil, as the authorization_details claim. Use it with
// par.Pusher.PushWithRequestObject, which asks for a new one per attempt.
func (p *PrivateKeyJWT) RequestObject(authorizationDetails json.RawMessage) (string, error) {
	ro, err := p.b.RequestObject(authorizationDetails)
	if err != nil {
		return "", fmt.Errorf("request object: %w", err)
	}
	return ro, nil
}

func (p *PrivateKeyJWT) redacted() string {
	return fmt.Sprintf("PrivateKeyJWT{ClientID:%q, Key:REDACTED}", p.b.ClientID())
}

// String, GoString, Format and LogValue show the client, never the key.
func (p *PrivateKeyJWT) String() string   { return p.redacted() }
func (p *PrivateKeyJWT) GoString() string { return p.redacted() }

// Format applies to every verb.
func (p *PrivateKeyJWT) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(p.redacted())) }

// LogValue redacts the authenticator in log/slog records.
func (p *PrivateKeyJWT) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", p.b.ClientID()))
}
