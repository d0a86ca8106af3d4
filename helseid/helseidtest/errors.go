package helseidtest

import (
	"encoding/json"
	"net/http"
)

// OAuth 2.0 error codes the server returns (RFC 6749 §5.2, RFC 8707 §2, RFC 9449 §8).
const (
	errInvalidRequest       = "invalid_request"
	errInvalidClient        = "invalid_client"
	errUnsupportedGrantType = "unsupported_grant_type"
	errInvalidScope         = "invalid_scope"
	errInvalidTarget        = "invalid_target"
	errInvalidDPoPProof     = "invalid_dpop_proof"
	errUseDPoPNonce         = "use_dpop_nonce"
	errServerError          = "server_error"
	errTemporarilyUnavail   = "temporarily_unavailable"
	errInvalidToken         = "invalid_token"
	errInvalidGrant         = "invalid_grant"
	errUnauthorizedClient   = "unauthorized_client"
	errInvalidRequestObject = "invalid_request_object"
)

// oauthError is an error response. Descriptions are fixed texts plus at most names of claims,
// scopes and parameters: never a token, assertion, proof or key.
type oauthError struct {
	status int
	code   string
	desc   string
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func newError(code, desc string) *oauthError {
	status := http.StatusBadRequest
	switch code {
	case errInvalidClient:
		status = http.StatusUnauthorized
	case errServerError:
		status = http.StatusInternalServerError
	case errTemporarilyUnavail:
		status = http.StatusServiceUnavailable
	}
	return &oauthError{status: status, code: code, desc: desc}
}

// writeJSON writes v as an uncacheable JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"server_error","error_description":"helseidtest: cannot encode response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes the RFC 6749 §5.2 JSON error body.
func writeError(w http.ResponseWriter, e *oauthError) {
	writeJSON(w, e.status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.code, e.desc})
}
