package helseidtest

import (
	"fmt"
	"log/slog"

	"github.com/helseid-go/sdk/internal/redact"
)

// summary is all a TokenResponse shows of itself in fmt and slog. Its JSON encoding is the
// wire format and keeps the tokens.
func (r TokenResponse) summary() redact.Summary {
	return redact.Of("helseidtest.TokenResponse", slog.String("token_type", r.TokenType), slog.Int64("expires_in", r.ExpiresIn),
		slog.String("scope", r.Scope), slog.String("issued_token_type", r.IssuedTokenType),
		redact.Secret("access_token", r.AccessToken), redact.Secret("id_token", r.IDToken),
		redact.Secret("refresh_token", r.RefreshToken), slog.Int64("rt_expires_in", r.RTExpiresIn))
}

// String never shows a token.
func (r TokenResponse) String() string { return r.summary().String() }

// GoString never shows a token.
func (r TokenResponse) GoString() string { return r.summary().String() }

// Format never shows a token, whatever the verb.
func (r TokenResponse) Format(f fmt.State, verb rune) { r.summary().Format(f, verb) }

// LogValue never shows a token.
func (r TokenResponse) LogValue() slog.Value { return r.summary().LogValue() }

// summary is all a Server shows of itself: its issuer, never its keys, codes or tokens (and
// fmt, reading its fields by reflection, would race with the requests it serves).
func (s *Server) summary() redact.Summary {
	if s == nil {
		return redact.Nil
	}
	return redact.Of("helseidtest.Server", slog.String("issuer", s.issuer))
}

// String shows the issuer only.
func (s *Server) String() string { return s.summary().String() }

// GoString shows the issuer only.
func (s *Server) GoString() string { return s.summary().String() }

// Format shows the issuer only, whatever the verb.
func (s *Server) Format(f fmt.State, verb rune) { s.summary().Format(f, verb) }

// LogValue shows the issuer only.
func (s *Server) LogValue() slog.Value { return s.summary().LogValue() }
