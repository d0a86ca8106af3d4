package resource

import (
	"fmt"
	"log/slog"

	"github.com/helseid-go/sdk/internal/redact"
)

// summary is all a Session shows of itself: fmt would otherwise print its refresh token, an
// unexported field, by reflection.
func (s *Session) summary() redact.Summary {
	if s == nil {
		return redact.Nil
	}
	return redact.Of("resource.Session", slog.String("refresh_token", redact.Redacted), slog.String("tokens", redact.Redacted))
}

// String never shows the refresh token or an access token.
func (s *Session) String() string { return s.summary().String() }

// GoString never shows the refresh token or an access token.
func (s *Session) GoString() string { return s.summary().String() }

// Format never shows the refresh token or an access token, whatever the verb.
func (s *Session) Format(f fmt.State, verb rune) { s.summary().Format(f, verb) }

// LogValue never shows the refresh token or an access token.
func (s *Session) LogValue() slog.Value { return s.summary().LogValue() }
