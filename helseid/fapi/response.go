package fapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// TokenResponse is a successful token response. It holds secrets: String, GoString, Format and
// LogValue show only non-secret fields.
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	// RTExpiresIn is HelseID's refresh-token lifetime in seconds.
	RTExpiresIn int64 `json:"rt_expires_in,omitempty"`
	// Expiry is ExpiresIn counted from when the request was sent (so it errs early); zero
	// when the server gave no expires_in.
	Expiry time.Time `json:"-"`
	// RefreshExpiry is RTExpiresIn counted the same way; zero when absent.
	RefreshExpiry time.Time `json:"-"`
	// Extra holds the members of the response not named above, as the server sent them
	// (such as authorization_details or a server's own members); nil when there are none.
	// They may be secrets too: formatting and logging show none of them.
	Extra map[string]json.RawMessage `json:"-"`
}

// known are the members TokenResponse has fields for.
var known = map[string]bool{"access_token": true, "token_type": true, "expires_in": true, "refresh_token": true,
	"id_token": true, "scope": true, "issued_token_type": true, "rt_expires_in": true}

// maxSeconds bounds lifetimes so that arithmetic on them cannot overflow: ten years.
const maxSeconds = 10 * 365 * 24 * 3600

// seconds decodes a lifetime given as a JSON number or, as some servers send it, a string of
// digits.
type seconds int64

func (s *seconds) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 1 && b[0] == '"' {
		b = b[1 : len(b)-1]
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 || n > maxSeconds {
		return fmt.Errorf("lifetime %.20q is not a whole number of seconds within range", b)
	}
	*s = seconds(n)
	return nil
}

type wireResponse struct {
	AccessToken     *string  `json:"access_token"`
	TokenType       *string  `json:"token_type"`
	ExpiresIn       *seconds `json:"expires_in"`
	RefreshToken    string   `json:"refresh_token"`
	IDToken         string   `json:"id_token"`
	Scope           string   `json:"scope"`
	IssuedTokenType string   `json:"issued_token_type"`
	RTExpiresIn     *seconds `json:"rt_expires_in"`
}

// ParseResponse decodes a token response body. sent is when the request went out; expiries
// are counted from it. It checks only the JSON shape and required members; the caller checks
// token_type against what it asked for (see CheckTokenType).
func ParseResponse(body []byte, sent time.Time) (*TokenResponse, error) {
	var w wireResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidResponse, sanitizeJSONError(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the json object", ErrInvalidResponse)
	}
	if w.AccessToken == nil || *w.AccessToken == "" {
		return nil, fmt.Errorf("%w: access_token missing", ErrInvalidResponse)
	}
	if w.TokenType == nil || *w.TokenType == "" {
		return nil, fmt.Errorf("%w: token_type missing", ErrInvalidResponse)
	}
	r := &TokenResponse{
		AccessToken:     *w.AccessToken,
		TokenType:       *w.TokenType,
		RefreshToken:    w.RefreshToken,
		IDToken:         w.IDToken,
		Scope:           w.Scope,
		IssuedTokenType: w.IssuedTokenType,
	}
	if w.ExpiresIn != nil {
		r.ExpiresIn = int64(*w.ExpiresIn)
		r.Expiry = sent.Add(time.Duration(r.ExpiresIn) * time.Second)
	}
	if w.RTExpiresIn != nil {
		r.RTExpiresIn = int64(*w.RTExpiresIn)
		r.RefreshExpiry = sent.Add(time.Duration(r.RTExpiresIn) * time.Second)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(body, &all); err != nil { // valid: decoded above
		return nil, fmt.Errorf("%w: %w", ErrInvalidResponse, sanitizeJSONError(err))
	}
	for k, v := range all {
		if !known[k] {
			if r.Extra == nil {
				r.Extra = map[string]json.RawMessage{}
			}
			r.Extra[k] = v
		}
	}
	return r, nil
}

// sanitizeJSONError keeps the position and kind of a JSON error but not the offending value,
// which could be part of a token.
func sanitizeJSONError(err error) error {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Errorf("malformed json at offset %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Errorf("member %q has the wrong type (%s)", e.Field, e.Value)
	default:
		return fmt.Errorf("malformed json")
	}
}

// redacted is what every formatting of a TokenResponse shows instead of its secrets.
func (r TokenResponse) redacted() string {
	return fmt.Sprintf("TokenResponse{TokenType:%q, ExpiresIn:%d, Scope:%q, RefreshToken:%s, IDToken:%s, AccessToken:REDACTED}",
		r.TokenType, r.ExpiresIn, r.Scope, present(r.RefreshToken), present(r.IDToken))
}

func present(s string) string {
	if s == "" {
		return "none"
	}
	return "REDACTED"
}

func (r TokenResponse) String() string   { return r.redacted() }
func (r TokenResponse) GoString() string { return r.redacted() }

// Format applies to every verb, so %v, %+v, %#v, %s and %q all redact.
func (r TokenResponse) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.redacted())) }

// LogValue redacts the response in log/slog records.
func (r TokenResponse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token_type", r.TokenType),
		slog.Int64("expires_in", r.ExpiresIn),
		slog.String("scope", r.Scope),
		slog.Bool("refresh_token", r.RefreshToken != ""),
		slog.Bool("id_token", r.IDToken != ""),
	)
}
