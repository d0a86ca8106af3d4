package helseid

import (
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/tokencache"
)

// ErrClosed is returned once a Client (or anything it owns) is closed and a call would need
// the network or background work: errors.Is(err, helseid.ErrClosed). It is the same value as
// tokenexchange.ErrClosed, so one check serves both.
var ErrClosed = tokencache.ErrClosed

// Sentinels for error codes: errors.Is(err, helseid.ErrInvalidGrant) holds for any
// invalid_grant response, whatever its description. An error response from HelseID is a
// *fapi.Error (RFC 6749 §5.2, with the HTTP status, the error code and the server's
// description): read it with errors.As.
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
