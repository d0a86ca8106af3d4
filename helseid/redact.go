package helseid

import (
	"fmt"
	"log/slog"

	"github.com/helseid-go/sdk/internal/redact"
)

// summary is all a UserSession shows of itself: fmt would otherwise print its ID token (with
// the user's national identity number), an unexported field, by reflection.
func (s *UserSession) summary() redact.Summary {
	if s == nil {
		return redact.Nil
	}
	sub := ""
	if s.claims != nil {
		sub = s.claims.Subject
	}
	return redact.Of("helseid.UserSession", slog.String("sub", sub), slog.String("resource", s.resource),
		redact.Secret("id_token", s.idToken), slog.String("refresh_token", redact.Redacted))
}

// String never shows a token or the user's identity number.
func (s *UserSession) String() string { return s.summary().String() }

// GoString never shows a token or the user's identity number.
func (s *UserSession) GoString() string { return s.summary().String() }

// Format never shows a token or the user's identity number, whatever the verb.
func (s *UserSession) Format(f fmt.State, verb rune) { s.summary().Format(f, verb) }

// LogValue never shows a token or the user's identity number.
func (s *UserSession) LogValue() slog.Value { return s.summary().LogValue() }

// summary is all a Client shows of itself: fmt would otherwise print the states of the logins
// it finished, and much else, by reflection.
func (c *Client) summary() redact.Summary {
	if c == nil {
		return redact.Nil
	}
	return redact.Of("helseid.Client", slog.String("issuer", c.cfg.Issuer), slog.String("client_id", c.cfg.ClientID))
}

// String shows the issuer and client id only.
func (c *Client) String() string { return c.summary().String() }

// GoString shows the issuer and client id only.
func (c *Client) GoString() string { return c.summary().String() }

// Format shows the issuer and client id only, whatever the verb.
func (c *Client) Format(f fmt.State, verb rune) { c.summary().Format(f, verb) }

// LogValue shows the issuer and client id only.
func (c *Client) LogValue() slog.Value { return c.summary().LogValue() }

// summary is all a Source shows of itself: fmt would otherwise print its Client by
// reflection.
func (s *Source) summary() redact.Summary {
	if s == nil {
		return redact.Nil
	}
	scope := ""
	if s.spec != nil {
		scope = s.spec.scope
	}
	return redact.Of("helseid.Source", slog.Any("client", s.client), slog.String("scope", scope))
}

// String shows the client and the scope only.
func (s *Source) String() string { return s.summary().String() }

// GoString shows the client and the scope only.
func (s *Source) GoString() string { return s.summary().String() }

// Format shows the client and the scope only, whatever the verb.
func (s *Source) Format(f fmt.State, verb rune) { s.summary().Format(f, verb) }

// LogValue shows the client and the scope only.
func (s *Source) LogValue() slog.Value { return s.summary().LogValue() }

// MarshalJSON never shows the code or the state: a callback is read, never stored, and
// slog's JSON handler marshals it when it is a field of a logged struct.
func (c Callback) MarshalJSON() ([]byte, error) {
	return redact.Of("helseid.Callback", slog.String("iss", c.Issuer), slog.String("error", c.Error),
		redact.Secret("code", c.Code), redact.Secret("state", c.State)).MarshalJSON()
}
