package pkce

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Method is the only code_challenge_method this package produces.
const Method = "S256"

// Verifier length bounds from RFC 7636 §4.1, and the number of random octets NewVerifier
// encodes (32 octets give 43 base64url characters and 256 bits of entropy, §7.1).
const (
	minVerifierLen = 43
	maxVerifierLen = 128
	verifierOctets = 32
)

// redacted is what a Verifier prints instead of its value.
const redacted = "pkce.Verifier(REDACTED)"

// ErrInvalidVerifier reports a string that is not a syntactically valid code_verifier.
var ErrInvalidVerifier = errors.New("invalid pkce code verifier")

// Verifier is a PKCE code_verifier. It is a secret: String, GoString, Format and LogValue
// print a redaction, never the value. string(v) and JSON encoding give the value itself.
type Verifier string

// NewVerifier returns a fresh Verifier: 32 octets from crypto/rand, base64url-encoded without
// padding (43 characters), as RFC 7636 §4.1 recommends.
func NewVerifier() (Verifier, error) {
	return NewVerifierFrom(rand.Reader)
}

// NewVerifierFrom is NewVerifier with r as the source of the 32 random octets. It exists for
// tests; production code should call NewVerifier.
func NewVerifierFrom(r io.Reader) (Verifier, error) {
	var b [verifierOctets]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("read random octets for pkce code verifier: %w", err)
	}
	return Verifier(base64.RawURLEncoding.EncodeToString(b[:])), nil
}

// ParseVerifier checks that s has the code_verifier syntax of RFC 7636 §4.1, 43 to 128
// unreserved characters [A-Za-z0-9-._~], and returns it as a Verifier. Errors wrap
// ErrInvalidVerifier and never contain s.
func ParseVerifier(s string) (Verifier, error) {
	if len(s) < minVerifierLen || len(s) > maxVerifierLen {
		return "", fmt.Errorf("%w: length %d is outside %d to %d", ErrInvalidVerifier, len(s), minVerifierLen, maxVerifierLen)
	}
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			return "", fmt.Errorf("%w: character at offset %d is not unreserved", ErrInvalidVerifier, i)
		}
	}
	return Verifier(s), nil
}

// Challenge returns the S256 code_challenge for v: BASE64URL(SHA256(ASCII(v))) without
// padding (RFC 7636 §4.2).
func (v Verifier) Challenge() string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// String returns a redaction, never the verifier.
func (v Verifier) String() string { return redacted }

// GoString returns a redaction, never the verifier.
func (v Verifier) GoString() string { return redacted }

// Format writes a redaction for every verb, so no fmt verb (%v, %s, %q, %x, %#v, …) can
// print the verifier.
func (v Verifier) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns a redaction, so log/slog never records the verifier.
func (v Verifier) LogValue() slog.Value { return slog.StringValue(redacted) }

// UnmarshalText accepts an empty value (no verifier) or a value that passes ParseVerifier, so
// a tampered login record is refused when it is read rather than at the token endpoint.
// Encoding needs no method: a Verifier encodes as its plain string value.
func (v *Verifier) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*v = ""
		return nil
	}
	parsed, err := ParseVerifier(string(text))
	if err != nil {
		return err
	}
	*v = parsed
	return nil
}

// unreserved reports whether c is an RFC 3986 unreserved character.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
