package fapi

import (
	"errors"
	"fmt"
	"strings"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2), or an unexpected HTTP status when the
// body carries no error code. Compare with errors.Is against the sentinels below, or use
// errors.As to read the fields.
type Error struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is the error code, such as invalid_grant; empty when the body had none.
	Code string
	// Description is the server's error_description, cleaned of control characters and
	// shortened; it is the server's text, never one of our secrets.
	Description string
	// URI is the server's error_uri.
	URI string
}

// Sentinels for the error codes callers branch on. errors.Is matches any *Error with the same
// code, whatever its status and description.
var (
	ErrUseDPoPNonce       = &Error{Code: "use_dpop_nonce"}
	ErrInvalidDPoPProof   = &Error{Code: "invalid_dpop_proof"}
	ErrInvalidClient      = &Error{Code: "invalid_client"}
	ErrInvalidGrant       = &Error{Code: "invalid_grant"}
	ErrInvalidRequest     = &Error{Code: "invalid_request"}
	ErrInvalidScope       = &Error{Code: "invalid_scope"}
	ErrInvalidTarget      = &Error{Code: "invalid_target"}
	ErrUnauthorizedClient = &Error{Code: "unauthorized_client"}
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("oauth error")
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	} else {
		b.WriteString(": unexpected response")
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (http %d)", e.StatusCode)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidGrant) true for every invalid_grant error.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) || t.StatusCode != 0 || t.Description != "" || t.URI != "" {
		return false
	}
	return t.Code != "" && t.Code == e.Code
}

// Temporary reports whether retrying later may succeed: server errors, 429, and the
// temporarily_unavailable code.
func (e *Error) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == 429 || e.Code == "temporarily_unavailable"
}

// ErrInvalidResponse reports a response that breaks the protocol: not JSON, a missing
// access_token, a token_type that does not match the request, and the like.
var ErrInvalidResponse = errors.New("invalid token endpoint response")

const maxDescription = 256

// cleanText keeps the characters RFC 6749 allows in error codes and descriptions
// (%x20-21 / %x23-5B / %x5D-7E) and cuts the text short, so a hostile server cannot inject
// control characters or pages of text into our error messages and logs.
func cleanText(s string, limit int) string {
	if len(s) > limit {
		s = s[:limit]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
