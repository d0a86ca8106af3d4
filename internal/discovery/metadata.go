package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/httpx"
)

var (
	// ErrIssuerMismatch reports a discovery document whose "issuer" is not byte for byte the
	// issuer it was fetched for (OIDC Discovery §4.3, RFC 8414 §3.3). The client must not use
	// the document, nor continue the flow.
	ErrIssuerMismatch = errors.New("issuer mismatch")
	// ErrInvalidMetadata reports a discovery document that is not a single JSON object of the
	// expected shape, lacks a required member, or names an endpoint that is not https (or
	// plain http to a loopback address).
	ErrInvalidMetadata = errors.New("invalid discovery document")
)

// WellKnownPath is the path segment appended to an issuer to find its OpenID Connect
// discovery document.
const WellKnownPath = "/.well-known/openid-configuration"

// Metadata is a validated discovery document, the public fapi.Metadata.
type Metadata = fapi.Metadata

// knownMembers are the JSON names of the typed fields. encoding/json matches member names
// case-insensitively (with Unicode folding), so Parse refuses any member that differs from
// one of these only in case: a document must not be able to set a typed field under a name
// that other parsers, or Raw readers, would treat as a different member.
var knownMembers = [...]string{
	"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint",
	"end_session_endpoint", "revocation_endpoint", "introspection_endpoint",
	"pushed_authorization_request_endpoint", "require_pushed_authorization_requests",
	"authorization_response_iss_parameter_supported", "request_parameter_supported",
	"scopes_supported", "response_types_supported", "grant_types_supported",
	"code_challenge_methods_supported", "token_endpoint_auth_methods_supported",
	"token_endpoint_auth_signing_alg_values_supported", "id_token_signing_alg_values_supported",
	"dpop_signing_alg_values_supported", "request_object_signing_alg_values_supported",
	"prompt_values_supported", "claims_supported",
}

// WellKnownURL returns the OpenID Connect discovery URL of issuer: the issuer with one
// trailing slash removed, followed by WellKnownPath (OIDC Discovery §4). The issuer itself
// is not otherwise changed; the document's "issuer" is compared with the unmodified value.
func WellKnownURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + WellKnownPath
}

// Parse validates data as the discovery document of issuer and decodes it.
//
// The document must be exactly one JSON object with no repeated member names and no member
// whose name differs from a known one only in case. Its "issuer" must equal issuer byte for
// byte (a different case, a trailing slash or a suffix is ErrIssuerMismatch). token_endpoint
// and jwks_uri are required, and every endpoint present must pass httpx.CheckEndpoint. Other
// defects are ErrInvalidMetadata. The returned Metadata keeps a copy of data in Raw.
func Parse(data []byte, issuer string) (*Metadata, error) {
	if err := checkIssuer(issuer); err != nil {
		return nil, fmt.Errorf("discovery: configured issuer: %w", err)
	}
	if err := scanObject(data); err != nil {
		return nil, fmt.Errorf("discovery: %w: %w", ErrInvalidMetadata, err)
	}
	var md Metadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("discovery: %w: %w", ErrInvalidMetadata, err)
	}
	if md.Issuer != issuer {
		if md.Issuer == "" {
			return nil, fmt.Errorf("discovery: %w: the document has no issuer (expected %s)",
				ErrIssuerMismatch, quote(issuer))
		}
		return nil, fmt.Errorf("discovery: %w: the document says %s, the configured issuer is %s",
			ErrIssuerMismatch, quote(md.Issuer), quote(issuer))
	}
	if md.TokenEndpoint == "" {
		return nil, fmt.Errorf("discovery: %w: token_endpoint is missing", ErrInvalidMetadata)
	}
	if md.JWKSURI == "" {
		return nil, fmt.Errorf("discovery: %w: jwks_uri is missing", ErrInvalidMetadata)
	}
	for _, ep := range [...]struct{ name, value string }{
		{"authorization_endpoint", md.AuthorizationEndpoint},
		{"token_endpoint", md.TokenEndpoint},
		{"jwks_uri", md.JWKSURI},
		{"userinfo_endpoint", md.UserinfoEndpoint},
		{"end_session_endpoint", md.EndSessionEndpoint},
		{"revocation_endpoint", md.RevocationEndpoint},
		{"introspection_endpoint", md.IntrospectionEndpoint},
		{"pushed_authorization_request_endpoint", md.PushedAuthorizationRequestEndpoint},
	} {
		if ep.value == "" {
			continue
		}
		if _, err := httpx.CheckEndpoint(ep.name, ep.value); err != nil {
			return nil, fmt.Errorf("discovery: %w: %w", ErrInvalidMetadata, err)
		}
	}
	md.Raw = bytes.Clone(data)
	return &md, nil
}

// checkIssuer applies RFC 8414 §2 to a configured issuer: an https URL (http only to a
// loopback address) with no query or fragment.
func checkIssuer(issuer string) error {
	u, err := httpx.CheckEndpoint("issuer", issuer)
	if err != nil {
		return err
	}
	if u.RawQuery != "" || u.ForceQuery {
		return fmt.Errorf("issuer %s must not contain a query", quote(issuer))
	}
	return nil
}

// scanObject checks that data is exactly one JSON object, without repeated member names and
// without members that differ from a typed field's name only in case.
func scanObject(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err == io.EOF {
		return errors.New("the document is empty")
	}
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("the document is not a JSON object")
	}
	seen := make(map[string]struct{}, 32)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return unexpectedEOF(err)
		}
		name, ok := tok.(string)
		if !ok { // unreachable with encoding/json, kept for safety
			return errors.New("malformed object")
		}
		if _, dup := seen[name]; dup {
			return fmt.Errorf("member %s appears more than once", quote(name))
		}
		seen[name] = struct{}{}
		for _, known := range knownMembers {
			if name != known && strings.EqualFold(name, known) {
				return fmt.Errorf("member %s differs from %q only in case", quote(name), known)
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return unexpectedEOF(err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return unexpectedEOF(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// unexpectedEOF turns the decoder's io.EOF inside an object into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return fmt.Errorf("truncated JSON: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// quote quotes s for an error message, shortened so that a hostile document cannot make
// errors (and logs) arbitrarily large.
func quote(s string) string {
	const limit = 200
	if len(s) > limit {
		return fmt.Sprintf("%q…", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
