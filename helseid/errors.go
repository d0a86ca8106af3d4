package helseid

import (
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/discovery"
	"github.com/helseid-go/sdk/internal/tokencache"
)

// ErrClosed is returned once a Client (or anything it owns) is closed and a call would need
// the network or background work: errors.Is(err, helseid.ErrClosed). It is the same value as
// tokenexchange.ErrClosed, so one check serves both.
var ErrClosed = tokencache.ErrClosed

// OAuthError is an error response from HelseID (RFC 6749 §5.2), with the HTTP status, the
// error code and the server's description. Use errors.As to read it, or errors.Is with the
// sentinels below to branch on a code.
type OAuthError = fapi.Error

// Sentinels for error codes: errors.Is(err, helseid.ErrInvalidGrant) holds for any
// invalid_grant response, whatever its description.
var (
	ErrUseDPoPNonce       = fapi.ErrUseDPoPNonce
	ErrInvalidDPoPProof   = fapi.ErrInvalidDPoPProof
	ErrInvalidClient      = fapi.ErrInvalidClient
	ErrInvalidGrant       = fapi.ErrInvalidGrant
	ErrInvalidRequest     = fapi.ErrInvalidRequest
	ErrInvalidScope       = fapi.ErrInvalidScope
	ErrUnauthorizedClient = fapi.ErrUnauthorizedClient
	// ErrInvalidResponse reports a token response that breaks the protocol, such as a
	// Bearer token where a DPoP-bound one was requested.
	ErrInvalidResponse = fapi.ErrInvalidResponse
)

// TokenResponse is a successful token response. Formatting and logging it never shows the
// tokens.
type TokenResponse = fapi.TokenResponse

// Metadata is HelseID's discovery document (OpenID Connect Discovery 1.0, RFC 8414), checked
// to name the configured issuer exactly and to use https endpoints.
type Metadata = discovery.Metadata
