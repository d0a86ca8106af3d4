package clientauth

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/helseid-go/sdk/internal/jose"
)

const (
	// AssertionType is the client_assertion_type form value for JWT client assertions.
	AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// HeaderType is the typ header HelseID and strict FAPI 2.0 servers expect.
	HeaderType = "client-authentication+jwt"
	// DefaultLifetime is short: the assertion is used at once, and a short life limits replay.
	DefaultLifetime = 10 * time.Second
	// MaxLifetime is HelseID's limit: exp no more than 60 seconds in the future.
	MaxLifetime = 60 * time.Second
)

// errInvalidConfig reports a configuration the assertion builder cannot work with.
var errInvalidConfig = errors.New("invalid client assertion configuration")

// Config describes the client and key that sign assertions.
type Config struct {
	ClientID string
	// Audience is the authorization server's issuer identifier, exactly as its metadata
	// gives it: never normalised, never the token endpoint URL.
	Audience  string
	Key       crypto.Signer
	Algorithm string
	// KeyID is the kid of the registered public key; the server selects the key with it.
	KeyID string
	// Lifetime is exp - iat; zero means DefaultLifetime, more than MaxLifetime is refused.
	Lifetime time.Duration
	Now      func() time.Time
	Rand     io.Reader
}

// Builder signs client assertions for one client, key and audience. It is safe for
// concurrent use.
type Builder struct {
	signer   *jose.Signer
	header   string // encoded once
	prefix   []byte // {"iss":…,"sub":…,"aud":…,"iat": — fixed per builder
	clientID string
	lifetime int64
	now      func() time.Time
	rand     io.Reader
}

// New validates cfg and returns a Builder.
func New(cfg Config) (*Builder, error) {
	switch {
	case cfg.ClientID == "":
		return nil, fmt.Errorf("%w: client id is empty", errInvalidConfig)
	case cfg.Audience == "":
		return nil, fmt.Errorf("%w: audience (the issuer) is empty", errInvalidConfig)
	case cfg.KeyID == "":
		return nil, fmt.Errorf("%w: key id is empty; the server selects the registered key by kid", errInvalidConfig)
	case cfg.Lifetime < 0:
		return nil, fmt.Errorf("%w: lifetime %s is negative", errInvalidConfig, cfg.Lifetime)
	case cfg.Lifetime > MaxLifetime:
		return nil, fmt.Errorf("%w: lifetime %s exceeds the %s servers allow", errInvalidConfig, cfg.Lifetime, MaxLifetime)
	case cfg.Lifetime%time.Second != 0:
		return nil, fmt.Errorf("%w: lifetime %s is not a whole number of seconds (exp is in seconds)", errInvalidConfig, cfg.Lifetime)
	}
	signer, err := jose.NewSigner(cfg.Key, cfg.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("client assertion key: %w", err)
	}
	header := append([]byte(`{"alg":"`), cfg.Algorithm...)
	header = append(header, `","kid":`...)
	header = jose.AppendJSONString(header, cfg.KeyID)
	header = append(header, `,"typ":"`+HeaderType+`"}`...)

	prefix := append([]byte(`{"iss":`), jose.AppendJSONString(nil, cfg.ClientID)...)
	prefix = append(prefix, `,"sub":`...)
	prefix = jose.AppendJSONString(prefix, cfg.ClientID)
	prefix = append(prefix, `,"aud":`...)
	prefix = jose.AppendJSONString(prefix, cfg.Audience)
	prefix = append(prefix, `,"iat":`...)

	b := &Builder{
		signer:   signer,
		header:   jose.EncodeHeader(header),
		prefix:   prefix,
		clientID: cfg.ClientID,
		lifetime: int64(cfg.Lifetime / time.Second),
		now:      cfg.Now,
		rand:     cfg.Rand,
	}
	if b.lifetime == 0 {
		b.lifetime = int64(DefaultLifetime / time.Second)
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.rand == nil {
		b.rand = rand.Reader
	}
	return b, nil
}

// ClientID returns the client the builder signs for.
func (b *Builder) ClientID() string { return b.clientID }

// Assertion returns a new signed assertion. details, when not nil, is the JSON value of the
// assertion_details claim (an object or an array of objects).
func (b *Builder) Assertion(details json.RawMessage) (string, error) {
	return b.sign(details, "assertion_details", false)
}

// RequestObject returns a new signed request object for a pushed authorization request, in the
// form NHN's HelseID samples use: the assertion's header (typ client-authentication+jwt) and
// claims plus client_id, with details, when not nil, as the authorization_details claim
// (organisation numbers for a login).
func (b *Builder) RequestObject(details json.RawMessage) (string, error) {
	return b.sign(details, "authorization_details", true)
}

func (b *Builder) sign(details json.RawMessage, detailsClaim string, withClientID bool) (string, error) {
	if details != nil {
		if err := CheckDetails(details); err != nil {
			return "", err
		}
	}
	var jti [16]byte
	if _, err := io.ReadFull(b.rand, jti[:]); err != nil {
		return "", fmt.Errorf("client assertion: read random jti: %w", err)
	}
	now := b.now().Unix()
	payload := make([]byte, 0, len(b.prefix)+96+len(details))
	payload = append(payload, b.prefix...)
	payload = strconv.AppendInt(payload, now, 10)
	payload = append(payload, `,"nbf":`...)
	payload = strconv.AppendInt(payload, now, 10)
	payload = append(payload, `,"exp":`...)
	payload = strconv.AppendInt(payload, now+b.lifetime, 10)
	payload = append(payload, `,"jti":"`...)
	payload = base64.RawURLEncoding.AppendEncode(payload, jti[:])
	payload = append(payload, '"')
	if withClientID {
		payload = append(payload, `,"client_id":`...)
		payload = jose.AppendJSONString(payload, b.clientID)
	}
	if details != nil {
		payload = append(payload, `,"`...)
		payload = append(payload, detailsClaim...)
		payload = append(payload, `":`...)
		payload = append(payload, details...)
	}
	payload = append(payload, '}')
	jwt, err := b.signer.SignCompact(b.header, payload)
	if err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	return jwt, nil
}

// Authenticate sets client_id, client_assertion_type and a new client_assertion on form.
func (b *Builder) Authenticate(form url.Values, details json.RawMessage) error {
	assertion, err := b.Assertion(details)
	if err != nil {
		return err
	}
	form.Set("client_id", b.clientID)
	form.Set("client_assertion_type", AssertionType)
	form.Set("client_assertion", assertion)
	return nil
}

// CheckDetails makes sure the claim stays well-formed JSON: the payload is written by hand.
// Callers build details from validated values; this guards against a caller's mistake, not
// against an attacker, so a cheap syntax check is enough.
func CheckDetails(details json.RawMessage) error {
	trimmed := bytes.TrimSpace(details)
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') || !json.Valid(trimmed) {
		return fmt.Errorf("%w: assertion_details must be a json object or array", errInvalidConfig)
	}
	return nil
}
